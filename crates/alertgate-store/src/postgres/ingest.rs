//! The group-commit transaction on PostgreSQL: the same steps as `sqlite/ingest.rs`, in the same
//! order, deciding through the same core functions ([`triage::decide`], [`correlation`]) and the
//! same incident rules ([`crate::lifecycle`]), after taking the workspace locks.
//!
//! # Why one lock per workspace (and not per webhook)
//! A webhook lock would serialize dedup, but not everything a decision reads: workspace
//! correlation rules read every open incident of the workspace, an incident that took alerts
//! from two webhooks has its state re-derived from all its alerts, and a person resolving an
//! incident (`incident_action`) touches alerts of any webhook. All of those stay inside one
//! workspace, so the workspace is the smallest unit that makes every decision see every earlier
//! one. The cost is that nodes take turns per workspace — for one batch transaction each (a few
//! milliseconds for hundreds of alerts), which group commit already amortizes.
//!
//! The lock is an advisory transaction lock on (namespace, 32-bit FNV-1a of the workspace id):
//! the same key on every node, released by commit or rollback (also when the connection dies),
//! and never held across transactions. A hash collision only makes two workspaces take turns.
//! Row locks were the alternative, but a decision that opens a new incident has no row to lock
//! yet; unique constraints cannot express "one open alert per key" either, because an alert
//! outside its dedup window legitimately opens a second incident with the same key.

use deadpool_postgres::{Object, Transaction};
use serde_json::Value;

use alertgate_core::alert::{AlertOutcome, Decision, NormalizedAlert};
use alertgate_core::correlation::{self, Candidate, Incoming};
use alertgate_core::ids::{AlertId, IncidentId, WorkspaceId};
use alertgate_core::triage::{self, Action, OpenAlert};
use alertgate_core::{AlertStatus, IncidentStatus, Severity, Timestamp};

use super::outbox::write as write_outbox;
use super::{corrupt, opt_text, text};
use crate::lifecycle::{self, outcome};
use crate::model::*;
use crate::outbox::Outbox;
use crate::Result;

/// The advisory-lock namespace (first key) of workspace locks: "alg\0".
pub(crate) const WORKSPACE_LOCKS: i32 = 0x616c_6700;

/// The second advisory-lock key of a workspace: FNV-1a over its id, the same on every node.
pub(crate) fn workspace_lock_key(workspace: WorkspaceId) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in workspace.to_string().bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as i32
}

/// Take the locks of `workspaces`, each once, in ascending key order (see the module docs).
async fn lock_workspaces(
    tx: &Transaction<'_>,
    workspaces: impl Iterator<Item = WorkspaceId>,
) -> Result<()> {
    let mut keys: Vec<i32> = workspaces.map(workspace_lock_key).collect();
    keys.sort_unstable();
    keys.dedup();
    let stmt = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1, $2)")
        .await?;
    for key in keys {
        tx.execute(&stmt, &[&WORKSPACE_LOCKS, &key]).await?;
    }
    Ok(())
}

pub(crate) async fn ingest(
    client: &mut Object,
    items: Vec<IngestItem>,
    now: Timestamp,
) -> Result<Vec<IngestResult>> {
    let tx = client.transaction().await?;
    // Refused and ignored deliveries only add a log row: they decide nothing and need no lock.
    lock_workspaces(
        &tx,
        items
            .iter()
            .filter(|i| !i.alerts.is_empty())
            .map(|i| i.webhook.workspace_id),
    )
    .await?;
    let mut outbox = Outbox::default();
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        results.push(ingest_one(&tx, &mut outbox, item, now).await?);
    }
    write_outbox(outbox, &tx, now).await?;
    tx.commit().await?;
    Ok(results)
}

/// Triage one item as [`ingest`] would, under the same lock, then roll everything back (see
/// [`crate::Store::preview_ingest`]).
pub(crate) async fn preview(
    client: &mut Object,
    item: IngestItem,
    now: Timestamp,
) -> Result<IngestResult> {
    let tx = client.transaction().await?;
    if !item.alerts.is_empty() {
        lock_workspaces(&tx, std::iter::once(item.webhook.workspace_id)).await?;
    }
    let mut outbox = Outbox::default();
    let result = ingest_one(&tx, &mut outbox, item, now).await;
    tx.rollback().await?;
    result
}

