//! Read models (as `sqlite/read.rs`): incident list and detail, delivery log, keyset-paginated
//! on the time-ordered id, newest first.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use alertgate_core::ids::{IncidentId, WorkspaceId};
use alertgate_core::{AlertStatus, IncidentStatus, Severity, Timestamp};

use super::corrupt;
use crate::model::*;
use crate::Result;

pub(crate) const INCIDENT_COLUMNS: &str = "id, workspace_id, webhook_id, title, severity, status, services, \
     alert_count, occurrence_count, created_at, updated_at, acknowledged_at, resolved_at, platform, \
     description, source_url, correlated_alert_count, last_alert_at";

fn parse<T: std::str::FromStr>(s: &str) -> Result<T>
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

pub(crate) fn incident_from_row(r: &Row) -> Result<Incident> {
    let status: &str = r.try_get(5)?;
    Ok(Incident {
        id: parse(r.try_get(0)?)?,
        workspace_id: parse(r.try_get(1)?)?,
        webhook_id: parse(r.try_get(2)?)?,
        title: r.try_get(3)?,
        severity: parse::<Severity>(r.try_get(4)?)?,
        status: IncidentStatus::parse(status).ok_or_else(|| corrupt(status))?,
        services: json(r.try_get(6)?)?,
        alert_count: r.try_get(7)?,
        occurrence_count: r.try_get(8)?,
        created_at: Timestamp::from_millis(r.try_get(9)?),
        updated_at: Timestamp::from_millis(r.try_get(10)?),
        acknowledged_at: ts(r.try_get(11)?),
        resolved_at: ts(r.try_get(12)?),
        platform: r.try_get(13)?,
        description: r.try_get(14)?,
        source_url: r.try_get(15)?,
        correlated_alert_count: r.try_get(16)?,
        last_alert_at: Timestamp::from_millis(r.try_get(17)?),
    })
}

pub(crate) const ALERT_COLUMNS: &str =
    "id, incident_id, webhook_id, title, description, severity, \
     raw_severity, services, status, dedup_key, source_url, occurrence_count, first_seen_at, \
     last_seen_at, resolved_at, decision, delivery_id, payload";

pub(crate) fn alert_from_row(r: &Row) -> Result<Alert> {
    let status: &str = r.try_get(8)?;
    Ok(Alert {
        id: parse(r.try_get(0)?)?,
        incident_id: parse(r.try_get(1)?)?,
        webhook_id: parse(r.try_get(2)?)?,
        title: r.try_get(3)?,
        description: r.try_get(4)?,
        severity: parse::<Severity>(r.try_get(5)?)?,
        raw_severity: r.try_get(6)?,
        services: json(r.try_get(7)?)?,
        status: AlertStatus::parse(status).ok_or_else(|| corrupt(status))?,
        dedup_key: r.try_get(9)?,
        source_url: r.try_get(10)?,
        occurrence_count: r.try_get(11)?,
        first_seen_at: Timestamp::from_millis(r.try_get(12)?),
        last_seen_at: Timestamp::from_millis(r.try_get(13)?),
        resolved_at: ts(r.try_get(14)?),
        decision: json(r.try_get(15)?)?,
        delivery_id: parse(r.try_get(16)?)?,
        payload: json(r.try_get(17)?)?,
    })
}

/// A timeline entry from `SELECT at, kind, actor, detail`.
pub(crate) fn timeline_from_row(r: &Row) -> Result<IncidentEvent> {
    Ok(IncidentEvent {
        at: Timestamp::from_millis(r.try_get(0)?),
        kind: r.try_get(1)?,
        actor: r.try_get(2)?,
        detail: json(r.try_get(3)?)?,
    })
}

/// `$n` placeholders over text arguments.
#[derive(Default)]
struct Args(Vec<String>);

