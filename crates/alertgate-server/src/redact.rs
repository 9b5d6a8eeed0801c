//! What of a request may be recorded: headers with credentials are redacted, everything bounded.

use axum::http::HeaderMap;

pub const REDACTED: &str = "[redacted]";
const MAX_HEADERS: usize = 64;
const MAX_HEADER_VALUE_CHARS: usize = 1_000;

/// True for header names that carry credentials on any platform.
pub fn is_sensitive(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "api-key" | "x-api-key"
    ) || n.contains("signature")
        || n.contains("token")
        || n.contains("secret")
        || n.contains("password")
        || n.contains("apikey")
        || n.contains("api-key")
}

/// The headers as `(name, value)` pairs, with credentials (and any of `extra`) redacted.
pub fn headers_for_log(headers: &HeaderMap, extra: &[String]) -> Vec<(String, String)> {
    headers
        .iter()
        .take(MAX_HEADERS)
        .map(|(name, value)| {
            let name = name.as_str();
            let secret = is_sensitive(name) || extra.iter().any(|e| e.eq_ignore_ascii_case(name));
            let value = if secret {
                REDACTED.to_string()
            } else {
                String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .take(MAX_HEADER_VALUE_CHARS)
                    .collect()
            };
            (name.to_string(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_the_rest_kept() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        h.insert("x-pagerduty-signature", "v1=abc".parse().unwrap());
        h.insert("x-custom-key", "k".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        let out = headers_for_log(&h, &["X-Custom-Key".to_string()]);
        let get = |n: &str| out.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("authorization"), Some(REDACTED));
        assert_eq!(get("x-pagerduty-signature"), Some(REDACTED));
        assert_eq!(get("x-custom-key"), Some(REDACTED));
        assert_eq!(get("content-type"), Some("application/json"));
    }
}
