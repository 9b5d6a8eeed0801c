//! Timestamp parsing: every form senders use (RFC 3339 with any fraction, `+0000` offsets,
//! zone-less times, epoch seconds to nanoseconds as numbers or numeric strings).
//!
//! Invariants: no panic; surrounding whitespace does not matter; an all-digit string reads as
//! the same epoch number; epoch numbers are positive times; every time that is read can be
//! written as RFC 3339 and read back as the same instant (so what is stored can be shown and
//! parsed again).
#![no_main]

use alertgate_core::timestamps::{from_epoch, parse_str, parse_value};
use alertgate_core::Timestamp;
use libfuzzer_sys::fuzz_target;

fn round_trips(t: Timestamp, from: &str) {
    let text = t.to_rfc3339();
    assert_eq!(
        Timestamp::parse_rfc3339(&text),
        Some(t),
        "{from:?} read as {} ms, written as {text:?}, which does not read back",
        t.as_millis()
    );
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 8 {
        let n = i64::from_le_bytes(data[..8].try_into().unwrap());
        match from_epoch(n) {
            Some(t) => {
                assert!(n > 0);
                assert!(t.as_millis() > 0);
                round_trips(t, &n.to_string());
            }
            None => assert!(n <= 0),
        }
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_str(s);
    assert_eq!(parsed, parse_str(&format!(" \t{s}\n ")));
    let trimmed = s.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        assert_eq!(parsed, trimmed.parse::<i64>().ok().and_then(from_epoch));
    }
    if let Some(t) = parsed {
        round_trips(t, s);
    }
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        round_trips(t, s);
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
        if let Some(t) = parse_value(&v) {
            round_trips(t, s);
        }
        if let Some(text) = v.as_str() {
            assert_eq!(parse_value(&v), parse_str(text));
        }
    }
});