impl Args {
    fn push(&mut self, v: impl Into<String>) -> String {
        self.0.push(v.into());
        format!("${}", self.0.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(|s| s as &(dyn ToSql + Sync)).collect()
    }
}

pub(crate) async fn list_incidents(c: &Client, q: &IncidentQuery) -> Result<Page<Incident>> {
    let limit = clamp_limit(q.limit);
    let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE TRUE");
    let mut args = Args::default();
    if let Some(ws) = q.workspace {
        sql += &format!(" AND workspace_id = {}", args.push(ws.to_string()));
    }
    if let Some(s) = q.status {
        sql += &format!(" AND status = {}", args.push(s.as_str()));
    }
    if let Some(s) = q.severity {
        sql += &format!(" AND severity = {}", args.push(s.as_str()));
    }
    if let Some(w) = q.webhook {
        sql += &format!(" AND webhook_id = {}", args.push(w.to_string()));
    }
    if let Some(before) = q.before {
        sql += &format!(" AND id < {}", args.push(before.to_string()));
    }
    if let Some(service) = &q.service {
        sql += &format!(" AND (services::jsonb) ? {}", args.push(service.clone()));
    }
    if let Some(search) = &q.search {
        let pattern = format!(
            "%{}%",
            search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        sql += &format!(" AND title ILIKE {} ESCAPE '\\'", args.push(pattern));
    }
    sql += &format!(" ORDER BY id DESC LIMIT {}", limit + 1);
    let rows = c.query(&sql, &args.refs()).await?;
    let mut items = rows
        .iter()
        .map(incident_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|i| i.id.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

pub(crate) async fn get_incident(
    c: &Client,
    workspace: WorkspaceId,
    id: IncidentId,
) -> Result<Option<IncidentDetail>> {
    let Some(incident) = get_incident_row(c, workspace, id).await? else {
        return Ok(None);
    };
    let id = id.to_string();
    let rows = c
        .query(
            &format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE incident_id = $1 ORDER BY id LIMIT 1000"
            ),
            &[&id],
        )
        .await?;
    let alerts = rows
        .iter()
        .map(alert_from_row)
        .collect::<Result<Vec<_>>>()?;
    let rows = c
        .query(
            "SELECT at, kind, actor, detail FROM incident_events WHERE incident_id = $1
             ORDER BY at, seq LIMIT 1000",
            &[&id],
        )
        .await?;
    let timeline = rows
        .iter()
        .map(timeline_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(IncidentDetail {
        incident,
        alerts,
        timeline,
    }))
}

pub(crate) async fn list_deliveries(c: &Client, q: &DeliveryQuery) -> Result<Page<Delivery>> {
    let limit = clamp_limit(q.limit);
    let mut args = Args::default();
    let mut sql = format!(
        "SELECT id, webhook_id, received_at, source_addr, method, headers, body, status_code,
                outcome, error, extracted, warnings, results, latency_us
         FROM deliveries WHERE webhook_id = {}",
        args.push(q.webhook.to_string())
    );
    if let Some(before) = q.before {
        sql += &format!(" AND id < {}", args.push(before.to_string()));
    }
    match q.outcome.as_deref() {
        None => {}
        Some("accepted") => sql += " AND accepted",
        Some("rejected") => sql += " AND NOT accepted",
        Some(other) => sql += &format!(" AND outcome = {}", args.push(other)),
    }
    sql += &format!(" ORDER BY id DESC LIMIT {}", limit + 1);
    let rows = c.query(&sql, &args.refs()).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let error: Option<&str> = r.try_get(9)?;
        let extracted: Option<&str> = r.try_get(10)?;
        let status_code: i32 = r.try_get(7)?;
        items.push(Delivery {
            id: parse(r.try_get(0)?)?,
            webhook_id: parse(r.try_get(1)?)?,
            received_at: Timestamp::from_millis(r.try_get(2)?),
            source_addr: r.try_get(3)?,
            method: r.try_get(4)?,
            headers: json(r.try_get(5)?)?,
            body: r.try_get(6)?,
            status_code: u16::try_from(status_code).map_err(corrupt)?,
            outcome: r.try_get(8)?,
            error: error.map(json).transpose()?,
            extracted: extracted.map(json).transpose()?,
            warnings: json(r.try_get(11)?)?,
            results: json(r.try_get(12)?)?,
            latency_us: r.try_get(13)?,
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

pub(crate) async fn get_incident_row(
    c: &Client,
    workspace: WorkspaceId,
    id: IncidentId,
) -> Result<Option<Incident>> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1 AND workspace_id = $2"
            ),
            &[&id.to_string(), &workspace.to_string()],
        )
        .await?;
    row.as_ref().map(incident_from_row).transpose()
}
