//! The outbox's models, whatever the engine: workspace destinations, the messages owed to them
//! (one per event and destination), the claim a worker holds while it delivers one, and the
//! incident context every event carries.
//!
//! Life of a message: written `pending` in the transaction that changed the incident; a worker
//! claims it (`delivering`, with a lease); the attempt ends `delivered`, back to `pending` with a
//! later due time, or `failed`. A worker that dies leaves its claim to expire, and the message
//! becomes claimable again, so delivery is at least once. The claim is one statement over the
//! due index: on PostgreSQL the same `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use alertgate_core::auth::Secret;
use alertgate_core::ids::{
    AlertId, DestinationId, EventId, IncidentId, MessageId, WebhookId, WorkspaceId,
};
use alertgate_core::outbox::{AutomationSettings, DestinationKind, EventType, Purpose};
use alertgate_core::Timestamp;

use crate::crypto::SecretCipher;
use crate::model::{Alert, Incident, IncidentEvent};
use crate::{Result, StoreError};

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

// -- the engine-independent half of writing and settling messages --
//
// Each engine reads and writes its own rows; what those rows must say is decided here, once, so
// SQLite and PostgreSQL cannot drift apart on who is owed an event or how an attempt settles.

/// What happened to incidents in one transaction, in order. An engine tells it of every incident
/// opened and timeline entry written; just before the commit, [`Outbox::into_groups`] says which
/// events the transaction owes, and the engine writes them (see `sqlite/outbox.rs` and
/// `postgres/outbox.rs`).
#[derive(Default)]
pub(crate) struct Outbox {
    pending: Vec<(IncidentId, EventType, Change)>,
    /// The webhook of each incident opened in the transaction.
    opened_by: HashMap<IncidentId, WebhookId>,
}

/// One incident's events in a transaction: per event type (in the order they first happened),
/// the changes it announces. Several changes of one type in one batch become one event.
pub(crate) struct IncidentEvents {
    pub incident: IncidentId,
    /// The webhook that opened it, when that happened in this transaction (otherwise the engine
    /// reads it: the common case, automation off, then costs no query at all).
    pub opened_by: Option<WebhookId>,
    pub events: Vec<(EventType, Vec<Change>)>,
}

/// A change an event announces, as the transaction noted it. An incident's opening keeps only
/// what its timeline entry is made of, and becomes that entry when the event is written
/// (serialized as the [`IncidentEvent`] it stands for): with automation off, the usual case, no
/// event is owed and the entry is never built — it was one JSON document per new incident, in
/// the single writer's transaction.
pub(crate) enum Change {
    Opened {
        at: Timestamp,
        alert: AlertId,
        title: String,
    },
    Entry(IncidentEvent),
}

impl Serialize for Change {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Change::Opened { at, alert, title } => IncidentEvent {
                at: *at,
                kind: "created".into(),
                actor: "source".into(),
                detail: json!({ "alert_id": alert, "title": title }),
            }
            .serialize(s),
            Change::Entry(e) => e.serialize(s),
        }
    }
}

impl Outbox {
    /// An alert opened a new incident.
    pub(crate) fn opened(
        &mut self,
        incident: IncidentId,
        webhook: WebhookId,
        at: Timestamp,
        alert: AlertId,
        title: &str,
    ) {
        self.opened_by.insert(incident, webhook);
        self.pending.push((
            incident,
            EventType::Created,
            Change::Opened {
                at,
                alert,
                title: title.to_string(),
            },
        ));
    }

    /// A timeline entry was written; those that announce an event are kept.
    pub(crate) fn recorded(
        &mut self,
        incident: IncidentId,
        at: Timestamp,
        kind: &str,
        actor: &str,
        detail: &Value,
    ) {
        if let Some(event) = EventType::for_timeline_kind(kind) {
            let entry = IncidentEvent {
                at,
                kind: kind.to_string(),
                actor: actor.to_string(),
                detail: detail.clone(),
            };
            self.pending.push((incident, event, Change::Entry(entry)));
        }
    }

    /// The events owed, per incident in the order incidents were first touched.
    pub(crate) fn into_groups(self) -> Vec<IncidentEvents> {
        let mut groups: Vec<IncidentEvents> = Vec::new();
        let mut position: HashMap<IncidentId, usize> = HashMap::new();
        for (incident, event, change) in self.pending {
            let at = *position.entry(incident).or_insert_with(|| {
                groups.push(IncidentEvents {
                    incident,
                    opened_by: self.opened_by.get(&incident).copied(),
                    events: Vec::new(),
                });
                groups.len() - 1
            });
            let events = &mut groups[at].events;
            match events.iter_mut().find(|(e, _)| *e == event) {
                Some((_, changes)) => changes.push(change),
                None => events.push((event, vec![change])),
            }
        }
        groups
    }
}

