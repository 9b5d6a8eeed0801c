//! The webhook Test: run a payload through the intake pipeline — payload limits, decode, mapping,
//! normalization, fingerprint — and report what triage *would* decide, without writing anything,
//! unless the caller asked for a real test incident.
//!
//! Authentication is skipped: the caller is already an admin of the webhook's workspace (a
//! signed-in admin in the UI, an admin key on `POST /api/v1/webhooks/{id}/test`), and what a test
//! checks is the payload and the mapping, not a sender's credentials. The rate limit is not
//! charged. Triage is asked of the store with [`alertgate_store::Store::preview_ingest`], which
//! runs the real dedup/correlation/lifecycle code in a transaction that is rolled back, so the
//! answer is what the next real delivery would get.

use serde::Serialize;

use alertgate_core::alert::{AlertOutcome, Decision};
use alertgate_core::auth::Headers;
use alertgate_core::correlation::{MatchedBy, Scope};
use alertgate_core::ids::DeliveryId;
use alertgate_core::limits::Warning;
use alertgate_core::mapping::Extracted;
use alertgate_core::platforms::Decoded;
use alertgate_core::{AlertStatus, IntakeError, Severity};
use alertgate_store::{DeliveryError, IngestItem, NewDelivery};

use crate::error::ApiError;
use crate::intake::{extracted_json, normalize, webhook_context};
use crate::state::AppState;
use crate::webhooks::CompiledWebhook;

/// The report of one test.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestReport {
    /// False when the test really created (or updated) an incident.
    pub dry_run: bool,
    /// The status code the intake endpoint would answer (or answered) with.
    pub status_code: u16,
    /// The error a real delivery would get, exactly as the sender would see it.
    pub error: Option<DeliveryError>,
    /// Why a valid payload carries no alert (a ping, an SNS subscription handshake).
    pub ignored: Option<String>,
    pub warnings: Vec<Warning>,
    pub alerts: Vec<TestAlert>,
    /// The delivery-log row of a test that created an incident.
    pub delivery_id: Option<DeliveryId>,
    /// Set when triage could not be previewed (the alerts are mapped, the decision unknown).
    pub triage_unavailable: Option<String>,
}

/// One alert of the payload, as mapped and triaged.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestAlert {
    pub fields: Extracted,
    pub severity: Severity,
    /// The payload's severity when it was not one of the five names.
    pub raw_severity: Option<String>,
    pub status: AlertStatus,
    pub dedup_key: String,
    /// True when the key came from the payload, false when it is the default hash.
    pub dedup_key_custom: bool,
    /// What triage decided (ids of objects a dry run would create are left out).
    pub outcome: Option<AlertOutcome>,
    /// The decision in words.
    pub explanation: Option<String>,
}

/// Headers a test "request" carries: none.
struct NoHeaders;

