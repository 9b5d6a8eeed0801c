//! Splunk: the built-in "Webhook" alert action of a saved search.
//!
//! Splunk posts `{result, sid, results_link, search_name, owner, app}` where `result` is the
//! first result row (strings, arrays for multivalue fields). It sends no severity, no state and
//! no stable id: `sid` is new on every run. Every request is a firing alert; a search that keeps
//! triggering folds into its open incident, which is resolved in alertgate.
//!
//! Derived by the decoder, in `alertgate`:
//! * `title` — `search_name`; `null` for ad-hoc searches, then `Splunk alert` with the row's
//!   host / source / sourcetype.
//! * `identity` — `<app>/<search_name>` plus the row's `host`, `source` and `sourcetype` when
//!   present, e.g. `search/sudo host=myserver source=/var/log/auth.log sourcetype=syslog`. Only
//!   these fields: they name where the events come from and stay the same from run to run,
//!   while counts, `_time` and `_raw` change every time.
//! * `description` — the row's `_raw` event, else its visible fields as `name=value`.
//!
//! Severity: a `severity` (or `urgency`) field in the row, when the search computes one.
//!
//! Authentication: the built-in action cannot set headers, so the default is none: the
//! unguessable token in the intake URL is the credential.

use serde_json::{Map, Value};

use super::{no_table, AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::timestamps;

pub static PLATFORM: Platform = Platform {
    id: "splunk",
    name: "Splunk",
    category: Category::MonitoringObservability,
    default_auth: || AuthMethod::None,
    default_mapping: &[
        (Field::Title, "$.alertgate.title"),
        (Field::Description, "$.alertgate.description"),
        (Field::Severity, "$.result['severity','urgency']"),
        (Field::Services, "$.result['service','host']"),
        (Field::DedupKey, "$.alertgate.identity"),
        (Field::SourceUrl, "$.results_link"),
    ],
    severity,
    status: no_table,
    sample: SAMPLE,
    setup: SETUP,
    decode,
};

const SAMPLE: &str = r#"{
  "result": {
    "host": "web-01",
    "sourcetype": "nginx:access",
    "status": "500",
    "count": "42",
    "severity": "high",
    "_time": "1741945624"
  },
  "sid": "scheduler__admin__search__RMD5e461b39d4ff19795_at_1741945640_42",
  "results_link": "https://splunk.example.com:8000/app/search/@go?sid=scheduler__admin__search__RMD5e461b39d4ff19795_at_1741945640_42",
  "search_name": "HTTP 5xx spike",
  "owner": "admin",
  "app": "search"
}"#;

const SETUP: &str =
    "In Splunk, open Settings > Searches, reports, and alerts, pick the alert, then \
Edit > Edit Alert > Trigger Actions > Add Actions > Webhook.

URL: <intake URL>

Splunk's webhook action cannot send headers, so this webhook uses no header authentication: the \
unguessable token in the intake URL is the credential. Keep the URL secret, use HTTPS, and to \
rotate it create a new webhook and delete the old one. On Splunk Enterprise 9.0 and later, add \
the URL to the webhook allow list, or Splunk will not call it.

Splunk sends only the first result row and never a resolve: each run that triggers is a repeat \
of the same alert (same search, host, source and sourcetype) and folds into the open incident. \
Resolve incidents in alertgate. If the search computes a severity field (critical, high, \
medium, low, info), it sets the alert's severity.";

/// Result fields that name where events come from, in identity order.
const STABLE_FIELDS: [&str; 3] = ["host", "source", "sourcetype"];
/// At most this many fields are listed in a description built from the row.
const DESCRIPTION_FIELDS: usize = 50;

fn decode(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    let Value::Object(mut root) = body else {
        return Err("expected a Splunk webhook: a JSON object with `result`".into());
    };
    let empty = Map::new();
    let result = match root.get("result") {
        Some(Value::Object(r)) => r,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err("the Splunk webhook's `result` is not a JSON object".into()),
    };
    let search_name = text(root.get("search_name"));
    let app = text(root.get("app")).unwrap_or_else(|| "-".into());
    let stable: Vec<String> = STABLE_FIELDS
        .iter()
        .filter_map(|f| text(result.get(*f)).map(|v| format!("{f}={v}")))
        .collect();

    let title = match &search_name {
        Some(name) => name.clone(),
        None if stable.is_empty() => "Splunk alert".to_string(),
        None => format!("Splunk alert ({})", stable.join(", ")),
    };
    let mut identity = format!("{app}/{}", search_name.as_deref().unwrap_or("(ad-hoc)"));
    for field in &stable {
        identity.push(' ');
        identity.push_str(field);
    }
    let description = text(result.get("_raw")).or_else(|| {
        let fields: Vec<String> = result
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .filter_map(|(k, v)| text(Some(v)).map(|v| format!("{k}={v}")))
            .take(DESCRIPTION_FIELDS)
            .collect();
        (!fields.is_empty()).then(|| fields.join(", "))
    });
    let started_at = result.get("_time").and_then(timestamps::parse_value);

    let mut derived = Map::new();
    derived.insert("title".into(), Value::String(title));
    derived.insert("identity".into(), Value::String(identity));
    if let Some(description) = description {
        derived.insert("description".into(), Value::String(description));
    }
    root.insert("alertgate".into(), Value::Object(derived));
    Ok(Decoded::Alerts(vec![AlertDoc {
        doc: Value::Object(root),
        status: None,
        identity: None,
        started_at,
    }]))
}

/// A value as one line of text: strings trimmed, numbers printed, multivalue fields joined.
fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| text(Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Value::Null | Value::Object(_) => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// Splunk's alert severities and the urgencies of Splunk Enterprise Security.
fn severity(raw: &str) -> Option<Severity> {
    let s = match raw.trim().to_ascii_lowercase().as_str() {
        "critical" | "fatal" => Severity::Critical,
        "high" | "severe" | "error" => Severity::High,
        "medium" | "warn" | "warning" => Severity::Medium,
        "low" => Severity::Low,
        "info" | "informational" | "debug" => Severity::Info,
        _ => return None,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn derived(body: Value) -> Value {
        let none: &[(&str, &str)] = &[];
        let Decoded::Alerts(docs) = decode(&none, body).unwrap() else {
            panic!()
        };
        docs[0].doc["alertgate"].clone()
    }

    #[test]
    fn the_identity_ignores_the_run_and_counts() {
        let run = |sid: &str, count: &str| {
            derived(json!({"search_name": "errors", "app": "ops", "sid": sid,
                "result": {"host": "h1", "count": count, "_time": "1", "_raw": "x"}}))["identity"]
                .clone()
        };
        assert_eq!(run("a", "1"), run("b", "7"));
        assert_eq!(run("a", "1"), json!("ops/errors host=h1"));
    }

    #[test]
    fn an_ad_hoc_search_still_gets_a_title() {
        let d =
            derived(json!({"search_name": null, "result": {"sourcetype": "mongod", "count": "8"}}));
        assert_eq!(d["title"], "Splunk alert (sourcetype=mongod)");
        assert_eq!(d["description"], "count=8, sourcetype=mongod");
        let d = derived(json!({}));
        assert_eq!(d["title"], "Splunk alert");
        assert_eq!(d["identity"], "-/(ad-hoc)");
    }

    #[test]
    fn a_result_that_is_not_an_object_is_an_error() {
        let none: &[(&str, &str)] = &[];
        assert!(decode(&none, json!({"result": []})).is_err());
        assert!(decode(&none, json!(1)).is_err());
    }
}
