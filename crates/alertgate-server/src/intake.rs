//! `POST /webhook/{token}/trigger`: verify → limit → decode → map → normalize → writer → reply.
//! Every request for a known webhook leaves a delivery-log row, accepted or not; a 2xx is sent
//! only after the writer committed the alerts, the incident changes and that row.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde_json::{json, Value};

use alertgate_core::alert::{AlertOutcome, Decision, NormalizedAlert};
use alertgate_core::auth::{AuthMethod, Headers};
use alertgate_core::correlation::CompiledCorrelation;
use alertgate_core::ids::{DeliveryId, IncidentId};
use alertgate_core::limits::{PayloadError, Warning};
use alertgate_core::mapping::{Extracted, MappingError};
use alertgate_core::platforms::{AlertDoc, Decoded};
use alertgate_core::{AlertStatus, IntakeError};
use alertgate_store::{DeliveryError, IngestItem, IngestResult, NewDelivery, WebhookContext};

use crate::error::{ApiError, ErrorBody};
use crate::redact::headers_for_log;
use crate::sns::SnsAuthError;
use crate::state::AppState;
use crate::webhooks::CompiledWebhook;
use crate::writer::WriteError;

/// Adapts axum's headers to core's [`Headers`].
struct HttpHeaders<'a>(&'a HeaderMap);

impl Headers for HttpHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        // A value that is not visible ASCII is present, not missing: it is passed on as a
        // replacement character, which no secret or signature can match.
        self.0.get(name).map(|v| v.to_str().unwrap_or("\u{FFFD}"))
    }
}

/// The reply to an accepted request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    incident_id: Option<IncidentId>,
    alert_id: Option<alertgate_core::AlertId>,
    status: String,
    occurrence_count: i64,
    delivery_id: DeliveryId,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<Warning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Vec<AlertOutcome>>,
}

