//! Read models: incident list and detail, delivery log. Lists are keyset-paginated on the
//! time-ordered id, newest first, so the first page costs the same at any table size.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, Row};

use alertgate_core::ids::{IncidentId, WorkspaceId};
use alertgate_core::{AlertStatus, IncidentStatus, Severity, Timestamp};

use super::corrupt;
use super::packed::{unpack, unpack_opt};
use crate::model::*;
use crate::Result;

pub(crate) const INCIDENT_COLUMNS: &str = "id, workspace_id, webhook_id, title, severity, status, services, \
     alert_count, occurrence_count, created_at, updated_at, acknowledged_at, resolved_at, platform, \
     description, source_url, correlated_alert_count, last_alert_at";

fn parse<T: std::str::FromStr>(s: String) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(corrupt)
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(corrupt)
}

fn ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(Timestamp::from_millis)
}

pub(crate) fn incident_from_row(r: &Row<'_>) -> Result<Incident> {
    let status: String = r.get(5)?;
    Ok(Incident {
        id: parse(r.get(0)?)?,
        workspace_id: parse(r.get(1)?)?,
        webhook_id: parse(r.get(2)?)?,
        title: r.get(3)?,
        severity: parse::<Severity>(r.get(4)?)?,
        status: IncidentStatus::parse(&status).ok_or_else(|| corrupt(&status))?,
        services: json(&r.get::<_, String>(6)?)?,
        alert_count: r.get(7)?,
        occurrence_count: r.get(8)?,
        created_at: Timestamp::from_millis(r.get(9)?),
        updated_at: Timestamp::from_millis(r.get(10)?),
        acknowledged_at: ts(r.get(11)?),
        resolved_at: ts(r.get(12)?),
        platform: r.get(13)?,
        description: r.get(14)?,
        source_url: r.get(15)?,
        correlated_alert_count: r.get(16)?,
        last_alert_at: Timestamp::from_millis(r.get(17)?),
    })
}

pub(crate) const ALERT_COLUMNS: &str =
    "id, incident_id, webhook_id, title, description, severity, \
     raw_severity, services, status, dedup_key, source_url, occurrence_count, first_seen_at, \
     last_seen_at, resolved_at, decision, delivery_id, payload";

pub(crate) fn alert_from_row(r: &Row<'_>) -> Result<Alert> {
    let status: String = r.get(8)?;
    Ok(Alert {
        id: parse(r.get(0)?)?,
        incident_id: parse(r.get(1)?)?,
        webhook_id: parse(r.get(2)?)?,
        title: r.get(3)?,
        description: r.get(4)?,
        severity: parse::<Severity>(r.get(5)?)?,
        raw_severity: r.get(6)?,
        services: json(&r.get::<_, String>(7)?)?,
        status: AlertStatus::parse(&status).ok_or_else(|| corrupt(&status))?,
        dedup_key: r.get(9)?,
        source_url: r.get(10)?,
        occurrence_count: r.get(11)?,
        first_seen_at: Timestamp::from_millis(r.get(12)?),
        last_seen_at: Timestamp::from_millis(r.get(13)?),
        resolved_at: ts(r.get(14)?),
        decision: json(&r.get::<_, String>(15)?)?,
        delivery_id: parse(r.get(16)?)?,
        payload: json(&unpack(r.get_ref(17)?)?)?,
    })
}

/// A timeline entry from `SELECT at, kind, actor, detail`.
pub(crate) fn timeline_from_row(r: &Row<'_>) -> Result<IncidentEvent> {
    Ok(IncidentEvent {
        at: Timestamp::from_millis(r.get(0)?),
        kind: r.get(1)?,
        actor: r.get(2)?,
        detail: json(&r.get::<_, String>(3)?)?,
    })
}

