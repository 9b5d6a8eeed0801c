//! Dedup keys: which alerts are "the same alert" within a webhook's dedup window.

use sha2::{Digest, Sha256};

use crate::ids::WebhookId;
use crate::severity::Severity;

/// Custom keys longer than this are stored as their SHA-256, so the index stays narrow.
pub const MAX_KEY_BYTES: usize = 256;

/// The default key: hex SHA-256 over title, severity and webhook id, each terminated by a NUL
/// byte so that no two different triples produce the same input ("ab"+"c" vs "a"+"bc").
pub fn default_dedup_key(title: &str, severity: Severity, webhook: WebhookId) -> String {
    let mut h = Sha256::new();
    h.update(title.as_bytes());
    h.update([0]);
    h.update(severity.as_str().as_bytes());
    h.update([0]);
    h.update(webhook.to_string().as_bytes());
    h.update([0]);
    hex::encode(h.finalize())
}

/// A key found in the payload by the webhook's `dedup_key` path: kept verbatim (readable in the
/// UI and in explanations) unless it is long, then hashed.
pub fn custom_dedup_key(found: &str) -> String {
    let found = found.trim();
    if found.len() <= MAX_KEY_BYTES {
        found.to_string()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(found.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn the_default_key_depends_on_title_severity_and_webhook() {
        let w1 = WebhookId::new(Timestamp::from_millis(1), 1);
        let w2 = WebhookId::new(Timestamp::from_millis(1), 2);
        let k = default_dedup_key("High CPU", Severity::High, w1);
        assert_eq!(k.len(), 64);
        assert_eq!(k, default_dedup_key("High CPU", Severity::High, w1));
        assert_ne!(k, default_dedup_key("High CPU", Severity::Critical, w1));
        assert_ne!(k, default_dedup_key("High CPU", Severity::High, w2));
        assert_ne!(k, default_dedup_key("High CPu", Severity::High, w1));
    }

    #[test]
    fn custom_keys_are_kept_unless_long() {
        assert_eq!(custom_dedup_key(" abc "), "abc");
        let long = "k".repeat(300);
        let hashed = custom_dedup_key(&long);
        assert!(hashed.starts_with("sha256:"));
        assert_eq!(hashed.len(), 7 + 64);
    }
}
