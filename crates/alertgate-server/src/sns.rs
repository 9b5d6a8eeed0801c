//! AWS SNS authentication, the server's half: fetch (and cache) the signing certificate named by
//! `SigningCertURL`, which core has already checked to be HTTPS on an Amazon SNS host, verify the
//! signature with it (core), check freshness, and confirm subscriptions by fetching `SubscribeURL`.
//!
//! Both fetches go through [`SnsTransport`], an outbound client that refuses private addresses and
//! redirects; tests inject one that serves the corpus' certificates, so no test reaches the
//! internet.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use alertgate_core::auth::AuthError;
use alertgate_core::sns::{self, Envelope, SigningCertificate};
use alertgate_core::Timestamp;

use crate::cache::TtlCache;

/// How alertgate reaches Amazon: one GET, the body back.
#[async_trait]
pub trait SnsTransport: Send + Sync + 'static {
    async fn get(&self, url: &str) -> Result<Vec<u8>, String>;
}

/// The real transport: HTTPS through the SSRF-safe outbound client, bodies capped at 64 KiB.
pub struct HttpsTransport {
    client: reqwest::Client,
}

impl Default for HttpsTransport {
    fn default() -> Self {
        Self {
            client: crate::outbound::client(false, Duration::from_secs(10)),
        }
    }
}

#[async_trait]
impl SnsTransport for HttpsTransport {
    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        const MAX: usize = 64 * 1024;
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET answered {}", resp.status()));
        }
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if bytes.len() > MAX {
            return Err("response too large".into());
        }
        Ok(bytes.to_vec())
    }
}

/// Why an SNS request could not be authenticated.
#[derive(Debug)]
pub enum SnsAuthError {
    /// The request itself is not acceptable (401).
    Refused(AuthError),
    /// The certificate could not be fetched: not the sender's fault, worth a retry (502).
    CertificateUnavailable(String),
}

const CERT_TTL_MS: u64 = 24 * 3600 * 1000;
const MAX_CACHED: usize = 64;

pub struct SnsVerifier {
    transport: Arc<dyn SnsTransport>,
    certs: TtlCache<String, Arc<SigningCertificate>>,
}

impl SnsVerifier {
    pub fn new(transport: Arc<dyn SnsTransport>) -> Self {
        Self {
            transport,
            certs: TtlCache::bounded(CERT_TTL_MS, MAX_CACHED),
        }
    }

    async fn certificate(&self, url: &str) -> Result<Arc<SigningCertificate>, SnsAuthError> {
        if let Some(cert) = self.certs.get(url) {
            return Ok(cert);
        }
        let pem = self
            .transport
            .get(url)
            .await
            .map_err(SnsAuthError::CertificateUnavailable)?;
        let cert = Arc::new(
            SigningCertificate::from_pem(&pem).map_err(|e| SnsAuthError::Refused(e.into()))?,
        );
        self.certs.put(url.to_string(), cert.clone());
        Ok(cert)
    }

    /// Authenticate an SNS request over its raw body.
    pub async fn verify(
        &self,
        body: &[u8],
        topic_arns: &[String],
        now: Timestamp,
    ) -> Result<Envelope, SnsAuthError> {
        let refused = |e: sns::SnsError| SnsAuthError::Refused(e.into());
        let envelope = Envelope::parse(body).map_err(refused)?;
        envelope.check_topic(topic_arns).map_err(refused)?;
        let url = envelope.signing_cert_url().map_err(refused)?.to_string();
        let cert = self.certificate(&url).await?;
        cert.verify(&envelope).map_err(refused)?;
        envelope
            .check_fresh(now, sns::DEFAULT_MAX_AGE)
            .map_err(refused)?;
        Ok(envelope)
    }

    /// Confirm a subscription by visiting its `SubscribeURL` (checked to be on an SNS host).
    pub async fn confirm(&self, subscribe_url: &str) -> Result<(), String> {
        sns::validate_subscribe_url(subscribe_url).map_err(|e| e.to_string())?;
        self.transport.get(subscribe_url).await.map(|_| ())
    }
}
