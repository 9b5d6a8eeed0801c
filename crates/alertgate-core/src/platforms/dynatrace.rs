//! Dynatrace problem notifications through a custom integration (webhook).
//!
//! The payload is a template the customer writes with placeholders (`{State}`, `{PID}`, …); the
//! key names below are the ones Dynatrace's documentation and the common published templates use,
//! read directly: title `ProblemTitle`, state `State` (`OPEN`, `RESOLVED`, `MERGED`), severity
//! `ProblemSeverity` (`AVAILABILITY`, `ERROR`, `PERFORMANCE`, `RESOURCE_CONTENTION`,
//! `CUSTOM_ALERT`, …) falling back to `ProblemImpact` (`APPLICATION`, `SERVICE`,
//! `INFRASTRUCTURE`, `ENVIRONMENT`), identity `PID` (stable internal id) falling back to
//! `ProblemID` (the display number, `P-22011`), link `ProblemURL` or `Problem URL` (the
//! documentation's template has a space). Derived: the services, from the names in
//! `{ImpactedEntities}` (an array of `{type, name, entity}`), else `ImpactedEntityNames`.
//!
//! Decisions, written down:
//! - `MERGED` resolves: the problem was folded into another one, which arrives under its own
//!   `PID` and keeps going there.
//! - Templates are hand-written and repeat keys (keep.dev's has `"State"` twice). alertgate parses
//!   JSON like serde_json does: **the last duplicate wins**. With the same placeholder twice the
//!   values agree; if a template puts different values under one key, only the last is seen, so
//!   put the state placeholder once, or last. The raw body is kept in the delivery log as sent.
//!
//! Authentication: the integration sends static custom headers; alertgate expects
//! `Authorization: Api-Token <secret>`.

use serde_json::Value;

use super::derived::{self, Derived};
use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;

