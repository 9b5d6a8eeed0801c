//! Web UI sessions: sign in with an API key (or the admin token), get an HttpOnly,
//! SameSite=Strict cookie (Secure when the public URL is https) and a CSRF token; sign out ends
//! the session on the server.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use alertgate_core::{Timestamp, WorkspaceId};
use alertgate_store::{Role, Session};

use super::auth::{Caller, Credential, SESSION_COOKIE};
use super::json::ApiJson;
use crate::error::{ApiError, ErrorBody};
use crate::state::{new_token, sha256_hex, AppState};

/// How long a session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// A workspace API key, or the server's admin token.
    api_key: String,
}

/// A new session. The session itself is the `alertgate_session` cookie set with this reply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewSession {
    workspace_id: WorkspaceId,
    role: Role,
    /// Send it back in the `X-CSRF-Token` header on every state-changing request.
    csrf_token: String,
    expires_at: Timestamp,
}

/// Who the caller is, however they authenticated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrentSession {
    workspace_id: WorkspaceId,
    role: Role,
    /// The admin token (or a session opened with it): manages workspaces.
    superuser: bool,
    /// The session's CSRF token; null for a bearer token.
    csrf_token: Option<String>,
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

/// Sign in with an API key (or the admin token): sets an HttpOnly, SameSite=Strict session
/// cookie and returns the session's CSRF token.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in; the `Set-Cookie` header carries the session",
            body = NewSession, headers(("Set-Cookie" = String, description = "`alertgate_session=…; HttpOnly; SameSite=Strict`"))),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "The key is not valid", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let (token, s) = open_session(&app, &req.api_key).await?;
    let mut resp = (
        StatusCode::CREATED,
        Json(NewSession {
            workspace_id: s.workspace_id,
            role: s.role,
            csrf_token: super::auth::csrf_token(&token),
            expires_at: s.expires_at,
        }),
    )
        .into_response();
    let value = HeaderValue::from_str(&cookie(&app, Some(&token))).map_err(ApiError::internal)?;
    resp.headers_mut().insert(header::SET_COOKIE, value);
    Ok(resp)
}

/// Who the caller is: workspace, role, and (for a session) its CSRF token.
#[utoipa::path(get, path = "/api/v1/sessions/current", tag = "sessions",
    responses((status = 200, description = "The caller", body = CurrentSession)))]
pub async fn current(caller: Caller) -> Json<CurrentSession> {
    let csrf = match &caller.credential {
        Credential::Session { csrf_token, .. } => Some(csrf_token.clone()),
        _ => None,
    };
    Json(CurrentSession {
        workspace_id: caller.workspace,
        role: caller.role,
        superuser: caller.superuser,
        csrf_token: csrf,
    })
}

/// Sign out: ends the session on the server and clears the cookie (a no-op for a bearer token).
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "sessions",
    responses((status = 204, description = "Signed out; the cookie is cleared")))]
pub async fn delete(caller: Caller, State(app): State<AppState>) -> Result<Response, ApiError> {
    if let Credential::Session { token_hash, .. } = &caller.credential {
        app.store.delete_session(token_hash).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let value = HeaderValue::from_str(&cookie(&app, None)).map_err(ApiError::internal)?;
    resp.headers_mut().insert(header::SET_COOKIE, value);
    Ok(resp)
}
