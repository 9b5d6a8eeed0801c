//! `/api/v1/workspaces` and their API keys. The admin token creates workspaces; a workspace's
//! admins (and the admin token) manage its keys. Keys are shown once and stored as hashes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use alertgate_core::ids::WorkspaceId;
use alertgate_store::{ApiKey, NewApiKey, Role, Workspace};

use super::auth::Caller;
use super::json::ApiJson;
use super::Items;
use crate::error::{ApiError, ErrorBody};
use crate::state::{new_token, sha256_hex, AppState};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    /// 1 to 100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
}

fn check_name(name: &str, what: &str) -> Result<String, ApiError> {
    let t = name.trim();
    let n = t.chars().count();
    if n == 0 || n > 100 || t.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "validation_failed",
            format!("{what} name must be 1-100 characters without control characters"),
        ));
    }
    Ok(t.to_string())
}

/// Create a workspace (admin token only).
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces",
    request_body = CreateWorkspace,
    responses(
        (status = 201, description = "Created", body = Workspace),
        (status = 400, description = "Invalid request or name", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<CreateWorkspace>,
) -> Result<(StatusCode, Json<Workspace>), ApiError> {
    let now = app.clock.now();
    let w = Workspace {
        id: WorkspaceId::generate(now, rand::random()),
        name: check_name(&req.name, "workspace")?,
        created_at: now,
    };
    app.store.create_workspace(&w).await?;
    tracing::info!(workspace = %w.id, "workspace created");
    Ok((StatusCode::CREATED, Json(w)))
}

/// Every workspace (admin token only).
#[utoipa::path(get, path = "/api/v1/workspaces", tag = "workspaces",
    responses((status = 200, description = "The workspaces", body = Items<Workspace>)))]
pub async fn list(State(app): State<AppState>) -> Result<Json<Items<Workspace>>, ApiError> {
    Ok(Json(Items {
        items: app.store.list_workspaces().await?,
    }))
}

/// The workspace named in the path, if the caller may manage it (else 404: another workspace's
/// existence is not revealed).
async fn managed(app: &AppState, caller: &Caller, id: &str) -> Result<WorkspaceId, ApiError> {
    let id: WorkspaceId = id.parse().map_err(|_| ApiError::not_found("workspace"))?;
    if !caller.manages(id) || app.store.get_workspace(id).await?.is_none() {
        return Err(ApiError::not_found("workspace"));
    }
    Ok(id)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1 to 100 characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    role: Role,
}

/// A new API key: the key itself is shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewKey {
    #[serde(flatten)]
    api_key: ApiKey,
    /// The key, to send as `Authorization: Bearer <key>`.
    key: String,
}

/// Create an API key for the workspace (its admins, or the admin token).
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/api-keys", tag = "workspaces",
    params(("id" = String, Path, description = "A workspace id (`wks_…`)")),
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created; the key is shown this once", body = NewKey),
        (status = 400, description = "Invalid request or name", body = ErrorBody),
        (status = 404, description = "No such workspace that the caller manages", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ))]
pub async fn create_key(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    let workspace = managed(&app, &caller, &id).await?;
    let now = app.clock.now();
    let key = new_token("agk_");
    let new = NewApiKey {
        id: format!(
            "key_{}",
            ulid::Ulid::from_parts(now.as_millis().max(0) as u64, rand::random())
        ),
        workspace_id: workspace,
        name: check_name(&req.name, "key")?,
        role: req.role,
        key_hash: sha256_hex(&key),
        key_prefix: key.chars().take(8).collect(),
        created_at: now,
    };
    app.store.create_api_key(&new).await?;
    tracing::info!(workspace = %workspace, key = %new.id, role = new.role.as_str(), "API key created");
    Ok((
        StatusCode::CREATED,
        Json(NewKey {
            api_key: ApiKey {
                id: new.id,
                workspace_id: workspace,
                name: new.name,
                role: new.role,
                key_prefix: new.key_prefix,
                created_at: now,
                last_used_at: None,
                revoked_at: None,
            },
            key,
        }),
    ))
}

/// The workspace's API keys, revoked ones included (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/api-keys", tag = "workspaces",
    params(("id" = String, Path, description = "A workspace id (`wks_…`)")),
    responses(
        (status = 200, description = "The keys", body = Items<ApiKey>),
        (status = 404, description = "No such workspace that the caller manages", body = ErrorBody),
    ))]
pub async fn list_keys(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Items<ApiKey>>, ApiError> {
    let workspace = managed(&app, &caller, &id).await?;
    Ok(Json(Items {
        items: app.store.list_api_keys(workspace).await?,
    }))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}/api-keys/{key_id}", tag = "workspaces",
    params(
        ("id" = String, Path, description = "A workspace id (`wks_…`)"),
        ("key_id" = String, Path, description = "An API key id (`key_…`)"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such workspace or key", body = ErrorBody),
    ))]
pub async fn revoke_key(
    caller: Caller,
    State(app): State<AppState>,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let workspace = managed(&app, &caller, &id).await?;
    if !app
        .store
        .revoke_api_key(workspace, &key_id, app.clock.now())
        .await?
    {
        return Err(ApiError::not_found("API key"));
    }
    tracing::info!(workspace = %workspace, key = %key_id.chars().take(40).collect::<String>(), "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
