//! `/api/v1/workspaces` and their API keys. The admin token creates workspaces; a workspace's
//! admins (and the admin token) manage its keys. Keys are shown once and stored as hashes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use alertgate_core::ids::WorkspaceId;
use alertgate_store::{NewApiKey, Role, Workspace};

use super::auth::Caller;
use super::json::ApiJson;
use crate::error::ApiError;
use crate::state::{new_token, sha256_hex, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
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

pub async fn list(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": app.store.list_workspaces().await? })))
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    role: Role,
}

pub async fn create_key(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
        Json(json!({
            "id": new.id, "workspace_id": workspace, "name": new.name, "role": new.role,
            "key_prefix": new.key_prefix, "created_at": now, "last_used_at": null, "revoked_at": null,
            "key": key,
        })),
    ))
}

pub async fn list_keys(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let workspace = managed(&app, &caller, &id).await?;
    Ok(Json(
        json!({ "items": app.store.list_api_keys(workspace).await? }),
    ))
}

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
