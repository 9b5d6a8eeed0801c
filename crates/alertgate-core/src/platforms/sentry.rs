//! Sentry integration-platform webhooks: issues, issue (event) alerts and metric alerts.
//!
//! The `Sentry-Hook-Resource` header names the shape; without it (the Test tab) the shape is
//! recognized from `data`. Other resources (`installation`, `error`, `comment`, …) carry no alert
//! and are ignored. The three shapes keep their fields in different places, so the decoder
//! derives the common ones under `alertgate`; the state is the top-level `action`, read directly:
//!
//! | resource | title | severity | identity | link |
//! |---|---|---|---|---|
//! | `issue` | `data.issue.title` | `data.issue.level` | `issue:<data.issue.id>` | `web_url` / `permalink` |
//! | `event_alert` | `data.event.title` | `data.event.level` | `issue:<data.event.issue_id>` | `data.event.web_url` |
//! | `metric_alert` | `alert_rule.name` (stable, unlike `description_title`) | the action (`critical`/`warning`) | `metric_alert:<data.metric_alert.id>` | `data.web_url` |
//!
//! An event alert shares its identity with its issue, so `issue.resolved` resolves the incident an
//! event alert opened. Services are the project slug(s).
//!
//! Actions: `created`, `unresolved`, `triggered`, `critical`, `warning` fire; `resolved` resolves;
//! `assigned` acknowledges (someone owns it now); `archived` (formerly `ignored`) resolves: the
//! team decided it needs no attention, and if it escalates Sentry sends `unresolved`, which
//! reopens it.
//!
//! Authentication: `Sentry-Hook-Signature` = hex HMAC-SHA256 of the raw body with the
//! integration's client secret. Sentry's timestamp header is not covered by the MAC, so it gives
//! no replay protection and is not used.

use serde_json::Value;

use super::derived::{self, Derived};
use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers, SignatureEncoding};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;

pub static PLATFORM: Platform = Platform {
    id: "sentry",
    name: "Sentry",
    category: Category::ApmErrorTracking,
    default_auth: || AuthMethod::HmacSha256 {
        header: "Sentry-Hook-Signature".into(),
        prefix: String::new(),
        encoding: SignatureEncoding::Hex,
        timestamp_header: None,
        multiple: false,
    },
    default_mapping: &[
        (Field::Title, "$.alertgate.title"),
        (Field::Description, "$.alertgate.description"),
        (Field::Severity, "$.alertgate.severity"),
        (Field::Services, "$.alertgate.services"),
        (Field::DedupKey, "$.alertgate.dedup_key"),
        (Field::Status, "$.action"),
        (Field::SourceUrl, "$.alertgate.source_url"),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: "In Sentry, open Settings > Developer Settings > Custom Integrations and create an Internal Integration. Set \
Webhook URL = this webhook's intake URL, turn on \"Alert Rule Action\", and under Webhooks subscribe to \"issue\" if you \
want issue lifecycle events. Save, then copy the integration's Client Secret into this webhook's secret: Sentry signs \
every request with it (Sentry-Hook-Signature). To send issue alerts and metric alerts, add the integration as an action \
in your alert rules.",
    decode,
};

const SEVERITY: &[(&str, Severity)] = &[
    ("fatal", Severity::Critical),
    ("error", Severity::High),
    ("warning", Severity::Medium),
    ("info", Severity::Info),
    ("debug", Severity::Info),
    ("critical", Severity::Critical),
];

const STATUS: &[(&str, AlertStatus)] = &[
    ("created", AlertStatus::Firing),
    ("unresolved", AlertStatus::Firing),
    ("triggered", AlertStatus::Firing),
    ("critical", AlertStatus::Firing),
    ("warning", AlertStatus::Firing),
    ("resolved", AlertStatus::Resolved),
    ("assigned", AlertStatus::Acknowledged),
    ("archived", AlertStatus::Resolved),
    ("ignored", AlertStatus::Resolved),
];

fn severity(raw: &str) -> Option<Severity> {
    derived::lookup(SEVERITY, raw)
}

fn status(raw: &str) -> Option<AlertStatus> {
    derived::lookup(STATUS, raw)
}

fn decode(headers: &dyn Headers, mut body: Value) -> Result<Decoded, String> {
    if !body.is_object() {
        return Err("the body must be a JSON object".into());
    }
    let resource = match headers.get("Sentry-Hook-Resource") {
        Some(r) => r.trim().to_ascii_lowercase(),
        None => recognize(&body)
            .ok_or("no Sentry-Hook-Resource header, and no issue, event or metric alert in `data`")?
            .to_string(),
    };
    let (derived, started_at) = match resource.as_str() {
        "issue" => issue(&body)?,
        "event_alert" => event_alert(&body)?,
        "metric_alert" => metric_alert(&body)?,
        other => {
            return Ok(Decoded::Ignore {
                reason: format!(
                    "Sentry `{}` webhooks carry no alert; alertgate reads issue, event_alert and metric_alert",
                    other.chars().take(64).collect::<String>()
                ),
            })
        }
    };
    derived.attach(&mut body);
    Ok(Decoded::Alerts(vec![AlertDoc {
        started_at,
        ..AlertDoc::plain(body)
    }]))
}

fn recognize(body: &Value) -> Option<&'static str> {
    let data = body.get("data")?;
    if data.get("issue").is_some_and(Value::is_object) {
        Some("issue")
    } else if data.get("event").is_some_and(Value::is_object) {
        Some("event_alert")
    } else if data.get("metric_alert").is_some_and(Value::is_object) {
        Some("metric_alert")
    } else {
        None
    }
}

