//! Azure Monitor alerts through an action group webhook, in the Common Alert Schema.
//!
//! One request is one alert instance; everything the mapping needs is in `data.essentials`, read
//! directly: severity `Sev0`–`Sev4`, state `monitorCondition` (`Fired`/`Resolved`, no
//! acknowledgement), identity `alertId` (the same ARM id for the fired and the resolved
//! notification), services `configurationItems`, and for log search alerts the link to the
//! results. The decoder only insists on the common schema and derives the title: `alertRule` is
//! `null` for budget (cost) alerts, which also have a `null` severity (→ the webhook's default)
//! and a `null` condition (→ firing), so their title falls back to the description.
//!
//! Authentication: plain action-group webhooks cannot send headers, so the unguessable intake URL
//! is the credential (`AuthMethod::None`). Azure's "secure webhook" (an Entra ID bearer token) is
//! not verified by alertgate.

use serde_json::Value;

use super::derived::{self, Derived};
use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;

pub static PLATFORM: Platform = Platform {
    id: "azure_monitor",
    name: "Azure Monitor",
    category: Category::CloudProviderAlerting,
    default_auth: || AuthMethod::None,
    default_mapping: &[
        (Field::Title, "$.alertgate.title"),
        (Field::Description, "$.data.essentials.description"),
        (Field::Severity, "$.data.essentials.severity"),
        (Field::Services, "$.data.essentials.configurationItems"),
        (Field::DedupKey, "$.data.essentials.alertId"),
        (Field::Status, "$.data.essentials.monitorCondition"),
        (
            Field::SourceUrl,
            "$.data.alertContext.condition.allOf[0].linkToSearchResultsUI",
        ),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: "In the Azure portal, open Monitor > Alerts > Action groups, create or edit an action group and add an action of \
type Webhook. Paste this webhook's intake URL as the URI and set \"Enable the common alert schema\" to Yes. Azure webhooks \
cannot send custom headers, so the secret token in the URL is the credential: keep the URL private. Leave \"secure \
webhook\" (Entra ID) off. Then attach the action group to your alert rules; alertgate opens an incident when an alert \
fires and resolves it when Azure sends the Resolved notification.",
    decode,
};

const SEVERITY: &[(&str, Severity)] = &[
    ("Sev0", Severity::Critical),
    ("Sev1", Severity::High),
    ("Sev2", Severity::Medium),
    ("Sev3", Severity::Low),
    ("Sev4", Severity::Info),
];

const STATUS: &[(&str, AlertStatus)] = &[
    ("Fired", AlertStatus::Firing),
    ("Resolved", AlertStatus::Resolved),
];

fn severity(raw: &str) -> Option<Severity> {
    derived::lookup(SEVERITY, raw)
}

fn status(raw: &str) -> Option<AlertStatus> {
    derived::lookup(STATUS, raw)
}

fn decode(_: &dyn Headers, mut body: Value) -> Result<Decoded, String> {
    let Some(essentials) = derived::at(&body, &["data", "essentials"]).filter(|e| e.is_object())
    else {
        return Err(
            "the body is not in the Azure Monitor common alert schema (no data.essentials): turn on \
             \"Enable the common alert schema\" on the action group's webhook action"
                .into(),
        );
    };
    let monitoring_service = derived::text_at(essentials, &["monitoringService"]);
    let title = derived::text_at(essentials, &["alertRule"])
        .or_else(|| derived::text_at(essentials, &["description"]))
        .map(str::to_string)
        .or_else(|| monitoring_service.map(|s| format!("Azure Monitor alert ({s})")))
        .unwrap_or_else(|| "Azure Monitor alert".to_string());
    let started_at = derived::time_at(essentials, &["firedDateTime"]);
    let mut d = Derived::new();
    d.text("title", Some(title));
    d.attach(&mut body);
    Ok(Decoded::Alerts(vec![AlertDoc {
        started_at,
        ..AlertDoc::plain(body)
    }]))
}

const SAMPLE: &str = r#"{
  "schemaId": "azureMonitorCommonAlertSchema",
  "data": {
    "essentials": {
      "alertId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330",
      "alertRule": "prod-api-vm-cpu-high",
      "severity": "Sev1",
      "signalType": "Metric",
      "monitorCondition": "Fired",
      "monitoringService": "Platform",
      "alertTargetIDs": [
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/prod-rg/providers/microsoft.compute/virtualmachines/prod-api-vm"
      ],
      "configurationItems": ["prod-api-vm"],
      "originAlertId": "00000000-0000-0000-0000-000000000000_prod-rg_microsoft.insights_metricAlerts_prod-api-vm-cpu-high_1234567890",
      "firedDateTime": "2025-03-01T10:14:07.4310000Z",
      "description": "Average CPU above 90% for 5 minutes",
      "essentialsVersion": "1.0",
      "alertContextVersion": "1.0"
    },
    "alertContext": {
      "properties": null,
      "conditionType": "SingleResourceMultipleMetricCriteria",
      "condition": {
        "windowSize": "PT5M",
        "allOf": [
          {
            "metricName": "Percentage CPU",
            "metricNamespace": "Microsoft.Compute/virtualMachines",
            "operator": "GreaterThan",
            "threshold": "90",
            "timeAggregation": "Average",
            "dimensions": [],
            "metricValue": 97.5
          }
        ],
        "windowStartTime": "2025-03-01T10:09:07.431Z",
        "windowEndTime": "2025-03-01T10:14:07.431Z"
      }
    }
  }
}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cost_alert_without_rule_or_severity_is_titled_by_its_description() {
        let none: &[(&str, &str)] = &[];
        let body = json!({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {
            "monitoringService": "CostAlerts", "alertRule": null, "severity": null, "monitorCondition": null,
            "alertId": "/subscriptions/1/providers/Microsoft.CostManagement/alerts/budget-1",
            "description": "Your spend for budget team-budget is now $110.00, over the $100.00 threshold"
        }, "alertContext": {}}});
        let Decoded::Alerts(docs) = decode(&none, body).unwrap() else {
            panic!()
        };
        assert_eq!(
            docs[0].doc["alertgate"]["title"],
            "Your spend for budget team-budget is now $110.00, over the $100.00 threshold"
        );
        let bare = json!({"data": {"essentials": {"monitoringService": "CostAlerts"}}});
        let Decoded::Alerts(docs) = decode(&none, bare).unwrap() else {
            panic!()
        };
        assert_eq!(
            docs[0].doc["alertgate"]["title"],
            "Azure Monitor alert (CostAlerts)"
        );
    }

    #[test]
    fn other_schemas_are_refused_with_the_fix() {
        let none: &[(&str, &str)] = &[];
        let err = decode(
            &none,
            json!({"schemaId": "AzureMonitorMetricAlert", "data": {"context": {}}}),
        )
        .unwrap_err();
        assert!(err.contains("common alert schema"), "{err}");
        assert!(decode(&none, json!("x")).is_err());
    }

    #[test]
    fn the_five_severities_and_two_conditions() {
        assert_eq!(severity("sev0"), Some(Severity::Critical));
        assert_eq!(severity("Sev4"), Some(Severity::Info));
        assert_eq!(severity("Sev5"), None);
        assert_eq!(status("fired"), Some(AlertStatus::Firing));
        assert_eq!(status("Resolved"), Some(AlertStatus::Resolved));
    }
}
