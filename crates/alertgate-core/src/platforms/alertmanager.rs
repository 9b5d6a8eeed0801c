//! Prometheus Alertmanager: a `webhook_configs` receiver (payload version 4).
//!
//! One request is one notification group: `alerts` holds N alerts, each with its own `status`
//! (a `firing` group can carry alerts that already resolved) and its own `fingerprint`. The
//! decoder turns every element of `alerts` into one alert document, so each alert is
//! deduplicated, acknowledged and resolved on its own.
//!
//! What a mapping sees, per alert: the alert object as sent (`labels`, `annotations`, `startsAt`,
//! `endsAt`, `generatorURL`, `fingerprint`, `status`) plus two members the decoder adds:
//!
//! * `group` — the notification's envelope, i.e. everything but `alerts`: `receiver`, `status`,
//!   `groupKey`, `groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL`, `version`,
//!   `truncatedAlerts`, and `notification_reason` / `routeLabels` on newer versions. A mapping
//!   reads them as e.g. `$.group.externalURL` or `$.group.commonLabels.cluster`.
//! * `alertgate` — what the decoder derived: `identity`, the alert's dedup key.
//!
//! Neither sender puts members of those names in an alert; if one does, it is replaced.
//!
//! State: the alert's own `status` (`firing` / `resolved`). Only when it is missing or unknown
//! does the decoder fall back to the group (`resolved` means every alert resolved) and to
//! `endsAt`, where Go's zero time (`0001-01-01T00:00:00Z`) means "not ended": still firing.
//!
//! Identity: `fingerprint` (Alertmanager 0.19 and later). Older payloads carry none, so the
//! decoder computes the same hash Alertmanager does — 64-bit FNV-1a over the label names in byte
//! order, each name and value followed by a 0xFF byte, printed as 16 hex digits. An alert
//! therefore keeps its identity when the sender is upgraded past 0.19.
//!
//! Grafana's contact point sends this same payload with a few extra fields, so
//! [`super::grafana`] decodes through [`decode_group`].

use serde_json::{json, Map, Value};

use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;
use crate::timestamps;

pub static PLATFORM: Platform = Platform {
    id: "prometheus",
    name: "Prometheus Alertmanager",
    category: Category::MonitoringObservability,
    default_auth: || AuthMethod::Bearer,
    default_mapping: &[
        // `summary` when the rule has one, else the alert's name.
        (
            Field::Title,
            "$['annotations','labels']['summary','alertname']",
        ),
        (Field::Description, "$.annotations['description','message']"),
        // The `severity` label by convention; some old rules put it in an annotation.
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
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "HighErrorRate", "instance": "web-1:9100", "service": "checkout", "severity": "critical", "cluster": "eu-1"},
      "annotations": {"summary": "5xx error rate > 5% on web-1:9100", "description": "Error rate on web-1:9100 is 7.3% (threshold 5%)."},
      "startsAt": "2025-03-14T09:20:04.122Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=job%3Acheckout_5xx_ratio%3Arate5m+%3E+0.05&g0.tab=1",
      "fingerprint": "9299066d904110ff"
    },
    {
      "status": "resolved",
      "labels": {"alertname": "HighErrorRate", "instance": "web-2:9100", "service": "checkout", "severity": "critical", "cluster": "eu-1"},
      "annotations": {"summary": "5xx error rate > 5% on web-2:9100", "description": "Error rate on web-2:9100 is back under 5%."},
      "startsAt": "2025-03-14T09:20:04.122Z",
      "endsAt": "2025-03-14T09:21:19.122Z",
      "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=job%3Acheckout_5xx_ratio%3Arate5m+%3E+0.05&g0.tab=1",
      "fingerprint": "1d18515b4b4f2a08"
    }
  ],
  "groupLabels": {"alertname": "HighErrorRate", "service": "checkout"},
  "commonLabels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical", "cluster": "eu-1"},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager.example.com:9093",
  "version": "4",
  "groupKey": "{}:{alertname=\"HighErrorRate\", service=\"checkout\"}",
  "truncatedAlerts": 0
}"#;

