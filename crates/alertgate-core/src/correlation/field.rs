//! Fields: what a condition's `field` names, and how it is read from an alert or an incident.
//!
//! A field reads as nothing ([`None`]), one text, or a list of texts. Nothing covers a missing
//! field, `null`, `""`, `[]` and `{}`: every empty value looks alike, so no operator but `exists`
//! can match it.

use std::borrow::Cow;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::mapping::compile_path;
use crate::severity::Severity;

/// A field name or payload path is at most this long.
pub const MAX_FIELD_LEN: usize = 256;
/// A dotted payload path has at most this many segments.
pub const MAX_PATH_SEGMENTS: usize = 32;

/// The normalized fields, by the names conditions use.
pub const NORMALIZED_FIELDS: [&str; 7] = [
    "title",
    "description",
    "severity",
    "services",
    "status",
    "source",
    "source_url",
];

/// What a condition reads.
#[derive(Debug, Clone)]
pub(crate) enum FieldRef {
    Title,
    Description,
    Severity,
    Services,
    Status,
    Source,
    SourceUrl,
    /// Object keys (or array indexes) from the payload's root.
    Path(Vec<String>),
    /// An RFC 9535 JSONPath over the payload; its first node is the value.
    JsonPath(Box<JsonPath>),
}

impl FieldRef {
    pub(crate) fn parse(src: &str) -> Result<Self, String> {
        if src.is_empty() {
            return Err("the field is empty".into());
        }
        if src.chars().count() > MAX_FIELD_LEN {
            return Err(format!(
                "a field is at most {MAX_FIELD_LEN} characters long"
            ));
        }
        let known = match src {
            "title" => Some(FieldRef::Title),
            "description" => Some(FieldRef::Description),
            "severity" => Some(FieldRef::Severity),
            "services" => Some(FieldRef::Services),
            "status" => Some(FieldRef::Status),
            "source" => Some(FieldRef::Source),
            "source_url" => Some(FieldRef::SourceUrl),
            _ => None,
        };
        if let Some(f) = known {
            return Ok(f);
        }
        if src.starts_with('$') {
            return compile_path(src)
                .map(|p| FieldRef::JsonPath(Box::new(p)))
                .map_err(|e| format!("`{}` is not valid JSONPath: {e}", super::config::clip(src)));
        }
        if src == "payload" {
            return Err(
                "name a field inside the payload, e.g. `payload.labels.cluster` or `labels.cluster`"
                    .into(),
            );
        }
        let path = src.strip_prefix("payload.").unwrap_or(src);
        let segments: Vec<String> = path.split('.').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!(
                "`{}` has an empty path segment (segments are separated by single dots)",
                super::config::clip(src)
            ));
        }
        if segments.len() > MAX_PATH_SEGMENTS {
            return Err(format!(
                "a payload path has at most {MAX_PATH_SEGMENTS} segments"
            ));
        }
        Ok(FieldRef::Path(segments))
    }

    /// For checking literal values: which fixed vocabulary the field uses, if any.
    pub(crate) fn vocabulary(&self) -> Option<Vocabulary> {
        match self {
            FieldRef::Severity => Some(Vocabulary::Severity),
            FieldRef::Status => Some(Vocabulary::AlertStatus),
            _ => None,
        }
    }

    /// Read this field from one side of a comparison.
    pub(crate) fn read<'a>(&self, s: &Subject<'a>) -> Option<Texts<'a>> {
        match self {
            FieldRef::Title => one(s.title),
            FieldRef::Description => s.description.and_then(one),
            FieldRef::Severity => one(s.severity.as_str()),
            FieldRef::Services => {
                let items: Vec<Cow<'a, str>> = s
                    .services
                    .iter()
                    .filter(|x| !x.is_empty())
                    .map(|x| Cow::Borrowed(x.as_str()))
                    .collect();
                if items.is_empty() {
                    None
                } else {
                    Some(Texts::Many(items))
                }
            }
            FieldRef::Status => one(s.status),
            FieldRef::Source => one(s.source),
            FieldRef::SourceUrl => s.source_url.and_then(one),
            FieldRef::Path(segments) => {
                let mut at = s.payload;
                for seg in segments {
                    at = match at {
                        Value::Object(map) => map.get(seg.as_str())?,
                        Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                        _ => return None,
                    };
                }
                from_json(at)
            }
            FieldRef::JsonPath(path) => path.query(s.payload).first().and_then(from_json),
        }
    }
}

/// A field with a closed set of values, whose literals can be checked when the rule is saved.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Vocabulary {
    Severity,
    AlertStatus,
}

impl Vocabulary {
    pub(crate) fn check(self, text: &str) -> Result<(), String> {
        match self {
            Vocabulary::Severity => {
                if Severity::ALL.iter().any(|s| s.as_str() == text) {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}` is not a severity (expected critical, high, medium, low or info)",
                        super::config::clip(text)
                    ))
                }
            }
            Vocabulary::AlertStatus => {
                if ["firing", "acknowledged", "resolved"].contains(&text) {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}` is not an alert status (expected firing, acknowledged or resolved)",
                        super::config::clip(text)
                    ))
                }
            }
        }
    }
}

