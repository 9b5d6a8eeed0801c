//! The outbox on SQLite: events written inside the writer's transaction, the claim and
//! completion of deliveries, their read model, and workspace destinations.
//!
//! During a transaction that changes incidents, [`Outbox`] collects what happened (incident
//! opened, timeline entries). Just before the commit, [`Outbox::write`] turns that into events
//! and messages: per incident, it reads the opening webhook's automation settings and the
//! workspace's enabled destinations, and writes one event per event type (several changes of one
//! type in one batch become one event listing them) with the incident context as the transaction
//! sees it, and one message per destination owed it. So an incident is never committed without
//! its trigger, and no trigger exists for an incident that was not committed.

use std::collections::HashMap;
use std::rc::Rc;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde::Deserialize;
use serde_json::{json, Value};

use alertgate_core::auth::Secret;
use alertgate_core::ids::{
    AlertId, DestinationId, EventId, IncidentId, MessageId, WebhookId, WorkspaceId,
};
use alertgate_core::outbox::{AutomationSettings, DestinationKind, EventType, Purpose};
use alertgate_core::Timestamp;

use super::corrupt;
use super::read::{
    alert_from_row, incident_from_row, timeline_from_row, ALERT_COLUMNS, INCIDENT_COLUMNS,
};
use crate::crypto::SecretCipher;
use crate::model::{Incident, IncidentEvent};
use crate::outbox::*;
use crate::{Result, StoreError};

/// What happened to incidents in one transaction, in order.
#[derive(Default)]
pub(crate) struct Outbox {
    pending: Vec<(IncidentId, EventType, IncidentEvent)>,
}

impl Outbox {
    /// An alert opened a new incident.
    pub(crate) fn opened(
        &mut self,
        incident: IncidentId,
        at: Timestamp,
        alert: AlertId,
        title: &str,
    ) {
        self.pending.push((
            incident,
            EventType::Created,
            IncidentEvent {
                at,
                kind: "created".into(),
                actor: "source".into(),
                detail: json!({ "alert_id": alert, "title": title }),
            },
        ));
    }

    /// A timeline entry was written; those that announce an event are kept.
    pub(crate) fn recorded(&mut self, incident: IncidentId, entry: IncidentEvent) {
        if let Some(event) = EventType::for_timeline_kind(&entry.kind) {
            self.pending.push((incident, event, entry));
        }
    }

    /// Write the events and messages owed (see the module docs).
    pub(crate) fn write(self, tx: &Transaction<'_>, now: Timestamp) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut order: Vec<IncidentId> = Vec::new();
        let mut groups: HashMap<IncidentId, Vec<(EventType, Vec<IncidentEvent>)>> = HashMap::new();
        for (incident, event, change) in self.pending {
            let g = groups.entry(incident).or_insert_with(|| {
                order.push(incident);
                Vec::new()
            });
            match g.iter_mut().find(|(e, _)| *e == event) {
                Some((_, changes)) => changes.push(change),
                None => g.push((event, vec![change])),
            }
        }
        let mut automation: HashMap<WebhookId, AutomationSettings> = HashMap::new();
        let mut targets: HashMap<WorkspaceId, Rc<Vec<Target>>> = HashMap::new();
        for incident_id in order {
            // The common case (automation off) costs one indexed lookup per incident and batch.
            let webhook: Option<String> = tx
                .prepare_cached("SELECT webhook_id FROM incidents WHERE id = ?1")?
                .query_row([incident_id.to_string()], |r| r.get(0))
                .optional()?;
            let Some(webhook) = webhook else {
                continue;
            };
            let webhook: WebhookId = parse(webhook)?;
            let settings = match automation.get(&webhook) {
                Some(s) => *s,
                None => {
                    let s = webhook_automation(tx, webhook)?;
                    automation.insert(webhook, s);
                    s
                }
            };
            if settings.is_off() {
                continue;
            }
            let Some(incident) = incident_row(tx, incident_id)? else {
                continue;
            };
            let dests = match targets.get(&incident.workspace_id) {
                Some(t) => t.clone(),
                None => {
                    let t = Rc::new(enabled_targets(tx, incident.workspace_id)?);
                    targets.insert(incident.workspace_id, t.clone());
                    t
                }
            };
            if dests.is_empty() {
                continue;
            }
            let mut context: Option<Value> = None;
            for (event, changes) in groups.remove(&incident_id).unwrap_or_default() {
                let owed = owed(&settings, &incident, event, &dests);
                if owed.is_empty() {
                    continue;
                }
                if context.is_none() {
                    context = Some(build_context(tx, &incident)?);
                }
                let Some(base) = &context else {
                    continue;
                };
                let mut data = base.clone();
                data["changes"] = json!(changes);
                let event_id = EventId::generate(now, rand::random());
                tx.prepare_cached(
                    "INSERT INTO outbox_events (id, workspace_id, incident_id, event_type, created_at, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    event_id.to_string(),
                    incident.workspace_id.to_string(),
                    incident.id.to_string(),
                    event.as_str(),
                    now.as_millis(),
                    json_text(&data)?,
                ])?;
                for (destination, purpose) in owed {
                    // The unique index on investigations makes a second one for the same
                    // incident a no-op, whatever path tried to write it.
                    tx.prepare_cached(
                        "INSERT INTO outbox_messages (id, event_id, workspace_id, incident_id,
                            destination_id, purpose, event_type, status, attempts, budget_start,
                            due_at, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, 0, ?8, ?8)
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![
                        MessageId::generate(now, rand::random()).to_string(),
                        event_id.to_string(),
                        incident.workspace_id.to_string(),
                        incident.id.to_string(),
                        destination.to_string(),
                        purpose.as_str(),
                        event.as_str(),
                        now.as_millis(),
                    ])?;
                }
            }
        }
        Ok(())
    }
}