pub(crate) fn list_incidents(c: &Connection, q: &IncidentQuery) -> Result<Page<Incident>> {
    let limit = clamp_limit(q.limit);
    let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE 1 = 1");
    let mut args: Vec<SqlValue> = Vec::new();
    let mut push = |clause: &str, v: SqlValue, sql: &mut String| {
        args.push(v);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(ws) = q.workspace {
        push("workspace_id =", ws.to_string().into(), &mut sql);
    }
    if let Some(s) = q.status {
        push("status =", s.as_str().to_string().into(), &mut sql);
    }
    if let Some(s) = q.severity {
        push("severity =", s.as_str().to_string().into(), &mut sql);
    }
    if let Some(w) = q.webhook {
        push("webhook_id =", w.to_string().into(), &mut sql);
    }
    if let Some(before) = q.before {
        push("id <", before.to_string().into(), &mut sql);
    }
    if let Some(service) = &q.service {
        push(
            "EXISTS (SELECT 1 FROM json_each(incidents.services) WHERE json_each.value =",
            service.clone().into(),
            &mut sql,
        );
        sql.push(')');
    }
    if let Some(search) = &q.search {
        let pattern = format!(
            "%{}%",
            search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        push("title LIKE", pattern.into(), &mut sql);
        sql.push_str(" ESCAPE '\\'");
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    let mut items = Vec::new();
    while let Some(r) = rows.next()? {
        items.push(incident_from_row(r)?);
    }
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|i| i.id.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

pub(crate) fn get_incident(
    c: &Connection,
    workspace: WorkspaceId,
    id: IncidentId,
) -> Result<Option<IncidentDetail>> {
    let Some(incident) = get_incident_row(c, workspace, id)? else {
        return Ok(None);
    };
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE incident_id = ?1 ORDER BY id LIMIT 1000"
    ))?;
    let mut rows = stmt.query([id.to_string()])?;
    let mut alerts = Vec::new();
    while let Some(r) = rows.next()? {
        alerts.push(alert_from_row(r)?);
    }
    let mut stmt = c.prepare_cached(
        "SELECT at, kind, actor, detail FROM incident_events WHERE incident_id = ?1
         ORDER BY at, rowid LIMIT 1000",
    )?;
    let mut rows = stmt.query([id.to_string()])?;
    let mut timeline = Vec::new();
    while let Some(r) = rows.next()? {
        timeline.push(timeline_from_row(r)?);
    }
    Ok(Some(IncidentDetail {
        incident,
        alerts,
        timeline,
    }))
}

pub(crate) fn list_deliveries(c: &Connection, q: &DeliveryQuery) -> Result<Page<Delivery>> {
    let limit = clamp_limit(q.limit);
    let mut sql = String::from(
        "SELECT id, webhook_id, received_at, source_addr, method, headers, body, status_code,
                outcome, error, extracted, warnings, results, latency_us
         FROM deliveries WHERE webhook_id = ?1",
    );
    let mut args: Vec<SqlValue> = vec![q.webhook.to_string().into()];
    if let Some(before) = q.before {
        args.push(before.to_string().into());
        sql.push_str(&format!(" AND id < ?{}", args.len()));
    }
    match q.outcome.as_deref() {
        None => {}
        Some("accepted") => sql.push_str(" AND accepted = 1"),
        Some("rejected") => sql.push_str(" AND accepted = 0"),
        Some(other) => {
            args.push(other.to_string().into());
            sql.push_str(&format!(" AND outcome = ?{}", args.len()));
        }
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    let mut items = Vec::new();
    while let Some(r) = rows.next()? {
        let error: Option<String> = r.get(9)?;
        let extracted = unpack_opt(r.get_ref(10)?)?;
        items.push(Delivery {
            id: parse(r.get(0)?)?,
            webhook_id: parse(r.get(1)?)?,
            received_at: Timestamp::from_millis(r.get(2)?),
            source_addr: r.get(3)?,
            method: r.get(4)?,
            headers: json(&r.get::<_, String>(5)?)?,
            body: unpack(r.get_ref(6)?)?,
            status_code: r.get(7)?,
            outcome: r.get(8)?,
            error: error.as_deref().map(json).transpose()?,
            extracted: extracted.as_deref().map(json).transpose()?,
            warnings: json(&r.get::<_, String>(11)?)?,
            results: json(&unpack(r.get_ref(12)?)?)?,
            latency_us: r.get(13)?,
        });
    }
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|d| d.id.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// An incident by id, in a workspace (`incidents_workspace` finds it: see migration 0004).
pub(super) fn incident_row_sql() -> String {
    format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1 AND workspace_id = ?2")
}

pub(crate) fn get_incident_row(
    c: &Connection,
    workspace: WorkspaceId,
    id: IncidentId,
) -> Result<Option<Incident>> {
    let mut stmt = c.prepare_cached(&incident_row_sql())?;
    let mut rows = stmt.query(params![id.to_string(), workspace.to_string()])?;
    rows.next()?.map(incident_from_row).transpose()
}
