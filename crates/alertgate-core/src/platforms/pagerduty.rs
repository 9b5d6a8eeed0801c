//! PagerDuty: a V3 webhook subscription (`{"event": {...}}`, one event per request).
//!
//! The incident is the alert: its identity is the incident id (`event.data.id`, stable from
//! trigger to resolve), and `event.event_type` drives its state:
//!
//! | event type | state |
//! | --- | --- |
//! | `incident.triggered`, `.unacknowledged`, `.reopened` | firing |
//! | `incident.acknowledged` | acknowledged |
//! | `incident.resolved` | resolved |
//! | any other `incident.*` whose `data` is the incident (`.priority_updated`, `.escalated`, `.reassigned`, …) | the incident's `data.status` after the change |
//! | `incident.*` whose `data` is something else (`.annotated` notes, responders, status updates, …) | ignored |
//! | `service.*`, and the `pagey.ping` test | ignored |
//!
//! Why the middle rows: an incident-typed update carries the incident's current state, so mapping
//! it keeps title, priority and service current and heals a missed lifecycle event, and it can
//! never reopen a resolved incident by mistake. Notes, responder changes and the like carry no
//! state at all; reading them as "firing" would un-acknowledge or reopen incidents, so they are
//! recorded as ignored deliveries instead.
//!
//! Severity: the incident's priority (`P1`…`P5` by default, account-configurable names) when it
//! has one, else its urgency (`high` / `low`). `priority` is often `null`, and a JSONPath union
//! does not fall through a `null`, so the decoder puts the chosen value in `alertgate.severity`.
//!
//! Authentication: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 of the raw body
//! with the subscription's secret as shown by PagerDuty; any `v1` entry may match (several are
//! sent while PagerDuty rotates), entries with other version prefixes are ignored.

use serde_json::{json, Map, Value};

use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers, SignatureEncoding};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;
use crate::timestamps;

pub static PLATFORM: Platform = Platform {
    id: "pagerduty",
    name: "PagerDuty",
    category: Category::IncidentManagement,
    default_auth: || AuthMethod::HmacSha256 {
        header: "X-PagerDuty-Signature".into(),
        prefix: "v1=".into(),
        encoding: SignatureEncoding::Hex,
        timestamp_header: None,
        multiple: true,
    },
    default_mapping: &[
        (Field::Title, "$.event.data.title"),
        (Field::Severity, "$.alertgate.severity"),
        (Field::Services, "$.event.data.service.summary"),
        (Field::DedupKey, "$.event.data.id"),
        (Field::SourceUrl, "$.event.data.html_url"),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: SETUP,
    decode,
};

const SAMPLE: &str = r#"{
  "event": {
    "id": "01DEN2L1KOBVCAX4JZLLKDKQBT",
    "event_type": "incident.triggered",
    "resource_type": "incident",
    "occurred_at": "2025-03-14T09:47:13.414Z",
    "agent": null,
    "client": null,
    "data": {
      "id": "Q2CKYRLH85UNN4",
      "type": "incident",
      "self": "https://api.pagerduty.com/incidents/Q2CKYRLH85UNN4",
      "html_url": "https://acme.pagerduty.com/incidents/Q2CKYRLH85UNN4",
      "number": 1042,
      "status": "triggered",
      "incident_key": "checkout-5xx-eu-1",
      "created_at": "2025-03-14T09:47:13Z",
      "title": "Checkout API returns 5xx for 7% of requests",
      "service": {"html_url": "https://acme.pagerduty.com/services/PF9KMXH", "id": "PF9KMXH", "self": "https://api.pagerduty.com/services/PF9KMXH", "summary": "Checkout API", "type": "service_reference"},
      "assignees": [{"html_url": "https://acme.pagerduty.com/users/PTUXL6G", "id": "PTUXL6G", "self": "https://api.pagerduty.com/users/PTUXL6G", "summary": "Dana Ops", "type": "user_reference"}],
      "escalation_policy": {"html_url": "https://acme.pagerduty.com/escalation_policies/PUS0KTE", "id": "PUS0KTE", "self": "https://api.pagerduty.com/escalation_policies/PUS0KTE", "summary": "Payments on-call", "type": "escalation_policy_reference"},
      "teams": [{"html_url": "https://acme.pagerduty.com/teams/PFCVPS0", "id": "PFCVPS0", "self": "https://api.pagerduty.com/teams/PFCVPS0", "summary": "Payments", "type": "team_reference"}],
      "priority": {"html_url": "https://acme.pagerduty.com/account/incident_priorities", "id": "PSO75BM", "self": "https://api.pagerduty.com/priorities/PSO75BM", "summary": "P1", "type": "priority_reference"},
      "urgency": "high",
      "conference_bridge": null,
      "resolve_reason": null
    }
  }
}"#;