/// An enabled destination, as the outbox needs it to decide who is owed an event.
struct Target {
    id: DestinationId,
    kind: DestinationKind,
    event_types: Vec<EventType>,
}

/// Who is owed `event` of `incident`: the investigation endpoint for a new incident at or above
/// the webhook's minimum severity, and the channels subscribed to it when the webhook notifies.
fn owed(
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

fn incident_row(tx: &Transaction<'_>, id: IncidentId) -> Result<Option<Incident>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"
    ))?;
    let mut rows = stmt.query([id.to_string()])?;
    rows.next()?.map(incident_from_row).transpose()
}

/// The automation settings in a stored webhook's configuration (off when it is gone).
fn webhook_automation(tx: &Transaction<'_>, id: WebhookId) -> Result<AutomationSettings> {
    #[derive(Deserialize)]
    struct Only {
        #[serde(flatten)]
        automation: AutomationSettings,
    }
    let config: Option<String> = tx
        .prepare_cached("SELECT config FROM webhooks WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    match config {
        None => Ok(AutomationSettings::default()),
        Some(c) => Ok(serde_json::from_str::<Only>(&c)
            .map_err(corrupt)?
            .automation),
    }
}

fn enabled_targets(tx: &Transaction<'_>, workspace: WorkspaceId) -> Result<Vec<Target>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, kind, event_types FROM destinations WHERE workspace_id = ?1 AND enabled = 1",
    )?;
    let mut rows = stmt.query([workspace.to_string()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let kind: String = r.get(1)?;
        out.push(Target {
            id: parse(r.get(0)?)?,
            kind: DestinationKind::parse(&kind).ok_or_else(|| corrupt(&kind))?,
            event_types: serde_json::from_str(&r.get::<_, String>(2)?).map_err(corrupt)?,
        });
    }
    Ok(out)
}

/// The incident context, bounded: the first alert and the newest others, the newest timeline
/// entries.
fn build_context(tx: &Transaction<'_>, incident: &Incident) -> Result<Value> {
    let id = incident.id.to_string();
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts
         WHERE incident_id = ?1 AND (
            id = (SELECT MIN(id) FROM alerts WHERE incident_id = ?1)
            OR id IN (SELECT id FROM alerts WHERE incident_id = ?1 ORDER BY id DESC LIMIT ?2))
         ORDER BY id"
    ))?;
    let mut rows = stmt.query(params![id, (bounds::MAX_ALERTS - 1) as i64])?;
    let mut alerts = Vec::new();
    while let Some(r) = rows.next()? {
        alerts.push(alert_from_row(r)?);
    }
    let mut stmt = tx.prepare_cached(
        "SELECT at, kind, actor, detail FROM incident_events WHERE incident_id = ?1
         ORDER BY at DESC, rowid DESC LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![id, bounds::MAX_TIMELINE as i64])?;
    let mut timeline = Vec::new();
    while let Some(r) = rows.next()? {
        timeline.push(timeline_from_row(r)?);
    }
    timeline.reverse();
    Ok(incident_context(incident, &alerts, &timeline, &[]))
}

// -- delivery --

