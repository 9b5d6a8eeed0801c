//! The outbox's models, whatever the engine: workspace destinations, the messages owed to them
//! (one per event and destination), the claim a worker holds while it delivers one, and the
//! incident context every event carries.
//!
//! Life of a message: written `pending` in the transaction that changed the incident; a worker
//! claims it (`delivering`, with a lease); the attempt ends `delivered`, back to `pending` with a
//! later due time, or `failed`. A worker that dies leaves its claim to expire, and the message
//! becomes claimable again, so delivery is at least once. The claim is one statement over the
//! due index: on PostgreSQL the same `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`.

use serde::Serialize;
use serde_json::{json, Map, Value};

use alertgate_core::auth::Secret;
use alertgate_core::ids::{DestinationId, EventId, IncidentId, MessageId, WorkspaceId};
use alertgate_core::outbox::{DestinationKind, EventType, Purpose};
use alertgate_core::Timestamp;

use crate::model::{Alert, Incident, IncidentEvent};

/// A workspace destination as stored. The `secret` (and, for Slack, the URL) are credentials.
#[derive(Debug, Clone)]
pub struct Destination {
    pub id: DestinationId,
    pub workspace_id: WorkspaceId,
    pub kind: DestinationKind,
    pub name: String,
    pub url: String,
    /// The Standard Webhooks signing secret (`whsec_…`); none for Slack.
    pub secret: Option<Secret>,
    /// What it subscribes to. The investigation endpoint receives `incident.created` only.
    pub event_types: Vec<EventType>,
    pub enabled: bool,
    /// Why it was disabled by alertgate (a 410 Gone), shown until it is enabled again.
    pub disabled_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// A worker holds it until `lease_expires_at`.
    Delivering,
    Delivered,
    /// Given up: the retry budget is spent, the destination is gone, or it was deleted.
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Delivering => "delivering",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(MessageStatus::Pending),
            "delivering" => Some(MessageStatus::Delivering),
            "delivered" => Some(MessageStatus::Delivered),
            "failed" => Some(MessageStatus::Failed),
            _ => None,
        }
    }
}

/// One attempt to deliver a message, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: u32,
    pub at: Timestamp,
    /// The destination's answer; none when there was none (refused, timeout, connection error).
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A message as the API shows it: what is owed to whom, and how it went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    /// The `webhook-id` the destination received.
    pub id: MessageId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub incident_id: IncidentId,
    pub purpose: Purpose,
    pub destination_id: DestinationId,
    /// None once the destination was deleted.
    pub destination_name: Option<String>,
    pub destination_kind: Option<DestinationKind>,
    pub status: MessageStatus,
    pub attempts: u32,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
    pub lease_expires_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    /// From the event's commit to the destination's 2xx.
    pub latency_ms: Option<i64>,
    pub created_at: Timestamp,
    /// The latest attempts, oldest first (at most [`MAX_HISTORY`]).
    pub history: Vec<Attempt>,
}

/// How many attempts a message shows.
pub const MAX_HISTORY: usize = 50;

/// A worker's hold on a message, proven by a token only that claim knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub message: MessageId,
    pub token: String,
}

/// A message a worker claimed, with everything it needs to deliver it.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub claim: Claim,
    pub event_id: EventId,
    pub event_type: EventType,
    pub purpose: Purpose,
    pub incident_id: IncidentId,
    pub workspace_id: WorkspaceId,
    /// Attempts made so far, this one included.
    pub attempt: u32,
    /// Attempts counted against the retry budget (since the last manual retry), this one included.
    pub budget_attempt: u32,
    /// When the event was committed.
    pub event_at: Timestamp,
    /// The incident context captured in that transaction (see [`incident_context`]).
    pub data: Value,
    /// The destination as it is now; none when it was deleted or is disabled.
    pub destination: Option<Destination>,
}

/// What an attempt came to, and so what happens to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx.
    Delivered,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// Give up on this message.
    Failed,
    /// The destination answered 410 Gone: give up and disable the destination.
    DestinationGone,
}

/// Counters for readiness and, later, metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboxStats {
    /// Waiting for an attempt (due or not).
    pub pending: i64,
    /// Claimed by a worker now.
    pub delivering: i64,
    /// Due now or overdue (pending or with an expired lease).
    pub due: i64,
    /// The due time of the most overdue message.
    pub oldest_due_at: Option<Timestamp>,
}

/// What one incident context may hold at most, so an event stays a bounded size however large
/// the incident grows.
pub mod bounds {
    /// Alerts in full: the first (it opened the incident) and the newest others.
    pub const MAX_ALERTS: usize = 25;
    /// A raw payload bigger than this (as JSON text) is sent as a truncated excerpt.
    pub const MAX_PAYLOAD_BYTES: usize = 4_096;
    /// The newest timeline entries.
    pub const MAX_TIMELINE: usize = 50;
}

