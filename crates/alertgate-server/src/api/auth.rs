//! Who is calling the management API. Every management handler takes a [`Caller`], so none can
//! run unauthenticated, and every query it makes is scoped to the caller's workspace.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use alertgate_core::WorkspaceId;

use crate::error::ApiError;
use crate::state::AppState;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Responder,
    Admin,
}

#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub workspace: WorkspaceId,
    pub role: Role,
}

impl Caller {
    /// Refuse unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "this API key's role does not allow that",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let v = v.trim();
                v.get(..7)
                    .filter(|p| p.eq_ignore_ascii_case("bearer "))
                    .map(|_| v[7..].trim())
            })
            .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <api token>`"))?;
        let stored = app
            .store
            .get_setting(crate::ADMIN_TOKEN_SETTING)
            .await?
            .ok_or_else(|| ApiError::internal("no admin token is configured"))?;
        let presented_hash = hex::encode(Sha256::digest(presented.as_bytes()));
        if bool::from(presented_hash.as_bytes().ct_eq(stored.as_bytes())) {
            Ok(Caller {
                workspace: WorkspaceId::DEFAULT,
                role: Role::Admin,
            })
        } else {
            Err(ApiError::unauthorized("the API token is not valid"))
        }
    }
}
