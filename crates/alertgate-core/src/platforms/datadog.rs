//! Datadog: the Webhooks integration (one monitor notification per request).
//!
//! Datadog's body is a template the customer writes with `$VARIABLES`; when none is set, the
//! default is `{body, last_updated, event_type, title, date, org, id}`. The decoder reads both:
//! the recommended template in the setup text (`alert_transition`, `alert_type`,
//! `alert_priority`, `monitor_id`, `scopes`, `tags`, `url`, like the real deliveries in the
//! fixtures) and the default one, where the title prefix is the only state signal
//! (`[Triggered on {service:x}] …`, `[Recovered] …`, `[P2] [Warn] …`). What it finds goes in
//! `alertgate`, which the default mapping reads; a customer with a different template can point
//! the mapping at their own keys instead.
//!
//! * `title` — `title` without the `[P2]` / `[Triggered on {scope}]` prefixes, which change
//!   between notifications of one alert; a scope from the prefix is kept as `(scope)` at the
//!   end. Other brackets such as `[TEST]` stay.
//! * state (decoder-determined) — `alert_transition` when present (`Recovered` → resolved;
//!   `Triggered`, `Re-Triggered`, `Warn`, `Re-Warn`, `No Data`, `Re-No Data`, `Renotify` →
//!   firing), else the transition in the title prefix, else `alert_type: success` → resolved,
//!   else firing.
//! * `severity` — the monitor priority (`alert_priority` / `severity`, `P1`…`P5`), else a
//!   `[Pn]` title prefix, else `alert_type` (`error`, `warning`, `info`, `success`), else the
//!   title's transition (`Triggered` → `error`, `Warn` → `warning`, `Recovered` → `success`).
//! * `services` — every `service:<name>` in `tags` (a comma-separated `$TAGS` string or an
//!   array) and in the scope.
//! * `identity` — `id` is a new event id on every notification, so it is useless for dedup. The
//!   identity is the monitor id (`monitor_id` / `alert_id`, else the number in the body's
//!   `/monitors/<id>` link) plus `/<scope>` for multi-alert monitors, e.g.
//!   `160076582/service:keep-api`; without a monitor id, the cleaned title plus scope. Trigger,
//!   re-trigger and recovery of one monitor group therefore share one identity.
//! * `description` — `body` without its `%%%` markdown fences.
//! * `source_url` — `url` (`$LINK`), else the body's "Monitor Status" link.

use serde_json::{Map, Value};

use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;
use crate::timestamps;

pub static PLATFORM: Platform = Platform {
    id: "datadog",
    name: "Datadog",
    category: Category::MonitoringObservability,
    default_auth: || AuthMethod::Bearer,
    default_mapping: &[
        (Field::Title, "$.alertgate.title"),
        (Field::Description, "$.alertgate.description"),
        (Field::Severity, "$.alertgate.severity"),
        (Field::Services, "$.alertgate.services"),
        (Field::DedupKey, "$.alertgate.identity"),
        (Field::SourceUrl, "$.alertgate.source_url"),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: SETUP,
    decode,
};

const SAMPLE: &str = r#"{
  "title": "[P2] [Triggered on {service:checkout}] Checkout error rate above 5%",
  "body": "%%%\nError rate for **checkout** is **7.3%** (threshold 5%) over the last 5 minutes.\n\n[[Monitor Status](https://app.datadoghq.com/monitors/160076582?group=service%3Acheckout)] · [[Edit Monitor](https://app.datadoghq.com/monitors/160076582/edit)]\n%%%",
  "alert_transition": "Triggered",
  "alert_type": "error",
  "alert_priority": "P2",
  "monitor_id": "160076582",
  "scopes": "service:checkout",
  "tags": "env:production,monitor,service:checkout,team:payments",
  "url": "https://app.datadoghq.com/event/event?id=7879709199720965710",
  "event_type": "query_alert_monitor",
  "date": "1741945624000",
  "last_updated": "1741945624000",
  "id": "7879709199720965710",
  "org": {"id": "831563", "name": "Acme"}
}"#;

const SETUP: &str = "In Datadog, open Integrations > Webhooks > New Webhook.

