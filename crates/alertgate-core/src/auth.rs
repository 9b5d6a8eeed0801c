//! Request authentication over the raw bytes, in constant time.
//!
//! A webhook has up to two active secrets (so one can be rotated without dropping alerts); a
//! request is authentic when it proves knowledge of either. Every secret is always checked (no
//! early exit on the first match), and comparisons of presented tokens go through SHA-256 first so
//! their length does not leak either.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// A shared secret. Never printed: `Debug` and `Display` show a placeholder.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the one place that must show it (creation, rotation) or use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Read access to request headers (case-insensitive names), so core needs no HTTP types.
pub trait Headers {
    /// The first value of header `name`, if present and valid UTF-8.
    fn get(&self, name: &str) -> Option<&str>;
}

impl Headers for &[(&str, &str)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// How the signature bytes are written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

/// How a webhook authenticates its requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthMethod {
    /// No authentication: the unguessable URL token is the only credential.
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// A static key in a header, after an optional prefix, e.g. `Authorization: GenieKey <secret>`.
    ApiKey {
        header: String,
        #[serde(default)]
        prefix: String,
    },
    /// `Authorization: Basic base64(username:secret)`.
    Basic { username: String },
    /// HMAC-SHA256 of the raw body (optionally `<timestamp>:<body>`), in a header.
    /// With `multiple`, the header may hold several comma-separated entries, each after `prefix`
    /// (PagerDuty's `v1=<hex>,v1=<hex>`); entries with another prefix are ignored.
    HmacSha256 {
        header: String,
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        encoding: SignatureEncoding,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_header: Option<String>,
        #[serde(default)]
        multiple: bool,
    },
    /// AWS SNS: an RSA signature inside the JSON body, checked against the certificate at
    /// `SigningCertURL`. Core cannot finish this alone (the certificate has to be fetched), so
    /// [`AuthMethod::verify`] refuses and the server runs the steps in [`crate::sns`] instead.
    /// With `topic_arns` set, only those topics are accepted (anyone can create a topic and
    /// subscribe a URL they know; the signature only proves that SNS sent the message).
    AwsSns {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        topic_arns: Vec<String>,
    },
}

