//! Grafana Alerting: a webhook contact point.
//!
//! Grafana's webhook body is Alertmanager's notification (Grafana runs an embedded Alertmanager)
//! plus `orgId` and the deprecated group-level `title`, `state` and `message`; alerts add
//! `silenceURL`, `dashboardURL`, `panelURL`, `imageURL`, `values` and `valueString`. So it decodes
//! exactly like [`super::alertmanager`]: one document per element of `alerts`, each with its own
//! state and `fingerprint`, the envelope visible as `group` and the derived dedup key as
//! `alertgate.identity`. The one difference: `message` is not copied into `group`. It is the
//! rendered text of the whole notification, and every alert already carries its own fields.
//!
//! Authentication: Grafana (11.6 / 12 and later) can sign the raw body with HMAC-SHA256 in
//! `X-Grafana-Alerting-Signature` (hex, no prefix). If a timestamp header is configured on the
//! contact point, the MAC covers `"<timestamp>:<body>"`; enter the same header name in the
//! webhook's authentication settings (`timestamp_header`). Grafana has no default name for it, so
//! the default here is none.

use serde_json::Value;

use super::alertmanager::{decode_group, label_severity};
use super::{Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers, SignatureEncoding};
use crate::mapping::Field;
use crate::status::AlertStatus;

pub static PLATFORM: Platform = Platform {
    id: "grafana",
    name: "Grafana",
    category: Category::MonitoringObservability,
    default_auth: || AuthMethod::HmacSha256 {
        header: "X-Grafana-Alerting-Signature".into(),
        prefix: String::new(),
        encoding: SignatureEncoding::Hex,
        timestamp_header: None,
        multiple: false,
    },
    default_mapping: &[
        // `summary` when the rule has one, else the rule's name.
        (
            Field::Title,
            "$['annotations','labels']['summary','alertname']",
        ),
        (Field::Description, "$.annotations['description','message']"),
        (Field::Severity, "$['labels','annotations'].severity"),
        (Field::Services, "$.labels['service','job']"),
        (Field::DedupKey, "$.alertgate.identity"),
        (Field::SourceUrl, "$.generatorURL"),
    ],
    severity: label_severity,
    status,
    sample: SAMPLE,
    setup: SETUP,
    decode,
};

const SAMPLE: &str = r#"{
  "receiver": "alertgate",
  "status": "firing",
  "orgId": 1,
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "High memory usage", "severity": "warning", "service": "billing-api", "zone": "us-1"},
      "annotations": {"summary": "Memory usage above 90% on billing-api in us-1", "description": "Resident memory is 92% of the limit for 10 minutes.", "runbook_url": "https://runbooks.example.com/memory"},
      "startsAt": "2025-03-14T09:51:03.157Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "https://grafana.example.com/alerting/grafana/1afz29v7z/view?orgId=1",
      "fingerprint": "c6eadffa33fcdf37",
      "silenceURL": "https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DHigh+memory+usage",
      "dashboardURL": "https://grafana.example.com/d/billing?orgId=1",
      "panelURL": "https://grafana.example.com/d/billing?orgId=1&viewPanel=2",
      "values": {"B": 92.4, "C": 1},
      "valueString": "[ var='B' labels={service=billing-api} value=92.4 ], [ var='C' labels={service=billing-api} value=1 ]"
    }
  ],
  "groupLabels": {"alertname": "High memory usage"},
  "commonLabels": {"alertname": "High memory usage", "severity": "warning", "service": "billing-api", "zone": "us-1"},
  "commonAnnotations": {"summary": "Memory usage above 90% on billing-api in us-1"},
  "externalURL": "https://grafana.example.com/",
  "version": "1",
  "groupKey": "{}:{alertname=\"High memory usage\"}",
  "truncatedAlerts": 0,
  "title": "[FIRING:1] High memory usage (billing-api warning us-1)",
  "state": "alerting",
  "message": "**Firing**\n\nValue: B=92.4, C=1\nLabels:\n - alertname = High memory usage\n"
}"#;

const SETUP: &str =
    "In Grafana, open Alerting > Contact points > Add contact point and choose the Webhook \
integration.

URL: <intake URL>
HTTP method: POST
Under Optional Webhook settings > HMAC signature: Secret: <secret>. Leave the header at \
X-Grafana-Alerting-Signature. For replay protection also set a timestamp header (for example \
X-Grafana-Alerting-Timestamp) and enter the same name as the timestamp header in this webhook's \
authentication settings.

Then use the contact point in a notification policy. Each alert in a notification is tracked on \
its own (by its fingerprint); a resolved alert resolves its incident even while others in the \
same group still fire.

Grafana versions without HMAC signing (before 11.6): set this webhook's authentication to Bearer \
and, on the contact point, set Authorization header > Scheme: Bearer, Credentials: <secret>.";

fn decode(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    decode_group(body, "Grafana", &["message"])
}

fn status(raw: &str) -> Option<AlertStatus> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "firing" | "alerting" | "nodata" | "no_data" => Some(AlertStatus::Firing),
        "resolved" | "ok" | "normal" => Some(AlertStatus::Resolved),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rendered_group_message_is_not_copied_into_every_alert() {
        let none: &[(&str, &str)] = &[];
        let body = json!({"status": "firing", "orgId": 1, "message": "long text", "title": "[FIRING:1]",
            "alerts": [{"status": "firing", "labels": {"alertname": "A"}, "fingerprint": "abc"}]});
        let Decoded::Alerts(docs) = decode(&none, body).unwrap() else {
            panic!()
        };
        assert_eq!(docs[0].doc["group"]["orgId"], 1);
        assert_eq!(docs[0].doc["group"]["title"], "[FIRING:1]");
        assert!(docs[0].doc["group"].get("message").is_none());
        assert_eq!(docs[0].doc["alertgate"]["identity"], "abc");
    }
}
