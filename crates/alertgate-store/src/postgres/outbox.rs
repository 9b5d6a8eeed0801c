//! The outbox on PostgreSQL: the same rows and meaning as `sqlite/outbox.rs`, deciding through
//! the same engine-independent pieces ([`crate::outbox`]: who is owed an event, the incident
//! context, how an attempt settles a message).
//!
//! # Several nodes
//! - Events are written by [`write`] inside the ingest (or `incident_action`) transaction, after
//!   triage and under the same workspace advisory lock, so every node writes the events of the
//!   decisions it made, once; the unique index on investigations keeps an incident to one
//!   investigation whatever node wrote the trigger.
//! - [`claim`] is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)`: nodes
//!   claiming at once skip each other's rows instead of waiting, so each due message goes to
//!   one node. The claim sets a lease (`due_at`) and a fresh claim token; a node that dies leaves
//!   its messages to lapse and be claimed by another once the lease expires.
//! - [`complete`] settles a message only while its claim token is still the one on the row
//!   (checked under a row lock), so a lapsed claim cannot settle a message another worker took.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::{Object, Transaction};
use tokio_postgres::{Client, Row};

use alertgate_core::ids::{DestinationId, EventId, IncidentId, MessageId, WebhookId, WorkspaceId};
use alertgate_core::outbox::AutomationSettings;
use alertgate_core::Timestamp;

use super::read::{
    alert_from_row, incident_from_row, timeline_from_row, ALERT_COLUMNS, INCIDENT_COLUMNS,
};
use super::{corrupt, db_error};
use crate::crypto::SecretCipher;
use crate::model::{json_text, Incident};
use crate::outbox::*;
use crate::Result;

