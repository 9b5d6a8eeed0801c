//! Who is calling the management API, and what they may do.
//!
//! Every `/api/v1` route is declared with an [`Access`] level (see `api/mod.rs`), and the route
//! table enforces it before the handler runs; handlers take the [`Caller`] the check produced
//! and scope every query to `caller.workspace`, so an object of another workspace is simply not
//! found (404, never 403).
//!
//! Credentials, in order: `Authorization: Bearer <admin token | workspace API key>`, then the web
//! UI's session cookie. A session must also send its CSRF token (`X-CSRF-Token` header) on every
//! state-changing request.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use alertgate_core::WorkspaceId;
pub use alertgate_store::Role;

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "alertgate_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (health, intake — which has its own —, signing in).
    Public,
    /// Any valid key or session of the workspace.
    Role(Role),
    /// The server's admin token only (managing workspaces).
    Superuser,
}

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    AdminToken,
    ApiKey {
        id: String,
    },
    Session {
        token_hash: String,
        csrf_token: String,
    },
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub workspace: WorkspaceId,
    pub role: Role,
    /// The admin token: manages workspaces and acts as an admin of the default workspace.
    pub superuser: bool,
    pub credential: Credential,
}

impl Caller {
    /// May this caller manage `workspace` (its keys)?
    pub fn manages(&self, workspace: WorkspaceId) -> bool {
        self.superuser || (self.workspace == workspace && self.role >= Role::Admin)
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A session's CSRF token, derived from its cookie value so that nothing about it is stored: only
/// a page that was given it (same origin) can send it back, and it is useless without the cookie.
pub fn csrf_token(session_token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("alertgate-csrf:{session_token}").as_bytes(),
    ))
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let head = v.get(..7)?;
    head.eq_ignore_ascii_case("bearer ").then(|| v[7..].trim())
}

pub fn session_cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v)
}

/// Seconds between `last_used_at` updates of one key, so reads do not each cost a write.
const TOUCH_EVERY_MS: i64 = 60_000;

async fn authenticate(parts: &Parts, app: &AppState) -> Result<Caller, ApiError> {
    if let Some(presented) = bearer(parts) {
        let hash = sha256_hex(presented);
        let admin = app
            .store
            .get_setting(crate::ADMIN_TOKEN_SETTING)
            .await?
            .unwrap_or_default();
        if bool::from(hash.as_bytes().ct_eq(admin.as_bytes())) {
            return Ok(Caller {
                workspace: WorkspaceId::DEFAULT,
                role: Role::Admin,
                superuser: true,
                credential: Credential::AdminToken,
            });
        }
        // Looked up by hash (an index probe): the hash of a wrong key finds nothing.
        let key = app.store.api_key_by_hash(&hash).await?;
        return match key {
            Some(k) if k.revoked_at.is_none() => {
                let now = app.clock.now();
                let stale = k
                    .last_used_at
                    .is_none_or(|t| now.as_millis() - t.as_millis() > TOUCH_EVERY_MS);
                if stale {
                    app.store.touch_api_key(&k.id, now).await?;
                }
                Ok(Caller {
                    workspace: k.workspace_id,
                    role: k.role,
                    superuser: false,
                    credential: Credential::ApiKey { id: k.id },
                })
            }
            Some(_) => Err(ApiError::unauthorized("this API key has been revoked")),
            None => Err(ApiError::unauthorized("the API token is not valid")),
        };
    }
    if let Some(cookie) = session_cookie(parts) {
        let hash = sha256_hex(cookie);
        let Some(s) = app.store.session_by_hash(&hash, app.clock.now()).await? else {
            return Err(ApiError::unauthorized(
                "the session has expired or was ended; sign in again",
            ));
        };
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !bool::from(sent.as_bytes().ct_eq(csrf_token(cookie).as_bytes())) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "this request needs the session's CSRF token in the X-CSRF-Token header",
                ));
            }
        }
        return Ok(Caller {
            workspace: s.workspace_id,
            role: s.role,
            superuser: s.api_key_id.is_none(),
            credential: Credential::Session {
                token_hash: s.token_hash,
                csrf_token: csrf_token(cookie),
            },
        });
    }
    Err(ApiError::unauthorized(
        "send `Authorization: Bearer <API key>` or sign in",
    ))
}

/// Route middleware: authenticate, enforce `access`, and leave the [`Caller`] for the handler.
pub async fn enforce(
    State((app, access)): State<(AppState, Access)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let caller = match authenticate(&parts, &app).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let allowed = match access {
        Access::Public => true,
        Access::Role(role) => caller.role >= role,
        Access::Superuser => caller.superuser,
    };
    if !allowed {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role does not allow this",
        )
        .into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        match parts.extensions.get::<Caller>() {
            Some(c) => Ok(c.clone()),
            // Only reachable from a route declared Public that still asks who is calling.
            None => authenticate(parts, app).await,
        }
    }
}
