//! Google Cloud Monitoring incidents through a webhook notification channel (schema 1.2, the
//! legacy 1.1, and the channel's test notification, `"version": "test"`).
//!
//! One request is one incident (`incident`). Read directly: state `state` (`open`/`closed`; the
//! test sends `OPEN`), severity `severity` (`Critical`/`Error`/`Warning`/`no severity`, absent in
//! 1.1), identity `incident_id` (the same for open and closed), link `url`, and the resource's
//! display name as the service. Derived, because the candidates sit at different depths: the title
//! (`documentation.subject`, else `policy_name`, else `condition_name`) and the description
//! (`documentation.content` — a plain string in the test notification — else `summary`).
//!
//! Authentication: the `webhook_basicauth` channel sends HTTP Basic (`AuthMethod::Basic`, user
//! `gcp` by default). The `webhook_tokenauth` channel puts a token in the URL only; for it, set
//! the webhook's authentication to `AuthMethod::None`: the intake URL's own token is then the
//! credential.

use serde_json::Value;

use super::derived::{self, Derived};
use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;

pub static PLATFORM: Platform = Platform {
    id: "gcp_monitoring",
    name: "Google Cloud Monitoring",
    category: Category::CloudProviderAlerting,
    default_auth: || AuthMethod::Basic {
        username: "gcp".into(),
    },
    default_mapping: &[
        (Field::Title, "$.alertgate.title"),
        (Field::Description, "$.alertgate.description"),
        (Field::Severity, "$.incident.severity"),
        (
            Field::Services,
            "$.incident['resource_display_name','resource_name']",
        ),
        (Field::DedupKey, "$.incident.incident_id"),
        (Field::Status, "$.incident.state"),
        (Field::SourceUrl, "$.incident.url"),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: "In the Google Cloud console, open Monitoring > Alerting > Edit notification channels and add a Webhook with \
basic auth: Endpoint URL = this webhook's intake URL, username = gcp (or the username set here), password = this \
webhook's secret. Select the channel in your alerting policies' notifications; policies that should resolve incidents \
here need \"Notify on incident closure\" on. (A Webhook channel without basic auth also works: set this webhook's \
authentication to None, and the secret token in the intake URL is the only credential.)",
    decode,
};

/// "no severity" (a policy without one) is deliberately absent: the webhook's default applies.
const SEVERITY: &[(&str, Severity)] = &[
    ("Critical", Severity::Critical),
    ("Error", Severity::High),
    ("Warning", Severity::Medium),
];

const STATUS: &[(&str, AlertStatus)] = &[
    ("open", AlertStatus::Firing),
    ("closed", AlertStatus::Resolved),
];

fn severity(raw: &str) -> Option<Severity> {
    derived::lookup(SEVERITY, raw)
}

fn status(raw: &str) -> Option<AlertStatus> {
    derived::lookup(STATUS, raw)
}

fn decode(_: &dyn Headers, mut body: Value) -> Result<Decoded, String> {
    let Some(incident) = body.get("incident").filter(|i| i.is_object()) else {
        return Err(
            "the body is not a Cloud Monitoring notification (no `incident` object)".into(),
        );
    };
    let title = derived::text_at(incident, &["documentation", "subject"])
        .or_else(|| derived::text_at(incident, &["policy_name"]))
        .or_else(|| derived::text_at(incident, &["condition_name"]))
        .map(str::to_string);
    let description = derived::text_at(incident, &["documentation", "content"])
        .or_else(|| derived::text_at(incident, &["documentation"]))
        .or_else(|| derived::text_at(incident, &["summary"]))
        .map(str::to_string);
    let started_at = derived::time_at(incident, &["started_at"]);
    let mut d = Derived::new();
    d.text("title", title).text("description", description);
    d.attach(&mut body);
    Ok(Decoded::Alerts(vec![AlertDoc {
        started_at,
        ..AlertDoc::plain(body)
    }]))
}

const SAMPLE: &str = r#"{
  "incident": {
    "incident_id": "0.nrwotmyokd9n",
    "scoping_project_id": "shop-prod",
    "scoping_project_number": 123456789012,
    "url": "https://console.cloud.google.com/monitoring/alerting/alerts/0.nrwotmyokd9n?project=shop-prod",
    "severity": "Critical",
    "started_at": 1740823947,
    "ended_at": null,
    "state": "open",
    "summary": "CPU utilization for shop-prod checkout-vm-1 is above the threshold of 0.900 with a value of 0.975.",
    "apigee_url": "",
    "observed_value": "0.975",
    "resource": {
      "type": "gce_instance",
      "labels": { "instance_id": "1943820386402233898", "project_id": "shop-prod", "zone": "europe-west1-b" }
    },
    "resource_type_display_name": "VM Instance",
    "resource_id": "",
    "resource_display_name": "checkout-vm-1",
    "resource_name": "shop-prod checkout-vm-1",
    "metric": {
      "type": "compute.googleapis.com/instance/cpu/utilization",
      "displayName": "CPU utilization",
      "labels": { "instance_name": "checkout-vm-1" }
    },
    "metadata": { "system_labels": {}, "user_labels": {} },
    "policy_name": "Checkout VM CPU",
    "policy_user_labels": { "team": "checkout" },
    "documentation": {
      "content": "CPU on the checkout VM has been above 90% for 5 minutes. Runbook: scale the instance group.",
      "mime_type": "text/markdown",
      "subject": "Checkout VM CPU above 90%"
    },
    "condition": {
      "name": "projects/shop-prod/alertPolicies/12942885046098191375/conditions/7238353791745156150",
      "displayName": "VM Instance - CPU utilization"
    },
    "condition_name": "VM Instance - CPU utilization",
    "threshold_value": "0.9"
  },
  "version": "1.2"
}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn derived_of(body: Value) -> Value {
        let none: &[(&str, &str)] = &[];
        match decode(&none, body).unwrap() {
            Decoded::Alerts(docs) => docs[0].doc["alertgate"].clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_title_prefers_the_documentation_subject_then_the_policy_then_the_condition() {
        let all = json!({"incident": {"documentation": {"subject": "S"}, "policy_name": "P", "condition_name": "C"}});
        assert_eq!(derived_of(all)["title"], "S");
        let blank_subject = json!({"incident": {"documentation": {"subject": " "}, "policy_name": "P", "condition_name": "C"}});
        assert_eq!(derived_of(blank_subject)["title"], "P");
        let only_condition = json!({"incident": {"condition_name": "C"}});
        assert_eq!(derived_of(only_condition)["title"], "C");
    }

    #[test]
    fn the_description_prefers_documentation_then_the_summary() {
        let empty_doc = json!({"incident": {"documentation": {"content": ""}, "summary": "sum"}});
        assert_eq!(derived_of(empty_doc)["description"], "sum");
        let string_doc = json!({"incident": {"documentation": "plain", "summary": "sum"}});
        assert_eq!(derived_of(string_doc)["description"], "plain");
    }

    #[test]
    fn states_compare_case_insensitively_and_no_severity_means_the_default() {
        assert_eq!(status("OPEN"), Some(AlertStatus::Firing));
        assert_eq!(status("Closed"), Some(AlertStatus::Resolved));
        assert_eq!(severity("CRITICAL"), Some(Severity::Critical));
        assert_eq!(severity("error"), Some(Severity::High));
        assert_eq!(severity("no severity"), None);
    }

    #[test]
    fn a_body_without_an_incident_is_refused() {
        let none: &[(&str, &str)] = &[];
        assert!(decode(&none, json!({"version": "1.2"})).is_err());
        assert!(decode(&none, json!({"incident": "x"})).is_err());
    }
}