/// Write the events and messages `outbox` owes, in the caller's transaction (see
/// `sqlite/outbox.rs` for the same steps on SQLite).
pub(crate) async fn write(outbox: Outbox, tx: &Transaction<'_>, now: Timestamp) -> Result<()> {
    let groups = outbox.into_groups();
    if groups.is_empty() {
        return Ok(());
    }
    let mut automation: HashMap<WebhookId, AutomationSettings> = HashMap::new();
    let mut targets: HashMap<WorkspaceId, Arc<Vec<Target>>> = HashMap::new();
    for IncidentEvents {
        incident: incident_id,
        opened_by,
        events,
    } in groups
    {
        // The common case (automation off) costs no query for an incident opened in this
        // transaction, one indexed lookup for another.
        let webhook: WebhookId = match opened_by {
            Some(w) => w,
            None => {
                let stmt = tx
                    .prepare_cached("SELECT webhook_id FROM incidents WHERE id = $1")
                    .await?;
                let Some(row) = tx.query_opt(&stmt, &[&incident_id.to_string()]).await? else {
                    continue;
                };
                row.try_get::<_, &str>(0)?.parse().map_err(corrupt)?
            }
        };
        let settings = match automation.get(&webhook) {
            Some(s) => *s,
            None => {
                let s = webhook_automation(tx, webhook).await?;
                automation.insert(webhook, s);
                s
            }
        };
        if settings.is_off() {
            continue;
        }
        let Some(incident) = incident_row(tx, incident_id).await? else {
            continue;
        };
        let dests = match targets.get(&incident.workspace_id) {
            Some(t) => t.clone(),
            None => {
                let t = Arc::new(enabled_targets(tx, incident.workspace_id).await?);
                targets.insert(incident.workspace_id, t.clone());
                t
            }
        };
        if dests.is_empty() {
            continue;
        }
        let mut context = None;
        for (event, changes) in events {
            let owed = owed(&settings, &incident, event, &dests);
            if owed.is_empty() {
                continue;
            }
            if context.is_none() {
                context = Some(build_context(tx, &incident).await?);
            }
            let Some(base) = &context else {
                continue;
            };
            let event_id = EventId::generate(now, rand::random());
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO outbox_events (id, workspace_id, incident_id, event_type,
                        created_at, data)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &event_id.to_string(),
                    &incident.workspace_id.to_string(),
                    &incident.id.to_string(),
                    &event.as_str(),
                    &now.as_millis(),
                    &super::text(&json_text(&event_data(base, &changes))?),
                ],
            )
            .await?;
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO outbox_messages (id, event_id, workspace_id, incident_id,
                        destination_id, purpose, event_type, status, attempts, budget_start,
                        due_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, 0, $8, $8)
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            for (destination, purpose) in owed {
                // The unique index on investigations makes a second one for the same incident a
                // no-op, whatever node or path tried to write it.
                tx.execute(
                    &stmt,
                    &[
                        &MessageId::generate(now, rand::random()).to_string(),
                        &event_id.to_string(),
                        &incident.workspace_id.to_string(),
                        &incident.id.to_string(),
                        &destination.to_string(),
                        &purpose.as_str(),
                        &event.as_str(),
                        &now.as_millis(),
                    ],
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn incident_row(tx: &Transaction<'_>, id: IncidentId) -> Result<Option<Incident>> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"
        ))
        .await?;
    tx.query_opt(&stmt, &[&id.to_string()])
        .await?
        .as_ref()
        .map(incident_from_row)
        .transpose()
}

/// The automation settings in a stored webhook's configuration (off when it is gone).
async fn webhook_automation(tx: &Transaction<'_>, id: WebhookId) -> Result<AutomationSettings> {
    let stmt = tx
        .prepare_cached("SELECT config FROM webhooks WHERE id = $1")
        .await?;
    let row = tx.query_opt(&stmt, &[&id.to_string()]).await?;
    let config: Option<&str> = row.as_ref().map(|r| r.try_get(0)).transpose()?;
    automation_of(config)
}

async fn enabled_targets(tx: &Transaction<'_>, workspace: WorkspaceId) -> Result<Vec<Target>> {
    let stmt = tx
        .prepare_cached(
            "SELECT id, kind, event_types FROM destinations
             WHERE workspace_id = $1 AND enabled ORDER BY id",
        )
        .await?;
    let rows = tx.query(&stmt, &[&workspace.to_string()]).await?;
    rows.iter()
        .map(|r| Target::from_columns(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
        .collect()
}

/// The incident context, bounded: the first alert and the newest others, the newest timeline
/// entries.
async fn build_context(tx: &Transaction<'_>, incident: &Incident) -> Result<serde_json::Value> {
    let id = incident.id.to_string();
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts
             WHERE incident_id = $1 AND (
                id = (SELECT MIN(id) FROM alerts WHERE incident_id = $1)
                OR id IN (SELECT id FROM alerts WHERE incident_id = $1 ORDER BY id DESC LIMIT $2))
             ORDER BY id"
        ))
        .await?;
    let rows = tx
        .query(&stmt, &[&id, &((bounds::MAX_ALERTS - 1) as i64)])
        .await?;
    let alerts = rows
        .iter()
        .map(alert_from_row)
        .collect::<Result<Vec<_>>>()?;
    let stmt = tx
        .prepare_cached(
            "SELECT at, kind, actor, detail FROM incident_events WHERE incident_id = $1
             ORDER BY at DESC, seq DESC LIMIT $2",
        )
        .await?;
    let rows = tx
        .query(&stmt, &[&id, &(bounds::MAX_TIMELINE as i64)])
        .await?;
    let mut timeline = rows
        .iter()
        .map(timeline_from_row)
        .collect::<Result<Vec<_>>>()?;
    timeline.reverse();
    Ok(incident_context(incident, &alerts, &timeline, &[]))
}

// -- delivery --

/// Claim up to `limit` due messages for `lease_ms` (see [`crate::Store::claim_due_events`] and
/// the module docs).
pub(crate) async fn claim(
    client: &mut Object,
    cipher: &SecretCipher,
    now: Timestamp,
    lease_ms: i64,
    limit: usize,
    owner: &str,
) -> Result<Vec<ClaimedMessage>> {
    let tx = client.transaction().await?;
    let token = claim_token();
    let stmt = tx
        .prepare_cached(
            "UPDATE outbox_messages
             SET status = 'delivering', attempts = attempts + 1, due_at = $2, claim_token = $3,
                 lease_owner = $4
             WHERE id IN (SELECT id FROM outbox_messages
                          WHERE status IN ('pending', 'delivering') AND due_at <= $1
                          ORDER BY due_at LIMIT $5
                          FOR UPDATE SKIP LOCKED)",
        )
        .await?;
    let n = tx
        .execute(
            &stmt,
            &[
                &now.as_millis(),
                &now.saturating_add_millis(lease_ms.max(1)).as_millis(),
                &token,
                &owner,
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
        )
        .await?;
    let mut claimed = Vec::new();
    if n > 0 {
        // The destination must belong to the message's workspace: a message is never handed to
        // another workspace's destination, whatever the rows say.
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {CLAIM_COLUMNS}
                 FROM outbox_messages m
                 JOIN outbox_events e ON e.id = m.event_id
                 LEFT JOIN destinations d ON d.id = m.destination_id
                     AND d.workspace_id = m.workspace_id AND d.enabled
                 WHERE m.claim_token = $1 ORDER BY m.due_at, m.id"
            ))
            .await?;
        for r in tx.query(&stmt, &[&token]).await? {
            let destination = match r.try_get::<_, Option<&str>>(10)? {
                None => None,
                Some(_) => Some(destination_row(&r, 10)?.open(cipher)?),
            };
            let row = ClaimRow {
                id: r.try_get(0)?,
                event_id: r.try_get(1)?,
                event_type: r.try_get(2)?,
                purpose: r.try_get(3)?,
                incident_id: r.try_get(4)?,
                workspace_id: r.try_get(5)?,
                attempts: r.try_get(6)?,
                budget_start: r.try_get(7)?,
                event_at: r.try_get(8)?,
                data: r.try_get(9)?,
            };
            claimed.push(row.into_claimed(&token, destination)?);
        }
    }
    tx.commit().await?;
    Ok(claimed)
}

