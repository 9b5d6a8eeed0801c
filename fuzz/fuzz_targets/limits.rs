//! The payload limits and sanitizer, on raw request bodies.
//!
//! Invariants: no panic; a body over the size limit is refused; an accepted body is within every
//! limit (nesting, array length, string length in characters) and re-encodes within the body
//! limit; the warnings are bounded; sanitizing is idempotent (an accepted, sanitized payload
//! passes again unchanged and without warnings).
//!
//! The first byte picks the limits (the defaults, or small ones so truncation is reached often);
//! the rest is the body.
#![no_main]

use alertgate_core::limits::{nesting_depth_exceeds, Limits, PayloadError, MAX_WARNINGS};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn assert_within(v: &Value, l: &Limits) {
    match v {
        Value::String(s) => assert!(s.chars().count() <= l.max_string_chars, "string too long"),
        Value::Array(a) => {
            assert!(a.len() <= l.max_array_items, "array too long");
            a.iter().for_each(|x| assert_within(x, l));
        }
        Value::Object(m) => m.values().for_each(|x| assert_within(x, l)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let limits = if pick & 1 == 0 {
        Limits::default()
    } else {
        // Small limits, so that truncation and refusal paths are reached with small inputs.
        Limits {
            max_body_bytes: 64 + usize::from(pick >> 1) * 8,
            max_depth: usize::from(pick >> 1) % 6,
            max_array_items: usize::from(pick >> 4),
            max_string_chars: usize::from(pick >> 2),
        }
    };
    match limits.parse(body) {
        Ok(s) => {
            assert!(body.len() <= limits.max_body_bytes);
            assert!(
                depth(&s.value) <= limits.max_depth,
                "nesting beyond the limit"
            );
            assert!(!nesting_depth_exceeds(body, limits.max_depth));
            assert_within(&s.value, &limits);
            assert!(s.warnings.len() <= MAX_WARNINGS + 1);
            let encoded = serde_json::to_vec(&s.value).unwrap();
            assert!(
                encoded.len() <= limits.max_body_bytes,
                "the sanitized payload re-encodes to {} bytes, over the {}-byte limit",
                encoded.len(),
                limits.max_body_bytes
            );
            // Idempotent: what was let through passes again, as it is, with nothing to cut.
            let again = limits
                .parse(&encoded)
                .expect("a sanitized payload is accepted again");
            assert_eq!(again.value, s.value);
            assert!(again.warnings.is_empty(), "{:?}", again.warnings);
        }
        Err(PayloadError::TooLarge { limit, actual }) => {
            assert_eq!(limit, limits.max_body_bytes);
            assert!(actual > limit);
        }
        Err(PayloadError::Empty) => {
            assert!(std::str::from_utf8(body).is_ok_and(|t| t.trim().is_empty()))
        }
        Err(PayloadError::ExpandsBeyondLimit { limit, expanded }) => {
            assert_eq!(limit, limits.max_body_bytes);
            assert!(expanded > limit);
        }
        Err(PayloadError::InvalidUtf8 { offset }) => {
            assert!(std::str::from_utf8(body).is_err());
            assert!(std::str::from_utf8(&body[..offset]).is_ok());
        }
        Err(PayloadError::TooDeep { limit }) => {
            assert_eq!(limit, limits.max_depth);
            assert!(nesting_depth_exceeds(body, limits.max_depth));
        }
        Err(PayloadError::InvalidJson { .. }) => {
            assert!(serde_json::from_slice::<Value>(body).is_err());
        }
    }
});
