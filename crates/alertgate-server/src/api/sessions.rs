//! Web UI sessions: sign in with an API key (or the admin token), get an HttpOnly,
//! SameSite=Strict cookie (Secure when the public URL is https) and a CSRF token; sign out ends
//! the session on the server.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use alertgate_core::WorkspaceId;
use alertgate_store::{Role, Session};

use super::auth::{Caller, Credential, SESSION_COOKIE};
use super::json::ApiJson;
use crate::error::ApiError;
use crate::state::{new_token, sha256_hex, AppState};

/// How long a session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    api_key: String,
}

/// Open a session for the holder of `key`: an API key, or the admin token.
pub async fn open_session(app: &AppState, key: &str) -> Result<(String, Session), ApiError> {
    let hash = sha256_hex(key.trim());
    let admin = app
        .store
        .get_setting(crate::ADMIN_TOKEN_SETTING)
        .await?
        .unwrap_or_default();
    let (workspace, role, api_key_id) = if bool::from(hash.as_bytes().ct_eq(admin.as_bytes())) {
        (WorkspaceId::DEFAULT, Role::Admin, None)
    } else {
        match app.store.api_key_by_hash(&hash).await? {
            Some(k) if k.revoked_at.is_none() => (k.workspace_id, k.role, Some(k.id)),
            _ => return Err(ApiError::unauthorized("that API key is not valid")),
        }
    };
    let token = new_token("");
    let now = app.clock.now();
    let session = Session {
        token_hash: hex::encode(Sha256::digest(token.as_bytes())),
        workspace_id: workspace,
        role,
        api_key_id,
        created_at: now,
        expires_at: now.saturating_add_millis(SESSION_TTL_MS),
    };
    app.store.create_session(&session).await?;
    Ok((token, session))
}

/// The `Set-Cookie` value for a session token (`None` clears it).
pub fn cookie(app: &AppState, token: Option<&str>) -> String {
    let secure = app.config.base_url().starts_with("https://");
    let (value, max_age) = match token {
        Some(t) => (t, SESSION_TTL_MS / 1000),
        None => ("", 0),
    };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub async fn create(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let (token, s) = open_session(&app, &req.api_key).await?;
    let mut resp = (
        StatusCode::CREATED,
        Json(json!({
            "workspace_id": s.workspace_id, "role": s.role,
            "csrf_token": super::auth::csrf_token(&token), "expires_at": s.expires_at,
        })),
    )
        .into_response();
    let value = HeaderValue::from_str(&cookie(&app, Some(&token))).map_err(ApiError::internal)?;
    resp.headers_mut().insert(header::SET_COOKIE, value);
    Ok(resp)
}

pub async fn current(caller: Caller) -> Json<serde_json::Value> {
    let csrf = match &caller.credential {
        Credential::Session { csrf_token, .. } => Some(csrf_token.clone()),
        _ => None,
    };
    Json(json!({
        "workspace_id": caller.workspace, "role": caller.role,
        "superuser": caller.superuser, "csrf_token": csrf,
    }))
}

pub async fn delete(caller: Caller, State(app): State<AppState>) -> Result<Response, ApiError> {
    if let Credential::Session { token_hash, .. } = &caller.credential {
        app.store.delete_session(token_hash).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let value = HeaderValue::from_str(&cookie(&app, None)).map_err(ApiError::internal)?;
    resp.headers_mut().insert(header::SET_COOKIE, value);
    Ok(resp)
}