impl Headers for NoHeaders {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

fn refused(error: &IntakeError) -> TestReport {
    let api = ApiError::from(error);
    TestReport {
        dry_run: true,
        status_code: api.status.as_u16(),
        error: Some(DeliveryError {
            status_code: api.status.as_u16(),
            code: api.code.to_string(),
            message: api.message,
        }),
        ignored: None,
        warnings: Vec::new(),
        alerts: Vec::new(),
        delivery_id: None,
        triage_unavailable: None,
    }
}

fn ignored(reason: String, warnings: Vec<Warning>) -> TestReport {
    TestReport {
        dry_run: true,
        status_code: 200,
        error: None,
        ignored: Some(reason),
        warnings,
        alerts: Vec::new(),
        delivery_id: None,
        triage_unavailable: None,
    }
}

/// Test `body` against `webhook`. With `create_incident`, the alerts go through the writer like a
/// real delivery (and leave a delivery-log row); otherwise nothing is written.
pub async fn run(
    app: &AppState,
    webhook: &CompiledWebhook,
    body: &[u8],
    create_incident: bool,
) -> Result<TestReport, ApiError> {
    let sanitized = match app.config.limits.parse(body) {
        Ok(s) => s,
        Err(e) => return Ok(refused(&IntakeError::Payload(e))),
    };
    let warnings = sanitized.warnings;
    let docs = match (webhook.platform.decode)(&NoHeaders, sanitized.value) {
        Ok(Decoded::Alerts(docs)) => docs,
        Ok(Decoded::Ignore { reason }) => return Ok(ignored(reason, warnings)),
        Ok(Decoded::SubscriptionConfirmation { topic_arn, .. }) => {
            return Ok(ignored(
                format!(
                    "an SNS subscription confirmation for {topic_arn}: a real delivery (signed by \
                     SNS) would be confirmed by fetching its SubscribeURL; a test does not"
                ),
                warnings,
            ))
        }
        Err(message) => return Ok(refused(&IntakeError::Decode(message))),
    };
    let mapped = match normalize(webhook, docs) {
        Ok(m) => m,
        Err(e) => return Ok(refused(&IntakeError::Mapping(e))),
    };
    let (alerts, fields): (Vec<_>, Vec<_>) = mapped.into_iter().unzip();
    let now = app.clock.now();
    let context = webhook_context(app, webhook, !alerts.is_empty()).await;
    let extracted = match alerts.as_slice() {
        [one] => extracted_json(one, &fields[0]),
        _ => serde_json::Value::Array(
            alerts
                .iter()
                .zip(&fields)
                .map(|(a, f)| extracted_json(a, f))
                .collect(),
        ),
    };
    let item = IngestItem::new(
        context,
        NewDelivery {
            id: DeliveryId::new(now, rand::random()),
            received_at: now,
            source_addr: None,
            method: "POST".into(),
            headers: vec![(
                "x-alertgate-test".into(),
                "sent from the webhook's Test tab".into(),
            )],
            body: String::from_utf8_lossy(body).into_owned(),
            error: None,
            extracted: Some(extracted),
            warnings: warnings.clone(),
            latency_us: 0,
        },
        alerts.clone(),
        app.store.column_form(),
    )
    .map_err(|e| ApiError::internal(format!("the test delivery could not be encoded: {e}")))?;
    let (result, triage_unavailable) = if create_incident {
        let r = app.writer.submit(item).await.map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("the test incident could not be stored: {e}"),
            )
        })?;
        (Some(r), None)
    } else {
        match app.store.preview_ingest(item, now).await {
            Ok(r) => (Some(r), None),
            Err(e) => {
                tracing::warn!(error = %e, "triage preview failed");
                (None, Some(e.to_string()))
            }
        }
    };
    let dry_run = !create_incident;
    let outcomes = result
        .as_ref()
        .map(|r| r.outcomes.clone())
        .unwrap_or_default();
    let alerts = alerts
        .into_iter()
        .zip(fields)
        .enumerate()
        .map(|(i, (a, f))| {
            let outcome = outcomes.get(i).cloned().map(|mut o| {
                if dry_run && o.decision == Decision::Created {
                    // Invented by the rolled-back transaction: they name nothing.
                    o.incident_id = None;
                    o.alert_id = None;
                }
                o
            });
            TestAlert {
                explanation: outcome.as_ref().map(|o| explain(&o.decision, dry_run)),
                outcome,
                fields: f,
                severity: a.severity,
                raw_severity: a.raw_severity,
                status: a.status,
                dedup_key: a.dedup_key,
                dedup_key_custom: a.dedup_key_custom,
            }
        })
        .collect();
    Ok(TestReport {
        dry_run,
        status_code: result.as_ref().map_or(200, |r| r.status_code),
        error: None,
        ignored: None,
        warnings,
        alerts,
        delivery_id: result.filter(|_| create_incident).map(|r| r.delivery_id),
        triage_unavailable,
    })
}

/// A decision in words, as the incident page and the Test tab show it. `would`: for a dry run.
pub fn explain(decision: &Decision, would: bool) -> String {
    let (opens, counts, joins, marks) = if would {
        ("would open", "would count", "would join", "would mark")
    } else {
        ("opened", "counted", "joined", "marked")
    };
    match decision {
        Decision::Created => format!(
            "No open alert has this dedup key, and no open incident correlates: {opens} a new incident."
        ),
        Decision::Deduplicated {
            dedup_key,
            window_hours,
            alert_id,
            occurrence_count,
        } => format!(
            "Duplicate of open alert {alert_id} (same dedup key {}, seen again within the {window_hours} h dedup window): {counts} as occurrence {occurrence_count}.",
            short_key(dedup_key)
        ),
        Decision::Correlated(m) => {
            let scope = match m.scope {
                Scope::Webhook => "this webhook's",
                Scope::Workspace => "the workspace's",
            };
            let why = match m.by {
                MatchedBy::Rules => format!(
                    "{scope} correlation rules {} matched (score {:.2})",
                    m.rules
                        .iter()
                        .map(|r| format!("\u{201c}{r}\u{201d}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    m.score
                ),
                MatchedBy::TimeWindow => format!(
                    "{scope} time-window correlation (no rules: the newest open incident)"
                ),
            };
            format!(
                "No open alert has this dedup key, but {why} within {} min: {joins} incident {}.",
                m.window_minutes, m.incident_id
            )
        }
        Decision::StatusChanged { alert_id, from, to } => format!(
            "The source reports alert {alert_id} as {}: {marks} it {} (was {}).",
            to.as_str(),
            to.as_str(),
            from.as_str()
        ),
        Decision::Ignored { reason } => format!("Nothing to do: {reason}."),
    }
}

fn short_key(key: &str) -> String {
    let short: String = key.chars().take(24).collect();
    if short.len() < key.len() {
        format!("{short}…")
    } else {
        short
    }
}