async fn ingest_one(
    tx: &Transaction<'_>,
    ob: &mut Outbox,
    item: IngestItem,
    now: Timestamp,
) -> Result<IngestResult> {
    let mut outcomes = Vec::with_capacity(item.alerts.len());
    for incoming in item.encoded_alerts() {
        outcomes.push(triage_alert(tx, ob, &item, incoming, now).await?);
    }
    let (status_code, outcome) =
        lifecycle::delivery_status(item.delivery.error.as_ref(), &outcomes);
    let (d, e) = (&item.delivery, &item.encoded);
    let (body, extracted) = (
        e.body.text()?,
        e.extracted.as_ref().map(Column::text).transpose()?,
    );
    let stmt = tx
        .prepare_cached(
            "INSERT INTO deliveries (id, webhook_id, workspace_id, received_at, source_addr, method,
                headers, body, status_code, outcome, accepted, error, extracted, warnings, results,
                latency_us)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &d.id.to_string(),
            &item.webhook.id.to_string(),
            &item.webhook.workspace_id.to_string(),
            &d.received_at.as_millis(),
            &opt_text(&d.source_addr),
            &text(&d.method),
            &e.headers,
            &text(&body),
            &i32::from(status_code),
            &outcome,
            &(200..300).contains(&status_code),
            &e.error,
            &extracted,
            &e.warnings,
            &json_text(&outcomes)?,
            &d.latency_us,
        ],
    )
    .await?;
    Ok(IngestResult {
        delivery_id: d.id,
        status_code,
        outcomes,
    })
}

async fn triage_alert(
    tx: &Transaction<'_>,
    ob: &mut Outbox,
    item: &IngestItem,
    incoming: (&NormalizedAlert, &EncodedAlert),
    now: Timestamp,
) -> Result<AlertOutcome> {
    let (alert, encoded) = incoming;
    let existing = find_open_alert(tx, item, &alert.dedup_key).await?;
    let action = triage::decide(
        alert.status,
        existing.as_ref(),
        now,
        item.webhook.dedup_window,
    );
    match action {
        Action::OpenIncident => {
            let alert_id = AlertId::generate(now, rand::random());
            if let Some(m) = correlate(tx, item, alert, now).await? {
                let incident_id = m.incident_id;
                let decision = Decision::Correlated(m);
                insert_alert(tx, item, incoming, alert_id, incident_id, &decision, now).await?;
                join_incident(tx, ob, incident_id, alert, &decision, now).await?;
                return Ok(outcome(Some(incident_id), Some(alert_id), 1, decision));
            }
            let incident_id = IncidentId::generate(now, rand::random());
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO incidents (id, workspace_id, webhook_id, platform, title,
                        description, source_url, severity, status, services, alert_count,
                        correlated_alert_count, occurrence_count, created_at, updated_at,
                        last_alert_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, 1, 0, 1, $10, $10, $10)",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &incident_id.to_string(),
                    &item.webhook.workspace_id.to_string(),
                    &item.webhook.id.to_string(),
                    &item.webhook.platform,
                    &text(&alert.title),
                    &opt_text(&alert.description),
                    &opt_text(&alert.source_url),
                    &alert.severity.as_str(),
                    &encoded.services,
                    &now.as_millis(),
                ],
            )
            .await?;
            let decision = Decision::Created;
            insert_alert(tx, item, incoming, alert_id, incident_id, &decision, now).await?;
            ob.opened(incident_id, item.webhook.id, now, alert_id, &alert.title);
            Ok(outcome(Some(incident_id), Some(alert_id), 1, decision))
        }
        Action::Deduplicate { into } => {
            let count = into.occurrence_count + 1;
            let stmt = tx
                .prepare_cached(
                    "UPDATE alerts SET occurrence_count = $2, last_seen_at = $3, status = 'firing'
                     WHERE id = $1",
                )
                .await?;
            tx.execute(
                &stmt,
                &[&into.alert_id.to_string(), &count, &now.as_millis()],
            )
            .await?;
            let stmt = tx
                .prepare_cached(
                    "UPDATE incidents SET occurrence_count = occurrence_count + 1,
                        updated_at = $2, last_alert_at = $2
                     WHERE id = $1",
                )
                .await?;
            tx.execute(&stmt, &[&into.incident_id.to_string(), &now.as_millis()])
                .await?;
            if into.status == AlertStatus::Acknowledged {
                // The source un-acknowledged it: the incident needs attention again.
                refresh_incident_status(tx, ob, into.incident_id, true, now).await?;
            }
            let decision = Decision::Deduplicated {
                dedup_key: alert.dedup_key.clone(),
                window_hours: item.webhook.dedup_window.hours(),
                alert_id: into.alert_id,
                occurrence_count: count,
            };
            Ok(outcome(
                Some(into.incident_id),
                Some(into.alert_id),
                count,
                decision,
            ))
        }
        Action::Transition { alert: open, to } => {
            let resolved_at = (to == AlertStatus::Resolved).then_some(now.as_millis());
            let stmt = tx
                .prepare_cached(
                    "UPDATE alerts SET status = $2, last_seen_at = $3, resolved_at = $4
                     WHERE id = $1",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &open.alert_id.to_string(),
                    &to.as_str(),
                    &now.as_millis(),
                    &resolved_at,
                ],
            )
            .await?;
            refresh_incident_status(tx, ob, open.incident_id, false, now).await?;
            let decision = Decision::StatusChanged {
                alert_id: open.alert_id,
                from: open.status,
                to,
            };
            Ok(outcome(
                Some(open.incident_id),
                Some(open.alert_id),
                open.occurrence_count,
                decision,
            ))
        }
        Action::Ignore { reason } => Ok(outcome(
            None,
            None,
            0,
            Decision::Ignored {
                reason: reason.to_string(),
            },
        )),
    }
}

