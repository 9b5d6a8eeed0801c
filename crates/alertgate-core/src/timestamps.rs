//! Timestamps in every form senders use: RFC 3339 with 0–9 fractional digits, `+0000` offsets
//! without a colon, zone-less `YYYY-MM-DD HH:MM:SS` (UTC, ServiceNow), and epoch seconds,
//! milliseconds, microseconds or nanoseconds as numbers or numeric strings. Go's zero time
//! (`0001-01-01T00:00:00Z`, Alertmanager's and Grafana's "not ended yet") means "no time", and so
//! does an instant RFC 3339 cannot write (before year 0 or after 9999 in UTC).

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::time::Timestamp;

/// Parse a JSON value holding a time. `None` for anything unrecognized, and for Go's zero time.
pub fn parse_value(v: &Value) -> Option<Timestamp> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .and_then(from_epoch),
        Value::String(s) => parse_str(s),
        _ => None,
    }
}

/// Parse a string holding a time (see the module docs for the accepted forms).
pub fn parse_str(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().and_then(from_epoch);
    }
    if s.starts_with("0001-01-01") {
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Timestamp::from_offset_datetime_checked(t);
    }
    // `+0000` / `-0530` offsets without a colon.
    // `split_at_checked` refuses a cut inside a multi-byte character (senders control this text).
    if let Some((head, tail)) = s.len().checked_sub(5).and_then(|i| s.split_at_checked(i)) {
        let tb = tail.as_bytes();
        if !head.is_empty()
            && (tb[0] == b'+' || tb[0] == b'-')
            && tb[1..].iter().all(u8::is_ascii_digit)
        {
            // The tail is five ASCII bytes here, so these cuts are on character boundaries.
            let fixed = format!("{head}{}:{}", &tail[..3], &tail[3..]);
            if let Ok(t) = OffsetDateTime::parse(&fixed, &Rfc3339) {
                return Timestamp::from_offset_datetime_checked(t);
            }
        }
    }
    // Zone-less date and time, taken as UTC.
    let naive = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    if let Ok(t) = PrimitiveDateTime::parse(s, &naive) {
        return Timestamp::from_offset_datetime_checked(t.assume_utc());
    }
    let naive_t = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(t) = PrimitiveDateTime::parse(s, &naive_t) {
        return Timestamp::from_offset_datetime_checked(t.assume_utc());
    }
    None
}

/// An epoch number in seconds, milliseconds, microseconds or nanoseconds, told apart by size
/// (seconds up to the year 5138, milliseconds from 1973 on, and so on).
pub fn from_epoch(n: i64) -> Option<Timestamp> {
    if n <= 0 {
        return None;
    }
    let ms = if n < 100_000_000_000 {
        n.checked_mul(1000)?
    } else if n < 100_000_000_000_000 {
        n
    } else if n < 100_000_000_000_000_000 {
        n / 1000
    } else {
        n / 1_000_000
    };
    Some(Timestamp::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: i64 = 1_725_847_147_423; // 2024-09-09T01:59:07.423Z

    #[test]
    fn every_form_in_the_corpus_parses() {
        let cases = [
            json!("2024-09-09T01:59:07.423Z"),
            json!("2024-09-09T01:59:07.423+0000"),
            json!("2024-09-09T03:59:07.423+02:00"),
            json!("2024-09-09T01:59:07.423000000Z"),
            json!("2024-09-09T01:59:07.4230000Z"),
            json!(T),
            json!(T.to_string()),
            json!(T * 1_000_000),
            json!((T * 1_000_000).to_string()),
        ];
        for c in cases {
            assert_eq!(parse_value(&c), Some(Timestamp::from_millis(T)), "{c}");
        }
        assert_eq!(
            parse_value(&json!(1_725_847_147)),
            Some(Timestamp::from_millis(1_725_847_147_000))
        );
        assert_eq!(
            parse_str("2024-09-09 01:59:07"),
            Some(Timestamp::from_millis(1_725_847_147_000))
        );
        assert_eq!(
            parse_str("2024-09-09T01:59:07.1Z"),
            Some(Timestamp::from_millis(1_725_847_147_100))
        );
    }

    #[test]
    fn go_zero_time_and_garbage_mean_no_time() {
        assert_eq!(parse_str("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_str("yesterday"), None);
        assert_eq!(parse_value(&json!(null)), None);
        assert_eq!(parse_value(&json!(-5)), None);
        assert_eq!(parse_str(""), None);
    }

    #[test]
    fn offsets_that_leave_the_writable_years_mean_no_time() {
        // Found by fuzzing (fuzz/ target `timestamps`): read as the year 10000, shown as 1970.
        assert_eq!(parse_str("9999-12-31T23:59:59-23:59"), None);
        assert_eq!(parse_str("9999-12-31T23:59:59-2359"), None);
        assert_eq!(parse_str("0000-01-01T00:00:00+0001"), None);
        assert_eq!(
            parse_str("9999-12-31T23:59:59Z"),
            Some(Timestamp::from_millis(253_402_300_799_000))
        );
    }

    #[test]
    fn text_ending_in_multibyte_characters_is_no_time_not_a_panic() {
        for s in [
            "x€abcd",
            "2024-09-09T01:59:07€",
            "é+0000",
            "aé0000",
            "€€€€€€",
        ] {
            assert_eq!(parse_str(s), None, "{s}");
        }
    }
}