/// One side of a comparison (the new alert, or a candidate incident), as fields read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub severity: Severity,
    pub services: &'a [String],
    /// In the alert vocabulary: `firing`, `acknowledged` or `resolved`.
    pub status: &'static str,
    pub source: &'a str,
    pub source_url: Option<&'a str>,
    pub payload: &'a Value,
}

/// A non-empty field value: one text, or a list of texts (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Texts<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Texts<'a> {
    pub(crate) fn items(&self) -> &[Cow<'a, str>] {
        match self {
            Texts::One(t) => std::slice::from_ref(t),
            Texts::Many(ts) => ts,
        }
    }

    /// The same value with every text lowercased (Unicode simple lowercase).
    pub(crate) fn lowercased(&self) -> Texts<'static> {
        match self {
            Texts::One(t) => Texts::One(Cow::Owned(t.to_lowercase())),
            Texts::Many(ts) => {
                Texts::Many(ts.iter().map(|t| Cow::Owned(t.to_lowercase())).collect())
            }
        }
    }
}

fn one(s: &str) -> Option<Texts<'_>> {
    (!s.is_empty()).then_some(Texts::One(Cow::Borrowed(s)))
}

/// A JSON value as texts: strings as themselves, numbers and booleans as their JSON text, objects
/// as compact JSON; an array as the list of its elements' texts (nulls and empty strings left out).
pub(crate) fn from_json(v: &Value) -> Option<Texts<'_>> {
    match v {
        Value::Array(items) => {
            let texts: Vec<Cow<'_, str>> = items.iter().filter_map(element_text).collect();
            if texts.is_empty() {
                None
            } else {
                Some(Texts::Many(texts))
            }
        }
        other => element_text(other).map(Texts::One),
    }
}

fn element_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Object(m) if m.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Object(_) | Value::Array(_) => Some(Cow::Owned(v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subject(payload: &Value) -> Subject<'_> {
        Subject {
            title: "Disk full",
            description: None,
            severity: Severity::High,
            services: &[],
            status: "firing",
            source: "generic",
            source_url: Some(""),
            payload,
        }
    }

    fn read(field: &str, payload: &Value) -> Option<Vec<String>> {
        let f = FieldRef::parse(field).unwrap();
        f.read(&subject(payload))
            .map(|t| t.items().iter().map(|c| c.to_string()).collect())
    }

    #[test]
    fn payload_paths_may_be_bare_prefixed_or_jsonpath() {
        let p = json!({"labels": {"cluster": "eu-1"}, "title": "from payload"});
        assert_eq!(read("labels.cluster", &p), Some(vec!["eu-1".into()]));
        assert_eq!(
            read("payload.labels.cluster", &p),
            Some(vec!["eu-1".into()])
        );
        assert_eq!(read("$.labels.cluster", &p), Some(vec!["eu-1".into()]));
        assert_eq!(
            read("title", &p),
            Some(vec!["Disk full".into()]),
            "normalized first"
        );
        assert_eq!(read("payload.title", &p), Some(vec!["from payload".into()]));
    }

    #[test]
    fn numeric_segments_index_arrays() {
        let p = json!({"alerts": [{"n": 1}, {"n": 2}]});
        assert_eq!(read("alerts.1.n", &p), Some(vec!["2".into()]));
        assert_eq!(read("alerts.9.n", &p), None);
        assert_eq!(read("alerts.x.n", &p), None);
        assert_eq!(read("alerts.0.n.deeper", &p), None);
    }

    #[test]
    fn empty_values_read_as_nothing() {
        let p = json!({"a": null, "b": "", "c": [], "d": {}, "e": [null, ""], "f": [null, "x", 3, true]});
        for f in [
            "a",
            "b",
            "c",
            "d",
            "e",
            "missing",
            "source_url",
            "description",
            "services",
        ] {
            assert_eq!(read(f, &p), None, "{f}");
        }
        assert_eq!(
            read("f", &p),
            Some(vec!["x".into(), "3".into(), "true".into()])
        );
    }

    #[test]
    fn bad_fields_are_refused_with_a_reason() {
        for (f, why) in [
            ("", "empty"),
            ("payload", "inside the payload"),
            ("payload.", "empty path segment"),
            ("labels..x", "empty path segment"),
            (".x", "empty path segment"),
            ("$.[", "not valid JSONPath"),
        ] {
            let err = FieldRef::parse(f).unwrap_err();
            assert!(err.contains(why), "{f}: {err}");
        }
        assert!(FieldRef::parse(&"a".repeat(300)).is_err());
        assert!(FieldRef::parse(&vec!["a"; 33].join(".")).is_err());
    }
}
