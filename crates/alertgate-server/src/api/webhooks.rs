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
use serde_json::{json, Value};

use alertgate_core::auth::{AuthMethod, Secret};
use alertgate_core::correlation::{CorrelationSettings, RuleSet};
use alertgate_core::ids::{DeliveryId, WebhookId, WorkspaceId};
use alertgate_core::mapping::FieldMapping;
use alertgate_core::platforms;
use alertgate_core::severity::SeverityPolicy;
use alertgate_core::webhook::{
    validate_description, DedupWindow, RateLimit, Webhook, WebhookName, MAX_SECRETS,
};
use alertgate_core::{Severity, Timestamp};
use alertgate_store::DeliveryQuery;

use super::auth::Caller;
use super::json::ApiJson;
use crate::error::ApiError;
use crate::state::{new_token, AppState};

#[derive(Debug, Deserialize)]
pub struct CreateWebhook {
    #[serde(default = "generic")]
    platform: String,
    name: String,
    #[serde(default)]
    description: String,
    /// Overrides of the platform's default paths; an empty string removes a path.
    #[serde(default)]
    field_mapping: FieldMapping,
    #[serde(default)]
    severity_mapping: BTreeMap<String, Severity>,
    default_severity: Option<Severity>,
    dedup_window_hours: Option<i64>,
    /// Requests per hour, 0 (unlimited) to 10,000; default 100.
    rate_limit_per_hour: Option<i64>,
    /// `enable_correlation`, `correlation_window_minutes`, `correlation_rules`.
    #[serde(flatten)]
    correlation: CorrelationSettings,
    /// Defaults to the platform's authentication.
    auth: Option<AuthMethod>,
    /// Use this secret instead of a generated one (e.g. the one PagerDuty shows for a subscription).
    secret: Option<String>,
    enabled: Option<bool>,
}

fn generic() -> String {
    "generic".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    name: Option<String>,
    description: Option<String>,
    /// Merged into the current mapping; an empty string removes a path.
    field_mapping: Option<FieldMapping>,
    severity_mapping: Option<BTreeMap<String, Severity>>,
    default_severity: Option<Severity>,
    dedup_window_hours: Option<i64>,
    rate_limit_per_hour: Option<i64>,
    enable_correlation: Option<bool>,
    correlation_window_minutes: Option<i64>,
    correlation_rules: Option<RuleSet>,
    auth: Option<AuthMethod>,
    enabled: Option<bool>,
}

#[derive(Debug, Serialize)]
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
    created_at: Timestamp,
    updated_at: Timestamp,
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
    "auth",
    "secret",
    "enabled",
];

fn check_auth(a: &AuthMethod) -> Result<(), ApiError> {
    a.validate().map_err(|e| invalid(format!("auth: {e}")))
}

pub async fn create(
    caller: Caller,
    State(app): State<AppState>,
    ApiJson(raw): ApiJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
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
        enabled: req.enabled.unwrap_or(true),
        created_at: now,
        updated_at: now,
    };
    app.store.create_webhook(&webhook).await?;
    tracing::info!(webhook = %webhook.id, platform = platform.id, "webhook created");
    let mut out =
        serde_json::to_value(WebhookOut::new(&webhook, &app)).map_err(ApiError::internal)?;
    out["secret"] = webhook
        .secrets
        .first()
        .map_or(Value::Null, |s| Value::String(s.expose().to_string()));
    out["examples"] = json!(examples_for(&app, &webhook, true));
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn list(caller: Caller, State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let items: Vec<WebhookOut> = app
        .store
        .list_webhooks(caller.workspace)
        .await?
        .iter()
        .map(|w| WebhookOut::new(w, &app))
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn load(app: &AppState, caller: &Caller, id: &str) -> Result<Webhook, ApiError> {
    app.store
        .get_webhook(caller.workspace, parse_id(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

pub async fn get(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    let w = load(&app, &caller, &id).await?;
    Ok(Json(WebhookOut::new(&w, &app)))
}

pub async fn update(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateWebhook>,
) -> Result<Json<WebhookOut>, ApiError> {
    let mut w = load(&app, &caller, &id).await?;
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
    Ok(Json(WebhookOut::new(&w, &app)))
}

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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// Use this secret instead of a generated one.
    secret: Option<String>,
    /// Drop the previous secret at once instead of keeping it active.
    #[serde(default)]
    revoke_previous: bool,
}

/// Make a new secret current. The previous one stays active (two at most) so senders can be
/// switched over without dropping alerts, unless `revoke_previous` is set.
pub async fn rotate_secret(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: RotateSecret = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecret::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?
    };
    let mut w = load(&app, &caller, &id).await?;
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
    let mut out = serde_json::to_value(WebhookOut::new(&w, &app)).map_err(ApiError::internal)?;
    out["secret"] = Value::String(secret.expose().to_string());
    out["examples"] = json!(examples_for(&app, &w, true));
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesParams {
    outcome: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

pub async fn deliveries(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<DeliveriesParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!(page)))
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
pub async fn examples(
    caller: Caller,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<crate::examples::Examples>, ApiError> {
    let w = load(&app, &caller, &id).await?;
    Ok(Json(examples_for(&app, &w, false)))
}