/// An enabled destination, as the outbox needs it to decide who is owed an event.
pub(crate) struct Target {
    pub(crate) id: DestinationId,
    pub(crate) kind: DestinationKind,
    pub(crate) event_types: Vec<EventType>,
}

impl Target {
    /// From the stored `id`, `kind` and `event_types` (JSON) columns.
    pub(crate) fn from_columns(id: &str, kind: &str, event_types: &str) -> Result<Self> {
        Ok(Target {
            id: id.parse().map_err(corrupt)?,
            kind: DestinationKind::parse(kind).ok_or_else(|| corrupt(kind))?,
            event_types: serde_json::from_str(event_types).map_err(corrupt)?,
        })
    }
}

/// Who is owed `event` of `incident`: the investigation endpoint for a new incident at or above
/// the webhook's minimum severity, and the channels subscribed to it when the webhook notifies.
pub(crate) fn owed(
    settings: &AutomationSettings,
    incident: &Incident,
    event: EventType,
    targets: &[Target],
) -> Vec<(DestinationId, Purpose)> {
    let mut out = Vec::new();
    for t in targets {
        let purpose = match t.kind {
            DestinationKind::Investigation
                if event == EventType::Created && settings.investigates(incident.severity) =>
            {
                Purpose::Investigation
            }
            DestinationKind::Webhook | DestinationKind::Slack
                if settings.notifies(event) && t.event_types.contains(&event) =>
            {
                Purpose::Notification
            }
            _ => continue,
        };
        out.push((t.id, purpose));
    }
    out
}

/// The automation settings in a stored webhook's configuration (off when it is gone).
pub(crate) fn automation_of(config: Option<&str>) -> Result<AutomationSettings> {
    #[derive(Deserialize)]
    struct Only {
        #[serde(flatten)]
        automation: AutomationSettings,
    }
    match config {
        None => Ok(AutomationSettings::default()),
        Some(c) => Ok(serde_json::from_str::<Only>(c).map_err(corrupt)?.automation),
    }
}

/// An event's data: the incident context with the changes it announces.
pub(crate) fn event_data(context: &Value, changes: &[Change]) -> Value {
    let mut data = context.clone();
    data["changes"] = json!(changes);
    data
}

/// The signing secret, and a Slack URL (which is one), as stored: encrypted, bound to the
/// destination's id.
pub(crate) fn seal_destination(
    cipher: &SecretCipher,
    d: &Destination,
) -> Result<(String, Option<String>)> {
    let owner = d.id.to_string();
    let url = if d.kind == DestinationKind::Slack {
        cipher.encrypt(&d.url, &owner)?
    } else {
        d.url.clone()
    };
    let secret = d
        .secret
        .as_ref()
        .map(|s| cipher.encrypt(s.expose(), &owner))
        .transpose()?;
    Ok((url, secret))
}

/// A destination's stored columns, in the order of [`DESTINATION_COLUMNS`], as an engine read them.
pub(crate) struct DestinationRow {
    pub(crate) id: String,
    pub(crate) workspace_id: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) secret: Option<String>,
    pub(crate) event_types: String,
    pub(crate) enabled: bool,
    pub(crate) disabled_reason: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// The columns of `destinations`, in the order of [`DestinationRow`].
pub(crate) const DESTINATION_COLUMNS: &str = "id, workspace_id, kind, name, url, secret, \
     event_types, enabled, disabled_reason, created_at, updated_at";

impl DestinationRow {
    /// The destination, its credentials decrypted.
    pub(crate) fn open(self, cipher: &SecretCipher) -> Result<Destination> {
        let kind = DestinationKind::parse(&self.kind).ok_or_else(|| corrupt(&self.kind))?;
        let url = if kind == DestinationKind::Slack {
            cipher.decrypt(&self.url, &self.id)?
        } else {
            self.url
        };
        Ok(Destination {
            workspace_id: self.workspace_id.parse().map_err(corrupt)?,
            kind,
            name: self.name,
            url,
            secret: self
                .secret
                .map(|s| cipher.decrypt(&s, &self.id).map(Secret::new))
                .transpose()?,
            event_types: serde_json::from_str(&self.event_types).map_err(corrupt)?,
            id: self.id.parse().map_err(corrupt)?,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
        })
    }
}

/// The answer to creating a second investigation endpoint in a workspace.
pub(crate) fn one_investigation_only() -> StoreError {
    StoreError::Conflict(
        "the workspace already has an investigation endpoint; change that one instead".into(),
    )
}

