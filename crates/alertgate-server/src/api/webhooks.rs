//! `/api/v1/webhooks`: create, list, get, update, delete, rotate the secret, read the delivery log.
//!
//! What a client sends ([`CreateWebhook`], [`UpdateWebhook`]) is not what is stored
//! ([`Webhook`]) and not what is shown ([`WebhookOut`]): secrets are shown in full only in the
//! replies to create and rotate.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use alertgate_core::auth::{AuthMethod, Secret};
use alertgate_core::correlation::{CorrelationSettings, RuleSet};
use alertgate_core::ids::{DeliveryId, WebhookId, WorkspaceId};
use alertgate_core::mapping::FieldMapping;
use alertgate_core::outbox::AutomationSettings;
use alertgate_core::platforms;
use alertgate_core::severity::SeverityPolicy;
use alertgate_core::webhook::{
    validate_description, DedupWindow, RateLimit, Webhook, WebhookName, MAX_SECRETS,
};
use alertgate_core::{Severity, Timestamp};
use alertgate_store::{Delivery, DeliveryQuery, Page};

use super::auth::Caller;
use super::json::ApiJson;
use super::Items;
use crate::error::{ApiError, ErrorBody};
use crate::examples::Examples;
use crate::state::{new_token, AppState};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateWebhook {
    /// A platform id from `GET /api/v1/platforms`.
    #[serde(default = "generic")]
    #[schema(default = "generic")]
    platform: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    #[serde(default)]
    #[schema(max_length = 1000)]
    description: String,
    /// Overrides of the platform's default paths; an empty string removes a path.
    #[serde(default)]
    field_mapping: FieldMapping,
    #[serde(default)]
    severity_mapping: BTreeMap<String, Severity>,
    default_severity: Option<Severity>,
    #[schema(minimum = 1, maximum = 168)]
    dedup_window_hours: Option<i64>,
    /// Requests per hour, 0 (unlimited) to 10,000; default 100.
    #[schema(minimum = 0, maximum = 10000)]
    rate_limit_per_hour: Option<i64>,
    /// `enable_correlation`, `correlation_window_minutes`, `correlation_rules`.
    #[serde(flatten)]
    correlation: CorrelationSettings,
    /// `auto_trigger_rca`, `rca_min_severity`, `notify_workspace`.
    #[serde(flatten)]
    automation: AutomationSettings,
    /// Defaults to the platform's authentication.
    auth: Option<AuthMethod>,
    /// Use this secret instead of a generated one (e.g. the one PagerDuty shows for a subscription).
    #[schema(
        min_length = 8,
        max_length = 512,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    secret: Option<String>,
    enabled: Option<bool>,
}

