//! `/api/v1/incidents`: the incident list (filtered, keyset-paginated) and incident detail.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use alertgate_core::ids::{IncidentId, WebhookId};
use alertgate_core::{IncidentStatus, Severity};
use alertgate_store::{Incident, IncidentAction, IncidentDetail, IncidentQuery};

use super::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<IncidentStatus>,
    severity: Option<Severity>,
    webhook_id: Option<WebhookId>,
    service: Option<String>,
    q: Option<String>,
    before: Option<IncidentId>,
    limit: Option<u32>,
}

pub async fn list(
    caller: Caller,
    State(app): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let page = app
        .store
        .list_incidents(&IncidentQuery {
            workspace: Some(caller.workspace),
            status: p.status,
            severity: p.severity,
            webhook: p.webhook_id,
            service: p.service.filter(|s| !s.is_empty()),
            search: p.q.filter(|s| !s.is_empty()),
            before: p.before,
            limit: p.limit.unwrap_or(50),
        })
        .await?;
    Ok(Json(json!(page)))
}

pub async fn get(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let id: IncidentId = id.parse().map_err(|_| ApiError::not_found("incident"))?;
    app.store
        .get_incident(caller.workspace, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("incident"))
}

async fn act(
    caller: Caller,
    app: AppState,
    id: String,
    action: IncidentAction,
) -> Result<Json<Incident>, ApiError> {
    let id: IncidentId = id.parse().map_err(|_| ApiError::not_found("incident"))?;
    let incident = app
        .store
        .incident_action(caller.workspace, id, action, app.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    // The change may have written outbox events.
    app.outbox.wake();
    Ok(Json(incident))
}

/// `POST /api/v1/incidents/{id}/acknowledge`: someone is on it. Idempotent; a resolved incident
/// stays resolved.
pub async fn acknowledge(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    act(caller, app, id, IncidentAction::Acknowledge).await
}

/// `POST /api/v1/incidents/{id}/resolve`: resolve the incident and its open alerts; the next
/// alert with the same identity opens a new incident.
pub async fn resolve(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    act(caller, app, id, IncidentAction::Resolve).await
}