/// How a claimed message is settled by an attempt's outcome.
pub(crate) struct Settlement {
    pub(crate) status: &'static str,
    /// The next attempt, when there is one.
    pub(crate) due_at: Option<i64>,
    pub(crate) delivered_at: Option<i64>,
    /// From the message's creation to the destination's 2xx.
    pub(crate) latency_ms: Option<i64>,
    /// Why the destination is disabled, when the outcome disables it.
    pub(crate) disable: Option<String>,
}

pub(crate) fn settle(attempt: &Attempt, outcome: AttemptOutcome, created_at: i64) -> Settlement {
    let at = attempt.at.as_millis();
    let mut s = Settlement {
        status: "failed",
        due_at: None,
        delivered_at: None,
        latency_ms: None,
        disable: None,
    };
    match outcome {
        AttemptOutcome::Delivered => {
            let done = at + attempt.duration_ms;
            s.status = "delivered";
            s.delivered_at = Some(done);
            s.latency_ms = Some(done - created_at);
        }
        AttemptOutcome::RetryAt(next) => {
            s.status = "pending";
            s.due_at = Some(next.as_millis());
        }
        AttemptOutcome::Failed => {}
        AttemptOutcome::DestinationGone => {
            s.disable = Some(format!(
                "disabled by alertgate: the destination answered 410 Gone at {}",
                attempt.at
            ));
        }
    }
    s
}

/// Why the messages still waiting for a destination were given up.
pub(crate) mod given_up {
    pub(crate) const DISABLED: &str = "the destination was disabled";
    pub(crate) const DELETED: &str = "the destination was deleted";
    pub(crate) const GONE: &str = "the destination is disabled (410 Gone)";
}

/// Whether a message may be re-sent, from whether its destination exists and is enabled.
pub(crate) fn may_retry(destination_enabled: Option<bool>) -> Result<()> {
    match destination_enabled {
        None => Err(StoreError::Conflict(
            "the message's destination was deleted".into(),
        )),
        Some(false) => Err(StoreError::Conflict(
            "the message's destination is disabled; enable it first".into(),
        )),
        Some(true) => Ok(()),
    }
}

/// A message's stored columns, as an engine read them (the destination's from a left join).
pub(crate) struct MessageRow {
    pub(crate) id: String,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) incident_id: String,
    pub(crate) purpose: String,
    pub(crate) destination_id: String,
    pub(crate) destination_name: Option<String>,
    pub(crate) destination_kind: Option<String>,
    pub(crate) status: String,
    pub(crate) attempts: i64,
    pub(crate) last_attempt_at: Option<i64>,
    pub(crate) last_status_code: Option<i64>,
    pub(crate) last_error: Option<String>,
    pub(crate) due_at: Option<i64>,
    pub(crate) delivered_at: Option<i64>,
    pub(crate) latency_ms: Option<i64>,
    pub(crate) created_at: i64,
}

/// The columns a [`MessageRow`] is read from, in its order (`m` messages, `d` destinations).
pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.event_id, m.event_type, m.incident_id, \
     m.purpose, m.destination_id, d.name, d.kind, m.status, m.attempts, m.last_attempt_at, \
     m.last_status_code, m.last_error, m.due_at, m.delivered_at, m.latency_ms, m.created_at";

impl MessageRow {
    pub(crate) fn into_message(self) -> Result<OutboxMessage> {
        let status = MessageStatus::parse(&self.status).ok_or_else(|| corrupt(&self.status))?;
        let ts = |ms: Option<i64>| ms.map(Timestamp::from_millis);
        Ok(OutboxMessage {
            id: self.id.parse().map_err(corrupt)?,
            event_id: self.event_id.parse().map_err(corrupt)?,
            event_type: self.event_type.parse().map_err(corrupt)?,
            incident_id: self.incident_id.parse().map_err(corrupt)?,
            purpose: Purpose::parse(&self.purpose).ok_or_else(|| corrupt(&self.purpose))?,
            destination_id: self.destination_id.parse().map_err(corrupt)?,
            destination_name: self.destination_name,
            destination_kind: self
                .destination_kind
                .as_deref()
                .and_then(DestinationKind::parse),
            status,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            last_attempt_at: ts(self.last_attempt_at),
            last_status_code: self.last_status_code.and_then(|c| u16::try_from(c).ok()),
            last_error: self.last_error,
            next_attempt_at: ts(self.due_at.filter(|_| status == MessageStatus::Pending)),
            lease_expires_at: ts(self.due_at.filter(|_| status == MessageStatus::Delivering)),
            delivered_at: ts(self.delivered_at),
            latency_ms: self.latency_ms,
            created_at: Timestamp::from_millis(self.created_at),
            history: Vec::new(),
        })
    }
}