/// A 405 must say which method the intake URL takes (RFC 9110); other replies pass unchanged.
fn allow_post(mut response: Response) -> Response {
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

/// A token is URL-safe base64 of 32 bytes; anything else cannot name a webhook and is not looked up.
fn plausible_token(token: &str) -> bool {
    (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Receive an alert from a monitoring platform. The URL's token names the webhook; the request
/// is authenticated the webhook's way (bearer secret, HMAC signature, API-key header, basic
/// auth, AWS SNS signature or none), not with an alertgate API key. The body is the platform's
/// own payload, decoded per the webhook's platform and field mapping. A 2xx is sent only once the
/// alert is stored; every request to a known webhook is in its delivery log.
#[utoipa::path(post, path = "/webhook/{token}/trigger", tag = "intake",
    params(("token" = String, Path, description = "The webhook's intake token (from its `intake_url`)")),
    request_body(content = Value, description = "The platform's payload, usually JSON", content_type = "application/json"),
    responses(
        (status = 201, description = "An incident was opened", body = Accepted),
        (status = 200, description = "Accepted: deduplicated, correlated, status changed or ignored", body = Accepted),
        (status = 400, description = "The body is not valid JSON or breaks a limit", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials for this webhook", body = ErrorBody),
        (status = 403, description = "The webhook is disabled", body = ErrorBody),
        (status = 404, description = "No webhook has this token", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 413, description = "The body is larger than the intake limit", body = ErrorBody),
        (status = 422, description = "The payload could not be decoded or mapped (e.g. no title)", body = ErrorBody),
        (status = 429, description = "Rate limit or too many failed authentications; see Retry-After", body = ErrorBody),
        (status = 502, description = "A platform resource could not be fetched (e.g. the SNS signing certificate)", body = ErrorBody),
        (status = 503, description = "Busy or the alert could not be stored; see Retry-After", body = ErrorBody),
    ))]
pub async fn trigger(
    State(app): State<AppState>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let received_at = app.clock.now();
    // A wrong method is wrong whatever the token: 405 (with `Allow`), known webhook or not.
    let refusal = if method == Method::POST {
        IntakeError::UnknownWebhook
    } else {
        IntakeError::MethodNotAllowed
    };
    if !plausible_token(&token) {
        return allow_post(ApiError::from(&refusal).into_response());
    }
    let webhook = match app.webhooks.by_token(&token).await {
        Ok(Some(w)) => w,
        Ok(None) => {
            let api = ApiError::from(&refusal);
            app.metrics
                .delivery("unknown", api.code, api.status.as_u16(), started.elapsed());
            return allow_post(api.into_response());
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut record = Record {
        app: &app,
        webhook: &webhook,
        started,
        delivery: NewDelivery {
            id: DeliveryId::generate(received_at, rand::random()),
            received_at,
            source_addr: Some(peer.ip().to_string()),
            method: method.to_string(),
            headers: headers_for_log(&headers, &webhook.secret_headers),
            body: String::new(),
            error: None,
            extracted: None,
            warnings: Vec::new(),
            latency_us: 0,
        },
    };
    // Other methods reach this handler too, so that a mistaken sender is in the delivery log.
    if method != Method::POST {
        return allow_post(record.refuse(IntakeError::MethodNotAllowed).await);
    }
    let limit = app.config.limits.max_body_bytes;
    let timeout_ms = app.config.request_timeout_ms;
    // A client that stalls mid-body must not hold the connection (and its memory) forever.
    let read = tokio::time::timeout(
        std::time::Duration::from_millis(timeout_ms),
        read_body(body, &headers, limit),
    );
    let bytes = match read.await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return record.refuse(e).await,
        Err(_elapsed) => {
            return record
                .refuse(IntakeError::RequestTimeout { timeout_ms })
                .await
        }
    };
    record.delivery.body = String::from_utf8_lossy(&bytes).into_owned();
    if !webhook.webhook.enabled {
        return record.refuse(IntakeError::Disabled).await;
    }
    let ip = peer.ip();
    if let Some(retry_after_secs) = app.rate_limits.auth_blocked(ip) {
        return record
            .refuse(IntakeError::TooManyAuthFailures { retry_after_secs })
            .await;
    }
    let verified = if let AuthMethod::AwsSns { topic_arns } = &webhook.webhook.auth {
        // SNS signs fields of the JSON envelope with a certificate alertgate must fetch.
        match app.sns.verify(&bytes, topic_arns, received_at).await {
            Ok(_) => Ok(()),
            Err(SnsAuthError::Refused(e)) => Err(e),
            Err(SnsAuthError::CertificateUnavailable(why)) => {
                tracing::warn!(%why, "SNS signing certificate unavailable");
                let e = IntakeError::Upstream(
                    "the SNS signing certificate could not be fetched".into(),
                );
                return record.refuse(e).await;
            }
        }
    } else {
        webhook
            .webhook
            .auth
            .verify(&HttpHeaders(&headers), &bytes, &webhook.webhook.secrets)
            .and_then(|()| {
                webhook
                    .webhook
                    .auth
                    .check_timestamp(&HttpHeaders(&headers), received_at)
            })
    };
    if let Err(e) = verified {
        if let Some(retry_after_secs) = app.rate_limits.auth_failed(ip) {
            return record
                .refuse(IntakeError::TooManyAuthFailures { retry_after_secs })
                .await;
        }
        return record.refuse(IntakeError::Auth(e)).await;
    }
    let sanitized = match app.config.limits.parse(&bytes) {
        Ok(s) => s,
        Err(e) => return record.refuse(IntakeError::Payload(e)).await,
    };
    record.delivery.warnings = sanitized.warnings;
    let docs = match (webhook.platform.decode)(&HttpHeaders(&headers), sanitized.value) {
        Ok(Decoded::Alerts(docs)) => docs,
        Ok(Decoded::Ignore { reason }) => return record.ignore(reason).await,
        Ok(Decoded::SubscriptionConfirmation {
            topic_arn,
            subscribe_url,
        }) => {
            // The signature was verified above, so this really is Amazon asking.
            return match app.sns.confirm(&subscribe_url).await {
                Ok(()) => {
                    tracing::info!(webhook = %webhook.webhook.id, %topic_arn, "SNS subscription confirmed");
                    record.delivery.extracted = Some(json!({
                        "sns_subscription": {"topic_arn": topic_arn, "subscribe_url": subscribe_url, "confirmed": true}
                    }));
                    record
                        .ignore(format!("SNS subscription to {topic_arn} confirmed"))
                        .await
                }
                Err(why) => {
                    tracing::warn!(%why, "SNS subscription confirmation failed");
                    let e = IntakeError::Upstream(format!(
                        "the SNS subscription to {topic_arn} could not be confirmed"
                    ));
                    record.refuse(e).await
                }
            };
        }
        Err(message) => return record.refuse(IntakeError::Decode(message)).await,
    };
    let (alerts, mut extracted): (Vec<_>, Vec<_>) = match normalize(&webhook, docs) {
        Ok(mapped) => mapped
            .into_iter()
            .map(|(alert, fields)| {
                let shown = extracted_json(&alert, &fields);
                (alert, shown)
            })
            .unzip(),
        Err(e) => return record.refuse(IntakeError::Mapping(e)).await,
    };
    // Only what can open an incident is charged: acknowledge and resolve events always pass.
    if alerts.iter().any(|a| a.status == AlertStatus::Firing) {
        let limit = webhook.webhook.rate_limit_per_hour.per_hour();
        if let Err(retry_after_secs) = app.rate_limits.charge_webhook(webhook.webhook.id, limit) {
            return record
                .refuse(IntakeError::RateLimited {
                    limit,
                    retry_after_secs,
                })
                .await;
        }
    }
    record.delivery.extracted = Some(if extracted.len() == 1 {
        extracted.swap_remove(0)
    } else {
        Value::Array(extracted)
    });
    record.accept(alerts).await
}

/// Map and normalize every alert document of a request with the webhook's mapping and severity
/// policy; the first document that does not map refuses the whole request. Shared by intake and
/// the webhook Test (see [`crate::dry_run`]).
pub fn normalize(
    webhook: &CompiledWebhook,
    docs: Vec<AlertDoc>,
) -> Result<Vec<(NormalizedAlert, Extracted)>, MappingError> {
    docs.into_iter()
        .map(|doc| {
            NormalizedAlert::from_doc(
                webhook.platform,
                &webhook.mapping,
                &webhook.webhook.severity,
                webhook.webhook.id,
                doc,
            )
        })
        .collect()
}

/// What the delivery log shows of one mapped alert.
pub fn extracted_json(alert: &NormalizedAlert, fields: &Extracted) -> Value {
    json!({
        "fields": fields,
        "severity": alert.severity,
        "status": alert.status,
        "dedup_key": alert.dedup_key,
    })
}

/// Read the body, refusing more than `limit` bytes (by Content-Length up front, or while reading).
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, IntakeError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared.filter(|n| *n > limit) {
        return Err(IntakeError::Payload(PayloadError::TooLarge {
            limit,
            actual: n,
        }));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(IntakeError::Payload(PayloadError::TooLarge {
                limit,
                actual: limit + 1,
            }))
        }
        Err(e) => Err(IntakeError::Payload(PayloadError::InvalidJson {
            detail: format!("the body could not be read: {e}"),
        })),
    }
}

/// What triage needs to know about the webhook (and its workspace's correlation settings, loaded
/// only when there are alerts to correlate).
pub async fn webhook_context(
    app: &AppState,
    webhook: &CompiledWebhook,
    has_alerts: bool,
) -> WebhookContext {
    let w = &webhook.webhook;
    let workspace_correlation = if !has_alerts {
        Arc::new(CompiledCorrelation::off())
    } else {
        match app.workspace_correlation.get(w.workspace_id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "workspace correlation settings unavailable; not correlating across webhooks");
                Arc::new(CompiledCorrelation::off())
            }
        }
    };
    WebhookContext {
        id: w.id,
        workspace_id: w.workspace_id,
        platform: webhook.platform.id,
        dedup_window: w.dedup_window_hours,
        correlation: webhook.correlation.clone(),
        workspace_correlation,
    }
}

