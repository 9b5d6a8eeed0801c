//! Amazon SNS HTTP(S) deliveries: the message envelope, its RSA signature, and the URLs inside it.
//!
//! SNS signs a canonical string built from the envelope's *decoded* field values, not the raw
//! body, with a key whose certificate the receiver downloads from `SigningCertURL`. Core has no
//! I/O, so verification is split into pure steps around the one fetch the server makes:
//!
//! 1. [`Envelope::parse`] the raw body (before any sanitizing, which could change the values);
//! 2. [`Envelope::check_topic`] against the webhook's allowed topics (`AuthMethod::AwsSns`);
//! 3. [`Envelope::signing_cert_url`] — the URL, checked with [`validate_cert_url`] (HTTPS, an
//!    SNS host, a `.pem` path, no user info, no port but 443);
//! 4. the server fetches that URL (and caches the certificate by URL);
//! 5. [`verify_sns_signature`] with the PEM, or [`SigningCertificate::from_pem`] once and
//!    [`SigningCertificate::verify`] per message when the server caches parsed certificates;
//! 6. policy the server chooses: [`Envelope::check_fresh`] for replays (SNS retries with the same
//!    signed `Timestamp` for at most an hour) and [`SigningCertificate::is_valid_at`].
//!
//! After that the request is decoded like any other (`platforms::aws_cloudwatch`), which turns a
//! `SubscriptionConfirmation` into `Decoded::SubscriptionConfirmation` for the server to confirm.

use std::time::Duration;

use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde::Deserialize;
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

use crate::auth::AuthError;
use crate::time::Timestamp;

/// How long after its signed `Timestamp` a message may still arrive. SNS's HTTP delivery policy
/// caps the total retry time at 3,600 s, so an older message is a replay, not a retry.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// How far in the future a `Timestamp` may be, for clocks that disagree a little.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Certificates are a few kilobytes; anything much larger is not one.
const MAX_PEM_BYTES: usize = 64 * 1024;

/// URLs in errors are cut to this many characters.
const MAX_ECHO_CHARS: usize = 200;

/// What an SNS message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    SubscriptionConfirmation,
    Notification,
    UnsubscribeConfirmation,
}

impl MessageType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "SubscriptionConfirmation" => Some(MessageType::SubscriptionConfirmation),
            "Notification" => Some(MessageType::Notification),
            "UnsubscribeConfirmation" => Some(MessageType::UnsubscribeConfirmation),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::SubscriptionConfirmation => "SubscriptionConfirmation",
            MessageType::Notification => "Notification",
            MessageType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

/// The hash under the RSA signature: `SignatureVersion` 1 is SHA1withRSA (the topic default),
/// 2 is SHA256withRSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    V1,
    V2,
}

/// The fields only some message types carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Notification {
        subject: Option<String>,
        unsubscribe_url: Option<String>,
    },
    /// `SubscriptionConfirmation` and `UnsubscribeConfirmation`.
    Confirmation {
        subscribe_url: String,
        token: String,
    },
}

/// A parsed SNS envelope: every signed field, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub message_type: MessageType,
    pub message_id: String,
    pub topic_arn: String,
    pub message: String,
    pub timestamp: String,
    pub signature_version: SignatureVersion,
    /// Base64, as sent.
    pub signature: String,
    pub signing_cert_url: String,
    pub kind: Kind,
}

/// The envelope as JSON. Unknown fields (`MessageAttributes`, which is not signed) are ignored;
/// a repeated field is an error, so the values verified are the only values there are.
#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "Type")]
    message_type: String,
    #[serde(rename = "MessageId")]
    message_id: String,
    #[serde(rename = "TopicArn")]
    topic_arn: String,
    #[serde(rename = "Subject", default)]
    subject: Option<String>,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "SignatureVersion")]
    signature_version: String,
    #[serde(rename = "Signature")]
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    #[serde(rename = "SubscribeURL", default)]
    subscribe_url: Option<String>,
    #[serde(rename = "UnsubscribeURL", default)]
    unsubscribe_url: Option<String>,
    #[serde(rename = "Token", default)]
    token: Option<String>,
}

