//! The engine-independent half of the ingest transaction: given what an engine read, what it
//! must write. Both engines call these, so SQLite and PostgreSQL cannot drift apart on an
//! incident's state machine, a delivery's status, or what a timeline entry says. The other half
//! (dedup and correlation decisions) is in core ([`alertgate_core::triage::decide`],
//! [`alertgate_core::correlation`]); the engines only read, call, and write.

use serde_json::{json, Value};

use alertgate_core::alert::{AlertOutcome, Decision, NormalizedAlert};
use alertgate_core::ids::{AlertId, IncidentId};
use alertgate_core::{IncidentStatus, Severity};

use crate::model::{DeliveryError, IncidentAction};

/// The reply status and the outcome word a delivery is logged with.
pub(crate) fn delivery_status(
    error: Option<&DeliveryError>,
    outcomes: &[AlertOutcome],
) -> (u16, String) {
    match error {
        Some(e) => (e.status_code, e.code.clone()),
        None if outcomes.iter().any(|o| o.decision == Decision::Created) => {
            (201, "created".to_string())
        }
        None => (
            200,
            outcomes
                .first()
                .map_or_else(|| "ignored".to_string(), |o| o.status.clone()),
        ),
    }
}

pub(crate) fn outcome(
    incident: Option<IncidentId>,
    alert: Option<AlertId>,
    count: i64,
    decision: Decision,
) -> AlertOutcome {
    AlertOutcome {
        incident_id: incident,
        alert_id: alert,
        status: decision.status_word().to_string(),
        occurrence_count: count,
        decision,
    }
}

/// An incident's state after a source changed one of its alerts, from the counts of its
/// firing and acknowledged alerts. `reopened`: an acknowledged alert fires again. See
/// [`crate::sqlite`]'s ingest module docs for the life of an incident.
pub(crate) fn status_after_source_change(
    firing: i64,
    acknowledged: i64,
    current: IncidentStatus,
    reopened: bool,
) -> IncidentStatus {
    if firing == 0 && acknowledged == 0 {
        IncidentStatus::Resolved
    } else if firing == 0 {
        IncidentStatus::Acknowledged
    } else if reopened {
        IncidentStatus::Open
    } else {
        current
    }
}

/// What a person's action does to an incident in `current` state; `None` = nothing.
pub(crate) fn status_after_action(
    action: IncidentAction,
    current: IncidentStatus,
) -> Option<IncidentStatus> {
    match (action, current) {
        (_, IncidentStatus::Resolved) => None,
        (IncidentAction::Acknowledge, IncidentStatus::Acknowledged) => None,
        (IncidentAction::Acknowledge, _) => Some(IncidentStatus::Acknowledged),
        (IncidentAction::Resolve, _) => Some(IncidentStatus::Resolved),
    }
}

/// The timeline entry of a status change: its kind and detail.
pub(crate) fn status_event(current: IncidentStatus, next: IncidentStatus) -> (&'static str, Value) {
    let kind = match next {
        IncidentStatus::Open => "reopened",
        IncidentStatus::Acknowledged => "acknowledged",
        IncidentStatus::Resolved => "resolved",
    };
    (kind, json!({ "from": current, "to": next }))
}

/// An incident lists at most this many services: a burst of alerts that each name a new service
/// must not grow one row (rewritten on every join) without bound.
pub(crate) const MAX_INCIDENT_SERVICES: usize = 100;

/// An incident after a correlated alert joined it: its services (a sorted set of at most
/// [`MAX_INCIDENT_SERVICES`]) and severity (raised, never lowered), and the timeline entries to add.
pub(crate) struct Joined {
    pub services: Vec<String>,
    pub severity: Severity,
    pub events: Vec<(&'static str, Value)>,
}

pub(crate) fn join(
    severity: Severity,
    mut services: Vec<String>,
    alert: &NormalizedAlert,
    decision: &Decision,
) -> Joined {
    if services.len() < MAX_INCIDENT_SERVICES {
        services.extend(alert.services.iter().cloned());
        services.sort();
        services.dedup();
        services.truncate(MAX_INCIDENT_SERVICES);
    }
    let new = severity.max(alert.severity);
    let mut events = vec![(
        "alert_correlated",
        json!({ "title": alert.title, "decision": decision }),
    )];
    if new > severity {
        events.push(("severity_raised", json!({ "from": severity, "to": new })));
    }
    Joined {
        services,
        severity: new,
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incidents_services_stay_bounded() {
        let alert = |svc: &str| NormalizedAlert {
            title: "t".into(),
            description: None,
            severity: Severity::Low,
            raw_severity: None,
            services: vec![svc.to_string()],
            status: alertgate_core::AlertStatus::Firing,
            dedup_key: "k".into(),
            dedup_key_custom: false,
            source_url: None,
            payload: Value::Null,
        };
        let mut services = Vec::new();
        for i in 0..250 {
            services = join(
                Severity::Low,
                services,
                &alert(&format!("svc-{i:03}")),
                &Decision::Created,
            )
            .services;
        }
        assert_eq!(services.len(), MAX_INCIDENT_SERVICES);
        let joined = join(
            Severity::Low,
            vec!["b".into()],
            &alert("a"),
            &Decision::Created,
        );
        assert_eq!(joined.services, vec!["a", "b"]);
    }

    #[test]
    fn an_incident_resolves_when_no_alert_is_firing_or_acknowledged() {
        use IncidentStatus::*;
        assert_eq!(status_after_source_change(0, 0, Open, false), Resolved);
        assert_eq!(status_after_source_change(0, 1, Open, false), Acknowledged);
        assert_eq!(
            status_after_source_change(1, 1, Acknowledged, false),
            Acknowledged
        );
        assert_eq!(status_after_source_change(1, 0, Acknowledged, true), Open);
    }

    #[test]
    fn a_resolved_incident_takes_no_action() {
        use IncidentStatus::*;
        assert_eq!(status_after_action(IncidentAction::Resolve, Resolved), None);
        assert_eq!(
            status_after_action(IncidentAction::Acknowledge, Acknowledged),
            None
        );
        assert_eq!(
            status_after_action(IncidentAction::Acknowledge, Open),
            Some(Acknowledged)
        );
        assert_eq!(
            status_after_action(IncidentAction::Resolve, Acknowledged),
            Some(Resolved)
        );
    }
}
