//! What the platform suites share: the fixture corpus (`tests/fixtures/`), the sender's half of
//! every authentication method, an SNS transport that serves the corpus' certificates instead of
//! reaching Amazon, and polling with a deadline instead of sleeping.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use alertgate_core::auth::{hmac_sha256_hex, AuthMethod, SignatureEncoding};
use alertgate_server::sns::SnsTransport;

use crate::helpers::{Hook, TestApp};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A fixture's exact bytes.
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = fixtures().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture_json(rel: &str) -> Value {
    serde_json::from_slice(&fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The headers the platform sent with `<stem>.json` (from `<stem>.headers.json`), minus the ones
/// that describe the original connection rather than the request.
pub fn fixture_headers(rel: &str) -> Vec<(String, String)> {
    let sidecar = rel.replace(".json", ".headers.json");
    let Value::Object(map) = fixture_json(&sidecar) else {
        panic!("{sidecar} is not an object")
    };
    map.into_iter()
        .filter(|(k, _)| {
            !["host", "content-length", "connection"].contains(&k.to_ascii_lowercase().as_str())
        })
        .map(|(k, v)| (k, v.as_str().unwrap().to_string()))
        .collect()
}

/// `bytes` with the only occurrence of `from` replaced by `to` (panics unless there is exactly one).
pub fn replace_one(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    replace_n(bytes, from, to, 1)
}

/// `bytes` with all `n` occurrences of `from` replaced by `to` (panics on any other count).
pub fn replace_n(bytes: &[u8], from: &str, to: &str, n: usize) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert_eq!(text.matches(from).count(), n, "occurrences of {from:?}");
    text.replace(from, to).into_bytes()
}

/// One byte changed in the middle, so the change cannot hide in a prefix or a trailing newline.
pub fn flip_middle_byte(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let i = out.len() / 2;
    out[i] ^= 0x01;
    out
}

/// The same hex signature with its last digit changed.
pub fn flip_last_hex_digit(s: &str) -> String {
    let mut out = s.to_string();
    let last = out.pop().unwrap();
    out.push(if last == '0' { '1' } else { '0' });
    out
}

/// The headers a sender configured with `auth` and `secret` puts on a request carrying `body`:
/// written from the platforms' documentation, independently of the server's verifier.
pub fn credentials(auth: &AuthMethod, secret: &str, body: &[u8]) -> Vec<(String, String)> {
    match auth {
        AuthMethod::None | AuthMethod::AwsSns { .. } => vec![],
        AuthMethod::Bearer => vec![("Authorization".into(), format!("Bearer {secret}"))],
        AuthMethod::ApiKey { header, prefix } => {
            vec![(header.clone(), format!("{prefix}{secret}"))]
        }
        AuthMethod::Basic { username } => {
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"));
            vec![("Authorization".into(), format!("Basic {pair}"))]
        }
        AuthMethod::HmacSha256 {
            header,
            prefix,
            encoding,
            timestamp_header,
            ..
        } => {
            let ts = timestamp_header.as_ref().map(|_| "1700000000");
            let hex_sig = hmac_sha256_hex(secret, ts, body);
            let sig = match encoding {
                SignatureEncoding::Hex => hex_sig,
                SignatureEncoding::Base64 => {
                    base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_sig).unwrap())
                }
            };
            let mut out = vec![(header.clone(), format!("{prefix}{sig}"))];
            if let (Some(name), Some(ts)) = (timestamp_header, ts) {
                out.push((name.clone(), ts.to_string()));
            }
            out
        }
    }
}

impl Hook {
    /// The authentication the server reported for this webhook.
    pub fn auth(&self) -> AuthMethod {
        serde_json::from_value(self.body["auth"].clone()).unwrap()
    }
}

impl TestApp {
    /// POST exactly `body` to the webhook's intake URL with exactly these headers.
    pub async fn post(
        &self,
        hook: &Hook,
        body: &[u8],
        headers: &[(String, String)],
    ) -> (u16, Value) {
        let mut req = self.client.post(&hook.url).body(body.to_vec());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("reply {status} is not JSON ({e}): {text}"));
        (status, value)
    }

    /// POST `body` as a sender that knows `secret` would, plus `extra` headers.
    pub async fn post_as(
        &self,
        hook: &Hook,
        secret: &str,
        body: &[u8],
        extra: &[(String, String)],
    ) -> (u16, Value) {
        let mut headers = credentials(&hook.auth(), secret, body);
        headers.extend(extra.iter().cloned());
        self.post(hook, body, &headers).await
    }

    pub async fn incident_status(&self, id: &Value) -> String {
        let id = id
            .as_str()
            .unwrap_or_else(|| panic!("no incident id: {id}"));
        self.incident(id).await["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn incidents_of(&self, hook: &Hook) -> Vec<Value> {
        self.incidents(&format!("webhook_id={}&limit=200", hook.id))
            .await
    }
}