const SETUP: &str =
    "In alertmanager.yml, add a receiver that posts to the intake URL with the secret as a bearer \
token, and route alerts to it:

receivers:
  - name: alertgate
    webhook_configs:
      - url: <intake URL>
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: <secret>

route:
  receiver: alertgate

Keep send_resolved on: each alert in a notification is tracked on its own (by its fingerprint), \
and a resolved alert resolves its incident even when other alerts of the same group still fire. \
Reload Alertmanager (SIGHUP or POST /-/reload) after the change. Alertmanager retries on 5xx, so \
an outage of alertgate delays alerts instead of dropping them.";

fn decode(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    decode_group(body, "Alertmanager", &[])
}

/// Split a notification group into one document per alert (see the module docs for the shape).
/// `drop` names envelope members not copied into each alert's `group`.
pub(super) fn decode_group(body: Value, sender: &str, drop: &[&str]) -> Result<Decoded, String> {
    let Value::Object(mut envelope) = body else {
        return Err(format!(
            "expected a {sender} notification: a JSON object with an `alerts` array"
        ));
    };
    let alerts = match envelope.remove("alerts") {
        Some(Value::Array(alerts)) => alerts,
        _ => {
            return Err(format!(
                "expected a {sender} notification: `alerts` must be an array"
            ))
        }
    };
    if alerts.is_empty() {
        return Ok(Decoded::Ignore {
            reason: format!("the {sender} notification carries no alerts"),
        });
    }
    for key in drop {
        envelope.remove(*key);
    }
    let group_resolved = envelope
        .get("status")
        .and_then(Value::as_str)
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("resolved"));
    let group = Value::Object(envelope);
    let mut docs = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.into_iter().enumerate() {
        let Value::Object(mut alert) = alert else {
            return Err(format!("alerts[{i}] is not a JSON object"));
        };
        let status = alert_status(&alert, group_resolved);
        let identity = identity(&alert);
        let started_at = alert.get("startsAt").and_then(timestamps::parse_value);
        alert.insert("group".into(), group.clone());
        alert.insert("alertgate".into(), json!({ "identity": identity }));
        docs.push(AlertDoc {
            doc: Value::Object(alert),
            status: Some(status),
            identity: None,
            started_at,
        });
    }
    Ok(Decoded::Alerts(docs))
}

fn alert_status(alert: &Map<String, Value>, group_resolved: bool) -> AlertStatus {
    let own = alert.get("status").and_then(Value::as_str).and_then(status);
    own.unwrap_or_else(|| {
        // `parse_value` reads Go's zero time as "no time": the alert has not ended.
        let ended = alert
            .get("endsAt")
            .and_then(timestamps::parse_value)
            .is_some();
        if group_resolved || ended {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        }
    })
}

/// The alert's `fingerprint`, or the one Alertmanager would compute from its labels.
fn identity(alert: &Map<String, Value>) -> String {
    match alert.get("fingerprint") {
        Some(Value::String(f)) if !f.trim().is_empty() => f.trim().to_string(),
        _ => label_fingerprint(alert.get("labels")),
    }
}

/// Alertmanager's (and Prometheus's) label-set fingerprint: FNV-1a 64 over the labels sorted by
/// name, each name and value followed by 0xFF.
pub(super) fn label_fingerprint(labels: Option<&Value>) -> String {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    const SEPARATOR: u8 = 0xff;
    let mut hash = OFFSET_BASIS;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    if let Some(Value::Object(labels)) = labels {
        let mut pairs: Vec<(&String, &Value)> = labels.iter().collect();
        pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (name, value) in pairs {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            feed(name.as_bytes());
            feed(&[SEPARATOR]);
            feed(value.as_bytes());
            feed(&[SEPARATOR]);
        }
    }
    format!("{hash:016x}")
}

