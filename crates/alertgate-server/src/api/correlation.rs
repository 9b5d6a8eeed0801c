//! `/api/v1/correlation`: the workspace's correlation settings (rules that correlate across all of
//! its webhooks). Webhook-scope settings are fields of the webhook.

use axum::extract::State;
use axum::Json;

use alertgate_core::correlation::CorrelationSettings;

use super::auth::Caller;
use super::json::ApiJson;
use super::webhooks::check_correlation;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::webhooks::workspace_correlation_key;

/// The workspace's correlation settings (rules across all of its webhooks).
#[utoipa::path(get, path = "/api/v1/correlation", tag = "correlation",
    responses((status = 200, description = "The settings", body = CorrelationSettings)))]
pub async fn get(
    caller: Caller,
    State(app): State<AppState>,
) -> Result<Json<CorrelationSettings>, ApiError> {
    Ok(Json(
        app.workspace_correlation.settings(caller.workspace).await?,
    ))
}

/// Replace the workspace's correlation settings; every problem in the rules is reported at once.
#[utoipa::path(put, path = "/api/v1/correlation", tag = "correlation",
    request_body = CorrelationSettings,
    responses(
        (status = 200, description = "The settings as saved", body = CorrelationSettings),
        (status = 400, description = "Invalid request or rules", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ))]
pub async fn put(
    caller: Caller,
    State(app): State<AppState>,
    ApiJson(settings): ApiJson<CorrelationSettings>,
) -> Result<Json<CorrelationSettings>, ApiError> {
    save(&app, &caller, &settings).await?;
    Ok(Json(settings))
}

/// Check and store a workspace's correlation settings. The web UI's rule editor calls this too.
pub(crate) async fn save(
    app: &AppState,
    caller: &Caller,
    settings: &CorrelationSettings,
) -> Result<(), ApiError> {
    check_correlation(settings)?;
    let json = serde_json::to_string(settings).map_err(ApiError::internal)?;
    app.store
        .put_setting(&workspace_correlation_key(caller.workspace), &json)
        .await?;
    app.workspace_correlation.invalidate(caller.workspace);
    Ok(())
}
