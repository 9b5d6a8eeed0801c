//! AWS CloudWatch alarms, delivered by an Amazon SNS HTTPS subscription.
//!
//! SNS wraps every message in a signed envelope (verified by the server with [`crate::sns`],
//! `AuthMethod::AwsSns`) and CloudWatch puts its alarm into the envelope's `Message` as a JSON
//! *string*. The decoder:
//!
//! - `Notification`: parses `Message`; the alert document is the alarm object, with the
//!   envelope's own fields under `sns` and derived values under `alertgate`. A `Message` that is
//!   not JSON (something else published to the topic) becomes `{"Message": <text>}` with the
//!   `Subject` (or the first line) as its title; JSON that is not an alarm (an EventBridge event)
//!   is titled by the `Subject` or its `detail-type`. A `Message` cut by the payload limits is
//!   refused rather than turned into a text alert.
//! - `SubscriptionConfirmation`: `Decoded::SubscriptionConfirmation` with the `SubscribeURL`
//!   (checked to be HTTPS on an SNS host); the server visits it after verifying the signature.
//! - `UnsubscribeConfirmation`: ignored. Its `SubscribeURL` would subscribe the endpoint again,
//!   so it is never visited.
//! - A body without `Type` but with `AlarmName` is a raw-delivery message (no envelope, no
//!   signature): accepted as the alarm itself, for webhooks that authenticate by URL token only.
//!
//! Decisions, written down:
//! - State: `ALARM` → firing, `OK` → resolved, `INSUFFICIENT_DATA` → firing with low severity.
//!   CloudWatch only sends `INSUFFICIENT_DATA` to topics listed in the alarm's
//!   `InsufficientDataActions`, so whoever configured that asked to hear about missing data; it
//!   carries the alarm's identity, so after an `ALARM` it folds into the open incident (the alarm
//!   is not known to be fine), and an `OK` later resolves it.
//! - Severity: CloudWatch has none. `ALARM` → high (critical is left for what a team marks
//!   critical: map `ALARM` to critical per webhook if every alarm pages), `INSUFFICIENT_DATA` →
//!   low, `OK` → info.
//! - Identity: `AlarmArn`; payloads before it existed (2019) use `AWSAccountId/Region/AlarmName`.
//! - Services: the metric namespace (`AWS/EC2`, `CWAgent`) and the values of dimensions that name
//!   a resource (`InstanceId`, `BucketName`, `DBInstanceIdentifier`, …: names ending in `Id`,
//!   `Name` or `Identifier`, and `LoadBalancer`/`TargetGroup`). Dimensions such as `path=/` or
//!   `fstype=xfs` would make unrelated alarms look related, so they stay in the payload only.
//! - Link: a CloudWatch console deep link built from the region in `AlarmArn` (else `TopicArn`:
//!   alarm actions publish to topics in the alarm's own region) and the alarm name.

use serde_json::{Map, Value};

use super::derived::{self, Derived};
use super::{AlertDoc, Category, Decoded, Platform};
use crate::auth::{AuthMethod, Headers};
use crate::limits::{Limits, PayloadError, TRUNCATION_MARKER};
use crate::mapping::Field;
use crate::severity::Severity;
use crate::status::AlertStatus;

pub static PLATFORM: Platform = Platform {
    id: "aws_cloudwatch",
    name: "AWS CloudWatch",
    category: Category::CloudProviderAlerting,
    default_auth: || AuthMethod::AwsSns {
        topic_arns: Vec::new(),
    },
    default_mapping: &[
        (Field::Title, "$.alertgate.title"),
        (Field::Description, "$.alertgate.description"),
        (Field::Severity, "$.NewStateValue"),
        (Field::Services, "$.alertgate.services"),
        (Field::DedupKey, "$.alertgate.dedup_key"),
        (Field::Status, "$.NewStateValue"),
        (Field::SourceUrl, "$.alertgate.source_url"),
    ],
    severity,
    status,
    sample: SAMPLE,
    setup: "In the Amazon SNS console, open the topic your CloudWatch alarms notify (or create one in the alarms' region) \
and create a subscription: protocol HTTPS, endpoint = this webhook's intake URL. Leave \"Enable raw message delivery\" off: \
alertgate checks the SNS signature on every message and confirms the subscription itself once the confirmation request's \
signature is valid. Then, in CloudWatch, set the alarm's notification actions for \"In alarm\" and \"OK\" (and \
\"Insufficient data\" if you want to hear about missing data) to that topic. To accept only your topic, list its ARN in \
this webhook's authentication settings.",
    decode,
};