/// The values rule authors put in a `severity` label (shared with Grafana).
pub(super) fn label_severity(raw: &str) -> Option<Severity> {
    let s = match raw.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" | "page" | "pager" | "emergency" | "fatal" | "disaster" | "p1" => {
            Severity::Critical
        }
        "high" | "error" | "err" | "major" | "p2" => Severity::High,
        "warning" | "warn" | "medium" | "average" | "p3" => Severity::Medium,
        "low" | "p4" => Severity::Low,
        "info" | "informational" | "information" | "none" | "debug" | "p5" => Severity::Info,
        _ => return None,
    };
    Some(s)
}

fn status(raw: &str) -> Option<AlertStatus> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "firing" => Some(AlertStatus::Firing),
        "resolved" => Some(AlertStatus::Resolved),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alerts(body: Value) -> Vec<AlertDoc> {
        let none: &[(&str, &str)] = &[];
        match decode(&none, body).unwrap() {
            Decoded::Alerts(docs) => docs,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_label_fingerprint_is_the_one_alertmanager_sends() {
        // Labels and fingerprint of a real Alertmanager 0.25 notification (fixtures).
        let labels = json!({"alertname": "HighErrorRate", "cluster": "demo-eu1", "instance": "web-1:9100",
            "service": "checkout", "severity": "critical", "team": "payments"});
        assert_eq!(label_fingerprint(Some(&labels)), "9299066d904110ff");
        assert_eq!(label_fingerprint(None), "cbf29ce484222325");
    }

    #[test]
    fn every_alert_gets_its_own_state_and_the_group_fields() {
        let docs = alerts(json!({
            "status": "firing", "receiver": "r", "externalURL": "http://am",
            "alerts": [
                {"status": "firing", "labels": {"alertname": "A"}, "fingerprint": "f1", "endsAt": "0001-01-01T00:00:00Z"},
                {"status": "resolved", "labels": {"alertname": "B"}, "fingerprint": "f2", "endsAt": "2025-01-01T00:00:00Z"},
            ]
        }));
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].status, Some(AlertStatus::Firing));
        assert_eq!(docs[1].status, Some(AlertStatus::Resolved));
        assert_eq!(docs[1].doc["group"]["externalURL"], "http://am");
        assert_eq!(docs[1].doc["group"]["receiver"], "r");
        assert!(docs[1].doc["group"].get("alerts").is_none());
        assert_eq!(docs[0].doc["alertgate"]["identity"], "f1");
    }

    #[test]
    fn without_a_status_the_end_time_decides_and_year_one_means_firing() {
        let docs = alerts(json!({"alerts": [
            {"labels": {"alertname": "A"}, "endsAt": "0001-01-01T00:00:00Z"},
            {"labels": {"alertname": "A"}, "endsAt": "2025-01-01T00:00:00Z"},
            {"labels": {"alertname": "A"}, "status": "weird"},
        ]}));
        let states: Vec<_> = docs.iter().map(|d| d.status).collect();
        assert_eq!(
            states,
            vec![
                Some(AlertStatus::Firing),
                Some(AlertStatus::Resolved),
                Some(AlertStatus::Firing)
            ]
        );
        let docs = alerts(json!({"status": "resolved", "alerts": [{"labels": {}}]}));
        assert_eq!(docs[0].status, Some(AlertStatus::Resolved));
    }

    #[test]
    fn malformed_notifications_are_errors_and_an_empty_one_is_ignored() {
        let none: &[(&str, &str)] = &[];
        for body in [
            json!([]),
            json!("x"),
            json!({}),
            json!({"alerts": {}}),
            json!({"alerts": [1]}),
        ] {
            assert!(decode(&none, body.clone()).is_err(), "{body}");
        }
        assert!(matches!(
            decode(&none, json!({"alerts": []})),
            Ok(Decoded::Ignore { .. })
        ));
    }

    #[test]
    fn odd_label_values_still_give_a_stable_identity() {
        let docs = alerts(json!({"alerts": [
            {"labels": {"a": 1, "b": null, "c": ["x"]}, "fingerprint": ""},
            {"labels": "not an object", "fingerprint": 7},
        ]}));
        let first = docs[0].doc["alertgate"]["identity"].as_str().unwrap();
        assert_eq!(first.len(), 16);
        assert_eq!(docs[1].doc["alertgate"]["identity"], "cbf29ce484222325");
    }
}