Name: alertgate
URL: <intake URL>
Payload:
{
  \"title\": \"$EVENT_TITLE\",
  \"body\": \"$EVENT_MSG\",
  \"alert_transition\": \"$ALERT_TRANSITION\",
  \"alert_type\": \"$ALERT_TYPE\",
  \"alert_priority\": \"$ALERT_PRIORITY\",
  \"monitor_id\": \"$ALERT_ID\",
  \"scopes\": \"$ALERT_SCOPE\",
  \"tags\": \"$TAGS\",
  \"url\": \"$LINK\",
  \"event_type\": \"$EVENT_TYPE\",
  \"date\": \"$DATE\",
  \"id\": \"$ID\",
  \"org\": {\"id\": \"$ORG_ID\", \"name\": \"$ORG_NAME\"}
}
Custom Headers: {\"Authorization\": \"Bearer <secret>\"}
Leave Encode as form off (alertgate expects JSON).

Then mention @webhook-alertgate in the message of each monitor that should open incidents. \
Recoveries resolve the incident: a monitor and its group (scope) are one alert, whatever the \
notification. The default payload (no Payload set) works too, with less detail: the state then \
comes from the title's [Triggered] / [Recovered] prefix and the monitor from the body's links.";

fn decode(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    let Value::Object(mut root) = body else {
        return Err("expected a Datadog webhook: a JSON object".into());
    };
    let raw_title = first_text(&root, &["title", "event_title"]).unwrap_or_default();
    let title = TitleParts::parse(&raw_title);
    let transition =
        first_text(&root, &["alert_transition", "transition"]).or_else(|| title.transition.clone());
    let alert_type = first_text(&root, &["alert_type"]);
    let state = transition
        .as_deref()
        .and_then(transition_state)
        .or_else(|| {
            alert_type
                .as_deref()
                .filter(|t| t.eq_ignore_ascii_case("success"))
                .map(|_| AlertStatus::Resolved)
        })
        .unwrap_or(AlertStatus::Firing);
    let message = first_text(&root, &["body", "text_only_msg", "message"]);
    let scope = first_text(&root, &["scopes", "alert_scope", "scope"])
        .or_else(|| title.scope.clone())
        .filter(|s| s != "*");
    let monitor = first_text(&root, &["monitor_id", "alert_id"])
        .or_else(|| message.as_deref().and_then(monitor_in_body));

    let mut derived = Map::new();
    let clean_title = match (&title.scope, title.rest.is_empty()) {
        (_, true) => raw_title.trim().to_string(),
        (Some(scope), false) => format!("{} ({scope})", title.rest),
        (None, false) => title.rest.clone(),
    };
    if !clean_title.is_empty() {
        derived.insert("title".into(), Value::String(clean_title));
    }
    if let Some(text) = &message {
        let fenced = text.trim();
        let unfenced = fenced
            .strip_prefix("%%%")
            .and_then(|t| t.strip_suffix("%%%"))
            .unwrap_or(fenced)
            .trim();
        if !unfenced.is_empty() {
            derived.insert("description".into(), Value::String(unfenced.to_string()));
        }
    }
    let severity = first_text(&root, &["alert_priority", "severity"])
        .or_else(|| first_text(&root, &["priority"]).filter(|p| is_priority(p)))
        .or_else(|| title.priority.clone())
        .or_else(|| alert_type.clone())
        .or_else(|| transition.as_deref().and_then(transition_severity));
    if let Some(severity) = severity {
        derived.insert("severity".into(), Value::String(severity));
    }
    let mut services = service_tags(root.get("tags"));
    if let Some(scope) = &scope {
        services.extend(service_entries(scope.split(',')));
    }
    if !services.is_empty() {
        derived.insert(
            "services".into(),
            Value::Array(services.into_iter().map(Value::String).collect()),
        );
    }
    let base = monitor.or_else(|| (!title.rest.is_empty()).then(|| title.rest.clone()));
    if let Some(base) = base {
        let identity = match &scope {
            Some(scope) => format!("{base}/{scope}"),
            None => base,
        };
        derived.insert("identity".into(), Value::String(identity));
    }
    let link = first_text(&root, &["url", "link"])
        .filter(|u| is_http(u))
        .or_else(|| message.as_deref().and_then(monitor_status_link));
    if let Some(link) = link {
        derived.insert("source_url".into(), Value::String(link));
    }

    let started_at = ["date", "last_updated"]
        .iter()
        .find_map(|k| root.get(*k).and_then(timestamps::parse_value));
    root.insert("alertgate".into(), Value::Object(derived));
    Ok(Decoded::Alerts(vec![AlertDoc {
        doc: Value::Object(root),
        status: Some(state),
        identity: None,
        started_at,
    }]))
}

/// The first of `keys` holding a non-empty string (trimmed) or a number.
fn first_text(root: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match root.get(*k)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// What a title's leading `[...]` groups say.
#[derive(Debug, Default, PartialEq)]
struct TitleParts {
    priority: Option<String>,
    transition: Option<String>,
    scope: Option<String>,
    /// The title after those groups.
    rest: String,
}

const TRANSITIONS: [&str; 9] = [
    "Triggered",
    "Re-Triggered",
    "Recovered",
    "Warn",
    "Re-Warn",
    "No Data",
    "Re-No Data",
    "Renotify",
    "Re-notify",
];

impl TitleParts {
    fn parse(raw: &str) -> Self {
        let mut parts = TitleParts::default();
        let mut rest = raw.trim();
        while let Some(open) = rest.strip_prefix('[') {
            let Some((inner, after)) = open.split_once(']') else {
                break;
            };
            if parts.priority.is_none() && is_priority(inner) {
                parts.priority = Some(inner.trim().to_ascii_uppercase());
            } else if let (None, Some((word, scope))) = (&parts.transition, transition_group(inner))
            {
                parts.transition = Some(word);
                parts.scope = scope;
            } else {
                break;
            }
            rest = after.trim_start();
        }
        parts.rest = rest.trim().to_string();
        parts
    }
}

/// `Triggered` or `Triggered on {service:x,env:prod}`.
fn transition_group(inner: &str) -> Option<(String, Option<String>)> {
    let inner = inner.trim();
    let (word, scope) = match inner.split_once(" on ") {
        Some((word, scope)) => (word.trim(), Some(scope)),
        None => (inner, None),
    };
    let word = TRANSITIONS.iter().find(|t| t.eq_ignore_ascii_case(word))?;
    let scope = scope
        .map(|s| {
            s.trim()
                .trim_start_matches('{')
                .trim_end_matches('}')
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty());
    Some((word.to_string(), scope))
}

fn is_priority(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "p1" | "p2" | "p3" | "p4" | "p5"
    )
}

fn transition_state(transition: &str) -> Option<AlertStatus> {
    match transition.trim().to_ascii_lowercase().as_str() {
        "triggered" | "re-triggered" | "warn" | "re-warn" | "no data" | "re-no data"
        | "renotify" | "re-notify" => Some(AlertStatus::Firing),
        "recovered" => Some(AlertStatus::Resolved),
        _ => None,
    }
}

/// The `alert_type` a transition implies, for payloads that carry only the title.
fn transition_severity(transition: &str) -> Option<String> {
    let t = match transition.trim().to_ascii_lowercase().as_str() {
        "triggered" | "re-triggered" | "renotify" | "re-notify" => "error",
        "warn" | "re-warn" => "warning",
        "recovered" => "success",
        _ => return None,
    };
    Some(t.to_string())
}

/// `service:<name>` entries of `$TAGS`, as a comma-separated string or an array.
fn service_tags(tags: Option<&Value>) -> Vec<String> {
    match tags {
        Some(Value::String(s)) => service_entries(s.split(',')),
        Some(Value::Array(items)) => service_entries(items.iter().filter_map(Value::as_str)),
        _ => Vec::new(),
    }
}

fn service_entries<'a>(entries: impl Iterator<Item = &'a str>) -> Vec<String> {
    entries
        .filter_map(|e| e.trim().strip_prefix("service:"))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The monitor id in a `/monitors/<id>` (or old `/monitors#<id>`) link in the message.
fn monitor_in_body(body: &str) -> Option<String> {
    const MARK: &str = "/monitors";
    body.match_indices(MARK).find_map(|(i, _)| {
        let after = body.get(i + MARK.len()..)?;
        let rest = after
            .strip_prefix('/')
            .or_else(|| after.strip_prefix('#'))?;
        let digits: String = rest
            .chars()
            .take_while(char::is_ascii_digit)
            .take(20)
            .collect();
        (!digits.is_empty()).then_some(digits)
    })
}

/// The target of the message's `[Monitor Status](…)` link.
fn monitor_status_link(body: &str) -> Option<String> {
    const MARK: &str = "[Monitor Status](";
    let start = body.find(MARK)? + MARK.len();
    let rest = body.get(start..)?;
    let url = rest.get(..rest.find(')')?)?.trim();
    is_http(url).then(|| url.to_string())
}

fn is_http(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Monitor priorities and alert types.
fn severity(raw: &str) -> Option<Severity> {
    let s = match raw.trim().to_ascii_lowercase().as_str() {
        "p1" => Severity::Critical,
        "p2" | "error" => Severity::High,
        "p3" | "warning" => Severity::Medium,
        "p4" => Severity::Low,
        "p5" | "info" | "success" => Severity::Info,
        _ => return None,
    };
    Some(s)
}

/// Transitions and alert types.
fn status(raw: &str) -> Option<AlertStatus> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "error" | "warning" => Some(AlertStatus::Firing),
        "success" => Some(AlertStatus::Resolved),
        other => transition_state(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn title_prefixes_are_read_and_removed() {
        let p = TitleParts::parse("[P2] [Warn] Unauthorized access to API keep-api");
        assert_eq!(p.priority.as_deref(), Some("P2"));
        assert_eq!(p.transition.as_deref(), Some("Warn"));
        assert_eq!(p.rest, "Unauthorized access to API keep-api");
        let p = TitleParts::parse("[Recovered on {service:a,env:prod}] Error monitor");
        assert_eq!(p.transition.as_deref(), Some("Recovered"));
        assert_eq!(p.scope.as_deref(), Some("service:a,env:prod"));
        assert_eq!(p.rest, "Error monitor");
        let p = TitleParts::parse("[Triggered] [TEST] Host Cluster Alert");
        assert_eq!(p.rest, "[TEST] Host Cluster Alert");
        let p = TitleParts::parse("[unclosed Triggered");
        assert_eq!(p.rest, "[unclosed Triggered");
        assert_eq!(TitleParts::parse("").rest, "");
        assert_eq!(
            TitleParts::parse("[Re-No Data] x").transition.as_deref(),
            Some("Re-No Data")
        );
    }

    #[test]
    fn trigger_and_recovery_of_one_monitor_group_share_an_identity() {
        let none: &[(&str, &str)] = &[];
        let identity = |title: &str| {
            let body = json!({"title": title, "body": "[[Monitor Status](https://app.datadoghq.com/monitors/42?group=x)]", "id": title});
            let Decoded::Alerts(docs) = decode(&none, body).unwrap() else {
                panic!()
            };
            (docs[0].doc["alertgate"]["identity"].clone(), docs[0].status)
        };
        let (a, sa) = identity("[Triggered on {host:a}] Disk full");
        let (b, sb) = identity("[Recovered on {host:a}] Disk full");
        assert_eq!(a, json!("42/host:a"));
        assert_eq!(a, b);
        assert_eq!(sa, Some(AlertStatus::Firing));
        assert_eq!(sb, Some(AlertStatus::Resolved));
    }

    #[test]
    fn tags_may_be_a_string_or_an_array() {
        assert_eq!(
            service_tags(Some(&json!("env:prod, service:a ,service:,monitor"))),
            vec!["a"]
        );
        assert_eq!(
            service_tags(Some(&json!(["service:b", 3, "team:x"]))),
            vec!["b"]
        );
        assert!(service_tags(Some(&json!(7))).is_empty());
    }

    #[test]
    fn body_links_are_found_without_panicking_on_odd_text() {
        assert_eq!(
            monitor_in_body("see https://x/monitors#18692904?"),
            Some("18692904".into())
        );
        assert_eq!(
            monitor_in_body("/monitors/ /monitors/€ /monitors/7"),
            Some("7".into())
        );
        assert_eq!(monitor_in_body("/monitors"), None);
        assert_eq!(monitor_status_link("[Monitor Status](javascript:x)"), None);
        assert_eq!(monitor_status_link("[Monitor Status](https://x"), None);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_an_error() {
        let none: &[(&str, &str)] = &[];
        assert!(decode(&none, json!([])).is_err());
    }
}