const SEVERITY: &[(&str, Severity)] = &[
    ("ALARM", Severity::High),
    ("INSUFFICIENT_DATA", Severity::Low),
    ("OK", Severity::Info),
];

const STATUS: &[(&str, AlertStatus)] = &[
    ("ALARM", AlertStatus::Firing),
    ("INSUFFICIENT_DATA", AlertStatus::Firing),
    ("OK", AlertStatus::Resolved),
];

fn severity(raw: &str) -> Option<Severity> {
    derived::lookup(SEVERITY, raw)
}

fn status(raw: &str) -> Option<AlertStatus> {
    derived::lookup(STATUS, raw)
}

/// Envelope fields copied into the alert document under `sns` (the rest is signature material).
const ENVELOPE_FIELDS: &[&str] = &[
    "Type",
    "MessageId",
    "TopicArn",
    "Subject",
    "Timestamp",
    "UnsubscribeURL",
];

/// A title made from message text is cut to this many characters.
const MAX_TEXT_TITLE_CHARS: usize = 200;

/// At most this many services are derived from one alarm.
const MAX_SERVICES: usize = 20;

fn decode(_: &dyn Headers, body: Value) -> Result<Decoded, String> {
    let Value::Object(envelope) = body else {
        return Err("the body must be a JSON object (an Amazon SNS message)".into());
    };
    let Some(message_type) = envelope.get("Type") else {
        if envelope.contains_key("AlarmName") {
            return Ok(Decoded::Alerts(vec![alert_doc(envelope, None)]));
        }
        return Err("the body is not an Amazon SNS message (it has no `Type`)".into());
    };
    match message_type.as_str() {
        Some("Notification") => notification(&envelope),
        Some("SubscriptionConfirmation") => {
            let topic_arn = string(&envelope, "TopicArn")?;
            let subscribe_url = string(&envelope, "SubscribeURL")?;
            crate::sns::validate_subscribe_url(&subscribe_url).map_err(|e| e.to_string())?;
            Ok(Decoded::SubscriptionConfirmation {
                topic_arn,
                subscribe_url,
            })
        }
        Some("UnsubscribeConfirmation") => Ok(Decoded::Ignore {
            reason: format!(
                "SNS confirmed that this endpoint was unsubscribed from {}; its SubscribeURL, which would \
                 subscribe it again, is not visited",
                envelope
                    .get("TopicArn")
                    .and_then(Value::as_str)
                    .unwrap_or("a topic")
            ),
        }),
        _ => Err(format!(
            "`Type` {} is not an Amazon SNS message type",
            message_type.to_string().chars().take(100).collect::<String>()
        )),
    }
}

fn string(envelope: &Map<String, Value>, field: &str) -> Result<String, String> {
    envelope
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("the SNS message has no `{field}`"))
}

fn notification(envelope: &Map<String, Value>) -> Result<Decoded, String> {
    let message = envelope
        .get("Message")
        .and_then(Value::as_str)
        .ok_or("an SNS Notification needs a string `Message`")?;
    let doc = match parse_message(message)? {
        Some(Value::Object(alarm)) => alarm,
        _ => {
            let mut text = Map::new();
            text.insert("Message".into(), Value::String(message.to_string()));
            text
        }
    };
    Ok(Decoded::Alerts(vec![alert_doc(doc, Some(envelope))]))
}