fn generic() -> String {
    "generic".into()
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    #[schema(max_length = 1000)]
    description: Option<String>,
    /// Merged into the current mapping; an empty string removes a path.
    field_mapping: Option<FieldMapping>,
    severity_mapping: Option<BTreeMap<String, Severity>>,
    default_severity: Option<Severity>,
    #[schema(minimum = 1, maximum = 168)]
    dedup_window_hours: Option<i64>,
    #[schema(minimum = 0, maximum = 10000)]
    rate_limit_per_hour: Option<i64>,
    enable_correlation: Option<bool>,
    #[schema(minimum = 1, maximum = 1440)]
    correlation_window_minutes: Option<i64>,
    correlation_rules: Option<RuleSet>,
    auto_trigger_rca: Option<bool>,
    rca_min_severity: Option<Severity>,
    notify_workspace: Option<bool>,
    auth: Option<AuthMethod>,
    enabled: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookOut {
    id: WebhookId,
    workspace_id: WorkspaceId,
    platform: String,
    name: String,
    description: String,
    enabled: bool,
    intake_url: String,
    auth: AuthMethod,
    /// The last four characters of the current secret.
    secret_hint: Option<String>,
    active_secrets: usize,
    field_mapping: FieldMapping,
    severity_mapping: BTreeMap<String, Severity>,
    default_severity: Severity,
    dedup_window_hours: DedupWindow,
    rate_limit_per_hour: RateLimit,
    #[serde(flatten)]
    correlation: CorrelationSettings,
    #[serde(flatten)]
    automation: AutomationSettings,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// The reply to create and rotate-secret: the one time the current secret is shown in full.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    webhook: WebhookOut,
    /// The current secret; null when the webhook's authentication uses none.
    secret: Option<String>,
    /// Client examples filled in with the real secret.
    examples: Examples,
}

impl WebhookWithSecret {
    fn new(w: &Webhook, app: &AppState) -> Self {
        Self {
            webhook: WebhookOut::new(w, app),
            secret: w.secrets.first().map(|s| s.expose().to_string()),
            examples: examples_for(app, w, true),
        }
    }
}

impl WebhookOut {
    fn new(w: &Webhook, app: &AppState) -> Self {
        Self {
            id: w.id,
            workspace_id: w.workspace_id,
            platform: w.platform.clone(),
            name: w.name.as_str().to_string(),
            description: w.description.clone(),
            enabled: w.enabled,
            intake_url: format!("{}/webhook/{}/trigger", app.config.base_url(), w.token),
            auth: w.auth.clone(),
            secret_hint: w.secrets.first().map(|s| {
                let tail: String = s
                    .expose()
                    .chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!("…{tail}")
            }),
            active_secrets: w.secrets.len(),
            field_mapping: w.field_mapping.clone(),
            severity_mapping: w.severity.map.clone(),
            default_severity: w.severity.default,
            dedup_window_hours: w.dedup_window_hours,
            rate_limit_per_hour: w.rate_limit_per_hour,
            correlation: w.correlation.clone(),
            automation: w.automation,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("validation_failed", message)
}

fn parse_id(id: &str) -> Result<WebhookId, ApiError> {
    id.parse().map_err(|_| ApiError::not_found("webhook"))
}

fn check_secret(s: &str) -> Result<Secret, ApiError> {
    let n = s.chars().count();
    if !(8..=512).contains(&n) || s.chars().any(char::is_control) {
        return Err(invalid(
            "secret must be 8-512 characters without control characters",
        ));
    }
    Ok(Secret::new(s))
}

fn check_mapping(m: &FieldMapping) -> Result<(), ApiError> {
    m.compile()
        .map(|_| ())
        .map_err(|e| invalid(e.to_string()))?;
    if m.title.is_none() {
        return Err(invalid("field_mapping.title is required"));
    }
    Ok(())
}

/// Correlation settings are checked (and regexes compiled) when saved; every problem is listed.
pub fn check_correlation(c: &CorrelationSettings) -> Result<(), ApiError> {
    c.compile()
        .map(|_| ())
        .map_err(|e| ApiError::bad_request("invalid_correlation_rules", e.to_string()))
}

const CREATE_FIELDS: &[&str] = &[
    "platform",
    "name",
    "description",
    "field_mapping",
    "severity_mapping",
    "default_severity",
    "dedup_window_hours",
    "rate_limit_per_hour",
    "enable_correlation",
    "correlation_window_minutes",
    "correlation_rules",
    "auto_trigger_rca",
    "rca_min_severity",
    "notify_workspace",
    "auth",
    "secret",
    "enabled",
];

fn check_auth(a: &AuthMethod) -> Result<(), ApiError> {
    a.validate().map_err(|e| invalid(format!("auth: {e}")))
}

/// Create a webhook: its intake URL, its secret (shown this once) and client examples.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created", body = WebhookWithSecret),
        (status = 400, description = "Invalid request, unknown field or platform, invalid mapping or rules", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = ErrorBody),
    ))]
pub async fn create(
    caller: Caller,
    State(app): State<AppState>,
    ApiJson(raw): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    let webhook = create_webhook(&caller, &app, raw).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithSecret::new(&webhook, &app)),
    ))
}

