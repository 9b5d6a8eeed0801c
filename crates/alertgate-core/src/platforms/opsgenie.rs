//! Opsgenie: the outgoing Webhook integration (one alert action per request).
//!
//! `action` drives the state: `Create` and `UnAcknowledge` → firing, `Acknowledge` →
//! acknowledged, `Close` → resolved, and `Delete` → resolved too (the alert is gone in Opsgenie,
//! so its incident should not stay open here). Every other action (`AddNote`, `Escalate`,
//! `AddTags`, `TakeOwnership`, `AssignOwnership`, `AddRecipient`, `AddTeam`, `CustomAction`, …)
//! leaves the alert's state as it was and often carries only `alert.alertId`; read as "firing"
//! it would un-acknowledge an alert, so those requests are recorded and ignored.
//!
//! Identity: `alert.alertId` (stable for the life of the Opsgenie alert), else `alert.alias`.
//! Severity: `alert.priority`, `P1`…`P5` today; older payloads sent an integer (`3`) or a
//! numeric string (`"2"`), both understood.
//!
//! Authentication: Opsgenie cannot sign; the integration sends a static custom header,
//! `Authorization: GenieKey <secret>`.

use serde_json::Value;

use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;
use crate::timestamps;

pub static PLATFORM: Platform = Platform {
    id: "opsgenie",
    name: "Opsgenie",
    category: Category::IncidentManagement,
    default_auth: || AuthMethod::ApiKey {
        header: "Authorization".into(),
        prefix: "GenieKey ".into(),
    },
    default_mapping: &[
        // Acknowledge/Close payloads may be thin; any of these still names the alert.
        (Field::Title, "$.alert['message','alias','alertId']"),
        (Field::Description, "$.alert.description"),
        (Field::Severity, "$.alert.priority"),
        (Field::Services, "$.alert.entity"),
        (Field::DedupKey, "$.alert['alertId','alias']"),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: SETUP,
    decode,
};

const SAMPLE: &str = r#"{
  "action": "Create",
  "alert": {
    "alertId": "7ec331d7-f5f3-4f78-a49c-2ad886df69fe-1741945624295",
    "message": "Disk usage above 95% on db-primary-1",
    "tags": ["database", "disk"],
    "tinyId": "1432",
    "entity": "db-primary-1",
    "alias": "disk-full-db-primary-1",
    "createdAt": 1741945624295,
    "updatedAt": 1741945624636000000,
    "username": "System",
    "userId": "e760568d-4e19-413e-9ff9-2661f416edbb",
    "description": "/var/lib/postgresql is 95.4% full (threshold 95%).",
    "team": "database",
    "responders": [{"id": "6ee84e52-f33e-45d9-87ab-533fd69d5591", "type": "team", "name": "database"}],
    "teams": ["6ee84e52-f33e-45d9-87ab-533fd69d5591"],
    "actions": [],
    "details": {"mount": "/var/lib/postgresql"},
    "priority": "P2",
    "source": "Prometheus"
  },
  "source": {"name": "", "type": "API"},
  "integrationName": "alertgate",
  "integrationId": "cab111af-f56b-4886-b20a-f947ea3163e2",
  "integrationType": "Webhook"
}"#;

const SETUP: &str =
    "In Opsgenie, open Settings > Integrations > Add integration and choose Webhook \
(for a team: Teams > your team > Integrations).

Webhook URL: <intake URL>
Custom headers: name Authorization, value GenieKey <secret>
Turn on Add Alert Description to Payload and Add Alert Details to Payload.
Send alert actions to Webhook: at least Alert is created, acknowledged, unacknowledged, closed \
and deleted.

Opsgenie alerts map one to one to alertgate alerts (by alertId): acknowledging or closing in \
Opsgenie acknowledges or resolves here. Other actions (notes, escalations, tags, ownership) are \
recorded and ignored because they do not change the alert's state.";

fn decode(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    let Value::Object(root) = body else {
        return Err("expected an Opsgenie webhook: a JSON object with `action` and `alert`".into());
    };
    let action = root
        .get("action")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or("expected an Opsgenie webhook: `action` is missing")?;
    let Some(state) = action_state(action) else {
        let shown: String = action.chars().take(60).collect();
        return Ok(Decoded::Ignore {
            reason: format!("Opsgenie `{shown}` actions do not change an alert's state"),
        });
    };
    let Some(alert) = root.get("alert").and_then(Value::as_object) else {
        return Err("expected an Opsgenie webhook: `alert` is missing".into());
    };
    let started_at = alert.get("createdAt").and_then(timestamps::parse_value);
    Ok(Decoded::Alerts(vec![AlertDoc {
        doc: Value::Object(root),
        status: Some(state),
        identity: None,
        started_at,
    }]))
}

fn action_state(action: &str) -> Option<AlertStatus> {
    match action.to_ascii_lowercase().as_str() {
        "create" | "unacknowledge" => Some(AlertStatus::Firing),
        "acknowledge" => Some(AlertStatus::Acknowledged),
        "close" | "delete" => Some(AlertStatus::Resolved),
        _ => None,
    }
}

/// `P1`…`P5`, the old integer and numeric-string priorities, and the names Opsgenie shows.
fn severity(raw: &str) -> Option<Severity> {
    let s = match raw.trim().to_ascii_lowercase().as_str() {
        "p1" | "1" | "critical" => Severity::Critical,
        "p2" | "2" | "high" => Severity::High,
        "p3" | "3" | "moderate" => Severity::Medium,
        "p4" | "4" | "low" => Severity::Low,
        "p5" | "5" | "informational" => Severity::Info,
        _ => return None,
    };
    Some(s)
}

/// The state-changing actions, and Opsgenie's alert statuses.
fn status(raw: &str) -> Option<AlertStatus> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "open" => Some(AlertStatus::Firing),
        "closed" => Some(AlertStatus::Resolved),
        other => action_state(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_changing_actions_map_and_the_rest_are_ignored() {
        let none: &[(&str, &str)] = &[];
        for (action, want) in [
            ("Create", Some(AlertStatus::Firing)),
            ("Acknowledge", Some(AlertStatus::Acknowledged)),
            ("UnAcknowledge", Some(AlertStatus::Firing)),
            ("Close", Some(AlertStatus::Resolved)),
            ("Delete", Some(AlertStatus::Resolved)),
            ("AddNote", None),
            ("Escalate", None),
            ("CustomAction", None),
        ] {
            let body = json!({"action": action, "alert": {"alertId": "a", "message": "m"}});
            match decode(&none, body).unwrap() {
                Decoded::Alerts(docs) => assert_eq!(docs[0].status, want, "{action}"),
                Decoded::Ignore { .. } => assert_eq!(want, None, "{action}"),
                other => panic!("{action}: {other:?}"),
            }
        }
    }

    #[test]
    fn integer_and_string_priorities_are_understood() {
        for (raw, want) in [
            ("3", Severity::Medium),
            ("P1", Severity::Critical),
            (" 5 ", Severity::Info),
        ] {
            assert_eq!(severity(raw), Some(want), "{raw}");
        }
        assert_eq!(severity("6"), None);
    }

    #[test]
    fn bodies_without_an_action_or_alert_are_errors() {
        let none: &[(&str, &str)] = &[];
        for body in [
            json!([]),
            json!({}),
            json!({"action": 1}),
            json!({"action": "Create"}),
            json!({"action": "Create", "alert": []}),
        ] {
            assert!(decode(&none, body.clone()).is_err(), "{body}");
        }
    }
}
