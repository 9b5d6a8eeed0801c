//! `GET /api/v1/platforms`: the platforms alertgate understands, with their defaults.

use axum::extract::Path;
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use alertgate_core::auth::AuthMethod;
use alertgate_core::mapping::FieldMapping;
use alertgate_core::platforms::{self, Platform};

use super::auth::Caller;
use super::Items;
use crate::error::{ApiError, ErrorBody};

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlatformOut {
    id: &'static str,
    name: &'static str,
    category: &'static str,
    category_label: &'static str,
    default_auth: AuthMethod,
    default_field_mapping: FieldMapping,
    sample_payload: Value,
    setup_instructions: &'static str,
}

impl From<&Platform> for PlatformOut {
    fn from(p: &Platform) -> Self {
        Self {
            id: p.id,
            name: p.name,
            category: p.category.id(),
            category_label: p.category.label(),
            default_auth: (p.default_auth)(),
            default_field_mapping: p.default_field_mapping(),
            sample_payload: serde_json::from_str(p.sample).unwrap_or(Value::Null),
            setup_instructions: p.setup,
        }
    }
}

/// Every platform alertgate understands, with its defaults and setup instructions.
#[utoipa::path(get, path = "/api/v1/platforms", tag = "platforms",
    responses((status = 200, description = "The platforms", body = Items<PlatformOut>)))]
pub async fn list(_caller: Caller) -> Json<Items<PlatformOut>> {
    let items: Vec<PlatformOut> = platforms::ALL
        .iter()
        .map(|p| PlatformOut::from(*p))
        .collect();
    Json(Items { items })
}

#[utoipa::path(get, path = "/api/v1/platforms/{id}", tag = "platforms",
    params(("id" = String, Path, description = "A platform id, e.g. `prometheus`")),
    responses(
        (status = 200, description = "The platform", body = PlatformOut),
        (status = 404, description = "No such platform", body = ErrorBody),
    ))]
pub async fn get(_caller: Caller, Path(id): Path<String>) -> Result<Json<PlatformOut>, ApiError> {
    platforms::get(&id)
        .map(|p| Json(PlatformOut::from(p)))
        .ok_or_else(|| ApiError::not_found("platform"))
}
