//! Tests of correlation as a whole: operators through the engine, scoring and scopes,
//! validation messages, and properties. Unit tests of the parts sit beside them.

use serde_json::{json, Value};

use super::*;
use crate::alert::NormalizedAlert;
use crate::ids::{IncidentId, WebhookId, WorkspaceId};
use crate::severity::Severity;
use crate::status::{AlertStatus, IncidentStatus};
use crate::time::Timestamp;

mod engine;
mod operators;
mod properties;
mod validation;

const MINUTE: i64 = 60_000;
const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn wks(n: u128) -> WorkspaceId {
    WorkspaceId::new(Timestamp::from_millis(1), n)
}

fn whk(n: u128) -> WebhookId {
    WebhookId::new(Timestamp::from_millis(1), n)
}

/// Incident ids sort by `n`: a higher `n` is a newer incident.
fn inc(n: u64) -> IncidentId {
    IncidentId::new(Timestamp::from_millis(1_000 + n as i64), 0)
}

fn minutes_ago(m: i64) -> Timestamp {
    NOW.saturating_sub_millis(m * MINUTE)
}

/// A database outage as one tool reports it.
fn alert() -> NormalizedAlert {
    NormalizedAlert {
        title: "Database down on db-primary".into(),
        description: Some("Connection refused".into()),
        severity: Severity::Critical,
        raw_severity: None,
        services: vec!["api".into(), "db".into()],
        status: AlertStatus::Firing,
        dedup_key: "k".into(),
        dedup_key_custom: false,
        source_url: Some("https://grafana.example/d/1".into()),
        payload: json!({
            "labels": {"cluster": "eu-1", "team": "Storage", "zone": "ünïcode-é"},
            "count": 42,
            "ratio": 1.5,
            "up": false,
            "tags": ["db", "prod", 7, true, null, ""],
            "empty_list": [],
            "empty_str": "",
            "empty_obj": {},
            "nothing": null,
            "obj": {"a": 1},
            "metadata": {"deployment_id": "d-123"},
            "k8s.io/app": "web",
            "alerts": [{"fingerprint": "f1"}]
        }),
    }
}

/// An open incident of webhook 1 in workspace 1, last alerted a minute ago.
fn candidate(n: u64) -> Candidate {
    Candidate {
        incident_id: inc(n),
        webhook_id: whk(1),
        workspace_id: wks(1),
        title: "Database down on db-primary".into(),
        description: Some("Connection refused".into()),
        severity: Severity::High,
        services: vec!["db".into(), "web".into()],
        status: IncidentStatus::Open,
        source: "generic".into(),
        source_url: None,
        payload: json!({
            "labels": {"cluster": "eu-1", "team": "storage"},
            "count": 42,
            "tags": ["prod", "db"],
            "metadata": {"deployment_id": "d-999"}
        }),
        last_alert_at: minutes_ago(1),
    }
}

/// The alert as it arrives on webhook 1 of workspace 1, a `generic` webhook.
fn incoming(alert: &NormalizedAlert) -> Incoming<'_> {
    Incoming {
        alert,
        webhook_id: whk(1),
        workspace_id: wks(1),
        platform: "generic",
    }
}

fn compiled(v: Value) -> CompiledCorrelation {
    let settings: CorrelationSettings = serde_json::from_value(v).expect("settings deserialize");
    settings.compile().expect("settings are valid")
}

/// Correlation on, a 5-minute window, min weight 0.5 and these rules.
fn with_rules(rules: Value) -> CompiledCorrelation {
    compiled(json!({
        "enable_correlation": true,
        "correlation_window_minutes": 5,
        "correlation_rules": {"enabled": true, "min_match_weight": 0.5, "rules": rules}
    }))
}

/// One rule of weight 1 whose conditions are `conditions`.
fn one_rule(conditions: Value) -> CompiledCorrelation {
    with_rules(json!([{"name": "r", "priority": 1, "weight": 1.0, "conditions": conditions}]))
}

fn correlate_webhook(
    webhook: &CompiledCorrelation,
    alert: &NormalizedAlert,
    candidates: &[Candidate],
) -> Option<CorrelationMatch> {
    correlate(
        &incoming(alert),
        webhook,
        &CompiledCorrelation::off(),
        candidates,
        NOW,
    )
}