const SETUP: &str = "In PagerDuty, open Integrations > Generic Webhooks (v3) > New Webhook.

Webhook URL: <intake URL>
Scope: the service (or team, or account) whose incidents alertgate should receive.
Event subscription: at least incident.triggered, incident.acknowledged, incident.unacknowledged, \
incident.resolved and incident.reopened. Other incident events are accepted: those that carry the \
incident (priority updated, escalated, reassigned, ...) refresh it, the rest (notes, responders, \
status updates) and service events are recorded and ignored.

After you add the webhook, PagerDuty shows its signing secret once. Paste it into this webhook as \
its secret (create the webhook with that secret, or rotate to it). alertgate checks the \
X-PagerDuty-Signature header against it. While PagerDuty rotates its secret it sends several \
signatures; any one that matches is accepted.

Use the Send Test Event button to check: the test ping is answered with 200 and ignored.";

fn decode(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    let Value::Object(mut root) = body else {
        return Err(not_v3());
    };
    let Some(event) = root.get("event").and_then(Value::as_object) else {
        return Err(not_v3());
    };
    let event_type = event
        .get("event_type")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if event_type.is_empty() {
        return Err("the PagerDuty event has no `event.event_type`".into());
    }
    let shown: String = event_type.chars().take(80).collect();
    if event_type == "pagey.ping" {
        return Ok(Decoded::Ignore {
            reason: "PagerDuty test ping".into(),
        });
    }
    if !event_type.starts_with("incident.") {
        return Ok(Decoded::Ignore {
            reason: format!("PagerDuty `{shown}` events are not about an incident"),
        });
    }
    let empty = Map::new();
    let data = event
        .get("data")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let state = match lifecycle(event_type) {
        Some(state) => state,
        None if text(data.get("type")) == Some("incident") => {
            match text(data.get("status")).and_then(status) {
                Some(state) => state,
                None => {
                    return Ok(Decoded::Ignore {
                        reason: format!(
                            "PagerDuty `{shown}` event without a known incident status"
                        ),
                    })
                }
            }
        }
        None => {
            return Ok(Decoded::Ignore {
                reason: format!("PagerDuty `{shown}` events do not change an incident's state"),
            })
        }
    };
    let started_at = data.get("created_at").and_then(timestamps::parse_value);
    let severity = data
        .get("priority")
        .and_then(|p| text(p.get("summary")))
        .or_else(|| text(data.get("urgency")))
        .map(str::to_string);
    if let Some(severity) = severity {
        root.insert("alertgate".into(), json!({ "severity": severity }));
    }
    Ok(Decoded::Alerts(vec![AlertDoc {
        doc: Value::Object(root),
        status: Some(state),
        identity: None,
        started_at,
    }]))
}

fn not_v3() -> String {
    "expected a PagerDuty V3 webhook: a JSON object with an `event` object".into()
}