/// Ask the correlation engine whether the alert joins a recent open incident.
async fn correlate(
    tx: &Transaction<'_>,
    item: &IngestItem,
    alert: &NormalizedAlert,
    now: Timestamp,
) -> Result<Option<correlation::CorrelationMatch>> {
    let ctx = &item.webhook;
    let Some(query) =
        correlation::candidate_query(&ctx.correlation, &ctx.workspace_correlation, now)
    else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT i.id, i.webhook_id, i.title, i.description, i.severity, i.services, i.status,
                i.platform, i.source_url, i.last_alert_at,
                (SELECT a.payload FROM alerts a WHERE a.incident_id = i.id ORDER BY a.id LIMIT 1)
         FROM incidents i
         WHERE i.workspace_id = $1 AND i.status <> 'resolved' AND i.last_alert_at >= $2 {}
         ORDER BY i.last_alert_at DESC LIMIT {}",
        if query.across_webhooks {
            ""
        } else {
            "AND i.webhook_id = $3"
        },
        correlation::MAX_CANDIDATES
    );
    let stmt = tx.prepare_cached(&sql).await?;
    let ws = ctx.workspace_id.to_string();
    let since = query.since.as_millis();
    let webhook = ctx.id.to_string();
    let rows = if query.across_webhooks {
        tx.query(&stmt, &[&ws, &since]).await?
    } else {
        tx.query(&stmt, &[&ws, &since, &webhook]).await?
    };
    let mut candidates = Vec::with_capacity(rows.len());
    for r in &rows {
        let status: &str = r.try_get(6)?;
        let payload: Option<&str> = r.try_get(10)?;
        candidates.push(Candidate {
            incident_id: r.try_get::<_, &str>(0)?.parse().map_err(corrupt)?,
            webhook_id: r.try_get::<_, &str>(1)?.parse().map_err(corrupt)?,
            workspace_id: ctx.workspace_id,
            title: r.try_get(2)?,
            description: r.try_get(3)?,
            severity: r.try_get::<_, &str>(4)?.parse().map_err(corrupt)?,
            services: serde_json::from_str(r.try_get(5)?).map_err(corrupt)?,
            status: IncidentStatus::parse(status).ok_or_else(|| corrupt(status))?,
            source: r.try_get(7)?,
            source_url: r.try_get(8)?,
            last_alert_at: Timestamp::from_millis(r.try_get(9)?),
            payload: payload
                .map(serde_json::from_str::<Value>)
                .transpose()
                .map_err(corrupt)?
                .unwrap_or_default(),
        });
    }
    let incoming = Incoming {
        alert,
        webhook_id: ctx.id,
        workspace_id: ctx.workspace_id,
        platform: ctx.platform,
    };
    Ok(correlation::correlate(
        &incoming,
        &ctx.correlation,
        &ctx.workspace_correlation,
        &candidates,
        now,
    ))
}