/// Record an attempt and settle the message (see [`crate::Store::complete_event`]).
pub(crate) async fn complete(
    client: &mut Object,
    claim: &Claim,
    attempt: &Attempt,
    outcome: AttemptOutcome,
) -> Result<bool> {
    let tx = client.transaction().await?;
    let id = claim.message.to_string();
    let at = attempt.at.as_millis();
    let status_code = attempt.status_code.map(i64::from);
    let error = attempt.error.as_deref().map(super::text);
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox_attempts (message_id, attempt, at, status_code, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &id,
            &i64::from(attempt.attempt),
            &at,
            &status_code,
            &error,
            &attempt.duration_ms,
        ],
    )
    .await?;
    // The row lock makes the check and the update one step against a concurrent claim.
    let stmt = tx
        .prepare_cached(
            "SELECT destination_id, created_at FROM outbox_messages
             WHERE id = $1 AND claim_token = $2 AND status = 'delivering'
             FOR UPDATE",
        )
        .await?;
    let Some(held) = tx.query_opt(&stmt, &[&id, &claim.token]).await? else {
        // The lease expired and another worker holds the message now: it settles it.
        tx.commit().await?;
        return Ok(false);
    };
    let destination: String = held.try_get(0)?;
    let s = settle(attempt, outcome, held.try_get(1)?);
    let stmt = tx
        .prepare_cached(
            "UPDATE outbox_messages SET status = $2, due_at = $3, claim_token = NULL,
                lease_owner = NULL, last_attempt_at = $4, last_status_code = $5, last_error = $6,
                delivered_at = COALESCE($7, delivered_at), latency_ms = COALESCE($8, latency_ms)
             WHERE id = $1",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &id,
            &s.status,
            &s.due_at,
            &at,
            &status_code,
            &error,
            &s.delivered_at,
            &s.latency_ms,
        ],
    )
    .await?;
    if let Some(reason) = s.disable {
        tx.execute(
            "UPDATE destinations SET enabled = false, disabled_reason = $2, updated_at = $3
             WHERE id = $1",
            &[&destination, &reason, &at],
        )
        .await?;
        fail_waiting(&tx, &destination, given_up::GONE).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Give up on the messages still waiting for a destination that will not take them.
async fn fail_waiting(tx: &Transaction<'_>, destination: &str, why: &str) -> Result<()> {
    tx.execute(
        "UPDATE outbox_messages SET status = 'failed', due_at = NULL, claim_token = NULL,
            lease_owner = NULL, last_error = $2
         WHERE destination_id = $1 AND status = 'pending'",
        &[&destination, &why],
    )
    .await?;
    Ok(())
}

/// An incident's messages (see [`crate::Store::list_incident_messages`]).
pub(crate) async fn incident_messages(
    c: &Object,
    workspace: WorkspaceId,
    incident: IncidentId,
) -> Result<Option<Vec<OutboxMessage>>> {
    let messages = list_messages(c, workspace, incident, None).await?;
    if messages.is_empty() {
        let exists = c
            .query_opt(
                "SELECT 1 FROM incidents WHERE id = $1 AND workspace_id = $2",
                &[&incident.to_string(), &workspace.to_string()],
            )
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
    }
    Ok(Some(messages))
}

/// An incident's messages, oldest first, each with its latest attempts.
async fn list_messages(
    c: &Object,
    workspace: WorkspaceId,
    incident: IncidentId,
    only: Option<MessageId>,
) -> Result<Vec<OutboxMessage>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox_messages m
             LEFT JOIN destinations d ON d.id = m.destination_id
                 AND d.workspace_id = m.workspace_id
             WHERE m.incident_id = $1 AND m.workspace_id = $2
               AND ($3::text IS NULL OR m.id = $3::text)
             ORDER BY m.id LIMIT 500"
        ))
        .await?;
    let only = only.map(|m| m.to_string());
    let rows = c
        .query(
            &stmt,
            &[&incident.to_string(), &workspace.to_string(), &only],
        )
        .await?;
    let mut out = rows
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>>>()?;
    let stmt = c
        .prepare_cached(
            "SELECT attempt, at, status_code, error, duration_ms FROM outbox_attempts
             WHERE message_id = $1 ORDER BY attempt DESC, seq DESC LIMIT $2",
        )
        .await?;
    for m in &mut out {
        let rows = c
            .query(&stmt, &[&m.id.to_string(), &(MAX_HISTORY as i64)])
            .await?;
        for r in rows.iter().rev() {
            m.history.push(Attempt {
                attempt: u32::try_from(r.try_get::<_, i64>(0)?).unwrap_or(u32::MAX),
                at: Timestamp::from_millis(r.try_get(1)?),
                status_code: r
                    .try_get::<_, Option<i64>>(2)?
                    .and_then(|c| u16::try_from(c).ok()),
                error: r.try_get(3)?,
                duration_ms: r.try_get(4)?,
            });
        }
    }
    Ok(out)
}