impl Envelope {
    /// Parse the exact body received.
    pub fn parse(body: &[u8]) -> Result<Self, SnsError> {
        let wire: Wire = serde_json::from_slice(body).map_err(|e| {
            SnsError::NotAnEnvelope(format!(
                "{e} (with raw message delivery enabled SNS sends no signature; turn it off)"
            ))
        })?;
        let message_type = MessageType::parse(&wire.message_type)
            .ok_or_else(|| SnsError::UnknownType(echo(&wire.message_type)))?;
        let signature_version = match wire.signature_version.as_str() {
            "1" => SignatureVersion::V1,
            "2" => SignatureVersion::V2,
            other => return Err(SnsError::UnsupportedVersion(echo(other))),
        };
        let kind = match message_type {
            MessageType::Notification => Kind::Notification {
                subject: wire.subject,
                unsubscribe_url: wire.unsubscribe_url,
            },
            MessageType::SubscriptionConfirmation | MessageType::UnsubscribeConfirmation => {
                let (Some(subscribe_url), Some(token)) = (wire.subscribe_url, wire.token) else {
                    return Err(SnsError::NotAnEnvelope(format!(
                        "a {} needs SubscribeURL and Token",
                        message_type.as_str()
                    )));
                };
                Kind::Confirmation {
                    subscribe_url,
                    token,
                }
            }
        };
        Ok(Envelope {
            message_type,
            message_id: wire.message_id,
            topic_arn: wire.topic_arn,
            message: wire.message,
            timestamp: wire.timestamp,
            signature_version,
            signature: wire.signature,
            signing_cert_url: wire.signing_cert_url,
            kind,
        })
    }

    /// The string SNS signed: `name\nvalue\n` for each signed field in byte order of the names.
    /// `Subject` is included only when the notification has one.
    pub fn string_to_sign(&self) -> String {
        let mut out = String::with_capacity(self.message.len() + 512);
        let mut field = |name: &str, value: &str| {
            out.push_str(name);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        };
        field("Message", &self.message);
        field("MessageId", &self.message_id);
        match &self.kind {
            Kind::Notification { subject, .. } => {
                if let Some(subject) = subject {
                    field("Subject", subject);
                }
                field("Timestamp", &self.timestamp);
            }
            Kind::Confirmation {
                subscribe_url,
                token,
            } => {
                field("SubscribeURL", subscribe_url);
                field("Timestamp", &self.timestamp);
                field("Token", token);
            }
        }
        field("TopicArn", &self.topic_arn);
        field("Type", self.message_type.as_str());
        out
    }

    /// The certificate URL, if it is one alertgate may fetch (see [`validate_cert_url`]).
    pub fn signing_cert_url(&self) -> Result<&str, SnsError> {
        validate_cert_url(&self.signing_cert_url)?;
        Ok(&self.signing_cert_url)
    }

    /// Accept the topic if `allowed` is empty (any topic) or lists it exactly.
    pub fn check_topic(&self, allowed: &[String]) -> Result<(), SnsError> {
        if allowed.is_empty() || allowed.iter().any(|a| a == &self.topic_arn) {
            Ok(())
        } else {
            Err(SnsError::TopicNotAllowed(echo(&self.topic_arn)))
        }
    }

    /// The signed `Timestamp`.
    pub fn timestamp(&self) -> Option<Timestamp> {
        Timestamp::parse_rfc3339(self.timestamp.trim())
    }

    /// Refuse a message signed more than `max_age` before `now` (a replay) or more than
    /// [`MAX_CLOCK_SKEW`] after it.
    pub fn check_fresh(&self, now: Timestamp, max_age: Duration) -> Result<(), SnsError> {
        let at = self.timestamp().ok_or(SnsError::BadTimestamp)?;
        let max_age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        let skew_ms = i64::try_from(MAX_CLOCK_SKEW.as_millis()).unwrap_or(i64::MAX);
        let age_ms = now.as_millis().saturating_sub(at.as_millis());
        if age_ms > max_age_ms || age_ms < -skew_ms {
            return Err(SnsError::Stale {
                age_secs: age_ms / 1000,
                max_age_secs: max_age.as_secs(),
            });
        }
        Ok(())
    }
}

/// The public half of an SNS signing certificate, and the period it is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningCertificate {
    key: RsaPublicKey,
    not_before: Timestamp,
    not_after: Timestamp,
    subject: String,
}

