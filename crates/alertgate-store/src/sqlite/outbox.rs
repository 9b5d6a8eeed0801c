//! The outbox on SQLite: events written inside the writer's transaction, the claim and
//! completion of deliveries, their read model, and workspace destinations.
//!
//! During a transaction that changes incidents, [`Outbox`] (engine-independent, in
//! [`crate::outbox`]) collects what happened. Just before the commit, [`write`] turns that into
//! events and messages: per incident, it reads the opening webhook's automation settings and the
//! workspace's enabled destinations, and writes one event per event type with the incident
//! context as the transaction sees it, and one message per destination owed it. So an incident is
//! never committed without its trigger, and no trigger exists for an incident that was not
//! committed. Who is owed what, and how an attempt settles a message, are decided in
//! [`crate::outbox`] for both engines.

use std::collections::HashMap;
use std::rc::Rc;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde_json::Value;

use alertgate_core::ids::{DestinationId, EventId, IncidentId, MessageId, WebhookId, WorkspaceId};
use alertgate_core::outbox::AutomationSettings;
use alertgate_core::Timestamp;

use super::corrupt;
use super::read::{
    alert_from_row, incident_from_row, timeline_from_row, ALERT_COLUMNS, INCIDENT_COLUMNS,
};
use crate::crypto::SecretCipher;
use crate::model::{json_text, Incident};
use crate::outbox::*;
use crate::{Result, StoreError};