const CLAIM_COLUMNS: &str = "m.id, m.event_id, m.event_type, m.purpose, m.incident_id, \
     m.workspace_id, m.attempts, m.budget_start, e.created_at, e.data, d.id, d.workspace_id, \
     d.kind, d.name, d.url, d.secret, d.event_types, d.enabled, d.disabled_reason, d.created_at, \
     d.updated_at";

/// Claim up to `limit` due messages for `lease_ms` (see [`crate::Store::claim_due_events`]).
pub(crate) fn claim(
    conn: &mut Connection,
    cipher: &SecretCipher,
    now: Timestamp,
    lease_ms: i64,
    limit: usize,
    owner: &str,
) -> Result<Vec<ClaimedMessage>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let token = format!("{:032x}", rand::random::<u128>());
    let n = tx
        .prepare_cached(
            "UPDATE outbox_messages
             SET status = 'delivering', attempts = attempts + 1, due_at = ?2, claim_token = ?3,
                 lease_owner = ?4
             WHERE id IN (SELECT id FROM outbox_messages
                          WHERE status IN ('pending', 'delivering') AND due_at <= ?1
                          ORDER BY due_at LIMIT ?5)",
        )?
        .execute(params![
            now.as_millis(),
            now.saturating_add_millis(lease_ms.max(1)).as_millis(),
            token,
            owner,
            limit as i64,
        ])?;
    let mut claimed = Vec::with_capacity(n);
    if n > 0 {
        // The destination must belong to the message's workspace: a message is never handed to
        // another workspace's destination, whatever the rows say.
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {CLAIM_COLUMNS}
             FROM outbox_messages m
             JOIN outbox_events e ON e.id = m.event_id
             LEFT JOIN destinations d ON d.id = m.destination_id
                 AND d.workspace_id = m.workspace_id AND d.enabled = 1
             WHERE m.claim_token = ?1 ORDER BY m.due_at"
        ))?;
        let mut rows = stmt.query([&token])?;
        while let Some(r) = rows.next()? {
            claimed.push(claimed_from_row(r, &token, cipher)?);
        }
    }
    tx.commit()?;
    Ok(claimed)
}

fn claimed_from_row(r: &Row<'_>, token: &str, cipher: &SecretCipher) -> Result<ClaimedMessage> {
    let attempts: i64 = r.get(6)?;
    let budget_start: i64 = r.get(7)?;
    let destination = match r.get::<_, Option<String>>(10)? {
        None => None,
        Some(_) => Some(destination_from_row(r, 10, cipher)?),
    };
    Ok(ClaimedMessage {
        claim: Claim {
            message: parse(r.get(0)?)?,
            token: token.to_string(),
        },
        event_id: parse(r.get(1)?)?,
        event_type: parse(r.get(2)?)?,
        purpose: purpose(&r.get::<_, String>(3)?)?,
        incident_id: parse(r.get(4)?)?,
        workspace_id: parse(r.get(5)?)?,
        attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
        budget_attempt: u32::try_from(attempts - budget_start).unwrap_or(u32::MAX),
        event_at: Timestamp::from_millis(r.get(8)?),
        data: serde_json::from_str(&r.get::<_, String>(9)?).map_err(corrupt)?,
        destination,
    })
}

/// Record an attempt and settle the message (see [`crate::Store::complete_event`]).
pub(crate) fn complete(
    conn: &mut Connection,
    claim: &Claim,
    attempt: &Attempt,
    outcome: AttemptOutcome,
) -> Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let id = claim.message.to_string();
    let at = attempt.at.as_millis();
    tx.prepare_cached(
        "INSERT INTO outbox_attempts (message_id, attempt, at, status_code, error, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        attempt.attempt,
        at,
        attempt.status_code,
        attempt.error,
        attempt.duration_ms
    ])?;
    let held: Option<(String, i64)> = tx
        .prepare_cached(
            "SELECT destination_id, created_at FROM outbox_messages
             WHERE id = ?1 AND claim_token = ?2 AND status = 'delivering'",
        )?
        .query_row(params![id, claim.token], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((destination, created_at)) = held else {
        // The lease expired and another worker holds the message now: it settles it.
        tx.commit()?;
        return Ok(false);
    };
    let (status, due_at, delivered_at, latency) = match outcome {
        AttemptOutcome::Delivered => {
            let done = at + attempt.duration_ms;
            ("delivered", None, Some(done), Some(done - created_at))
        }
        AttemptOutcome::RetryAt(next) => ("pending", Some(next.as_millis()), None, None),
        AttemptOutcome::Failed | AttemptOutcome::DestinationGone => ("failed", None, None, None),
    };
    tx.prepare_cached(
        "UPDATE outbox_messages SET status = ?2, due_at = ?3, claim_token = NULL, lease_owner = NULL,
            last_attempt_at = ?4, last_status_code = ?5, last_error = ?6,
            delivered_at = COALESCE(?7, delivered_at), latency_ms = COALESCE(?8, latency_ms)
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        status,
        due_at,
        at,
        attempt.status_code,
        attempt.error,
        delivered_at,
        latency
    ])?;
    if outcome == AttemptOutcome::DestinationGone {
        let reason = format!(
            "disabled by alertgate: the destination answered 410 Gone at {}",
            attempt.at
        );
        tx.execute(
            "UPDATE destinations SET enabled = 0, disabled_reason = ?2, updated_at = ?3
             WHERE id = ?1",
            params![destination, reason, at],
        )?;
        fail_waiting(&tx, &destination, "the destination is disabled (410 Gone)")?;
    }
    tx.commit()?;
    Ok(true)
}