/// Validate a create request (the API's JSON shape) and store the new webhook. The web UI's
/// wizard calls this too.
pub(crate) async fn create_webhook(
    caller: &Caller,
    app: &AppState,
    raw: Value,
) -> Result<Webhook, ApiError> {
    if let Some(unknown) = raw
        .as_object()
        .and_then(|o| o.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())))
    {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "unknown field `{}`, expected one of: {}",
                unknown.chars().take(40).collect::<String>(),
                CREATE_FIELDS.join(", ")
            ),
        ));
    }
    let req: CreateWebhook = serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    check_correlation(&req.correlation)?;
    let platform = platforms::get(&req.platform).ok_or_else(|| {
        let known: Vec<_> = platforms::ALL.iter().map(|p| p.id).collect();
        invalid(format!(
            "unknown platform `{}`; expected one of: {}",
            req.platform.chars().take(40).collect::<String>(),
            known.join(", ")
        ))
    })?;
    let name = WebhookName::parse(&req.name).map_err(invalid)?;
    validate_description(&req.description).map_err(invalid)?;
    let field_mapping = platform.default_field_mapping().overlay(&req.field_mapping);
    check_mapping(&field_mapping)?;
    let dedup_window_hours = match req.dedup_window_hours {
        Some(h) => DedupWindow::try_from(h).map_err(invalid)?,
        None => DedupWindow::DEFAULT,
    };
    let auth = req.auth.unwrap_or_else(platform.default_auth);
    check_auth(&auth)?;
    let secret = match req.secret.as_deref() {
        Some(s) => check_secret(s)?,
        None => Secret::new(new_token("whsec_")),
    };
    let now = app.clock.now();
    let webhook = Webhook {
        id: WebhookId::generate(now, rand::random()),
        workspace_id: caller.workspace,
        platform: platform.id.to_string(),
        name,
        description: req.description.trim().to_string(),
        token: new_token(""),
        secrets: if auth.needs_secret() {
            vec![secret]
        } else {
            Vec::new()
        },
        auth,
        field_mapping,
        severity: SeverityPolicy {
            map: req.severity_mapping,
            default: req.default_severity.unwrap_or(Severity::Medium),
        },
        dedup_window_hours,
        rate_limit_per_hour: match req.rate_limit_per_hour {
            Some(n) => RateLimit::try_from(n).map_err(invalid)?,
            None => RateLimit::DEFAULT,
        },
        correlation: req.correlation,
        automation: req.automation,
        enabled: req.enabled.unwrap_or(true),
        created_at: now,
        updated_at: now,
    };
    app.store.create_webhook(&webhook).await?;
    tracing::info!(webhook = %webhook.id, platform = platform.id, "webhook created");
    Ok(webhook)
}

/// The workspace's webhooks.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "The webhooks", body = Items<WebhookOut>)))]
pub async fn list(
    caller: Caller,
    State(app): State<AppState>,
) -> Result<Json<Items<WebhookOut>>, ApiError> {
    let items: Vec<WebhookOut> = app
        .store
        .list_webhooks(caller.workspace)
        .await?
        .iter()
        .map(|w| WebhookOut::new(w, &app))
        .collect();
    Ok(Json(Items { items }))
}

pub(crate) async fn load(app: &AppState, caller: &Caller, id: &str) -> Result<Webhook, ApiError> {
    app.store
        .get_webhook(caller.workspace, parse_id(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "A webhook id (`whk_…`)")),
    responses(
        (status = 200, description = "The webhook (the secret only as a hint)", body = WebhookOut),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody),
    ))]
pub async fn get(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    let w = load(&app, &caller, &id).await?;
    Ok(Json(WebhookOut::new(&w, &app)))
}

/// Change some of a webhook's settings; absent fields keep their value.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "A webhook id (`whk_…`)")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The webhook as changed", body = WebhookOut),
        (status = 400, description = "Invalid request or value", body = ErrorBody),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ))]
pub async fn update(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateWebhook>,
) -> Result<Json<WebhookOut>, ApiError> {
    let w = update_webhook(&caller, &app, &id, req).await?;
    Ok(Json(WebhookOut::new(&w, &app)))
}

