//! Standard Webhooks signing secrets and signatures, through the `standardwebhooks` crate so that
//! receivers can verify with any of the scheme's reference libraries.
//!
//! A secret is `whsec_` followed by the standard base64 of 24 to 64 random bytes. The signature
//! covers `{webhook-id}.{webhook-timestamp}.{body}`; the id is the message id, the same on every
//! attempt, so receivers can use it as an idempotency key; the timestamp is the attempt's.

use base64::Engine;

use alertgate_core::auth::Secret;

const PREFIX: &str = "whsec_";

/// A new secret: 32 random bytes.
pub fn new_secret() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Accept a secret a user brings (e.g. one their receiver generated).
pub fn parse_secret(s: &str) -> Result<Secret, String> {
    let body = s.trim().strip_prefix(PREFIX).ok_or_else(|| {
        "secret must be `whsec_` followed by base64 (Standard Webhooks format)".to_string()
    })?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "secret must be `whsec_` followed by standard base64".to_string())?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "secret must encode 24 to 64 bytes (got {})",
            key.len()
        ));
    }
    Ok(Secret::new(s.trim()))
}

/// The three headers of a signed request.
pub struct SignatureHeaders {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
}

pub fn sign(
    secret: &Secret,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<SignatureHeaders, String> {
    let wh = standardwebhooks::Webhook::new(secret.expose())
        .map_err(|e| format!("the destination's signing secret is unusable: {e}"))?;
    let signature = wh
        .sign(msg_id, timestamp_secs, body)
        .map_err(|e| format!("could not sign the payload: {e}"))?;
    Ok(SignatureHeaders {
        id: msg_id.to_string(),
        timestamp: timestamp_secs.to_string(),
        signature,
    })
}

/// The last four characters of a secret, to recognize it by.
pub fn hint(secret: &Secret) -> String {
    let tail: String = secret
        .expose()
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_accepted_and_sign_verifiably() {
        let secret = new_secret();
        assert!(parse_secret(secret.expose()).is_ok());
        let h = sign(&secret, "msg_1", 1_700_000_000, b"{}").unwrap();
        assert!(h.signature.starts_with("v1,"));
        let wh = standardwebhooks::Webhook::new(secret.expose()).unwrap();
        assert_eq!(wh.sign("msg_1", 1_700_000_000, b"{}").unwrap(), h.signature);
    }

    #[test]
    fn the_scheme_reference_vector_signs_as_published() {
        // The example from the Standard Webhooks specification.
        let secret = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let h = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(
            h.signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for bad in ["", "whsec_", "secret", "whsec_!!!!", "whsec_c2hvcnQ="] {
            assert!(parse_secret(bad).is_err(), "{bad}");
        }
    }
}
