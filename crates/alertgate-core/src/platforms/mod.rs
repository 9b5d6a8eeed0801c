//! Platforms: what alertgate knows about each sender. A platform is mostly data (default auth,
//! default field mapping, severity and status tables, a sample payload, setup instructions) plus,
//! where data is not enough, a `decode` step that turns the platform's envelope into one alert
//! document per alert. Adding a platform is one new file here and one line in [`ALL`].

use serde::Serialize;
use serde_json::Value;

use crate::auth::{AuthMethod, Headers};
use crate::mapping::FieldMapping;
use crate::severity::Severity;
use crate::status::AlertStatus;

mod alertmanager;
mod aws_cloudwatch;
mod azure_monitor;
mod datadog;
mod derived;
mod dynatrace;
mod gcp_monitoring;
mod generic;
mod grafana;
mod newrelic;
mod opsgenie;
mod pagerduty;
mod sentry;
mod servicenow;
mod splunk;

/// How the UI groups platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    IncidentManagement,
    MonitoringObservability,
    CloudProviderAlerting,
    ApmErrorTracking,
    Custom,
}

impl Category {
    pub fn id(self) -> &'static str {
        match self {
            Category::IncidentManagement => "incident_management",
            Category::MonitoringObservability => "monitoring_observability",
            Category::CloudProviderAlerting => "cloud_provider_alerting",
            Category::ApmErrorTracking => "apm_error_tracking",
            Category::Custom => "custom",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::IncidentManagement => "Incident Management",
            Category::MonitoringObservability => "Monitoring & Observability",
            Category::CloudProviderAlerting => "Cloud Provider Alerting",
            Category::ApmErrorTracking => "APM & Error Tracking",
            Category::Custom => "Custom",
        }
    }
}

/// One alert found in a request, to be mapped with the webhook's field mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDoc {
    /// The document the mapping's paths are evaluated against.
    pub doc: Value,
    /// A state the decoder determined itself (e.g. from the envelope), overriding the status path.
    pub status: Option<AlertStatus>,
    /// An identity the decoder determined itself, overriding the dedup-key path.
    pub identity: Option<String>,
    /// When the source says the alert started (or the event happened), if it says.
    pub started_at: Option<crate::time::Timestamp>,
}

impl AlertDoc {
    pub fn plain(doc: Value) -> Self {
        Self {
            doc,
            status: None,
            identity: None,
            started_at: None,
        }
    }
}

/// What a platform's decoder made of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Alerts to map and triage (at least one).
    Alerts(Vec<AlertDoc>),
    /// A request that is valid but carries no alert (a ping, a test, an unrelated event).
    Ignore { reason: String },
    /// An AWS SNS subscription handshake. Once the request's signature is verified (see
    /// [`crate::sns`]), the server confirms the subscription by fetching `subscribe_url` (already
    /// checked to be HTTPS on an SNS host); nothing is delivered until it does.
    SubscriptionConfirmation {
        topic_arn: String,
        subscribe_url: String,
    },
}

/// A platform's knowledge. `&'static` data and plain functions, so the registry is a constant.
pub struct Platform {
    pub id: &'static str,
    pub name: &'static str,
    pub category: Category,
    /// The authentication the platform can perform, as a new webhook gets it.
    pub default_auth: fn() -> AuthMethod,
    /// Default JSONPath per field, evaluated against each decoded alert document.
    pub default_mapping: &'static [(crate::mapping::Field, &'static str)],
    /// The platform's own severity vocabulary (consulted before the built-in synonyms).
    pub severity: fn(&str) -> Option<Severity>,
    /// The platform's own state vocabulary (consulted before the built-in synonyms).
    pub status: fn(&str) -> Option<AlertStatus>,
    /// A representative payload, for the Test tab and `send-test`.
    pub sample: &'static str,
    /// What to do on the platform's side, in Markdown-free plain text.
    pub setup: &'static str,
    /// Turn a parsed request body into alert documents.
    pub decode: fn(&dyn Headers, Value) -> Result<Decoded, String>,
}

impl Platform {
    pub fn default_field_mapping(&self) -> FieldMapping {
        let mut m = FieldMapping::default();
        let overrides: Vec<_> = self.default_mapping.to_vec();
        for (field, path) in overrides {
            m = m.overlay(&single(field, path));
        }
        m
    }
}

fn single(field: crate::mapping::Field, path: &str) -> FieldMapping {
    use crate::mapping::Field::*;
    let p = Some(path.to_string());
    let mut m = FieldMapping::default();
    match field {
        Title => m.title = p,
        Description => m.description = p,
        Severity => m.severity = p,
        Services => m.services = p,
        DedupKey => m.dedup_key = p,
        Status => m.status = p,
        SourceUrl => m.source_url = p,
    }
    m
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").field("id", &self.id).finish()
    }
}

/// Every platform alertgate knows, in the order the UI lists them.
pub static ALL: &[&Platform] = &[
    &pagerduty::PLATFORM,
    &opsgenie::PLATFORM,
    &servicenow::PLATFORM,
    &datadog::PLATFORM,
    &grafana::PLATFORM,
    &alertmanager::PLATFORM,
    &splunk::PLATFORM,
    &aws_cloudwatch::PLATFORM,
    &azure_monitor::PLATFORM,
    &gcp_monitoring::PLATFORM,
    &newrelic::PLATFORM,
    &dynatrace::PLATFORM,
    &sentry::PLATFORM,
    &generic::PLATFORM,
];

/// The platform with this id.
pub fn get(id: &str) -> Option<&'static Platform> {
    ALL.iter().copied().find(|p| p.id == id)
}

/// A decoder for platforms that send exactly one alert per request as a JSON object.
pub fn decode_single_object(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    if !body.is_object() {
        return Err("the body must be a JSON object".into());
    }
    Ok(Decoded::Alerts(vec![AlertDoc::plain(body)]))
}

pub(crate) fn no_table<T>(_: &str) -> Option<T> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_has_a_valid_default_mapping_and_a_sample_that_maps() {
        for p in ALL {
            let m = p.default_field_mapping();
            let compiled = m.compile().unwrap_or_else(|e| panic!("{}: {e}", p.id));
            let sample: Value =
                serde_json::from_str(p.sample).unwrap_or_else(|e| panic!("{}: {e}", p.id));
            let none: &[(&str, &str)] = &[];
            let Decoded::Alerts(docs) = (p.decode)(&none, sample).unwrap() else {
                panic!("{}: sample decodes to nothing", p.id)
            };
            for d in docs {
                compiled
                    .extract(&d.doc)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.id));
            }
            (p.default_auth)().validate().unwrap();
        }
    }

    #[test]
    fn platform_ids_are_unique() {
        let mut ids: Vec<_> = ALL.iter().map(|p| p.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
    }
}
