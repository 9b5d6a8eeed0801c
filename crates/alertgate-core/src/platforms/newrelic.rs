//! New Relic: workflow webhooks with the destination's default payload template, and the legacy
//! alert-channel webhooks (being retired by New Relic).
//!
//! Both shapes keep their fields at the top level, so the mapping reads them directly, workflow
//! field first and legacy field as the union fallback: title `title` / `condition_name`, severity
//! `priority` (`CRITICAL`, `HIGH`, `MEDIUM`, `LOW`) / `severity` (`CRITICAL`, `WARNING`, `INFO`),
//! state `state` (`CREATED`, `ACTIVATED`, `ACKNOWLEDGED`, `CLOSED`) / `current_state` (`open`,
//! `acknowledged`, `closed`), identity `id` (the issue id) / `incident_id`, link `issueUrl` /
//! `incident_url`, services `impactedEntities`.
//!
//! Acknowledgement: the default workflow template does not say whether an issue was acknowledged.
//! New Relic's real acknowledgement notification arrives as `state: ACTIVATED` with
//! `trigger: USER_ACTION`, which alertgate cannot tell apart from other user actions; it is read as
//! still firing (it folds into the open incident). A custom template whose `state` says
//! `ACKNOWLEDGED` acknowledges the incident.

use serde_json::Value;

use super::derived;
use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;

pub static PLATFORM: Platform = Platform {
    id: "newrelic",
    name: "New Relic",
    category: Category::ApmErrorTracking,
    default_auth: || AuthMethod::ApiKey {
        header: "Api-Key".into(),
        prefix: String::new(),
    },
    default_mapping: &[
        (Field::Title, "$['title','condition_name','details']"),
        (Field::Description, "$['description','details']"),
        (Field::Severity, "$['priority','severity']"),
        (Field::Services, "$.impactedEntities"),
        (Field::DedupKey, "$['id','incident_id']"),
        (Field::Status, "$['state','current_state']"),
        (Field::SourceUrl, "$['issueUrl','incident_url']"),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: "In New Relic, open Alerts > Destinations and add a Webhook destination: Endpoint URL = this webhook's intake \
URL, and under custom headers add Api-Key with this webhook's secret as the value. Then in Alerts > Workflows, add a \
Webhook channel to your workflow using that destination and keep the default payload template. Enable the workflow's \
notifications for closed issues so incidents resolve here. (Legacy alert channels: add a Webhook channel with the same URL \
and an Api-Key custom header.)",
    decode,
};

const SEVERITY: &[(&str, Severity)] = &[
    ("CRITICAL", Severity::Critical),
    ("HIGH", Severity::High),
    ("MEDIUM", Severity::Medium),
    ("LOW", Severity::Low),
    ("WARNING", Severity::Medium),
    ("INFO", Severity::Info),
];

const STATUS: &[(&str, AlertStatus)] = &[
    ("CREATED", AlertStatus::Firing),
    ("ACTIVATED", AlertStatus::Firing),
    ("OPEN", AlertStatus::Firing),
    ("ACKNOWLEDGED", AlertStatus::Acknowledged),
    ("CLOSED", AlertStatus::Resolved),
];

fn severity(raw: &str) -> Option<Severity> {
    derived::lookup(SEVERITY, raw)
}

fn status(raw: &str) -> Option<AlertStatus> {
    derived::lookup(STATUS, raw)
}

fn decode(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    if !body.is_object() {
        return Err("the body must be a JSON object".into());
    }
    // Workflow `createdAt` and legacy `timestamp` are epoch milliseconds.
    let started_at =
        derived::time_at(&body, &["createdAt"]).or_else(|| derived::time_at(&body, &["timestamp"]));
    Ok(Decoded::Alerts(vec![AlertDoc {
        started_at,
        ..AlertDoc::plain(body)
    }]))
}

const SAMPLE: &str = r#"{
  "id": "208c5e92-f250-40be-b7c2-50508c268c15",
  "issueUrl": "https://radar-api.service.newrelic.com/accounts/1234567/issues/208c5e92-f250-40be-b7c2-50508c268c15?notifier=WEBHOOK",
  "title": "checkout-api query result is > 5.0 for 5 minutes on 'High error rate'",
  "priority": "CRITICAL",
  "impactedEntities": ["checkout-api"],
  "totalIncidents": 1,
  "state": "ACTIVATED",
  "trigger": "STATE_CHANGE",
  "isCorrelated": false,
  "createdAt": 1740823947000,
  "updatedAt": 1740823947000,
  "sources": ["newrelic"],
  "alertPolicyNames": ["Golden Signals"],
  "alertConditionNames": ["High error rate"],
  "workflowName": "Checkout on-call"
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_and_legacy_vocabularies() {
        assert_eq!(status("ACKNOWLEDGED"), Some(AlertStatus::Acknowledged));
        assert_eq!(status("acknowledged"), Some(AlertStatus::Acknowledged));
        assert_eq!(status("CLOSED"), Some(AlertStatus::Resolved));
        assert_eq!(status("ACTIVATED"), Some(AlertStatus::Firing));
        assert_eq!(severity("WARNING"), Some(Severity::Medium));
        assert_eq!(severity("low"), Some(Severity::Low));
    }
}
