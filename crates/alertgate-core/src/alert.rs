//! Normalized alerts and the decisions triage makes about them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fingerprint::{custom_dedup_key, default_dedup_key};
use crate::ids::{AlertId, IncidentId, WebhookId};
use crate::mapping::{CompiledMapping, Extracted, MappingError};
use crate::platforms::{AlertDoc, Platform};
use crate::severity::{Severity, SeverityPolicy};
use crate::status::AlertStatus;

/// One alert after mapping and normalization, ready for triage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NormalizedAlert {
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    /// What the payload said, when it was not one of the five names (kept for the user to see).
    pub raw_severity: Option<String>,
    pub services: Vec<String>,
    pub status: AlertStatus,
    pub dedup_key: String,
    /// True when the key came from the payload (the `dedup_key` path or the platform's identity).
    pub dedup_key_custom: bool,
    pub source_url: Option<String>,
    /// The alert's own document (for Alertmanager, one element of `alerts`), kept for display,
    /// correlation on payload fields and investigation context.
    pub payload: Value,
}

impl NormalizedAlert {
    /// Map and normalize one alert document with a webhook's compiled mapping and severity policy.
    pub fn from_doc(
        platform: &Platform,
        mapping: &CompiledMapping,
        policy: &SeverityPolicy,
        webhook: WebhookId,
        doc: AlertDoc,
    ) -> Result<(Self, Extracted), MappingError> {
        let extracted = mapping.extract(&doc.doc)?;
        let severity = policy.normalize(extracted.severity.as_deref(), &platform.severity);
        let raw_severity = extracted
            .severity
            .clone()
            .filter(|raw| raw.trim().parse::<Severity>().is_err());
        let status = doc
            .status
            .or_else(|| {
                extracted
                    .status
                    .as_deref()
                    .and_then(|s| (platform.status)(s).or_else(|| AlertStatus::from_synonym(s)))
            })
            .unwrap_or(AlertStatus::Firing);
        let identity = doc.identity.clone().or_else(|| extracted.dedup_key.clone());
        let (dedup_key, dedup_key_custom) = match identity {
            Some(k) => (custom_dedup_key(&k), true),
            None => (
                default_dedup_key(&extracted.title, severity.severity, webhook),
                false,
            ),
        };
        let alert = NormalizedAlert {
            title: extracted.title.clone(),
            description: extracted.description.clone(),
            severity: severity.severity,
            raw_severity,
            services: extracted.services.clone(),
            status,
            dedup_key,
            dedup_key_custom,
            source_url: extracted.source_url.clone(),
            payload: doc.doc,
        };
        Ok((alert, extracted))
    }
}

/// Why an alert landed where it did. Stored with the alert and returned by the intake API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// No open alert had this identity: a new incident was opened.
    Created,
    /// An open alert with the same dedup key was seen within the window: its count went up.
    Deduplicated {
        dedup_key: String,
        window_hours: u16,
        /// The alert this one was folded into.
        alert_id: AlertId,
        occurrence_count: i64,
    },
    /// No open alert had this identity, but the alert is related to an open incident (time
    /// window or correlation rules) and joined it.
    Correlated(crate::correlation::CorrelationMatch),
    /// The source reported a new state for an alert it sent before.
    StatusChanged {
        alert_id: AlertId,
        from: AlertStatus,
        to: AlertStatus,
    },
    /// Nothing to do: e.g. a resolve for an alert that is not open.
    Ignored { reason: String },
}

impl Decision {
    /// The word the intake response carries in `status`.
    pub fn status_word(&self) -> &'static str {
        match self {
            Decision::Created => "created",
            Decision::Deduplicated { .. } => "deduplicated",
            Decision::Correlated(_) => "correlated",
            Decision::StatusChanged { to, .. } => match to {
                AlertStatus::Firing => "reopened",
                AlertStatus::Acknowledged => "acknowledged",
                AlertStatus::Resolved => "resolved",
            },
            Decision::Ignored { .. } => "ignored",
        }
    }
}

/// The result of triaging one alert, as the writer reports it back to the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertOutcome {
    pub incident_id: Option<IncidentId>,
    pub alert_id: Option<AlertId>,
    /// `created`, `deduplicated`, `acknowledged`, `resolved`, `reopened` or `ignored`.
    pub status: String,
    pub occurrence_count: i64,
    pub decision: Decision,
}