type Parts = (Derived, Option<crate::time::Timestamp>);

fn issue(body: &Value) -> Result<Parts, String> {
    let issue = derived::at(body, &["data", "issue"])
        .filter(|i| i.is_object())
        .ok_or("a Sentry issue webhook needs `data.issue`")?;
    let mut d = Derived::new();
    d.text("title", derived::text_at(issue, &["title"]))
        .text("description", derived::text_at(issue, &["culprit"]))
        .text("severity", derived::text_at(issue, &["level"]))
        .list(
            "services",
            derived::text_at(issue, &["project", "slug"])
                .map(str::to_string)
                .into_iter()
                .collect(),
        )
        .text(
            "dedup_key",
            derived::id_at(issue, &["id"]).map(|id| format!("issue:{id}")),
        )
        .text(
            "source_url",
            derived::text_at(issue, &["web_url"])
                .or_else(|| derived::text_at(issue, &["permalink"])),
        );
    Ok((d, derived::time_at(issue, &["firstSeen"])))
}

fn event_alert(body: &Value) -> Result<Parts, String> {
    let event = derived::at(body, &["data", "event"])
        .filter(|e| e.is_object())
        .ok_or("a Sentry event_alert webhook needs `data.event`")?;
    let rule =
        derived::text_at(body, &["data", "triggered_rule"]).map(|r| format!("Alert rule: {r}"));
    let mut d = Derived::new();
    d.text("title", derived::text_at(event, &["title"]))
        .text(
            "description",
            derived::paragraphs([derived::text_at(event, &["culprit"]), rule.as_deref()]),
        )
        .text("severity", derived::text_at(event, &["level"]))
        .list(
            "services",
            derived::text_at(event, &["url"])
                .and_then(project_slug_from_api_url)
                .map(str::to_string)
                .into_iter()
                .collect(),
        )
        .text(
            "dedup_key",
            derived::id_at(event, &["issue_id"]).map(|id| format!("issue:{id}")),
        )
        .text("source_url", derived::text_at(event, &["web_url"]));
    let started_at =
        derived::time_at(event, &["datetime"]).or_else(|| derived::time_at(event, &["timestamp"]));
    Ok((d, started_at))
}

fn metric_alert(body: &Value) -> Result<Parts, String> {
    let data = body.get("data").unwrap_or(&Value::Null);
    let alert = derived::at(data, &["metric_alert"])
        .filter(|a| a.is_object())
        .ok_or("a Sentry metric_alert webhook needs `data.metric_alert`")?;
    let action = derived::text_at(body, &["action"]).unwrap_or_default();
    let level = ["critical", "warning"]
        .into_iter()
        .find(|l| l.eq_ignore_ascii_case(action));
    let mut projects = derived::texts_at(alert, &["alert_rule", "projects"]);
    if projects.is_empty() {
        projects = derived::texts_at(alert, &["projects"]);
    }
    let mut d = Derived::new();
    d.text(
        "title",
        derived::text_at(alert, &["alert_rule", "name"])
            .or_else(|| derived::text_at(data, &["description_title"])),
    )
    .text(
        "description",
        derived::paragraphs([
            derived::text_at(data, &["description_title"]),
            derived::text_at(data, &["description_text"]),
        ]),
    )
    .text("severity", level)
    .list("services", projects)
    .text(
        "dedup_key",
        derived::id_at(alert, &["id"]).map(|id| format!("metric_alert:{id}")),
    )
    .text("source_url", derived::text_at(data, &["web_url"]));
    let started_at = derived::time_at(alert, &["date_started"])
        .or_else(|| derived::time_at(alert, &["date_detected"]));
    Ok((d, started_at))
}

