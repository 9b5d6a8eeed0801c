//! The group-commit transaction: triage every alert of every delivery in the batch, write the
//! alerts, incident changes and delivery rows, commit once.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use alertgate_core::alert::{AlertOutcome, Decision, NormalizedAlert};
use alertgate_core::ids::{AlertId, IncidentId};
use alertgate_core::triage::{self, Action, OpenAlert};
use alertgate_core::{AlertStatus, IncidentStatus, Timestamp};

use super::corrupt;
use crate::model::*;
use crate::Result;

pub(crate) fn ingest(
    conn: &mut Connection,
    items: Vec<IngestItem>,
    now: Timestamp,
) -> Result<Vec<IngestResult>> {
    let tx = conn.transaction()?;
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        results.push(ingest_one(&tx, item, now)?);
    }
    tx.commit()?;
    Ok(results)
}

fn ingest_one(tx: &Transaction<'_>, item: IngestItem, now: Timestamp) -> Result<IngestResult> {
    let mut outcomes = Vec::with_capacity(item.alerts.len());
    for alert in &item.alerts {
        outcomes.push(triage_alert(tx, &item, alert, now)?);
    }
    let (status_code, outcome) = match &item.delivery.error {
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
    };
    let d = &item.delivery;
    tx.prepare_cached(
        "INSERT INTO deliveries (id, webhook_id, workspace_id, received_at, source_addr, method,
            headers, body, status_code, outcome, accepted, error, extracted, warnings, results, latency_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        d.id.to_string(),
        item.webhook.id.to_string(),
        item.webhook.workspace_id.to_string(),
        d.received_at.as_millis(),
        d.source_addr,
        d.method,
        json(&d.headers)?,
        d.body,
        status_code,
        outcome,
        (200..300).contains(&status_code),
        d.error.as_ref().map(json).transpose()?,
        d.extracted.as_ref().map(json).transpose()?,
        json(&d.warnings)?,
        json(&outcomes)?,
        d.latency_us,
    ])?;
    let _ = item.ignored_reason;
    Ok(IngestResult {
        delivery_id: d.id,
        status_code,
        outcomes,
    })
}