fn message_from_row(r: &Row) -> Result<OutboxMessage> {
    MessageRow {
        id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        event_type: r.try_get(2)?,
        incident_id: r.try_get(3)?,
        purpose: r.try_get(4)?,
        destination_id: r.try_get(5)?,
        destination_name: r.try_get(6)?,
        destination_kind: r.try_get(7)?,
        status: r.try_get(8)?,
        attempts: r.try_get(9)?,
        last_attempt_at: r.try_get(10)?,
        last_status_code: r.try_get(11)?,
        last_error: r.try_get(12)?,
        due_at: r.try_get(13)?,
        delivered_at: r.try_get(14)?,
        latency_ms: r.try_get(15)?,
        created_at: r.try_get(16)?,
    }
    .into_message()
}

/// Make a message due now, with a fresh retry budget (see [`crate::Store::retry_message`]).
pub(crate) async fn retry(
    client: &mut Object,
    workspace: WorkspaceId,
    incident: IncidentId,
    message: MessageId,
    now: Timestamp,
) -> Result<Option<OutboxMessage>> {
    let tx = client.transaction().await?;
    let id = message.to_string();
    // Locked, so a worker's claim or completion cannot slip between the check and the update.
    let row = tx
        .query_opt(
            "SELECT m.status, d.enabled FROM outbox_messages m
             LEFT JOIN destinations d ON d.id = m.destination_id AND d.workspace_id = m.workspace_id
             WHERE m.id = $1 AND m.incident_id = $2 AND m.workspace_id = $3
             FOR UPDATE OF m",
            &[&id, &incident.to_string(), &workspace.to_string()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let status: &str = row.try_get(0)?;
    may_retry(row.try_get(1)?)?;
    if status == "delivering" {
        // An attempt is under way: it is the re-send, and the fresh budget starts with it.
        tx.execute(
            "UPDATE outbox_messages SET budget_start = attempts - 1 WHERE id = $1",
            &[&id],
        )
        .await?;
    } else {
        tx.execute(
            "UPDATE outbox_messages SET status = 'pending', due_at = $2, budget_start = attempts,
                claim_token = NULL, lease_owner = NULL
             WHERE id = $1",
            &[&id, &now.as_millis()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(list_messages(client, workspace, incident, Some(message))
        .await?
        .into_iter()
        .next())
}

pub(crate) async fn stats(c: &Client, now: Timestamp) -> Result<OutboxStats> {
    let r = c
        .query_one(
            "SELECT COUNT(*) FILTER (WHERE status = 'pending'),
                    COUNT(*) FILTER (WHERE status = 'delivering'),
                    COUNT(*) FILTER (WHERE due_at <= $1),
                    MIN(due_at) FILTER (WHERE due_at <= $1)
             FROM outbox_messages WHERE status IN ('pending', 'delivering')",
            &[&now.as_millis()],
        )
        .await?;
    Ok(OutboxStats {
        pending: r.try_get(0)?,
        delivering: r.try_get(1)?,
        due: r.try_get(2)?,
        oldest_due_at: r.try_get::<_, Option<i64>>(3)?.map(Timestamp::from_millis),
    })
}

// -- destinations --

/// A destination's columns ([`DESTINATION_COLUMNS`]) starting at column `at`.
fn destination_row(r: &Row, at: usize) -> Result<DestinationRow> {
    Ok(DestinationRow {
        id: r.try_get(at)?,
        workspace_id: r.try_get(at + 1)?,
        kind: r.try_get(at + 2)?,
        name: r.try_get(at + 3)?,
        url: r.try_get(at + 4)?,
        secret: r.try_get(at + 5)?,
        event_types: r.try_get(at + 6)?,
        enabled: r.try_get(at + 7)?,
        disabled_reason: r.try_get(at + 8)?,
        created_at: r.try_get(at + 9)?,
        updated_at: r.try_get(at + 10)?,
    })
}

pub(crate) async fn create_destination(
    c: &Client,
    cipher: &SecretCipher,
    d: &Destination,
) -> Result<()> {
    let (url, secret) = seal_destination(cipher, d)?;
    c.execute(
        &format!(
            "INSERT INTO destinations ({DESTINATION_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        &[
            &d.id.to_string(),
            &d.workspace_id.to_string(),
            &d.kind.as_str(),
            &super::text(&d.name),
            &super::text(&url),
            &secret,
            &json_text(&d.event_types)?,
            &d.enabled,
            &super::opt_text(&d.disabled_reason),
            &d.created_at.as_millis(),
            &d.updated_at.as_millis(),
        ],
    )
    .await
    .map_err(|e| match e.code() {
        Some(code) if code.code() == "23505" => one_investigation_only(),
        _ => db_error(e),
    })?;
    Ok(())
}

pub(crate) async fn update_destination(
    client: &mut Object,
    cipher: &SecretCipher,
    d: &Destination,
) -> Result<bool> {
    let (url, secret) = seal_destination(cipher, d)?;
    let tx = client.transaction().await?;
    let id = d.id.to_string();
    let n = tx
        .execute(
            "UPDATE destinations SET name = $3, url = $4, secret = $5, event_types = $6,
                enabled = $7, disabled_reason = $8, updated_at = $9
             WHERE id = $1 AND workspace_id = $2",
            &[
                &id,
                &d.workspace_id.to_string(),
                &super::text(&d.name),
                &super::text(&url),
                &secret,
                &json_text(&d.event_types)?,
                &d.enabled,
                &super::opt_text(&d.disabled_reason),
                &d.updated_at.as_millis(),
            ],
        )
        .await?;
    if n == 1 && !d.enabled {
        fail_waiting(&tx, &id, given_up::DISABLED).await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

pub(crate) async fn delete_destination(
    client: &mut Object,
    workspace: WorkspaceId,
    id: DestinationId,
) -> Result<bool> {
    let tx = client.transaction().await?;
    let id = id.to_string();
    let n = tx
        .execute(
            "DELETE FROM destinations WHERE id = $1 AND workspace_id = $2",
            &[&id, &workspace.to_string()],
        )
        .await?;
    if n == 1 {
        fail_waiting(&tx, &id, given_up::DELETED).await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

pub(crate) async fn get_destination(
    c: &Client,
    cipher: &SecretCipher,
    workspace: WorkspaceId,
    id: DestinationId,
) -> Result<Option<Destination>> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {DESTINATION_COLUMNS} FROM destinations
                 WHERE id = $1 AND workspace_id = $2"
            ),
            &[&id.to_string(), &workspace.to_string()],
        )
        .await?;
    row.map(|r| destination_row(&r, 0)?.open(cipher))
        .transpose()
}

pub(crate) async fn list_destinations(
    c: &Client,
    cipher: &SecretCipher,
    workspace: WorkspaceId,
) -> Result<Vec<Destination>> {
    let rows = c
        .query(
            &format!(
                "SELECT {DESTINATION_COLUMNS} FROM destinations WHERE workspace_id = $1
                 ORDER BY id"
            ),
            &[&workspace.to_string()],
        )
        .await?;
    rows.iter()
        .map(|r| destination_row(r, 0)?.open(cipher))
        .collect()
}
