//! `/api/v1/incidents`: the incident list (filtered, keyset-paginated) and incident detail.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use alertgate_core::ids::{IncidentId, WebhookId};
use alertgate_core::{IncidentStatus, Severity};
use alertgate_store::{Incident, IncidentAction, IncidentDetail, IncidentQuery, Page};

use super::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    status: Option<IncidentStatus>,
    severity: Option<Severity>,
    /// Only incidents opened by this webhook (`whk_…`).
    webhook_id: Option<WebhookId>,
    /// Only incidents that name this service.
    service: Option<String>,
    /// A case-insensitive part of the title.
    q: Option<String>,
    /// The `next_cursor` of the previous page: incidents older than this one (`inc_…`).
    before: Option<IncidentId>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
}

/// The workspace's incidents, newest first, filtered.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents",
    params(ListParams),
    responses(
        (status = 200, description = "A page of incidents", body = Page<Incident>),
        (status = 400, description = "Invalid query", body = ErrorBody),
    ))]
pub async fn list(
    caller: Caller,
    State(app): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Page<Incident>>, ApiError> {
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
    Ok(Json(page))
}

/// An incident with its alerts and its timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "An incident id (`inc_…`)")),
    responses(
        (status = 200, description = "The incident", body = IncidentDetail),
        (status = 404, description = "No such incident in this workspace", body = ErrorBody),
    ))]
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
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents",
    params(("id" = String, Path, description = "An incident id (`inc_…`)")),
    responses(
        (status = 200, description = "The incident as it is now", body = Incident),
        (status = 404, description = "No such incident in this workspace", body = ErrorBody),
    ))]
pub async fn acknowledge(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    act(caller, app, id, IncidentAction::Acknowledge).await
}

/// `POST /api/v1/incidents/{id}/resolve`: resolve the incident and its open alerts; the next
/// alert with the same identity opens a new incident.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents",
    params(("id" = String, Path, description = "An incident id (`inc_…`)")),
    responses(
        (status = 200, description = "The incident as it is now", body = Incident),
        (status = 404, description = "No such incident in this workspace", body = ErrorBody),
    ))]
pub async fn resolve(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Incident>, ApiError> {
    act(caller, app, id, IncidentAction::Resolve).await
}