pub static PLATFORM: Platform = Platform {
    id: "dynatrace",
    name: "Dynatrace",
    category: Category::ApmErrorTracking,
    default_auth: || AuthMethod::ApiKey {
        header: "Authorization".into(),
        prefix: "Api-Token ".into(),
    },
    default_mapping: &[
        (Field::Title, "$.ProblemTitle"),
        (
            Field::Description,
            "$['ProblemDetailsText','ProblemDetailsMarkdown','ImpactedEntity']",
        ),
        (Field::Severity, "$['ProblemSeverity','ProblemImpact']"),
        (Field::Services, "$.alertgate.services"),
        (Field::DedupKey, "$['PID','ProblemID']"),
        (Field::Status, "$.State"),
        (Field::SourceUrl, "$['ProblemURL','Problem URL']"),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: "In Dynatrace, open Settings > Integration > Problem notifications, add a notification of type Custom \
integration, and set Webhook URL = this webhook's intake URL. Add a custom HTTP header Authorization with the value \
\"Api-Token <secret>\" (this webhook's secret). Turn on \"Call webhook if problem is closed\" so incidents resolve here. \
Use this payload (placeholders without quotes expand to JSON): {\"State\":\"{State}\",\"PID\":\"{PID}\",\
\"ProblemID\":\"{ProblemID}\",\"ProblemTitle\":\"{ProblemTitle}\",\"ProblemURL\":\"{ProblemURL}\",\
\"ProblemSeverity\":\"{ProblemSeverity}\",\"ProblemImpact\":\"{ProblemImpact}\",\"ImpactedEntity\":\"{ImpactedEntity}\",\
\"ImpactedEntities\":{ImpactedEntities},\"Tags\":\"{Tags}\",\"ProblemDetailsJSON\":{ProblemDetailsJSON}}",
    decode,
};

const SEVERITY: &[(&str, Severity)] = &[
    ("AVAILABILITY", Severity::Critical),
    ("ERROR", Severity::High),
    ("PERFORMANCE", Severity::Medium),
    ("RESOURCE_CONTENTION", Severity::Medium),
    ("CUSTOM_ALERT", Severity::Medium),
    ("MONITORING_UNAVAILABLE", Severity::Low),
    ("INFO", Severity::Info),
    // Impact, used when the template has no severity.
    ("APPLICATION", Severity::High),
    ("SERVICE", Severity::High),
    ("INFRASTRUCTURE", Severity::Medium),
    ("ENVIRONMENT", Severity::Medium),
];

const STATUS: &[(&str, AlertStatus)] = &[
    ("OPEN", AlertStatus::Firing),
    ("RESOLVED", AlertStatus::Resolved),
    ("MERGED", AlertStatus::Resolved),
    ("CLOSED", AlertStatus::Resolved),
];

fn severity(raw: &str) -> Option<Severity> {
    derived::lookup(SEVERITY, raw)
}

fn status(raw: &str) -> Option<AlertStatus> {
    derived::lookup(STATUS, raw)
}

/// At most this many impacted entities become services.
const MAX_SERVICES: usize = 20;

fn decode(_: &dyn Headers, mut body: Value) -> Result<Decoded, String> {
    if !body.is_object() {
        return Err(
            "the body must be a JSON object (check the custom integration's payload)".into(),
        );
    }
    let mut services: Vec<String> = match body.get("ImpactedEntities") {
        Some(Value::Array(entities)) => entities
            .iter()
            .filter_map(|e| derived::text_at(e, &["name"]))
            .take(MAX_SERVICES)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if services.is_empty() {
        services.extend(
            derived::text_at(&body, &["ImpactedEntityNames"])
                .or_else(|| derived::text_at(&body, &["NamesOfImpactedEntities"]))
                .map(str::to_string),
        );
    }
    let started_at = derived::time_at(&body, &["ProblemDetailsJSON", "startTime"])
        .or_else(|| derived::time_at(&body, &["ProblemDetails", "startTime"]));
    let mut d = Derived::new();
    d.list("services", services);
    d.attach(&mut body);
    Ok(Decoded::Alerts(vec![AlertDoc {
        started_at,
        ..AlertDoc::plain(body)
    }]))
}

const SAMPLE: &str = r#"{
  "State": "OPEN",
  "PID": "-5988270214550055152_1740823947000V2",
  "ProblemID": "P-25031",
  "ProblemTitle": "Failure rate increase on checkout-service",
  "ProblemURL": "https://abc12345.live.dynatrace.com/#problems/problemdetails;pid=-5988270214550055152_1740823947000V2",
  "ProblemSeverity": "ERROR",
  "ProblemImpact": "SERVICE",
  "ImpactedEntity": "Failure rate increase on Web request service checkout-service",
  "ImpactedEntities": [
    {"type": "SERVICE", "name": "checkout-service", "entity": "SERVICE-5A7C1E3B9D2F4A60"}
  ],
  "Tags": "team:checkout, env:prod",
  "ProblemDetailsJSON": {"id": "-5988270214550055152_1740823947000V2", "startTime": 1740823947000, "endTime": -1, "displayName": "P-25031", "status": "OPEN", "severityLevel": "ERROR", "impactLevel": "SERVICE"}
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let body: Value =
            serde_json::from_str(r#"{"State":"OPEN","ProblemTitle":"t","State":"RESOLVED"}"#)
                .unwrap();
        assert_eq!(body["State"], "RESOLVED");
        let none: &[(&str, &str)] = &[];
        let Decoded::Alerts(docs) = decode(&none, body).unwrap() else {
            panic!()
        };
        assert_eq!(docs[0].doc["State"], "RESOLVED");
    }

    #[test]
    fn services_come_from_entity_names_else_the_names_placeholder() {
        let none: &[(&str, &str)] = &[];
        let body = serde_json::json!({"ImpactedEntityNames": "db-1", "ImpactedEntities": []});
        let Decoded::Alerts(docs) = decode(&none, body).unwrap() else {
            panic!()
        };
        assert_eq!(
            docs[0].doc["alertgate"]["services"],
            serde_json::json!(["db-1"])
        );
    }

    #[test]
    fn merged_problems_resolve_and_impact_stands_in_for_severity() {
        assert_eq!(status("MERGED"), Some(AlertStatus::Resolved));
        assert_eq!(status("open"), Some(AlertStatus::Firing));
        assert_eq!(severity("AVAILABILITY"), Some(Severity::Critical));
        assert_eq!(severity("INFRASTRUCTURE"), Some(Severity::Medium));
    }
}
