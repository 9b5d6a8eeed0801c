//! `/api/v1/incidents/{id}/deliveries`: what an incident's events owed the workspace's
//! destinations and how each delivery went (status, attempts with their answers, last error,
//! next retry), and a manual re-send.

use alertgate_core::ids::{IncidentId, MessageId};
use alertgate_store::OutboxMessage;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::auth::Caller;
use super::Items;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

fn incident_id(id: &str) -> Result<IncidentId, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("incident"))
}

/// What the incident's events owed the workspace's destinations, and how each delivery went.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/deliveries", tag = "incidents",
    params(("id" = String, Path, description = "An incident id (`inc_…`)")),
    responses(
        (status = 200, description = "The incident's outbound deliveries", body = Items<OutboxMessage>),
        (status = 404, description = "No such incident in this workspace", body = ErrorBody),
    ))]
pub async fn list(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Items<OutboxMessage>>, ApiError> {
    let id = incident_id(&id)?;
    let items = app
        .store
        .list_incident_messages(caller.workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    Ok(Json(Items { items }))
}

/// `POST …/deliveries/{delivery_id}/retry`: send it again now, whatever its state (a delivered
/// message is re-sent with the same `webhook-id`), with a fresh retry budget. 409 when its
/// destination is disabled or deleted.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/deliveries/{delivery_id}/retry", tag = "incidents",
    params(
        ("id" = String, Path, description = "An incident id (`inc_…`)"),
        ("delivery_id" = String, Path, description = "A delivery (outbox message) id"),
    ),
    responses(
        (status = 202, description = "Queued to be sent again now", body = OutboxMessage),
        (status = 404, description = "No such incident or delivery in this workspace", body = ErrorBody),
        (status = 409, description = "The destination is disabled or deleted", body = ErrorBody),
    ))]
pub async fn retry(
    caller: Caller,
    State(app): State<AppState>,
    Path((id, message)): Path<(String, String)>,
) -> Result<(StatusCode, Json<OutboxMessage>), ApiError> {
    let id = incident_id(&id)?;
    let message: MessageId = message
        .parse()
        .map_err(|_| ApiError::not_found("delivery"))?;
    let m = app
        .store
        .retry_message(caller.workspace, id, message, app.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    app.outbox.wake();
    Ok((StatusCode::ACCEPTED, Json(m)))
}