impl SigningCertificate {
    /// Read the first certificate in a PEM document. Only RSA keys are accepted (SNS uses RSA);
    /// the chain is not validated here: the server trusts the certificate because it fetched it
    /// over HTTPS from an SNS host.
    pub fn from_pem(pem: &[u8]) -> Result<Self, SnsError> {
        const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
        const END: &[u8] = b"-----END CERTIFICATE-----";
        if pem.len() > MAX_PEM_BYTES {
            return Err(SnsError::BadCertificate(format!(
                "the PEM is over {MAX_PEM_BYTES} bytes"
            )));
        }
        let no_block = || SnsError::BadCertificate("no PEM certificate block".into());
        let start = find(pem, BEGIN).ok_or_else(no_block)? + BEGIN.len();
        let rest = pem.get(start..).ok_or_else(no_block)?;
        let end = find(rest, END).ok_or_else(no_block)?;
        let body: Vec<u8> = rest
            .get(..end)
            .ok_or_else(no_block)?
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        // The PEM body is decoded here and the DER read from a slice: der's own PEM reader
        // (`DecodePem`) spins forever on some truncated bodies (found by fuzzing, see
        // fuzz/README.md).
        let der = base64::engine::general_purpose::STANDARD
            .decode(&body)
            .map_err(|e| SnsError::BadCertificate(format!("the PEM body is not base64: {e}")))?;
        let cert = Certificate::from_der(&der)
            .map_err(|e| SnsError::BadCertificate(format!("not an X.509 certificate: {e}")))?;
        let tbs = &cert.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| SnsError::BadCertificate(format!("unreadable public key: {e}")))?;
        let key = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|e| SnsError::BadCertificate(format!("not an RSA public key: {e}")))?;
        let millis =
            |d: Duration| Timestamp::from_millis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Ok(SigningCertificate {
            key,
            not_before: millis(tbs.validity.not_before.to_unix_duration()),
            not_after: millis(tbs.validity.not_after.to_unix_duration()),
            subject: tbs.subject.to_string(),
        })
    }

    pub fn not_before(&self) -> Timestamp {
        self.not_before
    }

    pub fn not_after(&self) -> Timestamp {
        self.not_after
    }

    /// The certificate's subject, e.g. `CN=sns.amazonaws.com,O=Amazon.com\, Inc.,…`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Whether `at` lies within the certificate's validity period.
    pub fn is_valid_at(&self, at: Timestamp) -> bool {
        self.not_before <= at && at <= self.not_after
    }

    /// Check the envelope's signature with this certificate's key.
    pub fn verify(&self, envelope: &Envelope) -> Result<(), SnsError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(envelope.signature.trim())
            .map_err(|_| SnsError::MalformedSignature)?;
        let signature =
            Signature::try_from(raw.as_slice()).map_err(|_| SnsError::MalformedSignature)?;
        let signed = envelope.string_to_sign();
        let result = match envelope.signature_version {
            SignatureVersion::V1 => VerifyingKey::<sha1::Sha1>::new(self.key.clone())
                .verify(signed.as_bytes(), &signature),
            SignatureVersion::V2 => VerifyingKey::<sha2::Sha256>::new(self.key.clone())
                .verify(signed.as_bytes(), &signature),
        };
        result.map_err(|_| SnsError::InvalidSignature)
    }
}

/// Check `envelope`'s signature against the certificate in `cert_pem`.
pub fn verify_sns_signature(envelope: &Envelope, cert_pem: &[u8]) -> Result<(), SnsError> {
    SigningCertificate::from_pem(cert_pem)?.verify(envelope)
}

/// A `SigningCertURL` alertgate may fetch: `https`, no user info, no port other than 443, a host
/// matching `^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$` (the AWS SDKs' rule), and a path
/// ending in `.pem`.
pub fn validate_cert_url(url: &str) -> Result<(), SnsError> {
    let path = sns_https_path(url).ok_or_else(|| SnsError::UntrustedUrl {
        field: "SigningCertURL",
        url: echo(url),
    })?;
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if !path.ends_with(".pem") {
        return Err(SnsError::UntrustedUrl {
            field: "SigningCertURL",
            url: echo(url),
        });
    }
    Ok(())
}

/// A `SubscribeURL` alertgate may visit to confirm a subscription: the same host rule as
/// [`validate_cert_url`], any path.
pub fn validate_subscribe_url(url: &str) -> Result<(), SnsError> {
    sns_https_path(url)
        .map(|_| ())
        .ok_or_else(|| SnsError::UntrustedUrl {
            field: "SubscribeURL",
            url: echo(url),
        })
}

