//! `/api/v1/correlation`: the workspace's correlation settings (rules that correlate across all of
//! its webhooks). Webhook-scope settings are fields of the webhook.

use axum::extract::State;
use axum::Json;

use alertgate_core::correlation::CorrelationSettings;

use super::auth::Caller;
use super::json::ApiJson;
use super::webhooks::check_correlation;
use crate::error::ApiError;
use crate::state::AppState;
use crate::webhooks::workspace_correlation_key;

pub async fn get(
    caller: Caller,
    State(app): State<AppState>,
) -> Result<Json<CorrelationSettings>, ApiError> {
    Ok(Json(
        app.workspace_correlation.settings(caller.workspace).await?,
    ))
}

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