impl AuthMethod {
    /// A short identifier, for metrics and the UI.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Bearer => "bearer",
            AuthMethod::ApiKey { .. } => "api_key",
            AuthMethod::Basic { .. } => "basic",
            AuthMethod::HmacSha256 { .. } => "hmac_sha256",
            AuthMethod::AwsSns { .. } => "aws_sns",
        }
    }

    /// Header names whose values are credentials, to be redacted wherever requests are recorded.
    pub fn secret_headers(&self) -> Vec<&str> {
        match self {
            AuthMethod::None
            | AuthMethod::Bearer
            | AuthMethod::Basic { .. }
            | AuthMethod::AwsSns { .. } => vec![],
            AuthMethod::ApiKey { header, .. } => vec![header.as_str()],
            AuthMethod::HmacSha256 { header, .. } => vec![header.as_str()],
        }
    }

    /// Whether this method needs a secret at all.
    pub fn needs_secret(&self) -> bool {
        !matches!(self, AuthMethod::None | AuthMethod::AwsSns { .. })
    }

    /// Check a configuration before it is saved.
    pub fn validate(&self) -> Result<(), String> {
        let header_ok = |h: &str| {
            !h.is_empty()
                && h.len() <= 100
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        match self {
            AuthMethod::ApiKey { header, prefix }
            | AuthMethod::HmacSha256 { header, prefix, .. } => {
                if !header_ok(header) {
                    return Err(format!("`{header}` is not a valid header name"));
                }
                if prefix.len() > 100 {
                    return Err("the prefix may be at most 100 bytes".into());
                }
            }
            AuthMethod::Basic { username } => {
                if username.is_empty() || username.contains(':') || username.len() > 200 {
                    return Err("the username must be 1-200 characters without `:`".into());
                }
            }
            AuthMethod::AwsSns { topic_arns } => crate::sns::validate_topic_arns(topic_arns)?,
            AuthMethod::None | AuthMethod::Bearer => {}
        }
        if let AuthMethod::HmacSha256 {
            timestamp_header: Some(t),
            ..
        } = self
        {
            if !header_ok(t) {
                return Err(format!("`{t}` is not a valid header name"));
            }
        }
        Ok(())
    }

    /// Verify a request: `headers`, the exact `body` bytes received, and the webhook's active
    /// `secrets` (one or two).
    pub fn verify(
        &self,
        headers: &dyn Headers,
        body: &[u8],
        secrets: &[Secret],
    ) -> Result<(), AuthError> {
        match self {
            AuthMethod::None => Ok(()),
            AuthMethod::AwsSns { .. } => Err(AuthError::NeedsCertificate),
            AuthMethod::Bearer => {
                let value = headers.get("authorization").ok_or(AuthError::Missing {
                    header: "Authorization",
                })?;
                let token =
                    strip_prefix_ci(value.trim(), "Bearer ").ok_or(AuthError::Malformed {
                        reason: "expected `Authorization: Bearer <secret>`",
                    })?;
                any_secret_equals(token.trim(), secrets)
            }
            AuthMethod::ApiKey { header, prefix } => {
                let value = headers.get(header).ok_or(AuthError::MissingNamed {
                    header: header.clone(),
                })?;
                let key = strip_prefix_ci(value.trim(), prefix).ok_or(AuthError::Malformed {
                    reason: "the key does not start with the configured prefix",
                })?;
                any_secret_equals(key.trim(), secrets)
            }
            AuthMethod::Basic { username } => {
                use base64::Engine;
                let value = headers.get("authorization").ok_or(AuthError::Missing {
                    header: "Authorization",
                })?;
                let encoded =
                    strip_prefix_ci(value.trim(), "Basic ").ok_or(AuthError::Malformed {
                        reason: "expected `Authorization: Basic <base64(user:password)>`",
                    })?;
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| AuthError::Malformed {
                        reason: "the Basic credentials are not valid base64",
                    })?;
                let decoded = String::from_utf8(decoded).map_err(|_| AuthError::Malformed {
                    reason: "the Basic credentials are not valid UTF-8",
                })?;
                let (user, password) = decoded.split_once(':').ok_or(AuthError::Malformed {
                    reason: "the Basic credentials have no `:`",
                })?;
                // Check user and password together, so a wrong user costs the same as a wrong password.
                let user_ok = digest_eq(user.as_bytes(), username.as_bytes());
                let pass_ok = any_secret_choice(password, secrets);
                if bool::from(user_ok & pass_ok) {
                    Ok(())
                } else {
                    Err(AuthError::Invalid)
                }
            }
            AuthMethod::HmacSha256 {
                header,
                prefix,
                encoding,
                timestamp_header,
                multiple,
            } => {
                let value = headers.get(header).ok_or(AuthError::MissingNamed {
                    header: header.clone(),
                })?;
                let timestamp = match timestamp_header {
                    None => None,
                    Some(name) => Some(headers.get(name).ok_or(AuthError::MissingNamed {
                        header: name.clone(),
                    })?),
                };
                let mut candidates: Vec<Vec<u8>> = Vec::new();
                let entries: Vec<&str> = if *multiple {
                    value.split(',').collect()
                } else {
                    vec![value]
                };
                for entry in entries {
                    let Some(sig) = strip_prefix_ci(entry.trim(), prefix) else {
                        continue;
                    };
                    if let Some(bytes) = decode_signature(sig.trim(), *encoding) {
                        candidates.push(bytes);
                    }
                }
                if candidates.is_empty() {
                    return Err(AuthError::Malformed {
                        reason: "no signature in the expected format",
                    });
                }
                let mut ok = Choice::from(0);
                for secret in secrets {
                    let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose().as_bytes()) else {
                        continue;
                    };
                    if let Some(ts) = timestamp {
                        mac.update(ts.trim().as_bytes());
                        mac.update(b":");
                    }
                    mac.update(body);
                    let expected = mac.finalize().into_bytes();
                    for candidate in &candidates {
                        ok |= expected.as_slice().ct_eq(candidate.as_slice());
                    }
                }
                if bool::from(ok) {
                    Ok(())
                } else {
                    Err(AuthError::Invalid)
                }
            }
        }
    }
}

/// How far a signed timestamp may be from the server's clock, either way.
pub const MAX_TIMESTAMP_SKEW_SECS: i64 = 300;

impl AuthMethod {
    /// Replay protection for HMAC schemes that sign a timestamp (Grafana with a timestamp header,
    /// the generic scheme): the signed time must be within [`MAX_TIMESTAMP_SKEW_SECS`] of `now`.
    /// Call after [`AuthMethod::verify`] succeeded.
    pub fn check_timestamp(
        &self,
        headers: &dyn Headers,
        now: crate::time::Timestamp,
    ) -> Result<(), AuthError> {
        let AuthMethod::HmacSha256 {
            timestamp_header: Some(name),
            ..
        } = self
        else {
            return Ok(());
        };
        let sent = headers
            .get(name)
            .and_then(crate::timestamps::parse_str)
            .ok_or(AuthError::Malformed {
                reason: "the signed timestamp is not a Unix time",
            })?;
        // Saturating: the sent time is the sender's text and `now` is only bounded by its type.
        let skew = now
            .as_millis()
            .saturating_sub(sent.as_millis())
            .saturating_abs()
            / 1000;
        if skew > MAX_TIMESTAMP_SKEW_SECS {
            return Err(AuthError::Stale { skew_secs: skew });
        }
        Ok(())
    }
}