/// Fold a correlated alert into its incident (see [`lifecycle::join`]).
async fn join_incident(
    tx: &Transaction<'_>,
    ob: &mut Outbox,
    incident: IncidentId,
    alert: &NormalizedAlert,
    decision: &Decision,
    now: Timestamp,
) -> Result<()> {
    let stmt = tx
        .prepare_cached("SELECT severity, services FROM incidents WHERE id = $1")
        .await?;
    let row = tx.query_one(&stmt, &[&incident.to_string()]).await?;
    let old: Severity = row.try_get::<_, &str>(0)?.parse().map_err(corrupt)?;
    let services: Vec<String> = serde_json::from_str(row.try_get(1)?).map_err(corrupt)?;
    let joined = lifecycle::join(old, services, alert, decision);
    let stmt = tx
        .prepare_cached(
            "UPDATE incidents SET alert_count = alert_count + 1,
                correlated_alert_count = correlated_alert_count + 1,
                occurrence_count = occurrence_count + 1, severity = $2, services = $3,
                updated_at = $4, last_alert_at = $4
             WHERE id = $1",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &incident.to_string(),
            &joined.severity.as_str(),
            &json_text(&joined.services)?,
            &now.as_millis(),
        ],
    )
    .await?;
    for (kind, detail) in &joined.events {
        event(tx, ob, incident, now, kind, "source", detail).await?;
    }
    Ok(())
}

/// Write a timeline entry; the outbox hears of it in the same transaction.
async fn event(
    tx: &Transaction<'_>,
    ob: &mut Outbox,
    incident: IncidentId,
    at: Timestamp,
    kind: &str,
    actor: &str,
    detail: &Value,
) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO incident_events (incident_id, at, kind, actor, detail)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &incident.to_string(),
            &at.as_millis(),
            &kind,
            &actor,
            &json_text(detail)?,
        ],
    )
    .await?;
    ob.recorded(incident, at, kind, actor, detail);
    Ok(())
}

async fn insert_alert(
    tx: &Transaction<'_>,
    item: &IngestItem,
    (alert, encoded): (&NormalizedAlert, &EncodedAlert),
    alert_id: AlertId,
    incident_id: IncidentId,
    decision: &Decision,
    now: Timestamp,
) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO alerts (id, incident_id, webhook_id, dedup_key, status, title, description,
                severity, raw_severity, services, source_url, occurrence_count, first_seen_at,
                last_seen_at, resolved_at, decision, delivery_id, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12, NULL, $13, $14, $15)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &alert_id.to_string(),
            &incident_id.to_string(),
            &item.webhook.id.to_string(),
            &text(&alert.dedup_key),
            &alert.status.as_str(),
            &text(&alert.title),
            &opt_text(&alert.description),
            &alert.severity.as_str(),
            &opt_text(&alert.raw_severity),
            &encoded.services,
            &opt_text(&alert.source_url),
            &now.as_millis(),
            &json_text(decision)?,
            &item.delivery.id.to_string(),
            &encoded.payload.text()?,
        ],
    )
    .await?;
    Ok(())
}