/// A non-empty string, trimmed.
fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The state a lifecycle event type moves the incident to.
fn lifecycle(event_type: &str) -> Option<AlertStatus> {
    match event_type {
        "incident.triggered" | "incident.unacknowledged" | "incident.reopened" => {
            Some(AlertStatus::Firing)
        }
        "incident.acknowledged" => Some(AlertStatus::Acknowledged),
        "incident.resolved" => Some(AlertStatus::Resolved),
        _ => None,
    }
}

/// PagerDuty's default priorities, the common `SEV-n` renaming, and urgency.
fn severity(raw: &str) -> Option<Severity> {
    let s = match raw.trim().to_ascii_lowercase().as_str() {
        "p1" | "sev-1" | "sev1" | "sev 1" => Severity::Critical,
        "p2" | "sev-2" | "sev2" | "sev 2" | "high" => Severity::High,
        "p3" | "sev-3" | "sev3" | "sev 3" => Severity::Medium,
        "p4" | "sev-4" | "sev4" | "sev 4" | "low" => Severity::Low,
        "p5" | "sev-5" | "sev5" | "sev 5" => Severity::Info,
        _ => return None,
    };
    Some(s)
}

/// Incident statuses and lifecycle event types.
fn status(raw: &str) -> Option<AlertStatus> {
    let raw = raw.trim().to_ascii_lowercase();
    match raw.as_str() {
        "triggered" => Some(AlertStatus::Firing),
        "acknowledged" => Some(AlertStatus::Acknowledged),
        "resolved" => Some(AlertStatus::Resolved),
        other => lifecycle(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(body: Value) -> Decoded {
        let none: &[(&str, &str)] = &[];
        decode(&none, body).unwrap()
    }

    fn incident(event_type: &str, status: &str) -> Value {
        json!({"event": {"event_type": event_type, "resource_type": "incident",
            "data": {"id": "Q1", "type": "incident", "status": status, "title": "t", "priority": null, "urgency": "high"}}})
    }

    #[test]
    fn lifecycle_events_set_the_state_whatever_the_status_field_says() {
        for (event_type, want) in [
            ("incident.triggered", AlertStatus::Firing),
            ("incident.acknowledged", AlertStatus::Acknowledged),
            ("incident.unacknowledged", AlertStatus::Firing),
            ("incident.resolved", AlertStatus::Resolved),
            ("incident.reopened", AlertStatus::Firing),
        ] {
            let Decoded::Alerts(docs) = decoded(incident(event_type, "acknowledged")) else {
                panic!("{event_type}")
            };
            assert_eq!(docs[0].status, Some(want), "{event_type}");
        }
    }

    #[test]
    fn other_incident_updates_carry_the_incident_status_and_notes_are_ignored() {
        let Decoded::Alerts(docs) = decoded(incident("incident.escalated", "resolved")) else {
            panic!()
        };
        assert_eq!(docs[0].status, Some(AlertStatus::Resolved));
        assert!(matches!(
            decoded(incident("incident.escalated", "")),
            Decoded::Ignore { .. }
        ));
        let note = json!({"event": {"event_type": "incident.annotated", "data": {"type": "incident_note", "incident": {"id": "Q1"}}}});
        assert!(matches!(decoded(note), Decoded::Ignore { .. }));
        let service = json!({"event": {"event_type": "service.updated", "resource_type": "service", "data": {"type": "service"}}});
        assert!(matches!(decoded(service), Decoded::Ignore { .. }));
    }

    #[test]
    fn urgency_stands_in_for_a_missing_priority() {
        let Decoded::Alerts(docs) = decoded(incident("incident.triggered", "triggered")) else {
            panic!()
        };
        assert_eq!(docs[0].doc["alertgate"]["severity"], "high");
    }

    #[test]
    fn bodies_that_are_not_v3_events_are_errors() {
        let none: &[(&str, &str)] = &[];
        for body in [
            json!(null),
            json!({"messages": []}),
            json!({"event": "x"}),
            json!({"event": {}}),
            json!({"event": {"event_type": 5}}),
        ] {
            assert!(decode(&none, body.clone()).is_err(), "{body}");
        }
    }
}