/// Give up on the messages still waiting for a destination that will not take them.
fn fail_waiting(tx: &Transaction<'_>, destination: &str, why: &str) -> Result<()> {
    tx.execute(
        "UPDATE outbox_messages SET status = 'failed', due_at = NULL, claim_token = NULL,
            lease_owner = NULL, last_error = ?2
         WHERE destination_id = ?1 AND status = 'pending'",
        params![destination, why],
    )?;
    Ok(())
}

const MESSAGE_COLUMNS: &str = "m.id, m.event_id, m.event_type, m.incident_id, m.purpose, \
     m.destination_id, d.name, d.kind, m.status, m.attempts, m.last_attempt_at, \
     m.last_status_code, m.last_error, m.due_at, m.delivered_at, m.latency_ms, m.created_at";

/// An incident's messages (see [`crate::Store::list_incident_messages`]).
pub(crate) fn incident_messages(
    c: &Connection,
    workspace: WorkspaceId,
    incident: IncidentId,
) -> Result<Option<Vec<OutboxMessage>>> {
    let messages = list_messages(c, workspace, incident, None)?;
    if messages.is_empty() {
        let exists = c
            .prepare_cached("SELECT 1 FROM incidents WHERE id = ?1 AND workspace_id = ?2")?
            .query_row(params![incident.to_string(), workspace.to_string()], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        if !exists {
            return Ok(None);
        }
    }
    Ok(Some(messages))
}

/// An incident's messages, oldest first, each with its latest attempts.
fn list_messages(
    c: &Connection,
    workspace: WorkspaceId,
    incident: IncidentId,
    only: Option<MessageId>,
) -> Result<Vec<OutboxMessage>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM outbox_messages m
         LEFT JOIN destinations d ON d.id = m.destination_id AND d.workspace_id = m.workspace_id
         WHERE m.incident_id = ?1 AND m.workspace_id = ?2 AND (?3 IS NULL OR m.id = ?3)
         ORDER BY m.id LIMIT 500"
    ))?;
    let mut rows = stmt.query(params![
        incident.to_string(),
        workspace.to_string(),
        only.map(|m| m.to_string())
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(message_from_row(r)?);
    }
    let mut stmt = c.prepare_cached(
        "SELECT attempt, at, status_code, error, duration_ms FROM outbox_attempts
         WHERE message_id = ?1 ORDER BY attempt DESC, rowid DESC LIMIT ?2",
    )?;
    for m in &mut out {
        let mut rows = stmt.query(params![m.id.to_string(), MAX_HISTORY as i64])?;
        while let Some(r) = rows.next()? {
            m.history.push(Attempt {
                attempt: r.get(0)?,
                at: Timestamp::from_millis(r.get(1)?),
                status_code: r.get(2)?,
                error: r.get(3)?,
                duration_ms: r.get(4)?,
            });
        }
        m.history.reverse();
    }
    Ok(out)
}