/// Compute the signature a sender would put in the header for `body`: for tests, the Test tab and
/// the CLI's `send-test`.
pub fn hmac_sha256_hex(secret: &str, timestamp: Option<&str>, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    if let Some(ts) = timestamp {
        mac.update(ts.as_bytes());
        mac.update(b":");
    }
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn decode_signature(sig: &str, encoding: SignatureEncoding) -> Option<Vec<u8>> {
    use base64::Engine;
    let bytes = match encoding {
        SignatureEncoding::Hex => hex::decode(sig).ok()?,
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.decode(sig).ok()?,
    };
    // An HMAC-SHA256 is 32 bytes; anything else cannot match, and is not worth comparing.
    (bytes.len() == 32).then_some(bytes)
}

fn strip_prefix_ci<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(value);
    }
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

fn digest_eq(a: &[u8], b: &[u8]) -> Choice {
    Sha256::digest(a).ct_eq(&Sha256::digest(b))
}

fn any_secret_choice(presented: &str, secrets: &[Secret]) -> Choice {
    let presented = Sha256::digest(presented.as_bytes());
    let mut ok = Choice::from(0);
    for s in secrets {
        ok |= presented.ct_eq(&Sha256::digest(s.expose().as_bytes()));
    }
    ok
}

fn any_secret_equals(presented: &str, secrets: &[Secret]) -> Result<(), AuthError> {
    if bool::from(any_secret_choice(presented, secrets)) {
        Ok(())
    } else {
        Err(AuthError::Invalid)
    }
}