fn triage_alert(
    tx: &Transaction<'_>,
    item: &IngestItem,
    alert: &NormalizedAlert,
    now: Timestamp,
) -> Result<AlertOutcome> {
    let existing = find_open_alert(tx, item, &alert.dedup_key)?;
    let action = triage::decide(
        alert.status,
        existing.as_ref(),
        now,
        item.webhook.dedup_window,
    );
    match action {
        Action::OpenIncident => {
            let incident_id = IncidentId::new(now, rand::random());
            let alert_id = AlertId::new(now, rand::random());
            let services = json(&alert.services)?;
            tx.prepare_cached(
                "INSERT INTO incidents (id, workspace_id, webhook_id, title, severity, status, services,
                    alert_count, occurrence_count, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, 1, 1, ?7, ?7)",
            )?
            .execute(params![
                incident_id.to_string(),
                item.webhook.workspace_id.to_string(),
                item.webhook.id.to_string(),
                alert.title,
                alert.severity.as_str(),
                services,
                now.as_millis(),
            ])?;
            let decision = Decision::Created;
            insert_alert(
                tx,
                item,
                alert,
                alert_id,
                incident_id,
                &services,
                &decision,
                now,
            )?;
            Ok(AlertOutcome {
                incident_id: Some(incident_id),
                alert_id: Some(alert_id),
                status: decision.status_word().to_string(),
                occurrence_count: 1,
                decision,
            })
        }
        Action::Deduplicate { into } => {
            let count = into.occurrence_count + 1;
            tx.prepare_cached(
                "UPDATE alerts SET occurrence_count = ?2, last_seen_at = ?3, status = 'firing'
                 WHERE id = ?1",
            )?
            .execute(params![into.alert_id.to_string(), count, now.as_millis()])?;
            let reopened = into.status != AlertStatus::Firing;
            tx.prepare_cached(
                "UPDATE incidents SET occurrence_count = occurrence_count + 1, updated_at = ?2
                 WHERE id = ?1",
            )?
            .execute(params![into.incident_id.to_string(), now.as_millis()])?;
            if reopened {
                refresh_incident_status(tx, into.incident_id, now)?;
            }
            let decision = Decision::Deduplicated {
                dedup_key: alert.dedup_key.clone(),
                window_hours: item.webhook.dedup_window.hours(),
                alert_id: into.alert_id,
                occurrence_count: count,
            };
            Ok(AlertOutcome {
                incident_id: Some(into.incident_id),
                alert_id: Some(into.alert_id),
                status: decision.status_word().to_string(),
                occurrence_count: count,
                decision,
            })
        }
        Action::Transition { alert: open, to } => {
            let resolved_at = (to == AlertStatus::Resolved).then_some(now.as_millis());
            tx.prepare_cached(
                "UPDATE alerts SET status = ?2, last_seen_at = ?3, resolved_at = ?4 WHERE id = ?1",
            )?
            .execute(params![
                open.alert_id.to_string(),
                to.as_str(),
                now.as_millis(),
                resolved_at
            ])?;
            refresh_incident_status(tx, open.incident_id, now)?;
            let decision = Decision::StatusChanged {
                alert_id: open.alert_id,
                from: open.status,
                to,
            };
            Ok(AlertOutcome {
                incident_id: Some(open.incident_id),
                alert_id: Some(open.alert_id),
                status: decision.status_word().to_string(),
                occurrence_count: open.occurrence_count,
                decision,
            })
        }
        Action::Ignore { reason } => {
            let decision = Decision::Ignored {
                reason: reason.to_string(),
            };
            Ok(AlertOutcome {
                incident_id: None,
                alert_id: None,
                status: decision.status_word().to_string(),
                occurrence_count: 0,
                decision,
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_alert(
    tx: &Transaction<'_>,
    item: &IngestItem,
    alert: &NormalizedAlert,
    alert_id: AlertId,
    incident_id: IncidentId,
    services_json: &str,
    decision: &Decision,
    now: Timestamp,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO alerts (id, incident_id, webhook_id, dedup_key, status, title, description,
            severity, raw_severity, services, source_url, occurrence_count, first_seen_at, last_seen_at,
            resolved_at, decision, delivery_id, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?12, NULL, ?13, ?14, ?15)",
    )?
    .execute(params![
        alert_id.to_string(),
        incident_id.to_string(),
        item.webhook.id.to_string(),
        alert.dedup_key,
        alert.status.as_str(),
        alert.title,
        alert.description,
        alert.severity.as_str(),
        alert.raw_severity,
        services_json,
        alert.source_url,
        now.as_millis(),
        json(decision)?,
        item.delivery.id.to_string(),
        json(&alert.payload)?,
    ])?;
    Ok(())
}

/// The most recent unresolved alert with this identity whose incident is not resolved.
fn find_open_alert(
    tx: &Transaction<'_>,
    item: &IngestItem,
    key: &str,
) -> Result<Option<OpenAlert>> {
    let row = tx
        .prepare_cached(
            "SELECT a.id, a.incident_id, a.status, a.first_seen_at, a.last_seen_at, a.occurrence_count
             FROM alerts a JOIN incidents i ON i.id = a.incident_id
             WHERE a.webhook_id = ?1 AND a.dedup_key = ?2 AND a.status <> 'resolved'
               AND i.status <> 'resolved'
             ORDER BY a.last_seen_at DESC LIMIT 1",
        )?
        .query_row(params![item.webhook.id.to_string(), key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .optional()?;
    row.map(|(id, inc, status, first, last, count)| {
        Ok(OpenAlert {
            alert_id: id.parse().map_err(corrupt)?,
            incident_id: inc.parse().map_err(corrupt)?,
            status: AlertStatus::parse(&status).ok_or_else(|| corrupt(&status))?,
            first_seen_at: Timestamp::from_millis(first),
            last_seen_at: Timestamp::from_millis(last),
            occurrence_count: count,
        })
    })
    .transpose()
}

/// Derive an incident's state from its alerts: open while any fires, acknowledged while every
/// unresolved alert is acknowledged, resolved when all are resolved.
fn refresh_incident_status(
    tx: &Transaction<'_>,
    incident: IncidentId,
    now: Timestamp,
) -> Result<()> {
    let (firing, acked): (i64, i64) = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(status = 'firing'), 0), COALESCE(SUM(status = 'acknowledged'), 0)
             FROM alerts WHERE incident_id = ?1",
        )?
        .query_row([incident.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let status = if firing > 0 {
        IncidentStatus::Open
    } else if acked > 0 {
        IncidentStatus::Acknowledged
    } else {
        IncidentStatus::Resolved
    };
    tx.prepare_cached(
        "UPDATE incidents SET status = ?2, updated_at = ?3,
            acknowledged_at = CASE WHEN ?2 = 'acknowledged' THEN COALESCE(acknowledged_at, ?3) ELSE acknowledged_at END,
            resolved_at = CASE WHEN ?2 = 'resolved' THEN ?3 ELSE NULL END
         WHERE id = ?1",
    )?
    .execute(params![incident.to_string(), status.as_str(), now.as_millis()])?;
    Ok(())
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(corrupt)
}