fn message_from_row(r: &Row<'_>) -> Result<OutboxMessage> {
    let status: String = r.get(8)?;
    let status = MessageStatus::parse(&status).ok_or_else(|| corrupt(&status))?;
    let kind: Option<String> = r.get(7)?;
    let due_at: Option<i64> = r.get(13)?;
    let attempts: i64 = r.get(9)?;
    Ok(OutboxMessage {
        id: parse(r.get(0)?)?,
        event_id: parse(r.get(1)?)?,
        event_type: parse(r.get(2)?)?,
        incident_id: parse(r.get(3)?)?,
        purpose: purpose(&r.get::<_, String>(4)?)?,
        destination_id: parse(r.get(5)?)?,
        destination_name: r.get(6)?,
        destination_kind: kind.as_deref().and_then(DestinationKind::parse),
        status,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_attempt_at: r.get::<_, Option<i64>>(10)?.map(Timestamp::from_millis),
        last_status_code: r.get(11)?,
        last_error: r.get(12)?,
        next_attempt_at: due_at
            .filter(|_| status == MessageStatus::Pending)
            .map(Timestamp::from_millis),
        lease_expires_at: due_at
            .filter(|_| status == MessageStatus::Delivering)
            .map(Timestamp::from_millis),
        delivered_at: r.get::<_, Option<i64>>(14)?.map(Timestamp::from_millis),
        latency_ms: r.get(15)?,
        created_at: Timestamp::from_millis(r.get(16)?),
        history: Vec::new(),
    })
}