/// The JSON inside `Message`, or `None` when it is plain text.
fn parse_message(message: &str) -> Result<Option<Value>, String> {
    match Limits::default().parse(message.as_bytes()) {
        Ok(sanitized) => Ok(Some(sanitized.value)),
        Err(PayloadError::TooDeep { limit }) => Err(format!(
            "the JSON in the SNS `Message` is nested more than {limit} levels deep"
        )),
        Err(
            PayloadError::TooLarge { limit, .. } | PayloadError::ExpandsBeyondLimit { limit, .. },
        ) => Err(format!("the SNS `Message` is over {limit} bytes")),
        Err(_) if message.ends_with(TRUNCATION_MARKER) => Err(
            "the SNS `Message` was cut to fit the size limits, so the alarm in it cannot be read"
                .into(),
        ),
        Err(_) => Ok(None),
    }
}

/// One alert from an alarm object (or a `{"Message": text}` object), with the envelope if any.
fn alert_doc(mut doc: Map<String, Value>, envelope: Option<&Map<String, Value>>) -> AlertDoc {
    let sns: Option<Map<String, Value>> = envelope.map(|e| {
        ENVELOPE_FIELDS
            .iter()
            .filter_map(|k| e.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect()
    });
    let envelope_value = sns.clone().map(Value::Object).unwrap_or(Value::Null);
    if let Some(sns) = sns {
        doc.insert("sns".into(), Value::Object(sns));
    }
    let mut doc = Value::Object(doc);
    let subject = derived::text_at(&envelope_value, &["Subject"]);
    let text = derived::text_at(&doc, &["Message"]);
    let alarm_name = derived::text_at(&doc, &["AlarmName"]);

    let title = alarm_name
        .or(subject)
        .or_else(|| derived::text_at(&doc, &["detail-type"]))
        .map(str::to_string)
        .or_else(|| text.map(first_line));
    let description = match text {
        Some(t) => Some(t.to_string()),
        None => derived::paragraphs([
            derived::text_at(&doc, &["AlarmDescription"]),
            derived::text_at(&doc, &["NewStateReason"]),
        ]),
    };
    let dedup_key = derived::text_at(&doc, &["AlarmArn"])
        .map(str::to_string)
        .or_else(|| {
            alarm_name.map(|name| {
                format!(
                    "{}/{}/{}",
                    derived::text_at(&doc, &["AWSAccountId"]).unwrap_or_default(),
                    derived::text_at(&doc, &["Region"]).unwrap_or_default(),
                    name
                )
            })
        });
    let source_url = console_url(&doc, &envelope_value);
    let started_at = derived::time_at(&doc, &["StateChangeTime"])
        .or_else(|| derived::time_at(&envelope_value, &["Timestamp"]));

    let mut d = Derived::new();
    d.text("title", title)
        .text("description", description)
        .list("services", services(&doc))
        .text("dedup_key", dedup_key)
        .text("source_url", source_url);
    d.attach(&mut doc);
    AlertDoc {
        started_at,
        ..AlertDoc::plain(doc)
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .chars()
        .take(MAX_TEXT_TITLE_CHARS)
        .collect()
}

/// The namespace and the resource-naming dimension values of the alarm's metric(s).
fn services(alarm: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut metric = |m: &Value| {
        if let Some(ns) = derived::text_at(m, &["Namespace"]) {
            out.push(ns.to_string());
        }
        if let Some(Value::Array(dims)) = m.get("Dimensions") {
            for d in dims {
                let name =
                    derived::text_at(d, &["name"]).or_else(|| derived::text_at(d, &["Name"]));
                let value =
                    derived::text_at(d, &["value"]).or_else(|| derived::text_at(d, &["Value"]));
                if let (Some(name), Some(value)) = (name, value) {
                    if names_a_resource(name) {
                        out.push(value.to_string());
                    }
                }
            }
        }
    };
    if let Some(trigger) = alarm.get("Trigger") {
        metric(trigger);
        // Metric-math alarms list their metrics instead.
        if let Some(Value::Array(metrics)) = trigger.get("Metrics") {
            for m in metrics {
                if let Some(inner) = derived::at(m, &["MetricStat", "Metric"]) {
                    metric(inner);
                }
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|s| seen.insert(s.clone()));
    out.truncate(MAX_SERVICES);
    out
}

fn names_a_resource(dimension: &str) -> bool {
    dimension.ends_with("Id")
        || dimension.ends_with("Name")
        || dimension.ends_with("Identifier")
        || dimension == "LoadBalancer"
        || dimension == "TargetGroup"
}

/// `https://<console>/cloudwatch/home?region=<region>#alarmsV2:alarm/<name>`.
fn console_url(alarm: &Value, envelope: &Value) -> Option<String> {
    let name = derived::text_at(alarm, &["AlarmName"])?;
    let arn = derived::text_at(alarm, &["AlarmArn"])
        .or_else(|| derived::text_at(envelope, &["TopicArn"]))?;
    let mut parts = arn.split(':');
    let (Some("arn"), Some(partition), Some(_service), Some(region)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return None;
    }
    let host = match partition {
        "aws" => "console.aws.amazon.com",
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => return None,
    };
    Some(format!(
        "https://{host}/cloudwatch/home?region={region}#alarmsV2:alarm/{}",
        percent_encode(name)
    ))
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const SAMPLE: &str = r#"{
  "Type" : "Notification",
  "MessageId" : "0c8b3f3e-6d0b-5f5a-9a55-3c2f1e7b9d41",
  "TopicArn" : "arn:aws:sns:us-east-1:123456789012:prod-alarms",
  "Subject" : "ALARM: \"prod-api-high-cpu\" in US East (N. Virginia)",
  "Message" : "{\"AlarmName\":\"prod-api-high-cpu\",\"AlarmDescription\":\"CPU above 90% on the production API instance\",\"AWSAccountId\":\"123456789012\",\"AlarmConfigurationUpdatedTimestamp\":\"2025-03-01T09:58:09.198+0000\",\"NewStateValue\":\"ALARM\",\"NewStateReason\":\"Threshold Crossed: 1 out of the last 1 datapoints [97.5 (01/03/25 10:09:00)] was greater than the threshold (90.0) (minimum 1 datapoint for OK -> ALARM transition).\",\"StateChangeTime\":\"2025-03-01T10:14:07.431+0000\",\"Region\":\"US East (N. Virginia)\",\"AlarmArn\":\"arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-api-high-cpu\",\"OldStateValue\":\"OK\",\"OKActions\":[\"arn:aws:sns:us-east-1:123456789012:prod-alarms\"],\"AlarmActions\":[\"arn:aws:sns:us-east-1:123456789012:prod-alarms\"],\"InsufficientDataActions\":[],\"Trigger\":{\"MetricName\":\"CPUUtilization\",\"Namespace\":\"AWS/EC2\",\"StatisticType\":\"Statistic\",\"Statistic\":\"AVERAGE\",\"Unit\":null,\"Dimensions\":[{\"value\":\"i-0abc123def4567890\",\"name\":\"InstanceId\"}],\"Period\":300,\"EvaluationPeriods\":1,\"DatapointsToAlarm\":1,\"ComparisonOperator\":\"GreaterThanThreshold\",\"Threshold\":90.0,\"TreatMissingData\":\"missing\",\"EvaluateLowSampleCountPercentile\":\"\"}}",
  "Timestamp" : "2025-03-01T10:14:07.480Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLE-SIGNATURE-the-Test-tab-does-not-verify-SNS-signatures==",
  "SigningCertURL" : "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000.pem",
  "UnsubscribeURL" : "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:prod-alarms:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_one(body: Value) -> AlertDoc {
        let none: &[(&str, &str)] = &[];
        match decode(&none, body).unwrap() {
            Decoded::Alerts(mut docs) => {
                assert_eq!(docs.len(), 1);
                docs.remove(0)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_plain_text_message_becomes_an_alert_titled_by_its_subject_or_first_line() {
        let d = decode_one(
            json!({"Type": "Notification", "Subject": "Backup failed", "Message": "job 7 failed\nsee logs", "TopicArn": "arn:aws:sns:eu-west-1:1:t"}),
        );
        assert_eq!(d.doc["alertgate"]["title"], "Backup failed");
        assert_eq!(d.doc["alertgate"]["description"], "job 7 failed\nsee logs");
        assert!(d.doc["alertgate"].get("dedup_key").is_none());
        let d =
            decode_one(json!({"Type": "Notification", "Message": "\n  disk full on db-1\nmore"}));
        assert_eq!(d.doc["alertgate"]["title"], "disk full on db-1");
        let d = decode_one(json!({"Type": "Notification", "Message": "42"}));
        assert_eq!(d.doc["alertgate"]["title"], "42");
        let event = r#"{"detail-type":"AWS Health Event","source":"aws.health","detail":{}}"#;
        let d = decode_one(json!({"Type": "Notification", "Message": event}));
        assert_eq!(d.doc["alertgate"]["title"], "AWS Health Event");
        assert_eq!(d.doc["source"], "aws.health");
    }

    #[test]
    fn a_message_cut_by_the_limits_is_refused_not_turned_into_text() {
        let cut = format!("{{\"AlarmName\":\"x{TRUNCATION_MARKER}");
        let none: &[(&str, &str)] = &[];
        let err = decode(&none, json!({"Type": "Notification", "Message": cut})).unwrap_err();
        assert!(err.contains("cut"), "{err}");
    }

    #[test]
    fn raw_delivery_is_the_alarm_itself() {
        let d = decode_one(
            json!({"AlarmName": "a", "NewStateValue": "OK", "AWSAccountId": "1", "Region": "EU (Ireland)"}),
        );
        assert_eq!(d.doc["alertgate"]["dedup_key"], "1/EU (Ireland)/a");
        assert!(d.doc.get("sns").is_none());
    }

    #[test]
    fn control_messages_and_strangers() {
        let none: &[(&str, &str)] = &[];
        let bad_host = json!({"Type": "SubscriptionConfirmation", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "SubscribeURL": "https://sns.eu-west-1.amazonaws.com.evil.example/?Action=ConfirmSubscription"});
        assert!(decode(&none, bad_host).is_err());
        assert!(decode(&none, json!({"Type": "Bogus"})).is_err());
        assert!(decode(&none, json!({"hello": 1})).is_err());
        assert!(decode(&none, json!([1])).is_err());
        assert!(decode(&none, json!({"Type": "Notification", "Message": 5})).is_err());
    }

    #[test]
    fn metric_math_alarms_contribute_their_metrics() {
        let alarm = json!({"Trigger": {"Metrics": [
            {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "Dimensions": [{"name": "FunctionName", "value": "checkout"}, {"name": "Resource", "value": "checkout:1"}]}}},
            {"Id": "e1", "Expression": "m1 * 2"}
        ]}});
        assert_eq!(services(&alarm), vec!["AWS/Lambda", "checkout"]);
    }

    #[test]
    fn console_links_encode_the_alarm_name_and_follow_the_partition() {
        let alarm = json!({"AlarmName": "a b/(c)", "AlarmArn": "arn:aws-cn:cloudwatch:cn-north-1:1:alarm:a b/(c)"});
        assert_eq!(
            console_url(&alarm, &Value::Null).as_deref(),
            Some("https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1#alarmsV2:alarm/a%20b%2F%28c%29")
        );
        let odd = json!({"AlarmName": "a", "AlarmArn": "arn:aws:cloudwatch:US EAST:1:alarm:a"});
        assert_eq!(console_url(&odd, &Value::Null), None);
    }

    #[test]
    fn states_and_severities_are_case_insensitive() {
        assert_eq!(status("alarm"), Some(AlertStatus::Firing));
        assert_eq!(status("Insufficient_Data"), Some(AlertStatus::Firing));
        assert_eq!(status("OK"), Some(AlertStatus::Resolved));
        assert_eq!(severity("insufficient_data"), Some(Severity::Low));
        assert_eq!(severity("ALARM"), Some(Severity::High));
    }
}