/// Everything needed to record a delivery and answer the request.
struct Record<'a> {
    app: &'a AppState,
    webhook: &'a CompiledWebhook,
    started: Instant,
    delivery: NewDelivery,
}

impl Record<'_> {
    async fn item(mut self, alerts: Vec<NormalizedAlert>) -> Result<IngestItem, WriteError> {
        let webhook = webhook_context(self.app, self.webhook, !alerts.is_empty()).await;
        self.delivery.latency_us = self.started.elapsed().as_micros() as i64;
        let form = self.app.store.column_form();
        Ok(IngestItem::new(webhook, self.delivery, alerts, form)?)
    }

    /// Hand the delivery and its alerts to the writer and wait for the commit.
    async fn submit(self, alerts: Vec<NormalizedAlert>) -> Result<IngestResult, WriteError> {
        let writer = self.app.writer.clone();
        writer.submit(self.item(alerts).await?).await
    }

    /// Record a refused request (best effort: when the writer cannot take it, the refusal is still
    /// answered) and answer with the error.
    async fn refuse(mut self, error: IntakeError) -> Response {
        let api = ApiError::from(&error);
        let platform = self.webhook.platform.id;
        match &error {
            IntakeError::Auth(_) | IntakeError::TooManyAuthFailures { .. } => {
                self.app.metrics.auth_failed(platform)
            }
            IntakeError::RateLimited { .. } => self.app.metrics.rate_limited(platform),
            _ => {}
        }
        let (metrics, started) = (self.app.metrics.clone(), self.started);
        tracing::info!(
            webhook = %self.webhook.webhook.id,
            platform = self.webhook.platform.id,
            code = api.code,
            "delivery refused"
        );
        self.delivery.error = Some(DeliveryError {
            status_code: api.status.as_u16(),
            code: api.code.to_string(),
            message: api.message.clone(),
        });
        if let Err(e) = self.submit(Vec::new()).await {
            tracing::warn!(error = %e, "could not record a refused delivery");
        }
        metrics.delivery(platform, api.code, api.status.as_u16(), started.elapsed());
        api.into_response()
    }

    async fn ignore(mut self, reason: String) -> Response {
        if self.delivery.extracted.is_none() {
            self.delivery.extracted = Some(json!({ "ignored": reason }));
        }
        let (app, platform, started) = (self.app, self.webhook.platform.id, self.started);
        let response = match self.submit(Vec::new()).await {
            Ok(result) => (
                StatusCode::OK,
                Json(Accepted {
                    incident_id: None,
                    alert_id: None,
                    status: "ignored".into(),
                    occurrence_count: 0,
                    delivery_id: result.delivery_id,
                    decision: None,
                    message: Some(reason),
                    warnings: Vec::new(),
                    results: None,
                }),
            )
                .into_response(),
            Err(e) => write_error(e),
        };
        let outcome = if response.status().is_success() {
            "ignored"
        } else {
            "unavailable"
        };
        app.metrics.delivery(
            platform,
            outcome,
            response.status().as_u16(),
            started.elapsed(),
        );
        response
    }

    async fn accept(self, alerts: Vec<NormalizedAlert>) -> Response {
        let warnings = self.delivery.warnings.clone();
        let (app, platform, started) = (self.app, self.webhook.platform.id, self.started);
        let response = match self.submit(alerts).await {
            Ok(result) => {
                for o in &result.outcomes {
                    app.metrics.alert(platform, &o.decision, &o.status);
                }
                let status = StatusCode::from_u16(result.status_code).unwrap_or(StatusCode::OK);
                let first = result.outcomes.first().cloned();
                let several = result.outcomes.len() > 1;
                let body = Accepted {
                    incident_id: result.outcomes.iter().find_map(|o| o.incident_id),
                    alert_id: first.as_ref().and_then(|o| o.alert_id),
                    status: summary_status(&result.outcomes),
                    occurrence_count: first.as_ref().map_or(0, |o| o.occurrence_count),
                    delivery_id: result.delivery_id,
                    decision: if several {
                        None
                    } else {
                        first.map(|o| o.decision)
                    },
                    message: None,
                    warnings,
                    results: several.then_some(result.outcomes),
                };
                (status, Json(body)).into_response()
            }
            Err(e) => write_error(e),
        };
        let outcome = if response.status().is_success() {
            "accepted"
        } else {
            "unavailable"
        };
        app.metrics.delivery(
            platform,
            outcome,
            response.status().as_u16(),
            started.elapsed(),
        );
        response
    }
}

/// The reply's top-level `status` for several alerts: `created` when any opened an incident,
/// else the first alert's that did something, else `ignored`. Each alert's own is in `results`.
fn summary_status(outcomes: &[AlertOutcome]) -> String {
    if outcomes.iter().any(|o| o.decision == Decision::Created) {
        return "created".into();
    }
    outcomes
        .iter()
        .find(|o| !matches!(o.decision, Decision::Ignored { .. }))
        .or(outcomes.first())
        .map_or_else(|| "ignored".to_string(), |o| o.status.clone())
}

fn write_error(e: WriteError) -> Response {
    let error = match e {
        WriteError::Full => IntakeError::Overloaded {
            retry_after_secs: 1,
        },
        WriteError::Closed | WriteError::Store(_) => {
            tracing::warn!(error = %e, "alert not stored");
            IntakeError::Unavailable {
                retry_after_secs: 5,
            }
        }
    };
    ApiError::from(&error).into_response()
}
