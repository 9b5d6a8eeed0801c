//! Payload limits and sanitization: what a request body may be, and how an oversized but valid
//! payload is cut down to size (with a warning per cut) instead of being refused.
//!
//! Hard limits (refused): body over [`Limits::max_body_bytes`], not UTF-8, not JSON, nesting deeper
//! than [`Limits::max_depth`]. Soft limits (truncated and reported): strings longer than
//! [`Limits::max_string_chars`] characters, arrays longer than [`Limits::max_array_items`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Appended to a truncated string; counted inside the limit so a truncated string is never longer
/// than the limit.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// At most this many warnings are listed; the rest are counted in the last one.
pub const MAX_WARNINGS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_array_items: usize,
    pub max_string_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 100 * 1024,
            max_depth: 10,
            max_array_items: 100,
            max_string_chars: 10_000,
        }
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is {actual} bytes; the limit is {limit} bytes")]
    TooLarge { limit: usize, actual: usize },
    #[error("the body is empty; send a JSON object")]
    Empty,
    #[error("the body is not valid UTF-8 (first invalid byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("the body is not valid JSON: {detail}")]
    InvalidJson { detail: String },
    #[error("the JSON is nested more than {limit} levels deep")]
    TooDeep { limit: usize },
    /// Within the size limit as sent, over it as parsed and written back (how it is stored):
    /// a number such as `9e15` is written out in full, `9000000000000000.0`.
    #[error("the body's JSON takes {expanded} bytes once parsed and written back (numbers in exponent form are written out in full); the limit is {limit} bytes")]
    ExpandsBeyondLimit { limit: usize, expanded: usize },
}

/// One cut made to fit the limits, reported back to the sender and kept in the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Warning {
    pub code: String,
    pub path: String,
    pub message: String,
}

/// A parsed body within the limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Sanitized {
    pub value: Value,
    pub warnings: Vec<Warning>,
}

