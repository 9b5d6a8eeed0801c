//! Every credential check in `auth.rs`: bearer, API key, Basic and HMAC-SHA256 (hex and base64,
//! one or several entries, with and without a signed timestamp), header parsing with wrong
//! lengths, odd prefixes and non-ASCII text, and the replay check on signed timestamps.
//!
//! Invariants: no panic; `validate` and `verify` agree with their documented contract; a
//! credential built the way the sender builds it from one of the secrets always verifies,
//! whatever the body, secret or prefix; the same credential with one bit flipped in the
//! signature never does; a request without the header is `Missing`, never accepted.
#![no_main]

use alertgate_core::auth::{hmac_sha256_hex, AuthError, AuthMethod, Secret, SignatureEncoding};
use alertgate_core::Timestamp;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Method {
    None,
    Bearer,
    ApiKey {
        header: String,
        prefix: String,
    },
    Basic {
        username: String,
    },
    Hmac {
        header: String,
        prefix: String,
        base64: bool,
        timestamp_header: Option<String>,
        multiple: bool,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: Method,
    /// Headers as a sender (or an attacker) wrote them.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    secrets: Vec<String>,
    /// Which secret the honest credential uses, and the timestamp it signs.
    signer: u8,
    timestamp: String,
    now_secs: i64,
    flip: u16,
}

fn method(m: &Method) -> AuthMethod {
    match m {
        Method::None => AuthMethod::None,
        Method::Bearer => AuthMethod::Bearer,
        Method::ApiKey { header, prefix } => AuthMethod::ApiKey {
            header: header.clone(),
            prefix: prefix.clone(),
        },
        Method::Basic { username } => AuthMethod::Basic {
            username: username.clone(),
        },
        Method::Hmac {
            header,
            prefix,
            base64,
            timestamp_header,
            multiple,
        } => AuthMethod::HmacSha256 {
            header: header.clone(),
            prefix: prefix.clone(),
            encoding: if *base64 {
                SignatureEncoding::Base64
            } else {
                SignatureEncoding::Hex
            },
            timestamp_header: timestamp_header.clone(),
            multiple: *multiple,
        },
    }
}

fn b64(bytes: &[u8]) -> String {
    // A small standard-alphabet encoder, so the target checks the verifier against an encoder
    // that is not the one it uses.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A header value no HTTP stack would deliver: the server's header adapter returns only values
/// that are visible ASCII (and spaces/tabs), so honest credentials are checked in that space.
fn http_safe(s: &str) -> bool {
    s.bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
}

fuzz_target!(|input: Input| {
    let m = method(&input.method);
    let secrets: Vec<Secret> = input.secrets.iter().take(3).map(Secret::new).collect();
    let headers: Vec<(&str, &str)> = input
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let h: &[(&str, &str)] = &headers;

    // Arbitrary configuration and request: whatever happens, no panic, and errors are the
    // documented ones.
    let _ = m.validate();
    let verdict = m.verify(&h, &input.body, &secrets);
    if secrets.is_empty() {
        assert!(
            verdict.is_err() || matches!(m, AuthMethod::None),
            "accepted with no secret: {verdict:?}"
        );
    }
    let now = Timestamp::from_millis(input.now_secs.saturating_mul(1000));
    let _ = m.check_timestamp(&h, now);
    if let Err(AuthError::Stale { skew_secs }) = m.check_timestamp(&h, now) {
        assert!(skew_secs > 300);
    }

    // No header at all: never accepted (except by `None`).
    let nothing: &[(&str, &str)] = &[];
    match m.verify(&nothing, &input.body, &secrets) {
        Ok(()) => assert!(matches!(m, AuthMethod::None)),
        Err(e) => assert!(
            matches!(
                e,
                AuthError::Missing { .. } | AuthError::MissingNamed { .. }
            ),
            "{e:?}"
        ),
    }

    // The honest credential, built from one of the secrets, always verifies.
    if secrets.is_empty() || m.validate().is_err() {
        return;
    }
    let secret = secrets[usize::from(input.signer) % secrets.len()]
        .expose()
        .to_string();
    let ts = input.timestamp.trim();
    let honest: Vec<(String, String)> = match &m {
        AuthMethod::None | AuthMethod::AwsSns { .. } => return,
        AuthMethod::Bearer => {
            if secret.trim() != secret || secret.is_empty() || !http_safe(&secret) {
                return;
            }
            vec![("Authorization".into(), format!("Bearer {secret}"))]
        }
        AuthMethod::ApiKey { header, prefix } => {
            if secret.trim() != secret
                || secret.is_empty()
                || !http_safe(&secret)
                || !http_safe(prefix)
            {
                return;
            }
            // The configured prefix is matched after trimming the header value.
            if prefix.trim_start() != prefix {
                return;
            }
            vec![(header.clone(), format!("{prefix}{secret}"))]
        }
        AuthMethod::Basic { username } => {
            let creds = format!("{username}:{secret}");
            vec![(
                "Authorization".into(),
                format!("Basic {}", b64(creds.as_bytes())),
            )]
        }
        AuthMethod::HmacSha256 {
            header,
            prefix,
            encoding,
            timestamp_header,
            multiple,
        } => {
            if !http_safe(prefix) || prefix.trim() != prefix || (*multiple && prefix.contains(','))
            {
                return;
            }
            let signed_ts = timestamp_header.as_ref().map(|_| ts);
            if signed_ts.is_some_and(|t| !http_safe(t)) {
                return;
            }
            let hex = hmac_sha256_hex(&secret, signed_ts, &input.body);
            let mut sig = unhex(&hex);
            assert_eq!(sig.len(), 32);
            let encode = |sig: &[u8]| match encoding {
                SignatureEncoding::Hex => {
                    sig.iter().map(|b| format!("{b:02x}")).collect::<String>()
                }
                SignatureEncoding::Base64 => b64(sig),
            };
            let mut hs = vec![(header.clone(), format!("{prefix}{}", encode(&sig)))];
            if let Some(name) = timestamp_header {
                if name.eq_ignore_ascii_case(header) {
                    return;
                }
                hs.push((name.clone(), ts.to_string()));
            }
            let refs: Vec<(&str, &str)> =
                hs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let r: &[(&str, &str)] = &refs;
            assert_eq!(
                m.verify(&r, &input.body, &secrets),
                Ok(()),
                "the honest signature was refused"
            );
            // One bit flipped in the signature: refused, unless another secret happens to be
            // the same one (then it is still the wrong signature, so still refused).
            let bit = usize::from(input.flip) % 256;
            sig[bit / 8] ^= 1 << (bit % 8);
            hs[0].1 = format!("{prefix}{}", encode(&sig));
            let refs: Vec<(&str, &str)> =
                hs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let r: &[(&str, &str)] = &refs;
            assert_eq!(
                m.verify(&r, &input.body, &secrets),
                Err(AuthError::Invalid),
                "a flipped signature was accepted"
            );
            return;
        }
    };
    let refs: Vec<(&str, &str)> = honest
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r: &[(&str, &str)] = &refs;
    assert_eq!(
        m.verify(&r, &input.body, &secrets),
        Ok(()),
        "the honest credential was refused"
    );
});