/// Make a message due now, with a fresh retry budget (see [`crate::Store::retry_message`]).
pub(crate) fn retry(
    conn: &mut Connection,
    workspace: WorkspaceId,
    incident: IncidentId,
    message: MessageId,
    now: Timestamp,
) -> Result<Option<OutboxMessage>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let row: Option<(String, Option<i64>)> = tx
        .query_row(
            "SELECT m.status, d.enabled FROM outbox_messages m
             LEFT JOIN destinations d ON d.id = m.destination_id AND d.workspace_id = m.workspace_id
             WHERE m.id = ?1 AND m.incident_id = ?2 AND m.workspace_id = ?3",
            params![
                message.to_string(),
                incident.to_string(),
                workspace.to_string()
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((status, enabled)) = row else {
        return Ok(None);
    };
    match (status.as_str(), enabled) {
        (_, None) => {
            return Err(StoreError::Conflict(
                "the message's destination was deleted".into(),
            ))
        }
        (_, Some(0)) => {
            return Err(StoreError::Conflict(
                "the message's destination is disabled; enable it first".into(),
            ))
        }
        _ => {}
    }
    if status == "delivering" {
        // An attempt is under way: it is the re-send, and the fresh budget starts with it.
        tx.execute(
            "UPDATE outbox_messages SET budget_start = attempts - 1 WHERE id = ?1",
            params![message.to_string()],
        )?;
    } else {
        tx.execute(
            "UPDATE outbox_messages SET status = 'pending', due_at = ?2, budget_start = attempts,
                claim_token = NULL, lease_owner = NULL
             WHERE id = ?1",
            params![message.to_string(), now.as_millis()],
        )?;
    }
    tx.commit()?;
    Ok(list_messages(conn, workspace, incident, Some(message))?
        .into_iter()
        .next())
}

pub(crate) fn stats(c: &Connection, now: Timestamp) -> Result<OutboxStats> {
    Ok(c.prepare_cached(
        "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'delivering'), 0),
                COALESCE(SUM(due_at <= ?1), 0), MIN(CASE WHEN due_at <= ?1 THEN due_at END)
         FROM outbox_messages WHERE status IN ('pending', 'delivering')",
    )?
    .query_row([now.as_millis()], |r| {
        Ok(OutboxStats {
            pending: r.get(0)?,
            delivering: r.get(1)?,
            due: r.get(2)?,
            oldest_due_at: r.get::<_, Option<i64>>(3)?.map(Timestamp::from_millis),
        })
    })?)
}

// -- destinations --

const DESTINATION_COLUMNS: &str = "id, workspace_id, kind, name, url, secret, event_types, \
     enabled, disabled_reason, created_at, updated_at";

/// The signing secret, and a Slack URL (which is one), as stored: encrypted, bound to the
/// destination's id.
fn sealed(cipher: &SecretCipher, d: &Destination) -> Result<(String, Option<String>)> {
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

/// A destination from [`DESTINATION_COLUMNS`] starting at column `at`.
fn destination_from_row(r: &Row<'_>, at: usize, cipher: &SecretCipher) -> Result<Destination> {
    let kind: String = r.get(at + 2)?;
    let kind = DestinationKind::parse(&kind).ok_or_else(|| corrupt(&kind))?;
    let id: String = r.get(at)?;
    let url: String = r.get(at + 4)?;
    Ok(Destination {
        workspace_id: parse(r.get(at + 1)?)?,
        kind,
        name: r.get(at + 3)?,
        url: if kind == DestinationKind::Slack {
            cipher.decrypt(&url, &id)?
        } else {
            url
        },
        secret: r
            .get::<_, Option<String>>(at + 5)?
            .map(|s| cipher.decrypt(&s, &id).map(Secret::new))
            .transpose()?,
        id: parse(id)?,
        event_types: serde_json::from_str(&r.get::<_, String>(at + 6)?).map_err(corrupt)?,
        enabled: r.get(at + 7)?,
        disabled_reason: r.get(at + 8)?,
        created_at: Timestamp::from_millis(r.get(at + 9)?),
        updated_at: Timestamp::from_millis(r.get(at + 10)?),
    })
}

fn one_investigation(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(
            "the workspace already has an investigation endpoint; change that one instead".into(),
        ),
        _ => e.into(),
    }
}

pub(crate) fn create_destination(
    c: &Connection,
    cipher: &SecretCipher,
    d: &Destination,
) -> Result<()> {
    let (url, secret) = sealed(cipher, d)?;
    c.execute(
        &format!(
            "INSERT INTO destinations ({DESTINATION_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            d.id.to_string(),
            d.workspace_id.to_string(),
            d.kind.as_str(),
            d.name,
            url,
            secret,
            json_text(&d.event_types)?,
            d.enabled,
            d.disabled_reason,
            d.created_at.as_millis(),
            d.updated_at.as_millis(),
        ],
    )
    .map_err(one_investigation)?;
    Ok(())
}

pub(crate) fn update_destination(
    conn: &mut Connection,
    cipher: &SecretCipher,
    d: &Destination,
) -> Result<bool> {
    let (url, secret) = sealed(cipher, d)?;
    let tx = conn.transaction()?;
    let n = tx.execute(
        "UPDATE destinations SET name = ?3, url = ?4, secret = ?5, event_types = ?6, enabled = ?7,
            disabled_reason = ?8, updated_at = ?9
         WHERE id = ?1 AND workspace_id = ?2",
        params![
            d.id.to_string(),
            d.workspace_id.to_string(),
            d.name,
            url,
            secret,
            json_text(&d.event_types)?,
            d.enabled,
            d.disabled_reason,
            d.updated_at.as_millis(),
        ],
    )?;
    if n == 1 && !d.enabled {
        fail_waiting(&tx, &d.id.to_string(), "the destination was disabled")?;
    }
    tx.commit()?;
    Ok(n == 1)
}

pub(crate) fn delete_destination(
    conn: &mut Connection,
    workspace: WorkspaceId,
    id: DestinationId,
) -> Result<bool> {
    let tx = conn.transaction()?;
    let n = tx.execute(
        "DELETE FROM destinations WHERE id = ?1 AND workspace_id = ?2",
        params![id.to_string(), workspace.to_string()],
    )?;
    if n == 1 {
        fail_waiting(&tx, &id.to_string(), "the destination was deleted")?;
    }
    tx.commit()?;
    Ok(n == 1)
}

pub(crate) fn get_destination(
    c: &Connection,
    cipher: &SecretCipher,
    workspace: WorkspaceId,
    id: DestinationId,
) -> Result<Option<Destination>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {DESTINATION_COLUMNS} FROM destinations WHERE id = ?1 AND workspace_id = ?2"
    ))?;
    let mut rows = stmt.query(params![id.to_string(), workspace.to_string()])?;
    rows.next()?
        .map(|r| destination_from_row(r, 0, cipher))
        .transpose()
}

pub(crate) fn list_destinations(
    c: &Connection,
    cipher: &SecretCipher,
    workspace: WorkspaceId,
) -> Result<Vec<Destination>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {DESTINATION_COLUMNS} FROM destinations WHERE workspace_id = ?1 ORDER BY id"
    ))?;
    let mut rows = stmt.query([workspace.to_string()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(destination_from_row(r, 0, cipher)?);
    }
    Ok(out)
}

fn parse<T: std::str::FromStr>(s: String) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(corrupt)
}

fn purpose(s: &str) -> Result<Purpose> {
    Purpose::parse(s).ok_or_else(|| corrupt(s))
}

fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::Store;

    const T0: i64 = 1_700_000_000_000;

    /// A store with one webhook (automation as given), one open incident of it, and an
    /// investigation endpoint plus a notification channel in its workspace.
    async fn setup(automation: &str) -> (tempfile::TempDir, SqliteStore, IncidentId) {
        let dir = tempfile::tempdir().unwrap();
        let cipher = SecretCipher::from_base64(&SecretCipher::generate_key()).unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db"), cipher).unwrap();
        let t = Timestamp::from_millis(T0);
        let webhook = WebhookId::new(t, 1);
        let incident = IncidentId::new(t, 2);
        let ws = WorkspaceId::DEFAULT;
        {
            let c = store.writer.lock().unwrap();
            c.execute(
                "INSERT INTO webhooks (id, workspace_id, token, config, created_at, updated_at)
                 VALUES (?1, ?2, 'tok', ?3, 0, 0)",
                params![webhook.to_string(), ws.to_string(), automation],
            )
            .unwrap();
            c.execute(
                "INSERT INTO incidents (id, workspace_id, webhook_id, platform, title, severity,
                    status, services, alert_count, correlated_alert_count, occurrence_count,
                    created_at, updated_at, last_alert_at)
                 VALUES (?1, ?2, ?3, 'generic', 'db down', 'high', 'open', '[]', 0, 0, 1, ?4, ?4, ?4)",
                params![incident.to_string(), ws.to_string(), webhook.to_string(), T0],
            )
            .unwrap();
        }
        for (i, kind) in [DestinationKind::Investigation, DestinationKind::Webhook]
            .into_iter()
            .enumerate()
        {
            store
                .create_destination(&Destination {
                    id: DestinationId::new(t, 10 + i as u128),
                    workspace_id: ws,
                    kind,
                    name: kind.as_str().into(),
                    url: "https://example.com/x".into(),
                    secret: Some(Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
                    event_types: EventType::ALL.to_vec(),
                    enabled: true,
                    disabled_reason: None,
                    created_at: t,
                    updated_at: t,
                })
                .await
                .unwrap();
        }
        (dir, store, incident)
    }

    fn write(store: &SqliteStore, f: impl FnOnce(&mut Outbox), now: i64) {
        let mut c = store.writer.lock().unwrap();
        let tx = c.transaction().unwrap();
        let mut ob = Outbox::default();
        f(&mut ob);
        ob.write(&tx, Timestamp::from_millis(now)).unwrap();
        tx.commit().unwrap();
    }

    fn created(incident: IncidentId) -> impl FnOnce(&mut Outbox) {
        move |ob: &mut Outbox| {
            ob.opened(
                incident,
                Timestamp::from_millis(T0),
                AlertId::new(Timestamp::from_millis(T0), 3),
                "db down",
            )
        }
    }

    #[tokio::test]
    async fn an_incident_is_investigated_at_most_once_whatever_writes_the_trigger() {
        let (_dir, store, incident) =
            setup(r#"{"auto_trigger_rca": true, "notify_workspace": true}"#).await;
        write(&store, created(incident), T0);
        write(&store, created(incident), T0 + 1);
        let messages = store
            .list_incident_messages(WorkspaceId::DEFAULT, incident)
            .await
            .unwrap()
            .unwrap();
        let investigations = messages
            .iter()
            .filter(|m| m.purpose == Purpose::Investigation)
            .count();
        assert_eq!(investigations, 1, "{messages:#?}");
        assert_eq!(
            messages.len(),
            3,
            "notifications are per event, investigations per incident"
        );
    }

    #[tokio::test]
    async fn several_updates_in_one_batch_become_one_event_and_settings_off_write_nothing() {
        let (_dir, store, incident) = setup(r#"{"notify_workspace": true}"#).await;
        write(
            &store,
            |ob| {
                for kind in ["alert_correlated", "severity_raised", "alert_correlated"] {
                    ob.recorded(
                        incident,
                        IncidentEvent {
                            at: Timestamp::from_millis(T0),
                            kind: kind.into(),
                            actor: "source".into(),
                            detail: json!({}),
                        },
                    );
                }
            },
            T0,
        );
        let messages = store
            .list_incident_messages(WorkspaceId::DEFAULT, incident)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(messages.len(), 1, "one update, to the one channel");
        assert_eq!(messages[0].event_type, EventType::Updated);
        let claimed = store
            .claim_due_events(Timestamp::from_millis(T0), 1_000, 10, "n1")
            .await
            .unwrap();
        assert_eq!(claimed[0].data["changes"].as_array().unwrap().len(), 3);

        let (_dir, store, incident) = setup("{}").await;
        write(&store, created(incident), T0);
        assert!(store
            .list_incident_messages(WorkspaceId::DEFAULT, incident)
            .await
            .unwrap()
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_claim_hides_a_message_until_its_lease_expires_and_a_lapsed_claim_cannot_settle_it() {
        let (_dir, store, incident) = setup(r#"{"auto_trigger_rca": true}"#).await;
        write(&store, created(incident), T0);
        let now = Timestamp::from_millis(T0);
        let first = store.claim_due_events(now, 1_000, 10, "n1").await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].attempt, 1);
        assert!(first[0].destination.is_some());
        assert!(store
            .claim_due_events(now.saturating_add_millis(999), 1_000, 10, "n2")
            .await
            .unwrap()
            .is_empty());
        // n1 died; after the lease, n2 takes the message over.
        let second = store
            .claim_due_events(now.saturating_add_millis(1_000), 1_000, 10, "n2")
            .await
            .unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].attempt, 2);
        assert_ne!(second[0].claim.token, first[0].claim.token);
        let attempt = |n, code| Attempt {
            attempt: n,
            at: now.saturating_add_millis(1_100),
            status_code: Some(code),
            error: None,
            duration_ms: 5,
        };
        assert!(!store
            .complete_event(&first[0].claim, &attempt(1, 200), AttemptOutcome::Delivered)
            .await
            .unwrap());
        assert!(store
            .complete_event(
                &second[0].claim,
                &attempt(2, 200),
                AttemptOutcome::Delivered
            )
            .await
            .unwrap());
        let m = &store
            .list_incident_messages(WorkspaceId::DEFAULT, incident)
            .await
            .unwrap()
            .unwrap()[0];
        assert_eq!(m.status, MessageStatus::Delivered);
        assert_eq!(m.history.len(), 2, "both attempts are on record");
        assert_eq!(m.latency_ms, Some(1_105));
        let stats = store
            .outbox_stats(now.saturating_add_millis(2_000))
            .await
            .unwrap();
        assert_eq!(stats, OutboxStats::default());
    }

    #[tokio::test]
    async fn a_retry_comes_due_at_its_time_and_a_manual_retry_restarts_the_budget() {
        let (_dir, store, incident) = setup(r#"{"auto_trigger_rca": true}"#).await;
        write(&store, created(incident), T0);
        let now = Timestamp::from_millis(T0);
        let c = store.claim_due_events(now, 1_000, 10, "n1").await.unwrap();
        let later = now.saturating_add_millis(5_000);
        let attempt = Attempt {
            attempt: 1,
            at: now,
            status_code: Some(503),
            error: Some("HTTP 503".into()),
            duration_ms: 1,
        };
        store
            .complete_event(&c[0].claim, &attempt, AttemptOutcome::RetryAt(later))
            .await
            .unwrap();
        let stats = store
            .outbox_stats(now.saturating_add_millis(10))
            .await
            .unwrap();
        assert_eq!((stats.pending, stats.due), (1, 0));
        assert!(store
            .claim_due_events(now.saturating_add_millis(4_999), 1_000, 10, "n1")
            .await
            .unwrap()
            .is_empty());
        let c = store
            .claim_due_events(later, 1_000, 10, "n1")
            .await
            .unwrap();
        assert_eq!((c[0].attempt, c[0].budget_attempt), (2, 2));
        store
            .complete_event(&c[0].claim, &attempt, AttemptOutcome::Failed)
            .await
            .unwrap();
        let m = store
            .retry_message(WorkspaceId::DEFAULT, incident, c[0].claim.message, later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.status, MessageStatus::Pending);
        assert_eq!(m.next_attempt_at, Some(later));
        let c = store
            .claim_due_events(later, 1_000, 10, "n1")
            .await
            .unwrap();
        assert_eq!((c[0].attempt, c[0].budget_attempt), (3, 1));
        // In flight: that attempt is the re-send; the next claim counts on from it.
        let m = store
            .retry_message(WorkspaceId::DEFAULT, incident, c[0].claim.message, later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.status, MessageStatus::Delivering);
        let lapsed = later.saturating_add_millis(1_000);
        let c = store
            .claim_due_events(lapsed, 1_000, 10, "n2")
            .await
            .unwrap();
        assert_eq!((c[0].attempt, c[0].budget_attempt), (4, 2));
        // Another workspace sees nothing.
        let other = WorkspaceId::new(Timestamp::from_millis(1), 1);
        assert!(store
            .list_incident_messages(other, incident)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .retry_message(other, incident, c[0].claim.message, later)
            .await
            .unwrap()
            .is_none());
    }
}