/// The incident context an investigator needs, captured when the event is written: the incident,
/// its alerts (normalized fields, why each landed here, a bounded excerpt of its raw payload),
/// its services, its timeline, and the changes this event announces. Links back to alertgate are
/// added when it is delivered (they depend on the server's public URL, not on the incident).
pub fn incident_context(
    incident: &Incident,
    alerts: &[Alert],
    timeline: &[IncidentEvent],
    changes: &[IncidentEvent],
) -> Value {
    let omitted = (incident.alert_count - alerts.len() as i64).max(0);
    json!({
        "incident": incident,
        "services": incident.services,
        "alerts": alerts.iter().map(alert_context).collect::<Vec<_>>(),
        "alerts_omitted": omitted,
        "timeline": timeline,
        "changes": changes,
    })
}

fn alert_context(a: &Alert) -> Value {
    let mut v = json!({
        "id": a.id,
        "webhook_id": a.webhook_id,
        "title": a.title,
        "description": a.description,
        "severity": a.severity,
        "raw_severity": a.raw_severity,
        "services": a.services,
        "status": a.status,
        "dedup_key": a.dedup_key,
        "source_url": a.source_url,
        "occurrence_count": a.occurrence_count,
        "first_seen_at": a.first_seen_at,
        "last_seen_at": a.last_seen_at,
        "resolved_at": a.resolved_at,
        "decision": a.decision,
        "intake_delivery_id": a.delivery_id,
    });
    let text = a.payload.to_string();
    if let Value::Object(o) = &mut v {
        insert_payload(o, &a.payload, &text);
    }
    v
}

fn insert_payload(o: &mut Map<String, Value>, payload: &Value, text: &str) {
    if text.len() <= bounds::MAX_PAYLOAD_BYTES {
        o.insert("payload".into(), payload.clone());
        return;
    }
    let mut end = bounds::MAX_PAYLOAD_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    o.insert("payload_excerpt".into(), Value::String(text[..end].into()));
    o.insert("payload_truncated".into(), Value::Bool(true));
    o.insert("payload_bytes".into(), json!(text.len()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use alertgate_core::alert::Decision;
    use alertgate_core::ids::{AlertId, DeliveryId, WebhookId};
    use alertgate_core::{AlertStatus, IncidentStatus, Severity};

    fn incident(alert_count: i64) -> Incident {
        let t = Timestamp::from_millis(1_700_000_000_000);
        Incident {
            id: IncidentId::new(t, 1),
            workspace_id: WorkspaceId::DEFAULT,
            webhook_id: WebhookId::new(t, 2),
            platform: "generic".into(),
            title: "db down".into(),
            description: None,
            source_url: Some("https://grafana.example.com/d/1".into()),
            severity: Severity::High,
            status: IncidentStatus::Open,
            services: vec!["db".into()],
            alert_count,
            correlated_alert_count: 0,
            occurrence_count: 1,
            created_at: t,
            updated_at: t,
            last_alert_at: t,
            acknowledged_at: None,
            resolved_at: None,
        }
    }

    fn alert(payload: Value) -> Alert {
        let t = Timestamp::from_millis(1_700_000_000_000);
        Alert {
            id: AlertId::new(t, 3),
            incident_id: IncidentId::new(t, 1),
            webhook_id: WebhookId::new(t, 2),
            title: "db down".into(),
            description: None,
            severity: Severity::High,
            raw_severity: None,
            services: vec!["db".into()],
            status: AlertStatus::Firing,
            dedup_key: "k".into(),
            source_url: None,
            occurrence_count: 1,
            first_seen_at: t,
            last_seen_at: t,
            resolved_at: None,
            decision: Decision::Created,
            delivery_id: DeliveryId::new(t, 4),
            payload,
        }
    }

    #[test]
    fn small_payloads_are_sent_whole_and_large_ones_as_bounded_excerpts() {
        let small = alert(json!({"a": 1}));
        let big = alert(json!({"blob": "é".repeat(10_000)}));
        let ctx = incident_context(&incident(5), &[small, big], &[], &[]);
        assert_eq!(ctx["alerts"][0]["payload"], json!({"a": 1}));
        let excerpt = ctx["alerts"][1]["payload_excerpt"].as_str().unwrap();
        assert!(excerpt.len() <= bounds::MAX_PAYLOAD_BYTES);
        assert_eq!(ctx["alerts"][1]["payload_truncated"], true);
        assert!(ctx["alerts"][1].get("payload").is_none());
        assert_eq!(ctx["alerts_omitted"], 3);
        assert_eq!(ctx["alerts"][0]["decision"]["kind"], "created");
        assert_eq!(ctx["services"], json!(["db"]));
        assert_eq!(ctx["incident"]["severity"], "high");
    }
}
