//! `/api/v1/destinations`: where a workspace's incident events go. One investigation endpoint
//! (receives `incident.created` for incidents its webhooks' `auto_trigger_rca` selects) and any
//! number of notification channels (`webhook`: signed JSON; `slack`: a Slack-compatible incoming
//! webhook), each subscribed to a set of event types.
//!
//! Any role may read; changing needs Admin (enforced by the route table). URLs are checked on save: https and a public host,
//! unless the server runs with `--allow-insecure-destinations`. The signing secret is shown in
//! full only in the reply that created or rotated it, and a Slack URL (itself a credential) only
//! in the reply to the request that set it; both are stored encrypted, like webhook secrets.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};

use alertgate_core::ids::{DestinationId, WorkspaceId};
use alertgate_core::outbox::{DestinationKind, EventType};
use alertgate_core::webhook::WebhookName;
use alertgate_core::Timestamp;
use alertgate_store::Destination;

use super::auth::Caller;
use super::json::ApiJson;
use super::Items;
use crate::error::{ApiError, ErrorBody};
use crate::outbox::signing;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDestination {
    kind: DestinationKind,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    url: String,
    /// A `whsec_…` secret to sign with instead of a generated one (not for Slack).
    secret: Option<String>,
    /// Notification channels: what to receive (default: every event type).
    event_types: Option<Vec<EventType>>,
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDestination {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    /// Replace the signing secret with a generated one.
    #[serde(default)]
    rotate_secret: bool,
    event_types: Option<Vec<EventType>>,
    /// Enabling clears the reason alertgate disabled it for.
    enabled: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DestinationOut {
    id: DestinationId,
    workspace_id: WorkspaceId,
    kind: DestinationKind,
    name: String,
    /// For Slack, only the host and the last characters: the URL is the credential.
    url: String,
    secret_hint: Option<String>,
    event_types: Vec<EventType>,
    enabled: bool,
    disabled_reason: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl DestinationOut {
    fn new(d: &Destination) -> Self {
        Self {
            id: d.id,
            workspace_id: d.workspace_id,
            kind: d.kind,
            name: d.name.clone(),
            url: if d.kind == DestinationKind::Slack {
                redact_url(&d.url)
            } else {
                d.url.clone()
            },
            secret_hint: d.secret.as_ref().map(signing::hint),
            event_types: d.event_types.clone(),
            enabled: d.enabled,
            disabled_reason: d.disabled_reason.clone(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// `https://hooks.slack.com/…abcd`.
fn redact_url(raw: &str) -> String {
    let tail: String = raw
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    match reqwest::Url::parse(raw) {
        Ok(u) => format!(
            "{}://{}/…{tail}",
            u.scheme(),
            u.host_str().unwrap_or_default()
        ),
        Err(_) => format!("…{tail}"),
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("validation_failed", message)
}

fn check_url(app: &AppState, url: &str) -> Result<String, ApiError> {
    crate::outbound::check_destination_url(url, app.config.allow_insecure_destinations)
        .map(|u| u.to_string())
        .map_err(|e| invalid(format!("url: {e}")))
}

/// What a destination of `kind` subscribes to; the investigation endpoint takes only the trigger.
fn check_event_types(
    kind: DestinationKind,
    requested: Option<Vec<EventType>>,
) -> Result<Vec<EventType>, ApiError> {
    if kind == DestinationKind::Investigation {
        return match requested.as_deref() {
            None | Some([EventType::Created]) => Ok(vec![EventType::Created]),
            Some(_) => Err(invalid(
                "the investigation endpoint receives incident.created only; use a notification channel for other events",
            )),
        };
    }
    let mut types = requested.unwrap_or_else(|| EventType::ALL.to_vec());
    types.sort();
    types.dedup();
    if types.is_empty() {
        return Err(invalid("event_types must name at least one event type"));
    }
    Ok(types)
}

fn parse_id(id: &str) -> Result<DestinationId, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("destination"))
}

/// The reply to a request that set a credential: the signing secret and a Slack URL are shown
/// in full this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DestinationRevealed {
    #[serde(flatten)]
    destination: DestinationOut,
    /// The signing secret, when this request set it.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn reveal(d: &Destination, secret: bool, url: bool) -> DestinationRevealed {
    let mut destination = DestinationOut::new(d);
    if url {
        destination.url = d.url.clone();
    }
    DestinationRevealed {
        destination,
        secret: d
            .secret
            .as_ref()
            .filter(|_| secret)
            .map(|s| s.expose().to_string()),
    }
}

/// Add the investigation endpoint or a notification channel; its signing secret is shown this once.
#[utoipa::path(post, path = "/api/v1/destinations", tag = "destinations",
    request_body = CreateDestination,
    responses(
        (status = 201, description = "Created", body = DestinationRevealed),
        (status = 400, description = "Invalid request, URL or event types", body = ErrorBody),
        (status = 409, description = "Conflicts with an existing destination (one investigation endpoint per workspace)", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ))]
pub async fn create(
    caller: Caller,
    State(app): State<AppState>,
    ApiJson(req): ApiJson<CreateDestination>,
) -> Result<impl IntoResponse, ApiError> {
    let name = WebhookName::parse(&req.name).map_err(invalid)?;
    let url = check_url(&app, &req.url)?;
    let event_types = check_event_types(req.kind, req.event_types)?;
    let secret = match (req.kind.is_signed(), req.secret.as_deref()) {
        (false, Some(_)) => {
            return Err(invalid(
                "Slack-compatible webhooks are not signed; leave out `secret`",
            ))
        }
        (false, None) => None,
        (true, Some(s)) => Some(signing::parse_secret(s).map_err(invalid)?),
        (true, None) => Some(signing::new_secret()),
    };
    let now = app.clock.now();
    let d = Destination {
        id: DestinationId::generate(now, rand::random()),
        workspace_id: caller.workspace,
        kind: req.kind,
        name: name.as_str().to_string(),
        url,
        secret,
        event_types,
        enabled: req.enabled.unwrap_or(true),
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    app.store.create_destination(&d).await?;
    tracing::info!(destination = %d.id, kind = d.kind.as_str(), "destination created");
    Ok((StatusCode::CREATED, Json(reveal(&d, true, true))))
}

/// The workspace's destinations.
#[utoipa::path(get, path = "/api/v1/destinations", tag = "destinations",
    responses((status = 200, description = "The destinations", body = Items<DestinationOut>)))]
pub async fn list(
    caller: Caller,
    State(app): State<AppState>,
) -> Result<Json<Items<DestinationOut>>, ApiError> {
    let items: Vec<DestinationOut> = app
        .store
        .list_destinations(caller.workspace)
        .await?
        .iter()
        .map(DestinationOut::new)
        .collect();
    Ok(Json(Items { items }))
}

async fn load(app: &AppState, caller: &Caller, id: &str) -> Result<Destination, ApiError> {
    app.store
        .get_destination(caller.workspace, parse_id(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("destination"))
}

#[utoipa::path(get, path = "/api/v1/destinations/{id}", tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`)")),
    responses(
        (status = 200, description = "The destination (secrets as hints)", body = DestinationOut),
        (status = 404, description = "No such destination in this workspace", body = ErrorBody),
    ))]
pub async fn get(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DestinationOut>, ApiError> {
    let d = load(&app, &caller, &id).await?;
    Ok(Json(DestinationOut::new(&d)))
}

/// Change some of a destination's settings; a new secret (or Slack URL) is shown this once.
#[utoipa::path(patch, path = "/api/v1/destinations/{id}", tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`)")),
    request_body = UpdateDestination,
    responses(
        (status = 200, description = "The destination as changed", body = DestinationRevealed),
        (status = 400, description = "Invalid request or value", body = ErrorBody),
        (status = 404, description = "No such destination in this workspace", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ))]
pub async fn update(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateDestination>,
) -> Result<Json<DestinationRevealed>, ApiError> {
    let mut d = load(&app, &caller, &id).await?;
    if let Some(name) = req.name {
        d.name = WebhookName::parse(&name)
            .map_err(invalid)?
            .as_str()
            .to_string();
    }
    let url_changed = req.url.is_some();
    if let Some(url) = req.url {
        d.url = check_url(&app, &url)?;
    }
    if req.event_types.is_some() {
        d.event_types = check_event_types(d.kind, req.event_types)?;
    }
    let secret_changed = req.rotate_secret || req.secret.is_some();
    if secret_changed && !d.kind.is_signed() {
        return Err(invalid(
            "Slack-compatible webhooks are not signed; they have no secret",
        ));
    }
    if let Some(s) = req.secret.as_deref() {
        d.secret = Some(signing::parse_secret(s).map_err(invalid)?);
    } else if req.rotate_secret {
        d.secret = Some(signing::new_secret());
    }
    if let Some(on) = req.enabled {
        d.enabled = on;
        if on {
            d.disabled_reason = None;
        }
    }
    d.updated_at = app.clock.now();
    if !app.store.update_destination(&d).await? {
        return Err(ApiError::not_found("destination"));
    }
    Ok(Json(reveal(
        &d,
        secret_changed,
        url_changed && d.kind == DestinationKind::Slack,
    )))
}

#[utoipa::path(delete, path = "/api/v1/destinations/{id}", tag = "destinations",
    params(("id" = String, Path, description = "A destination id (`dst_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such destination in this workspace", body = ErrorBody),
    ))]
pub async fn delete(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !app
        .store
        .delete_destination(caller.workspace, parse_id(&id)?)
        .await?
    {
        return Err(ApiError::not_found("destination"));
    }
    Ok(StatusCode::NO_CONTENT)
}