/// Check an `AuthMethod::AwsSns` topic allow-list before it is saved.
pub fn validate_topic_arns(arns: &[String]) -> Result<(), String> {
    const MAX_TOPICS: usize = 50;
    if arns.len() > MAX_TOPICS {
        return Err(format!("at most {MAX_TOPICS} topic ARNs may be listed"));
    }
    for arn in arns {
        let parts: Vec<&str> = arn.split(':').collect();
        let well_formed = arn.len() <= 256
            && parts.len() == 6
            && parts.first() == Some(&"arn")
            && parts.get(2) == Some(&"sns")
            && arn.bytes().all(|b| b.is_ascii_graphic());
        if !well_formed {
            return Err(format!(
                "`{}` is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)",
                echo(arn)
            ));
        }
    }
    Ok(())
}

/// The part after the authority, if `url` is `https://` on an SNS host with no user info and no
/// port but 443. Anything but printable ASCII is refused, so that no URL parser downstream can
/// read a different host out of it.
fn sns_https_path(url: &str) -> Option<&str> {
    if url.len() > 4096 || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let scheme = url.get(..8)?;
    if !scheme.eq_ignore_ascii_case("https://") {
        return None;
    }
    let rest = url.get(8..)?;
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return None;
    }
    let host = match authority.split_once(':') {
        None => authority,
        Some((host, "443")) => host,
        Some(_) => return None,
    };
    if !is_sns_host(host) || path.starts_with('\\') {
        return None;
    }
    Some(path)
}

/// `^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$`
pub fn is_sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    let Some(region) = rest
        .strip_suffix(".amazonaws.com.cn")
        .or_else(|| rest.strip_suffix(".amazonaws.com"))
    else {
        return false;
    };
    region.len() >= 3
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn echo(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_ECHO_CHARS).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Why an SNS request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnsError {
    #[error("the body is not an SNS message: {0}")]
    NotAnEnvelope(String),
    #[error("`{0}` is not an SNS message type")]
    UnknownType(String),
    #[error("SignatureVersion `{0}` is not supported (expected 1 or 2)")]
    UnsupportedVersion(String),
    #[error("the {field} `{url}` is not an HTTPS URL on an Amazon SNS host")]
    UntrustedUrl { field: &'static str, url: String },
    #[error("the topic {0} is not one this webhook accepts")]
    TopicNotAllowed(String),
    #[error("the signing certificate cannot be used: {0}")]
    BadCertificate(String),
    #[error("the Signature is not a base64 RSA signature")]
    MalformedSignature,
    #[error("the signature does not match the message")]
    InvalidSignature,
    #[error("the Timestamp is missing or not RFC 3339")]
    BadTimestamp,
    #[error(
        "the message was signed {age_secs} s ago, outside the accepted window of {max_age_secs} s"
    )]
    Stale { age_secs: i64, max_age_secs: u64 },
}

impl From<SnsError> for AuthError {
    fn from(e: SnsError) -> Self {
        match e {
            SnsError::NotAnEnvelope(_) | SnsError::UnknownType(_) => AuthError::Malformed {
                reason: "the body is not a signed SNS message",
            },
            SnsError::UnsupportedVersion(_) => AuthError::Malformed {
                reason: "SignatureVersion must be 1 or 2",
            },
            SnsError::UntrustedUrl { .. } => AuthError::Malformed {
                reason: "SigningCertURL is not an HTTPS URL on an Amazon SNS host",
            },
            SnsError::MalformedSignature => AuthError::Malformed {
                reason: "the Signature is not a base64 RSA signature",
            },
            SnsError::BadTimestamp => AuthError::Malformed {
                reason: "the Timestamp is missing or not RFC 3339",
            },
            SnsError::TopicNotAllowed(_)
            | SnsError::BadCertificate(_)
            | SnsError::InvalidSignature
            | SnsError::Stale { .. } => AuthError::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate read must end, whatever the PEM holds: run it on a thread and give up on it
    /// after a while instead of hanging the test suite.
    fn read_within_seconds(pem: &'static [u8]) -> Result<SigningCertificate, SnsError> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(SigningCertificate::from_pem(pem));
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("reading the certificate did not finish")
    }

    #[test]
    fn truncated_der_in_a_pem_block_is_refused_not_spun_on() {
        // Found by fuzzing (fuzz/ target `sns_certificate`, input 01 01: the one-byte DER `01`
        // wrapped into PEM): der's PEM reader looped forever on it.
        let pem = b"-----BEGIN CERTIFICATE-----\nAQ==\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            read_within_seconds(pem),
            Err(SnsError::BadCertificate(_))
        ));
        for pem in [
            &b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"[..],
            b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
            b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----",
            b"-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n",
        ] {
            assert!(matches!(
                read_within_seconds(pem),
                Err(SnsError::BadCertificate(_))
            ));
        }
    }
}