impl Limits {
    /// Check and parse a body: size, UTF-8, nesting (before allocating a tree), JSON, then truncate
    /// long strings and arrays.
    pub fn parse(&self, body: &[u8]) -> Result<Sanitized, PayloadError> {
        if body.len() > self.max_body_bytes {
            return Err(PayloadError::TooLarge {
                limit: self.max_body_bytes,
                actual: body.len(),
            });
        }
        let text = std::str::from_utf8(body).map_err(|e| PayloadError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        if text.trim().is_empty() {
            return Err(PayloadError::Empty);
        }
        if nesting_depth_exceeds(text.as_bytes(), self.max_depth) {
            return Err(PayloadError::TooDeep {
                limit: self.max_depth,
            });
        }
        let mut value: Value =
            serde_json::from_str(text).map_err(|e| PayloadError::InvalidJson {
                detail: e.to_string(),
            })?;
        let mut warnings = Vec::new();
        let mut dropped = 0usize;
        let mut path = String::from("$");
        self.sanitize(&mut value, &mut path, &mut warnings, &mut dropped);
        // What is kept is the value written back, not the bytes received: hold that to the size
        // limit too.
        let expanded = encoded_len(&value);
        if expanded > self.max_body_bytes {
            return Err(PayloadError::ExpandsBeyondLimit {
                limit: self.max_body_bytes,
                expanded,
            });
        }
        if dropped > 0 {
            warnings.push(Warning {
                code: "more_truncations".into(),
                path: "$".into(),
                message: format!("{dropped} more values were truncated"),
            });
        }
        Ok(Sanitized { value, warnings })
    }

    fn sanitize(
        &self,
        value: &mut Value,
        path: &mut String,
        warnings: &mut Vec<Warning>,
        dropped: &mut usize,
    ) {
        let mut warn = |w: Warning| {
            if warnings.len() < MAX_WARNINGS {
                warnings.push(w);
            } else {
                *dropped += 1;
            }
        };
        match value {
            Value::String(s) => {
                if let Some(cut) = truncate_chars(s, self.max_string_chars) {
                    warn(Warning {
                        code: "string_truncated".into(),
                        path: path.clone(),
                        message: format!(
                            "string of {cut} characters truncated to {} characters",
                            self.max_string_chars
                        ),
                    });
                }
            }
            Value::Array(items) => {
                if items.len() > self.max_array_items {
                    warn(Warning {
                        code: "array_truncated".into(),
                        path: path.clone(),
                        message: format!(
                            "array of {} items truncated to {} items",
                            items.len(),
                            self.max_array_items
                        ),
                    });
                    items.truncate(self.max_array_items);
                }
                for (i, item) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    self.sanitize(item, path, warnings, dropped);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let len = path.len();
                    push_member(path, k);
                    self.sanitize(v, path, warnings, dropped);
                    path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// The length of `value` written as compact JSON, without building the text.
pub fn encoded_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a writer that never fails cannot fail (its map keys are strings).
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Append a normalized-path member selector (RFC 9535 §2.7) for `key`.
fn push_member(path: &mut String, key: &str) {
    path.push_str("['");
    for c in key.chars().take(100) {
        match c {
            '\'' => path.push_str("\\'"),
            '\\' => path.push_str("\\\\"),
            c if c.is_control() => path.push_str(&format!("\\u{:04x}", c as u32)),
            c => path.push(c),
        }
    }
    path.push_str("']");
}

/// Truncate `s` to at most `max` characters including [`TRUNCATION_MARKER`]. Returns the original
/// character count when it cut.
pub fn truncate_chars(s: &mut String, max: usize) -> Option<usize> {
    // Fast path: a string of at most `max` bytes has at most `max` characters.
    if s.len() <= max {
        return None;
    }
    let count = s.chars().count();
    if count <= max {
        return None;
    }
    let marker_chars = TRUNCATION_MARKER.chars().count();
    let keep = max.saturating_sub(marker_chars);
    let cut_at = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    s.truncate(cut_at);
    if max >= marker_chars {
        s.push_str(TRUNCATION_MARKER);
    }
    Some(count)
}

/// True when `json` opens more than `max` nested arrays/objects. A lexer-level scan: it tracks
/// strings and escapes only, so it runs before (and protects) the real parser. Invalid JSON is
/// left to the parser to report.
pub fn nesting_depth_exceeds(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn ten_levels_pass_and_eleven_are_refused() {
        let l = Limits::default();
        assert!(l.parse(nested(10).as_bytes()).is_ok());
        assert_eq!(
            l.parse(nested(11).as_bytes()),
            Err(PayloadError::TooDeep { limit: 10 })
        );
        let obj = format!("{}1{}", "{\"a\":".repeat(11), "}".repeat(11));
        assert!(matches!(
            l.parse(obj.as_bytes()),
            Err(PayloadError::TooDeep { .. })
        ));
    }

    #[test]
    fn brackets_inside_strings_do_not_count_as_nesting() {
        let l = Limits::default();
        let body = format!("{{\"a\": \"{}\\\"{}\"}}", "[".repeat(50), "{".repeat(50));
        assert!(l.parse(body.as_bytes()).is_ok());
    }

    #[test]
    fn a_body_over_100_kb_is_refused_and_one_at_the_limit_is_not() {
        let l = Limits::default();
        let at_limit = format!("{{\"a\":\"{}\"}}", "x".repeat(102_400 - 8));
        assert_eq!(at_limit.len(), 102_400);
        assert!(l.parse(at_limit.as_bytes()).is_ok());
        let over = format!("{{\"a\":\"{}\"}}", "x".repeat(102_400 - 7));
        assert!(matches!(
            l.parse(over.as_bytes()),
            Err(PayloadError::TooLarge {
                limit: 102_400,
                actual: 102_401
            })
        ));
    }

    #[test]
    fn invalid_utf8_empty_and_invalid_json_are_told_apart() {
        let l = Limits::default();
        assert_eq!(
            l.parse(b"{\"a\":\"\xff\"}"),
            Err(PayloadError::InvalidUtf8 { offset: 6 })
        );
        assert_eq!(l.parse(b"  "), Err(PayloadError::Empty));
        assert!(matches!(
            l.parse(b"{\"a\":"),
            Err(PayloadError::InvalidJson { .. })
        ));
    }

    #[test]
    fn long_strings_are_truncated_with_a_marker_and_reported() {
        let l = Limits::default();
        let body = serde_json::json!({"title": "é".repeat(10_001)}).to_string();
        let s = l.parse(body.as_bytes()).unwrap();
        let title = s.value["title"].as_str().unwrap();
        assert_eq!(title.chars().count(), 10_000);
        assert!(title.ends_with(TRUNCATION_MARKER));
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(s.warnings[0].code, "string_truncated");
        assert_eq!(s.warnings[0].path, "$['title']");
    }

    #[test]
    fn a_string_of_exactly_the_limit_is_kept_whole() {
        let l = Limits::default();
        let body = serde_json::json!({"t": "x".repeat(10_000)}).to_string();
        let s = l.parse(body.as_bytes()).unwrap();
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn long_arrays_are_truncated_and_reported() {
        let l = Limits::default();
        let items: Vec<u32> = (0..101).collect();
        let body = serde_json::json!({ "alerts": items }).to_string();
        let s = l.parse(body.as_bytes()).unwrap();
        assert_eq!(s.value["alerts"].as_array().unwrap().len(), 100);
        assert_eq!(s.warnings[0].code, "array_truncated");
        assert_eq!(s.warnings[0].path, "$['alerts']");
    }

    #[test]
    fn warnings_are_bounded() {
        let l = Limits {
            max_string_chars: 20,
            ..Limits::default()
        };
        let long = "y".repeat(21);
        let items: Vec<&str> = vec![long.as_str(); 50];
        let body = serde_json::json!({ "a": items }).to_string();
        let s = l.parse(body.as_bytes()).unwrap();
        assert_eq!(s.warnings.len(), MAX_WARNINGS + 1);
        assert_eq!(s.warnings.last().unwrap().code, "more_truncations");
    }

    #[test]
    fn numbers_read_back_as_the_same_numbers() {
        // Found by fuzzing (fuzz/ target `limits`): without exact float parsing this number was
        // read as 1.222222222222222e35, written so, and read back as 1.2222222222222221e35.
        let l = Limits::default();
        let body = "122222222222222222222222222222222224";
        let first = l.parse(body.as_bytes()).unwrap();
        assert_eq!(first.value.as_f64(), Some(body.parse::<f64>().unwrap()));
        let written = serde_json::to_vec(&first.value).unwrap();
        assert_eq!(l.parse(&written).unwrap().value, first.value);
    }

    #[test]
    fn a_body_that_expands_beyond_the_limit_when_written_back_is_refused() {
        // Found by fuzzing (fuzz/ target `limits`): `9e15` is stored as `9000000000000000.0`, so
        // a body under the limit could be kept at almost four times the limit.
        let l = Limits::default();
        let numbers = vec!["9e15"; 100].join(",");
        let row = format!("[{numbers}]");
        let body = format!("[{}]", vec![row.as_str(); 100].join(","));
        assert_eq!(body.len(), 50_201);
        assert_eq!(
            l.parse(body.as_bytes()),
            Err(PayloadError::ExpandsBeyondLimit {
                limit: 102_400,
                // 100 rows of `[` + 100 × `9000000000000000.0` + 99 commas + `]`, 99 commas, `[]`
                expanded: 100 * (1 + 100 * 18 + 99 + 1) + 99 + 2
            })
        );
        // Small enough once written out: accepted.
        let small = format!("[{}]", vec![row.as_str(); 50].join(","));
        let s = l.parse(small.as_bytes()).unwrap();
        assert_eq!(
            encoded_len(&s.value),
            serde_json::to_vec(&s.value).unwrap().len()
        );
        assert!(encoded_len(&s.value) <= l.max_body_bytes);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,40}".prop_map(Value::String),
            (0usize..30).prop_map(|n| Value::String("ü".repeat(n * 10))),
        ];
        leaf.prop_recursive(8, 256, 20, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,8}", inner, 0..10)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// JSON text as a sender may write it: numbers in exponent form, insignificant whitespace,
    /// escapes, up to 7 levels deep.
    fn arb_json_text() -> impl Strategy<Value = String> {
        let ws = prop::sample::select(vec!["", " ", "\n", "\t "]);
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            any::<i32>().prop_map(|n| n.to_string()),
            (1u8..10, 0u8..20).prop_map(|(m, e)| format!("{m}e{e}")),
            (any::<u16>(), 1u8..6).prop_map(|(m, e)| format!("{m}.{m}E-{e}")),
            "\\PC{0,30}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            (0usize..3).prop_map(|n| format!("\"{}\"", "\\u00e9".repeat(n * 5))),
        ];
        leaf.prop_recursive(7, 200, 8, move |inner| {
            let ws = ws.clone();
            prop_oneof![
                (prop::collection::vec((inner.clone(), ws.clone()), 0..9)).prop_map(|items| {
                    let items: Vec<String> = items
                        .into_iter()
                        .map(|(v, w)| format!("{w}{v}{w}"))
                        .collect();
                    format!("[{}]", items.join(","))
                }),
                (prop::collection::btree_map("[a-e]{1,3}", (inner, ws), 0..6)).prop_map(|m| {
                    let members: Vec<String> = m
                        .into_iter()
                        .map(|(k, (v, w))| format!("{w}\"{k}\"{w}:{w}{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    fn within(v: &Value, l: &Limits) -> bool {
        match v {
            Value::String(s) => s.chars().count() <= l.max_string_chars,
            Value::Array(a) => a.len() <= l.max_array_items && a.iter().all(|x| within(x, l)),
            Value::Object(m) => m.values().all(|x| within(x, l)),
            _ => true,
        }
    }

    proptest! {
        #[test]
        fn sanitization_never_leaves_a_value_beyond_the_limits(v in arb_json()) {
            let l = Limits { max_body_bytes: 1 << 20, max_depth: 10, max_array_items: 5, max_string_chars: 50 };
            let body = serde_json::to_vec(&v).unwrap();
            if let Ok(s) = l.parse(&body) {
                prop_assert!(within(&s.value, &l));
                prop_assert!(serde_json::to_vec(&s.value).unwrap().len() <= body.len() + 4 * s.warnings.len() * TRUNCATION_MARKER.len());
            }
        }

        #[test]
        fn any_accepted_body_is_within_every_limit_as_stored(text in arb_json_text()) {
            // Bodies as senders write them (exponent numbers, whitespace, nesting past the limit),
            // with limits small enough to be reached: what is accepted is within all of them,
            // written back as it is stored.
            let l = Limits { max_body_bytes: 600, max_depth: 4, max_array_items: 5, max_string_chars: 20 };
            fn depth(v: &Value) -> usize {
                match v {
                    Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
                    Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
                    _ => 0,
                }
            }
            match l.parse(text.as_bytes()) {
                Ok(s) => {
                    prop_assert!(depth(&s.value) <= l.max_depth);
                    prop_assert!(within(&s.value, &l));
                    let stored = serde_json::to_vec(&s.value).unwrap();
                    prop_assert_eq!(encoded_len(&s.value), stored.len());
                    prop_assert!(stored.len() <= l.max_body_bytes, "{} bytes stored", stored.len());
                    prop_assert!(s.warnings.len() <= MAX_WARNINGS + 1);
                }
                Err(PayloadError::TooDeep { .. }) => prop_assert!(nesting_depth_exceeds(text.as_bytes(), l.max_depth)),
                Err(PayloadError::TooLarge { actual, .. }) => prop_assert!(actual > l.max_body_bytes),
                Err(PayloadError::ExpandsBeyondLimit { expanded, .. }) => prop_assert!(expanded > l.max_body_bytes),
                Err(e) => prop_assert!(false, "{text}: {e}"),
            }
        }

        #[test]
        fn the_depth_scan_agrees_with_the_parsed_tree(v in arb_json()) {
            fn depth(v: &Value) -> usize {
                match v {
                    Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
                    Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
                    _ => 0,
                }
            }
            let body = serde_json::to_vec(&v).unwrap();
            for max in 0..9 {
                prop_assert_eq!(nesting_depth_exceeds(&body, max), depth(&v) > max);
            }
        }
    }
}