/// Write the events and messages `outbox` owes (see the module docs).
pub(crate) fn write(outbox: Outbox, tx: &Transaction<'_>, now: Timestamp) -> Result<()> {
    let groups = outbox.into_groups();
    if groups.is_empty() {
        return Ok(());
    }
    let mut automation: HashMap<WebhookId, AutomationSettings> = HashMap::new();
    let mut targets: HashMap<WorkspaceId, Rc<Vec<Target>>> = HashMap::new();
    for IncidentEvents {
        incident: incident_id,
        opened_by,
        events,
    } in groups
    {
        // The common case (automation off) costs no query for an incident opened in this
        // transaction, one indexed lookup for another.
        let webhook = match opened_by {
            Some(w) => w,
            None => {
                let webhook: Option<String> = tx
                    .prepare_cached(INCIDENT_WEBHOOK)?
                    .query_row([incident_id.to_string()], |r| r.get(0))
                    .optional()?;
                let Some(webhook) = webhook else {
                    continue;
                };
                parse(webhook)?
            }
        };
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
        for (event, changes) in events {
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
                json_text(&event_data(base, &changes))?,
            ])?;
            for (destination, purpose) in owed {
                // The unique index on investigations makes a second one for the same incident a
                // no-op, whatever path tried to write it.
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

// An incident by id alone: its table has no index on the id (migration 0004), so the lookup
// goes through `incidents_workspace`, once per workspace. `sqlite::plans` checks both.
pub(super) const INCIDENT_WEBHOOK: &str = "SELECT webhook_id FROM incidents
     WHERE workspace_id IN (SELECT id FROM workspaces) AND id = ?1";

pub(super) fn incident_row_sql() -> String {
    format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents
         WHERE workspace_id IN (SELECT id FROM workspaces) AND id = ?1"
    )
}

fn incident_row(tx: &Transaction<'_>, id: IncidentId) -> Result<Option<Incident>> {
    let mut stmt = tx.prepare_cached(&incident_row_sql())?;
    let mut rows = stmt.query([id.to_string()])?;
    rows.next()?.map(incident_from_row).transpose()
}

/// The automation settings in a stored webhook's configuration (off when it is gone).
fn webhook_automation(tx: &Transaction<'_>, id: WebhookId) -> Result<AutomationSettings> {
    let config: Option<String> = tx
        .prepare_cached("SELECT config FROM webhooks WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    automation_of(config.as_deref())
}

fn enabled_targets(tx: &Transaction<'_>, workspace: WorkspaceId) -> Result<Vec<Target>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, kind, event_types FROM destinations WHERE workspace_id = ?1 AND enabled = 1",
    )?;
    let mut rows = stmt.query([workspace.to_string()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (id, kind, types): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        out.push(Target::from_columns(&id, &kind, &types)?);
    }
    Ok(out)
}

/// The incident context, bounded: the first alert and the newest others, the newest timeline
/// entries.
pub(super) fn context_alerts_sql() -> String {
    format!(
        "SELECT {ALERT_COLUMNS} FROM alerts
         WHERE incident_id = ?1 AND (
            id = (SELECT MIN(id) FROM alerts WHERE incident_id = ?1)
            OR id IN (SELECT id FROM alerts WHERE incident_id = ?1 ORDER BY id DESC LIMIT ?2))
         ORDER BY id"
    )
}

fn build_context(tx: &Transaction<'_>, incident: &Incident) -> Result<Value> {
    let id = incident.id.to_string();
    let mut stmt = tx.prepare_cached(&context_alerts_sql())?;
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
    let token = claim_token();
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
            let destination = match r.get::<_, Option<String>>(10)? {
                None => None,
                Some(_) => Some(destination_row(r, 10)?.open(cipher)?),
            };
            let row = ClaimRow {
                id: r.get(0)?,
                event_id: r.get(1)?,
                event_type: r.get(2)?,
                purpose: r.get(3)?,
                incident_id: r.get(4)?,
                workspace_id: r.get(5)?,
                attempts: r.get(6)?,
                budget_start: r.get(7)?,
                event_at: r.get(8)?,
                data: r.get(9)?,
            };
            claimed.push(row.into_claimed(&token, destination)?);
        }
    }
    tx.commit()?;
    Ok(claimed)
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
    let s = settle(attempt, outcome, created_at);
    tx.prepare_cached(
        "UPDATE outbox_messages SET status = ?2, due_at = ?3, claim_token = NULL, lease_owner = NULL,
            last_attempt_at = ?4, last_status_code = ?5, last_error = ?6,
            delivered_at = COALESCE(?7, delivered_at), latency_ms = COALESCE(?8, latency_ms)
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        s.status,
        s.due_at,
        at,
        attempt.status_code,
        attempt.error,
        s.delivered_at,
        s.latency_ms
    ])?;
    if let Some(reason) = s.disable {
        tx.execute(
            "UPDATE destinations SET enabled = 0, disabled_reason = ?2, updated_at = ?3
             WHERE id = ?1",
            params![destination, reason, at],
        )?;
        fail_waiting(&tx, &destination, given_up::GONE)?;
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
    MessageRow {
        id: r.get(0)?,
        event_id: r.get(1)?,
        event_type: r.get(2)?,
        incident_id: r.get(3)?,
        purpose: r.get(4)?,
        destination_id: r.get(5)?,
        destination_name: r.get(6)?,
        destination_kind: r.get(7)?,
        status: r.get(8)?,
        attempts: r.get(9)?,
        last_attempt_at: r.get(10)?,
        last_status_code: r.get(11)?,
        last_error: r.get(12)?,
        due_at: r.get(13)?,
        delivered_at: r.get(14)?,
        latency_ms: r.get(15)?,
        created_at: r.get(16)?,
    }
    .into_message()
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
    let row: Option<(String, Option<bool>)> = tx
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
    may_retry(enabled)?;
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

/// A destination's columns ([`DESTINATION_COLUMNS`]) starting at column `at`.
fn destination_row(r: &Row<'_>, at: usize) -> Result<DestinationRow> {
    Ok(DestinationRow {
        id: r.get(at)?,
        workspace_id: r.get(at + 1)?,
        kind: r.get(at + 2)?,
        name: r.get(at + 3)?,
        url: r.get(at + 4)?,
        secret: r.get(at + 5)?,
        event_types: r.get(at + 6)?,
        enabled: r.get(at + 7)?,
        disabled_reason: r.get(at + 8)?,
        created_at: r.get(at + 9)?,
        updated_at: r.get(at + 10)?,
    })
}

fn one_investigation(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => one_investigation_only(),
        _ => e.into(),
    }
}

pub(crate) fn create_destination(
    c: &Connection,
    cipher: &SecretCipher,
    d: &Destination,
) -> Result<()> {
    let (url, secret) = seal_destination(cipher, d)?;
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
    let (url, secret) = seal_destination(cipher, d)?;
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
        fail_waiting(&tx, &d.id.to_string(), given_up::DISABLED)?;
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
        fail_waiting(&tx, &id.to_string(), given_up::DELETED)?;
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
        .map(|r| destination_row(r, 0)?.open(cipher))
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
        out.push(destination_row(r, 0)?.open(cipher)?);
    }
    Ok(out)
}

fn parse<T: std::str::FromStr>(s: String) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(corrupt)
}