/// Validate and apply a change (the API's PATCH shape). The web UI calls this too.
pub(crate) async fn update_webhook(
    caller: &Caller,
    app: &AppState,
    id: &str,
    req: UpdateWebhook,
) -> Result<Webhook, ApiError> {
    let mut w = load(app, caller, id).await?;
    if let Some(name) = req.name {
        w.name = WebhookName::parse(&name).map_err(invalid)?;
    }
    if let Some(d) = req.description {
        validate_description(&d).map_err(invalid)?;
        w.description = d.trim().to_string();
    }
    if let Some(m) = req.field_mapping {
        let merged = w.field_mapping.overlay(&m);
        check_mapping(&merged)?;
        w.field_mapping = merged;
    }
    if let Some(map) = req.severity_mapping {
        w.severity.map = map;
    }
    if let Some(d) = req.default_severity {
        w.severity.default = d;
    }
    if let Some(h) = req.dedup_window_hours {
        w.dedup_window_hours = DedupWindow::try_from(h).map_err(invalid)?;
    }
    if let Some(n) = req.rate_limit_per_hour {
        w.rate_limit_per_hour = RateLimit::try_from(n).map_err(invalid)?;
    }
    if let Some(on) = req.enable_correlation {
        w.correlation.enable_correlation = on;
    }
    if let Some(m) = req.correlation_window_minutes {
        w.correlation.correlation_window_minutes = m;
    }
    if let Some(rules) = req.correlation_rules {
        w.correlation.correlation_rules = rules;
    }
    check_correlation(&w.correlation)?;
    if let Some(on) = req.auto_trigger_rca {
        w.automation.auto_trigger_rca = on;
    }
    if let Some(min) = req.rca_min_severity {
        w.automation.rca_min_severity = min;
    }
    if let Some(on) = req.notify_workspace {
        w.automation.notify_workspace = on;
    }
    if let Some(auth) = req.auth {
        check_auth(&auth)?;
        if auth.needs_secret() && w.secrets.is_empty() {
            w.secrets.push(Secret::new(new_token("whsec_")));
        }
        w.auth = auth;
    }
    if let Some(e) = req.enabled {
        w.enabled = e;
    }
    w.updated_at = app.clock.now();
    if !app.store.update_webhook(&w).await? {
        return Err(ApiError::not_found("webhook"));
    }
    app.webhooks.invalidate(&w.token);
    Ok(w)
}

/// Delete a webhook: its intake URL stops working at once.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "A webhook id (`whk_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody),
    ))]
pub async fn delete(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let w = load(&app, &caller, &id).await?;
    if !app.store.delete_webhook(caller.workspace, w.id).await? {
        return Err(ApiError::not_found("webhook"));
    }
    app.webhooks.invalidate(&w.token);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// Use this secret instead of a generated one.
    #[schema(
        min_length = 8,
        max_length = 512,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    secret: Option<String>,
    /// Drop the previous secret at once instead of keeping it active.
    #[serde(default)]
    revoke_previous: bool,
}

/// An optional JSON body: empty (or `null`) means all defaults.
fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice::<Option<T>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))
}

/// Make a new secret current. The previous one stays active (two at most) so senders can be
/// switched over without dropping alerts, unless `revoke_previous` is set. The body is optional.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "A webhook id (`whk_…`)")),
    request_body = Option<RotateSecret>,
    responses(
        (status = 200, description = "The webhook with its new secret, shown this once", body = WebhookWithSecret),
        (status = 400, description = "Invalid request or secret", body = ErrorBody),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody),
    ))]
pub async fn rotate_secret(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    let req: RotateSecret = optional_body(&body)?;
    let (w, _secret) = rotate(&caller, &app, &id, req).await?;
    // The new secret is the webhook's first: the reply shows it.
    Ok(Json(WebhookWithSecret::new(&w, &app)))
}

/// Make a new secret current (see [`rotate_secret`]); returns the webhook and the new secret.
pub(crate) async fn rotate(
    caller: &Caller,
    app: &AppState,
    id: &str,
    req: RotateSecret,
) -> Result<(Webhook, Secret), ApiError> {
    let mut w = load(app, caller, id).await?;
    let secret = match req.secret.as_deref() {
        Some(s) => check_secret(s)?,
        None => Secret::new(new_token("whsec_")),
    };
    if req.revoke_previous {
        w.secrets.clear();
    }
    w.secrets.insert(0, secret.clone());
    w.secrets.truncate(MAX_SECRETS);
    w.updated_at = app.clock.now();
    if !app.store.update_webhook(&w).await? {
        return Err(ApiError::not_found("webhook"));
    }
    app.webhooks.invalidate(&w.token);
    Ok((w, secret))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesParams {
    /// `accepted`, `rejected`, or an exact outcome word (`created`, `webhook_not_found`, …).
    outcome: Option<String>,
    /// The `next_cursor` of the previous page: deliveries older than this one.
    before: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
}

/// The webhook's delivery log, newest first: every request its intake URL received.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "A webhook id (`whk_…`)"), DeliveriesParams),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<Delivery>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody),
    ))]