/// A claimed message's own columns (before its destination's), as an engine read them.
pub(crate) struct ClaimRow {
    pub(crate) id: String,
    pub(crate) event_id: String,
    pub(crate) event_type: String,
    pub(crate) purpose: String,
    pub(crate) incident_id: String,
    pub(crate) workspace_id: String,
    pub(crate) attempts: i64,
    pub(crate) budget_start: i64,
    pub(crate) event_at: i64,
    pub(crate) data: String,
}

/// The columns a claim reads: a [`ClaimRow`]'s, then the destination's
/// ([`DESTINATION_COLUMNS`] over `d`, null when it is deleted or disabled).
pub(crate) const CLAIM_COLUMNS: &str = "m.id, m.event_id, m.event_type, m.purpose, \
     m.incident_id, m.workspace_id, m.attempts, m.budget_start, e.created_at, e.data, d.id, \
     d.workspace_id, d.kind, d.name, d.url, d.secret, d.event_types, d.enabled, \
     d.disabled_reason, d.created_at, d.updated_at";

impl ClaimRow {
    pub(crate) fn into_claimed(
        self,
        token: &str,
        destination: Option<Destination>,
    ) -> Result<ClaimedMessage> {
        Ok(ClaimedMessage {
            claim: Claim {
                message: self.id.parse().map_err(corrupt)?,
                token: token.to_string(),
            },
            event_id: self.event_id.parse().map_err(corrupt)?,
            event_type: self.event_type.parse().map_err(corrupt)?,
            purpose: Purpose::parse(&self.purpose).ok_or_else(|| corrupt(&self.purpose))?,
            incident_id: self.incident_id.parse().map_err(corrupt)?,
            workspace_id: self.workspace_id.parse().map_err(corrupt)?,
            attempt: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            budget_attempt: u32::try_from(self.attempts - self.budget_start).unwrap_or(u32::MAX),
            event_at: Timestamp::from_millis(self.event_at),
            data: serde_json::from_str(&self.data).map_err(corrupt)?,
            destination,
        })
    }
}

/// A fresh claim token: only the claim that set it knows it.
pub(crate) fn claim_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
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
    fn changes_of_one_type_in_one_transaction_become_one_event_per_incident() {
        let t = Timestamp::from_millis(1_700_000_000_000);
        let (a, b) = (IncidentId::new(t, 1), IncidentId::new(t, 2));
        let mut ob = Outbox::default();
        ob.recorded(b, t, "alert_correlated", "source", &json!({}));
        let w = WebhookId::new(t, 5);
        ob.opened(a, w, t, AlertId::new(t, 3), "db down");
        ob.recorded(b, t, "severity_raised", "source", &json!({}));
        ob.recorded(b, t, "note", "source", &json!({})); // announces nothing
        ob.recorded(a, t, "acknowledged", "source", &json!({}));
        ob.recorded(b, t, "alert_correlated", "source", &json!({}));
        let groups = ob.into_groups();
        let shape: Vec<(IncidentId, Vec<(EventType, usize)>)> = groups
            .iter()
            .map(|g| {
                let events = g.events.iter().map(|(e, c)| (*e, c.len())).collect();
                (g.incident, events)
            })
            .collect();
        let opened_by: Vec<_> = groups.iter().map(|g| g.opened_by).collect();
        assert_eq!(opened_by, vec![None, Some(w)]);
        assert_eq!(
            shape,
            vec![
                (b, vec![(EventType::Updated, 3)]),
                (
                    a,
                    vec![(EventType::Created, 1), (EventType::Acknowledged, 1)]
                ),
            ]
        );
        assert!(Outbox::default().into_groups().is_empty());
    }

    #[test]
    fn an_opening_is_written_as_the_created_entry_it_stands_for() {
        let t = Timestamp::from_millis(1_700_000_000_000);
        let alert = AlertId::new(t, 3);
        let mut ob = Outbox::default();
        ob.opened(
            IncidentId::new(t, 1),
            WebhookId::new(t, 5),
            t,
            alert,
            "db down",
        );
        let groups = ob.into_groups();
        let (event, changes) = &groups[0].events[0];
        assert_eq!(*event, EventType::Created);
        let data = event_data(&json!({"incident": {}}), changes);
        assert_eq!(
            data["changes"],
            json!([{
                "at": t,
                "kind": "created",
                "actor": "source",
                "detail": {"alert_id": alert, "title": "db down"},
            }])
        );
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