/// The per-alert results of a multi-alert reply, as (status, incident_id).
pub fn results(reply: &Value) -> Vec<(String, Value)> {
    reply["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {reply}"))
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap().to_string(),
                r["incident_id"].clone(),
            )
        })
        .collect()
}

/// Poll `check` until it returns `Some`, failing after `deadline` with `what`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where the self-signed SNS vectors say their certificate lives (an SNS host, so it passes the
/// URL rule; the fake transport serves the test certificate there).
pub const TEST_CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-TESTONLY.pem";

pub fn sns_vectors() -> Value {
    fixture_json("aws_cloudwatch_sns/vectors/selfsigned_sigv1_sigv2.json")
}

/// Amazon, as far as the server can tell: serves the corpus' certificates by URL, answers
/// `SubscribeURL` visits, records every GET, and can be told to fail.
#[derive(Default)]
pub struct FakeSns {
    files: HashMap<String, Vec<u8>>,
    gets: Mutex<Vec<String>>,
    failing: AtomicBool,
}

impl FakeSns {
    /// Serves the self-signed test certificate and the real (expired) 2015 SNS certificate.
    pub fn with_corpus_certificates() -> Arc<Self> {
        let mut files = HashMap::new();
        let test = sns_vectors();
        files.insert(
            TEST_CERT_URL.to_string(),
            test["test_only_signing_cert_pem"]
                .as_str()
                .unwrap()
                .as_bytes()
                .to_vec(),
        );
        let real = fixture_json("aws_cloudwatch_sns/vectors/real_aws_sigv1_2015.json");
        let body: Value = serde_json::from_str(real["body"].as_str().unwrap()).unwrap();
        files.insert(
            body["SigningCertURL"].as_str().unwrap().to_string(),
            real["signing_cert_pem"]
                .as_str()
                .unwrap()
                .as_bytes()
                .to_vec(),
        );
        Arc::new(Self {
            files,
            ..Self::default()
        })
    }

    /// Make every GET fail from now on (`true`) or succeed again (`false`).
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Every URL fetched so far, in order.
    pub fn gets(&self) -> Vec<String> {
        self.gets.lock().unwrap().clone()
    }

    pub fn count(&self, url: &str) -> usize {
        self.gets().iter().filter(|u| *u == url).count()
    }
}

#[async_trait::async_trait]
impl SnsTransport for FakeSns {
    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        self.gets.lock().unwrap().push(url.to_string());
        if self.failing.load(Ordering::SeqCst) {
            return Err("connection refused (fake)".into());
        }
        if let Some(body) = self.files.get(url) {
            return Ok(body.clone());
        }
        if url.contains("Action=ConfirmSubscription") {
            return Ok(b"<ConfirmSubscriptionResponse/>".to_vec());
        }
        Err(format!("GET answered 404 Not Found (fake, {url})"))
    }
}

/// Sign an SNS envelope with the corpus' throw-away test key, as SNS would with its own, and point
/// it at the test certificate.
pub fn sign_sns(envelope: &mut Value, version: &str) {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding as _, Signer};

    envelope["SigningCertURL"] = TEST_CERT_URL.into();
    envelope["SignatureVersion"] = version.into();
    envelope["Signature"] = "".into();
    let raw = serde_json::to_vec(envelope).unwrap();
    let to_sign = alertgate_core::sns::Envelope::parse(&raw)
        .unwrap()
        .string_to_sign();
    let pem = sns_vectors()["test_only_private_key_pem"]
        .as_str()
        .unwrap()
        .to_string();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap();
    let signature = match version {
        "1" => rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(key)
            .sign(to_sign.as_bytes())
            .to_vec(),
        _ => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
            .sign(to_sign.as_bytes())
            .to_vec(),
    };
    envelope["Signature"] = base64::engine::general_purpose::STANDARD
        .encode(signature)
        .into();
}

/// The headers SNS sends with an envelope.
pub fn sns_headers(envelope: &Value) -> Vec<(String, String)> {
    vec![
        (
            "x-amz-sns-message-type".into(),
            envelope["Type"].as_str().unwrap().into(),
        ),
        (
            "x-amz-sns-message-id".into(),
            envelope["MessageId"].as_str().unwrap().into(),
        ),
        (
            "x-amz-sns-topic-arn".into(),
            envelope["TopicArn"].as_str().unwrap().into(),
        ),
        ("Content-Type".into(), "text/plain; charset=UTF-8".into()),
        (
            "User-Agent".into(),
            "Amazon Simple Notification Service Agent".into(),
        ),
    ]
}
