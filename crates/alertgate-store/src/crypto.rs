//! Encryption of secrets at rest (webhook secrets, destination signing secrets): XChaCha20-Poly1305
//! with a 256-bit key from `ALERTGATE_SECRET_KEY` or a key file the server generates. The id of
//! the owning object is the associated data, so a ciphertext cannot be moved to another object.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use alertgate_core::auth::Secret;
use alertgate_core::webhook::Webhook;

use crate::StoreError;

const PREFIX: &str = "enc:v1:";

#[derive(Clone)]
pub struct SecretCipher {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher(***)")
    }
}

impl SecretCipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A key from its base64 text (44 characters).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| "the secret key is not valid base64".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the secret key must be 32 bytes (44 base64 characters)".to_string())?;
        Ok(Self::new(&key))
    }

    /// A fresh random key, as base64.
    pub fn generate_key() -> String {
        let key: [u8; 32] = rand::random();
        B64.encode(key)
    }

    pub fn encrypt(&self, plain: &str, owner: &str) -> Result<String, StoreError> {
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from_slice(&nonce_bytes);
        let ct = self
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Other("encryption failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    pub fn decrypt(&self, stored: &str, owner: &str) -> Result<String, StoreError> {
        let Some(body) = stored.strip_prefix(PREFIX) else {
            return Err(StoreError::Corrupt("a secret is stored unencrypted".into()));
        };
        let bytes = B64
            .decode(body)
            .map_err(|_| StoreError::Corrupt("an encrypted secret is not base64".into()))?;
        if bytes.len() < 24 {
            return Err(StoreError::Corrupt(
                "an encrypted secret is truncated".into(),
            ));
        }
        let (nonce, ct) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: owner.as_bytes() })
            .map_err(|_| {
                StoreError::Corrupt(
                    "a secret cannot be decrypted: is ALERTGATE_SECRET_KEY the key it was stored with?".into(),
                )
            })?;
        String::from_utf8(plain)
            .map_err(|_| StoreError::Corrupt("a decrypted secret is not UTF-8".into()))
    }
}

/// A webhook as stored: JSON with its secrets encrypted, bound to its id.
pub(crate) fn seal_webhook(cipher: &SecretCipher, w: &Webhook) -> Result<String, StoreError> {
    let owner = w.id.to_string();
    let mut stored = w.clone();
    stored.secrets = w
        .secrets
        .iter()
        .map(|s| cipher.encrypt(s.expose(), &owner).map(Secret::new))
        .collect::<Result<_, _>>()?;
    serde_json::to_string(&stored).map_err(|e| StoreError::Other(e.to_string()))
}

/// A stored webhook, its secrets decrypted.
pub(crate) fn open_webhook(cipher: &SecretCipher, s: &str) -> Result<Webhook, StoreError> {
    let mut w: Webhook = serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let owner = w.id.to_string();
    w.secrets = w
        .secrets
        .iter()
        .map(|s| cipher.decrypt(s.expose(), &owner).map(Secret::new))
        .collect::<Result<_, _>>()?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_are_bound_to_their_owner() {
        let c = SecretCipher::from_base64(&SecretCipher::generate_key()).unwrap();
        let enc = c.encrypt("whsec_abc", "whk_1").unwrap();
        assert!(enc.starts_with(PREFIX));
        assert!(!enc.contains("whsec_abc"));
        assert_eq!(c.decrypt(&enc, "whk_1").unwrap(), "whsec_abc");
        assert!(c.decrypt(&enc, "whk_2").is_err(), "moved to another owner");
        let other = SecretCipher::from_base64(&SecretCipher::generate_key()).unwrap();
        assert!(other.decrypt(&enc, "whk_1").is_err(), "another key");
        assert_ne!(
            enc,
            c.encrypt("whsec_abc", "whk_1").unwrap(),
            "fresh nonce each time"
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(SecretCipher::from_base64("short").is_err());
        assert!(SecretCipher::from_base64("!!!").is_err());
    }
}
