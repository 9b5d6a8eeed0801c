//! Values a decoder works out for the mapping, kept in the alert document under `alertgate`.
//!
//! A JSONPath union is a fallback only among siblings, and only when the first sibling is absent:
//! `$['a','b']` takes a `null` `a` and finds nothing. Where a platform's fields live at different
//! depths (Sentry's three resource shapes), may be `null` (Azure cost alerts have no rule name),
//! or must be computed (CloudWatch dimensions, console links), its decoder writes the result to
//! `alertgate.<field>` and the default mapping reads it from there. The values stay visible in the
//! stored payload, so every extracted field can be traced to what the decoder derived, and a
//! webhook's own mapping can still point anywhere else in the document.

use serde_json::{Map, Value};

use crate::time::Timestamp;

/// The key decoders add to an alert document.
pub(crate) const KEY: &str = "alertgate";

/// The fields a decoder derived for one alert.
#[derive(Debug, Default)]
pub(crate) struct Derived(Map<String, Value>);

impl Derived {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Set `field` to a non-blank text; blank or missing text leaves it unset.
    pub(crate) fn text(&mut self, field: &str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = value.map(Into::into).filter(|v| !v.trim().is_empty()) {
            self.0.insert(field.to_string(), Value::String(v));
        }
        self
    }

    /// Set `field` to a list of texts (blank entries dropped), unless none is left.
    pub(crate) fn list(&mut self, field: &str, values: Vec<String>) -> &mut Self {
        let items: Vec<Value> = values
            .into_iter()
            .filter(|v| !v.trim().is_empty())
            .map(Value::String)
            .collect();
        if !items.is_empty() {
            self.0.insert(field.to_string(), Value::Array(items));
        }
        self
    }

    /// Add the derived fields to `doc` (an object), replacing any `alertgate` key it had.
    pub(crate) fn attach(self, doc: &mut Value) {
        if let Value::Object(map) = doc {
            map.insert(KEY.to_string(), Value::Object(self.0));
        }
    }
}

/// The value at `path` (object keys) under `v`.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |node, key| node.get(*key))
}

/// The trimmed, non-empty string at `path`.
pub(crate) fn text_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The string or number at `path`, as text (ids arrive as either).
pub(crate) fn id_at(v: &Value, path: &[&str]) -> Option<String> {
    match at(v, path)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The time at `path`, in any form [`crate::timestamps`] reads.
pub(crate) fn time_at(v: &Value, path: &[&str]) -> Option<Timestamp> {
    crate::timestamps::parse_value(at(v, path)?)
}

/// The non-blank strings of the array at `path`.
pub(crate) fn texts_at(v: &Value, path: &[&str]) -> Vec<String> {
    match at(v, path) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Join the present parts with a blank line between them.
pub(crate) fn paragraphs<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> Option<String> {
    let parts: Vec<&str> = parts
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Case-insensitive lookup in a platform's vocabulary table.
pub(crate) fn lookup<T: Copy>(table: &[(&str, T)], raw: &str) -> Option<T> {
    let raw = raw.trim();
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(raw))
        .map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn derived_fields_skip_blanks_and_land_under_one_key() {
        let mut doc = json!({"a": 1, "alertgate": "theirs"});
        let mut d = Derived::new();
        d.text("title", Some("t"))
            .text("description", Some("  "))
            .text("source_url", None::<String>)
            .list("services", vec!["x".into(), " ".into()]);
        d.attach(&mut doc);
        assert_eq!(
            doc,
            json!({"a": 1, "alertgate": {"title": "t", "services": ["x"]}})
        );
    }

    #[test]
    fn non_ascii_times_are_not_parsed() {
        assert_eq!(time_at(&json!({"t": "€€"}), &["t"]), None);
        assert_eq!(
            time_at(&json!({"t": 1_700_000_000}), &["t"]),
            Some(Timestamp::from_millis(1_700_000_000_000))
        );
    }

    #[test]
    fn ids_may_be_strings_or_numbers() {
        let v = json!({"a": "12", "b": 7, "c": null, "d": " "});
        assert_eq!(id_at(&v, &["a"]).as_deref(), Some("12"));
        assert_eq!(id_at(&v, &["b"]).as_deref(), Some("7"));
        assert_eq!(id_at(&v, &["c"]), None);
        assert_eq!(id_at(&v, &["d"]), None);
    }
}