/// The most recent unresolved alert with this identity whose incident is not resolved.
async fn find_open_alert(
    tx: &Transaction<'_>,
    item: &IngestItem,
    key: &str,
) -> Result<Option<OpenAlert>> {
    let stmt = tx
        .prepare_cached(
            "SELECT a.id, a.incident_id, a.status, a.first_seen_at, a.last_seen_at,
                    a.occurrence_count
             FROM alerts a JOIN incidents i ON i.id = a.incident_id
             WHERE a.webhook_id = $1 AND a.dedup_key = $2 AND a.status <> 'resolved'
               AND i.status <> 'resolved'
             ORDER BY a.last_seen_at DESC LIMIT 1",
        )
        .await?;
    let row = tx
        .query_opt(&stmt, &[&item.webhook.id.to_string(), &text(key)])
        .await?;
    row.map(|r| {
        let status: &str = r.try_get(2)?;
        Ok(OpenAlert {
            alert_id: r.try_get::<_, &str>(0)?.parse().map_err(corrupt)?,
            incident_id: r.try_get::<_, &str>(1)?.parse().map_err(corrupt)?,
            status: AlertStatus::parse(status).ok_or_else(|| corrupt(status))?,
            first_seen_at: Timestamp::from_millis(r.try_get(3)?),
            last_seen_at: Timestamp::from_millis(r.try_get(4)?),
            occurrence_count: r.try_get(5)?,
        })
    })
    .transpose()
}

/// Re-derive an incident's state after a source changed one of its alerts.
async fn refresh_incident_status(
    tx: &Transaction<'_>,
    ob: &mut Outbox,
    incident: IncidentId,
    reopened: bool,
    now: Timestamp,
) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "SELECT COUNT(*) FILTER (WHERE a.status = 'firing'),
                    COUNT(*) FILTER (WHERE a.status = 'acknowledged'),
                    (SELECT status FROM incidents WHERE id = $1)
             FROM alerts a WHERE a.incident_id = $1",
        )
        .await?;
    let row = tx.query_one(&stmt, &[&incident.to_string()]).await?;
    let (firing, acked): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let current: &str = row.try_get(2)?;
    let current = IncidentStatus::parse(current).ok_or_else(|| corrupt(current))?;
    let next = lifecycle::status_after_source_change(firing, acked, current, reopened);
    if next != current {
        set_incident_status(tx, ob, incident, current, next, "source", now).await?;
    }
    Ok(())
}

/// Move an incident to `next`, stamping the times and recording the change.
async fn set_incident_status(
    tx: &Transaction<'_>,
    ob: &mut Outbox,
    incident: IncidentId,
    current: IncidentStatus,
    next: IncidentStatus,
    actor: &str,
    now: Timestamp,
) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "UPDATE incidents SET status = $2, updated_at = $3,
                acknowledged_at = CASE WHEN $2 = 'acknowledged'
                    THEN COALESCE(acknowledged_at, $3) ELSE acknowledged_at END,
                resolved_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE NULL END
             WHERE id = $1",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&incident.to_string(), &next.as_str(), &now.as_millis()],
    )
    .await?;
    let (kind, detail) = lifecycle::status_event(current, next);
    event(tx, ob, incident, now, kind, actor, &detail).await
}

/// A person acknowledges or resolves an incident, under its workspace's lock like intake.
pub(crate) async fn incident_action(
    client: &mut Object,
    workspace: WorkspaceId,
    incident: IncidentId,
    action: IncidentAction,
    now: Timestamp,
) -> Result<bool> {
    let tx = client.transaction().await?;
    lock_workspaces(&tx, std::iter::once(workspace)).await?;
    let row = tx
        .query_opt(
            "SELECT status FROM incidents WHERE id = $1 AND workspace_id = $2",
            &[&incident.to_string(), &workspace.to_string()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let current: &str = row.try_get(0)?;
    let current = IncidentStatus::parse(current).ok_or_else(|| corrupt(current))?;
    if let Some(next) = lifecycle::status_after_action(action, current) {
        if next == IncidentStatus::Resolved {
            tx.execute(
                "UPDATE alerts SET status = 'resolved', resolved_at = $2
                 WHERE incident_id = $1 AND status <> 'resolved'",
                &[&incident.to_string(), &now.as_millis()],
            )
            .await?;
        }
        let mut outbox = Outbox::default();
        set_incident_status(&tx, &mut outbox, incident, current, next, "api", now).await?;
        write_outbox(outbox, &tx, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}