/// Why a request was not authenticated. Messages never contain what was presented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the {header} header is missing")]
    Missing { header: &'static str },
    #[error("the {header} header is missing")]
    MissingNamed { header: String },
    #[error("the credentials are malformed: {reason}")]
    Malformed { reason: &'static str },
    #[error("the credentials are not valid for this webhook")]
    Invalid,
    #[error("the signed timestamp is {skew_secs} s away from this server's clock (at most 300 s allowed); replays are refused")]
    Stale { skew_secs: i64 },
    /// The method (AWS SNS) needs the sender's signing certificate, which core cannot fetch.
    #[error("this request must be verified with the sender's signing certificate")]
    NeedsCertificate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(s: &[&str]) -> Vec<Secret> {
        s.iter().map(|x| Secret::new(*x)).collect()
    }

    #[test]
    fn bearer_accepts_either_active_secret_and_nothing_else() {
        let m = AuthMethod::Bearer;
        let both = secrets(&["old-secret-1", "new-secret-2"]);
        for good in [
            "Bearer old-secret-1",
            "bearer new-secret-2",
            "  Bearer new-secret-2  ",
        ] {
            let h: &[(&str, &str)] = &[("Authorization", good)];
            assert_eq!(m.verify(&h, b"{}", &both), Ok(()), "{good}");
        }
        let h: &[(&str, &str)] = &[("authorization", "Bearer old-secret-3")];
        assert_eq!(m.verify(&h, b"{}", &both), Err(AuthError::Invalid));
        let h: &[(&str, &str)] = &[("authorization", "Token old-secret-1")];
        assert!(matches!(
            m.verify(&h, b"{}", &both),
            Err(AuthError::Malformed { .. })
        ));
        let h: &[(&str, &str)] = &[];
        assert!(matches!(
            m.verify(&h, b"{}", &both),
            Err(AuthError::Missing { .. })
        ));
    }

    #[test]
    fn an_equal_length_wrong_secret_is_rejected() {
        let h: &[(&str, &str)] = &[("Authorization", "Bearer abcdef")];
        assert_eq!(
            AuthMethod::Bearer.verify(&h, b"", &secrets(&["abcdeg"])),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn api_key_with_prefix() {
        let m = AuthMethod::ApiKey {
            header: "Authorization".into(),
            prefix: "GenieKey ".into(),
        };
        let h: &[(&str, &str)] = &[("authorization", "GenieKey k-123")];
        assert_eq!(m.verify(&h, b"", &secrets(&["k-123"])), Ok(()));
        let h: &[(&str, &str)] = &[("authorization", "k-123")];
        assert!(m.verify(&h, b"", &secrets(&["k-123"])).is_err());
    }

    #[test]
    fn basic_checks_user_and_password() {
        let m = AuthMethod::Basic {
            username: "snow".into(),
        };
        let h: &[(&str, &str)] = &[("Authorization", "Basic c25vdzpwdw==")]; // snow:pw
        assert_eq!(m.verify(&h, b"", &secrets(&["pw"])), Ok(()));
        assert_eq!(
            m.verify(&h, b"", &secrets(&["px"])),
            Err(AuthError::Invalid)
        );
        let wrong_user = AuthMethod::Basic {
            username: "snox".into(),
        };
        assert_eq!(
            wrong_user.verify(&h, b"", &secrets(&["pw"])),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn hmac_over_raw_body_any_entry_may_match_and_a_flipped_byte_fails() {
        let m = AuthMethod::HmacSha256 {
            header: "X-PagerDuty-Signature".into(),
            prefix: "v1=".into(),
            encoding: SignatureEncoding::Hex,
            timestamp_header: None,
            multiple: true,
        };
        let body = br#"{"event":{"id":"1"}}"#;
        let good = hmac_sha256_hex("s3cret", None, body);
        let header = format!("v0=abc,v1={},v1={}", "00".repeat(32), good);
        let h: &[(&str, &str)] = &[("x-pagerduty-signature", &header)];
        assert_eq!(m.verify(&h, body, &secrets(&["s3cret"])), Ok(()));
        let mut flipped = body.to_vec();
        flipped[3] ^= 1;
        assert_eq!(
            m.verify(&h, &flipped, &secrets(&["s3cret"])),
            Err(AuthError::Invalid)
        );
        let h: &[(&str, &str)] = &[("x-pagerduty-signature", "v1=zz")];
        assert!(matches!(
            m.verify(&h, body, &secrets(&["s3cret"])),
            Err(AuthError::Malformed { .. })
        ));
    }

    #[test]
    fn hmac_with_timestamp_covers_it() {
        let m = AuthMethod::HmacSha256 {
            header: "X-Sig".into(),
            prefix: String::new(),
            encoding: SignatureEncoding::Hex,
            timestamp_header: Some("X-Ts".into()),
            multiple: false,
        };
        let sig = hmac_sha256_hex("k", Some("1700000000"), b"{}");
        let h: &[(&str, &str)] = &[("X-Sig", &sig), ("X-Ts", "1700000000")];
        assert_eq!(m.verify(&h, b"{}", &secrets(&["k"])), Ok(()));
        let h: &[(&str, &str)] = &[("X-Sig", &sig), ("X-Ts", "1700000001")];
        assert_eq!(
            m.verify(&h, b"{}", &secrets(&["k"])),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn a_signed_timestamp_must_be_recent() {
        let m = AuthMethod::HmacSha256 {
            header: "X-Sig".into(),
            prefix: String::new(),
            encoding: SignatureEncoding::Hex,
            timestamp_header: Some("X-Ts".into()),
            multiple: false,
        };
        let now = crate::time::Timestamp::from_millis(1_700_000_000_000);
        for (ts, ok) in [
            ("1700000000", true),
            ("1699999700", true),
            ("1700000300", true),
            ("1699999699", false),
            ("1700000301", false),
        ] {
            let h: &[(&str, &str)] = &[("X-Ts", ts)];
            assert_eq!(m.check_timestamp(&h, now).is_ok(), ok, "{ts}");
        }
        let h: &[(&str, &str)] = &[("X-Ts", "soon")];
        assert!(m.check_timestamp(&h, now).is_err());
        let h: &[(&str, &str)] = &[];
        assert!(AuthMethod::Bearer.check_timestamp(&h, now).is_ok());
    }

    #[test]
    fn the_timestamp_check_does_not_overflow() {
        // Found by fuzzing (fuzz/ target `auth`): `now - sent` overflowed (a panic with overflow
        // checks, a wrapped skew that passed the check without them).
        let m = AuthMethod::HmacSha256 {
            header: "X-Sig".into(),
            prefix: String::new(),
            encoding: SignatureEncoding::Hex,
            timestamp_header: Some("X-Ts".into()),
            multiple: false,
        };
        let h: &[(&str, &str)] = &[("X-Ts", "1700000000")];
        for now in [i64::MIN, i64::MIN + 1, i64::MAX] {
            assert!(matches!(
                m.check_timestamp(&h, crate::time::Timestamp::from_millis(now)),
                Err(AuthError::Stale { .. })
            ));
        }
        let h: &[(&str, &str)] = &[("X-Ts", "0000-01-01T00:00:00Z")];
        assert!(matches!(
            m.check_timestamp(&h, crate::time::Timestamp::from_millis(i64::MAX)),
            Err(AuthError::Stale { .. })
        ));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