/// `…/api/0/projects/<org>/<project>/events/…` → `<project>`.
fn project_slug_from_api_url(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("/projects/")?;
    let mut segments = rest.split('/');
    let _org = segments.next()?;
    segments.next().filter(|s| !s.is_empty())
}

const SAMPLE: &str = r#"{
  "action": "created",
  "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
  "data": {
    "issue": {
      "annotations": [],
      "assignedTo": null,
      "count": "1",
      "culprit": "checkout/views.py in submit_order",
      "firstSeen": "2025-03-01T10:14:07.431000Z",
      "hasSeen": false,
      "id": "4617321456",
      "isBookmarked": false,
      "isPublic": false,
      "isSubscribed": false,
      "lastSeen": "2025-03-01T10:14:07.431000Z",
      "level": "error",
      "logger": null,
      "metadata": {"filename": "checkout/views.py", "type": "KeyError", "value": "'payment_intent'"},
      "numComments": 0,
      "permalink": null,
      "platform": "python",
      "project": {"id": "4504829", "name": "checkout-api", "platform": "python", "slug": "checkout-api"},
      "shareId": null,
      "shortId": "CHECKOUT-API-3F",
      "status": "unresolved",
      "statusDetails": {},
      "subscriptionDetails": null,
      "substatus": "new",
      "title": "KeyError: 'payment_intent'",
      "type": "error",
      "userCount": 12,
      "web_url": "https://acme.sentry.io/issues/4617321456/"
    }
  },
  "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}
}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn other_resources_are_ignored_and_unknown_bodies_refused() {
        let h: &[(&str, &str)] = &[("sentry-hook-resource", "installation")];
        assert!(matches!(
            decode(&h, json!({"action": "created", "data": {}})),
            Ok(Decoded::Ignore { .. })
        ));
        let none: &[(&str, &str)] = &[];
        assert!(decode(&none, json!({"action": "created", "data": {}})).is_err());
        let h: &[(&str, &str)] = &[("Sentry-Hook-Resource", "issue")];
        assert!(decode(&h, json!({"action": "created", "data": {"issue": 5}})).is_err());
    }

    #[test]
    fn the_shape_is_recognized_without_the_header() {
        let none: &[(&str, &str)] = &[];
        let body = json!({"action": "warning", "data": {"metric_alert": {"id": 9, "alert_rule": {"name": "Slow"}}}});
        let Decoded::Alerts(docs) = decode(&none, body).unwrap() else {
            panic!()
        };
        let d = &docs[0].doc["alertgate"];
        assert_eq!(d["title"], "Slow");
        assert_eq!(d["severity"], "warning");
        assert_eq!(d["dedup_key"], "metric_alert:9");
    }

    #[test]
    fn project_slugs_come_from_the_event_api_url() {
        assert_eq!(
            project_slug_from_api_url("https://sentry.io/api/0/projects/org/front-end/events/e1/"),
            Some("front-end")
        );
        assert_eq!(
            project_slug_from_api_url("https://sentry.io/api/0/projects/org"),
            None
        );
        assert_eq!(project_slug_from_api_url("nothing"), None);
    }

    #[test]
    fn actions_map_to_states() {
        assert_eq!(status("resolved"), Some(AlertStatus::Resolved));
        assert_eq!(status("assigned"), Some(AlertStatus::Acknowledged));
        assert_eq!(status("archived"), Some(AlertStatus::Resolved));
        assert_eq!(status("critical"), Some(AlertStatus::Firing));
        assert_eq!(severity("fatal"), Some(Severity::Critical));
        assert_eq!(severity("debug"), Some(Severity::Info));
    }
}