pub async fn deliveries(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<DeliveriesParams>, QueryRejection>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let w = load(&app, &caller, &id).await?;
    let before = p
        .before
        .map(|b| b.parse::<DeliveryId>())
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let page = app
        .store
        .list_deliveries(&DeliveryQuery {
            webhook: w.id,
            outcome: p.outcome,
            before,
            limit: p.limit.unwrap_or(50),
        })
        .await?;
    Ok(Json(page))
}

/// Placeholder shown instead of a secret outside the one reply that reveals it.
pub const SECRET_PLACEHOLDER: &str = "<YOUR_WEBHOOK_SECRET>";

/// The client examples for a webhook; with `reveal`, filled in with the real current secret.
pub fn examples_for(app: &AppState, w: &Webhook, reveal: bool) -> crate::examples::Examples {
    let sample = platforms::get(&w.platform).map_or("{}", |p| p.sample);
    let url = format!("{}/webhook/{}/trigger", app.config.base_url(), w.token);
    let secret = if reveal {
        w.secrets.first().map(Secret::expose)
    } else {
        Some(SECRET_PLACEHOLDER)
    };
    crate::examples::render(&url, &w.auth, secret, sample)
}

/// `GET /api/v1/webhooks/{id}/examples`: cURL, Python and JavaScript that send the platform's
/// sample payload to this webhook. The secret appears as a placeholder; the replies to create and
/// rotate-secret carry the same examples with the real secret, once.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/examples", tag = "webhooks",
    params(("id" = String, Path, description = "A webhook id (`whk_…`)")),
    responses(
        (status = 200, description = "cURL, Python and JavaScript examples", body = Examples),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody),
    ))]
pub async fn examples(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<crate::examples::Examples>, ApiError> {
    let w = load(&app, &caller, &id).await?;
    Ok(Json(examples_for(&app, &w, false)))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestWebhook {
    /// The payload as JSON; the platform's sample payload when neither this nor `body` is given.
    payload: Option<Value>,
    /// The payload as text, used byte for byte (to test exactly what a sender would send).
    body: Option<String>,
    /// Really create (or update) an incident instead of a dry run.
    #[serde(default)]
    create_incident: bool,
}

/// `POST /api/v1/webhooks/{id}/test`: run a payload through this webhook's pipeline and report
/// the extracted fields, the normalized severity, the dedup key and what triage would decide, or
/// the exact error a sender would get. A dry run unless `create_incident` is set. See
/// [`crate::dry_run`]. The body is optional.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "A webhook id (`whk_…`)")),
    request_body = Option<TestWebhook>,
    responses(
        (status = 200, description = "What the pipeline did or would do with the payload", body = crate::dry_run::TestReport),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "No such webhook in this workspace", body = ErrorBody),
    ))]
pub async fn test(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<crate::dry_run::TestReport>, ApiError> {
    let req: TestWebhook = optional_body(&body)?;
    let w = load(&app, &caller, &id).await?;
    let payload = match (req.body, req.payload) {
        (Some(text), _) => text.into_bytes(),
        (None, Some(v)) => serde_json::to_vec(&v).map_err(ApiError::internal)?,
        (None, None) => platforms::get(&w.platform)
            .map_or("{}", |p| p.sample)
            .as_bytes()
            .to_vec(),
    };
    let compiled = crate::webhooks::CompiledWebhook::compile(w).map_err(ApiError::internal)?;
    let report = crate::dry_run::run(&app, &compiled, &payload, req.create_incident).await?;
    Ok(Json(report))
}
