//! Every corpus payload of the cloud-provider and APM platforms (AWS CloudWatch via SNS, Azure
//! Monitor, GCP Monitoring, New Relic, Dynatrace, Sentry) goes the whole intake path — decode with
//! its recorded headers, then map and normalize with the platform's defaults — and must match the
//! result written down next to it in `<name>.expected.json`.

use std::fs;
use std::path::{Path, PathBuf};

use alertgate_core::auth::{hmac_sha256_hex, AuthError, Secret};
use alertgate_core::platforms::{self, Decoded, Platform};
use alertgate_core::severity::SeverityPolicy;
use alertgate_core::{NormalizedAlert, Timestamp, WebhookId};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The payload files of one corpus directory (not sidecars, expectations or vectors), sorted.
fn payloads(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(fixtures().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            p.is_file()
                && name.ends_with(".json")
                && !name.ends_with(".headers.json")
                && !name.ends_with(".expected.json")
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no payloads in {dir}");
    out
}

fn sidecar(payload: &Path, suffix: &str) -> PathBuf {
    let name = payload.file_name().unwrap().to_str().unwrap();
    payload.with_file_name(format!("{}.{suffix}", name.trim_end_matches(".json")))
}

fn headers(payload: &Path) -> Vec<(String, String)> {
    let path = sidecar(payload, "headers.json");
    if !path.exists() {
        return Vec::new();
    }
    let v: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn webhook() -> WebhookId {
    WebhookId::new(Timestamp::from_millis(1_700_000_000_000), 7)
}

/// Decode and normalize one payload; returns what the expectation file describes.
fn run(platform: &Platform, payload: &Path) -> Value {
    let body: Value = serde_json::from_slice(&fs::read(payload).unwrap()).unwrap();
    let owned = headers(payload);
    let pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let h: &[(&str, &str)] = &pairs;
    let mapping = platform.default_field_mapping().compile().unwrap();
    let policy = SeverityPolicy::default();
    match (platform.decode)(&h, body) {
        Err(e) => serde_json::json!({"decoded": "error", "error": e}),
        Ok(Decoded::Ignore { reason }) => {
            serde_json::json!({"decoded": "ignore", "reason": reason})
        }
        Ok(Decoded::SubscriptionConfirmation {
            topic_arn,
            subscribe_url,
        }) => serde_json::json!({
            "decoded": "subscription_confirmation",
            "topic_arn": topic_arn,
            "subscribe_url": subscribe_url,
        }),
        Ok(Decoded::Alerts(docs)) => {
            let alerts: Vec<Value> = docs
                .into_iter()
                .map(|doc| {
                    let started_at = doc.started_at;
                    let (a, _) =
                        NormalizedAlert::from_doc(platform, &mapping, &policy, webhook(), doc)
                            .unwrap_or_else(|e| panic!("{}: {e}", payload.display()));
                    assert!(a.dedup_key_custom, "{}: no identity", payload.display());
                    serde_json::json!({
                        "title": a.title,
                        "description": a.description,
                        "severity": a.severity,
                        "raw_severity": a.raw_severity,
                        "services": a.services,
                        "status": a.status,
                        "dedup_key": a.dedup_key,
                        "source_url": a.source_url,
                        "started_at": started_at.map(|t| t.as_millis()),
                    })
                })
                .collect();
            serde_json::json!({"decoded": "alerts", "alerts": alerts})
        }
    }
}

/// The expectation as written, with `started_at` turned into milliseconds for comparison and
/// `reason_contains` checked against the actual reason.
fn check(payload: &Path, actual: &Value) {
    let path = sidecar(payload, "expected.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} has no expectation file", payload.display()));
    let mut expected: Value = serde_json::from_str(&text).unwrap();
    if let Some(alerts) = expected.get_mut("alerts").and_then(Value::as_array_mut) {
        for a in alerts {
            let ms = a["started_at"].as_str().map(|s| {
                Timestamp::parse_rfc3339(s)
                    .unwrap_or_else(|| panic!("{}: bad started_at {s}", path.display()))
                    .as_millis()
            });
            a["started_at"] = serde_json::json!(ms);
        }
    }
    if let Some(fragment) = expected.get("reason_contains").and_then(Value::as_str) {
        let reason = actual["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(fragment),
            "{}: reason `{reason}` lacks `{fragment}`",
            payload.display()
        );
        expected.as_object_mut().unwrap().remove("reason_contains");
        let mut actual = actual.clone();
        actual.as_object_mut().unwrap().remove("reason");
        assert_eq!(actual, expected, "{}", payload.display());
        return;
    }
    assert_eq!(
        actual,
        &expected,
        "{}\nactual:\n{}",
        payload.display(),
        serde_json::to_string_pretty(actual).unwrap()
    );
}

fn table(platform_id: &str, dir: &str) -> usize {
    let platform = platforms::get(platform_id).unwrap();
    let files = payloads(dir);
    for payload in &files {
        check(payload, &run(platform, payload));
    }
    files.len()
}

#[test]
fn aws_cloudwatch_sns_payloads_map_to_their_expected_alerts() {
    assert_eq!(table("aws_cloudwatch", "aws_cloudwatch_sns"), 6);
}

#[test]
fn azure_monitor_payloads_map_to_their_expected_alerts() {
    assert_eq!(table("azure_monitor", "azure_monitor"), 6);
}

#[test]
fn gcp_monitoring_payloads_map_to_their_expected_alerts() {
    assert_eq!(table("gcp_monitoring", "gcp_monitoring"), 6);
}

#[test]
fn newrelic_payloads_map_to_their_expected_alerts() {
    assert_eq!(table("newrelic", "newrelic"), 5);
}

#[test]
fn dynatrace_payloads_map_to_their_expected_alerts() {
    assert_eq!(table("dynatrace", "dynatrace"), 4);
}

#[test]
fn sentry_payloads_map_to_their_expected_alerts() {
    assert_eq!(table("sentry", "sentry"), 6);
}

#[test]
fn the_platforms_are_listed_in_order_before_generic() {
    let ids: Vec<&str> = platforms::ALL.iter().map(|p| p.id).collect();
    let ours = [
        "aws_cloudwatch",
        "azure_monitor",
        "gcp_monitoring",
        "newrelic",
        "dynatrace",
        "sentry",
    ];
    let positions: Vec<usize> = ours
        .iter()
        .map(|id| ids.iter().position(|x| x == id).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let generic = ids.iter().position(|x| *x == "generic").unwrap();
    assert!(positions.iter().all(|p| *p < generic), "{ids:?}");
}

#[test]
fn a_sentry_event_alert_and_the_issue_webhook_share_an_identity() {
    // The event alert's issue id, put into an issue webhook, yields the same dedup key.
    let sentry = platforms::get("sentry").unwrap();
    let event = run(
        sentry,
        &fixtures().join("sentry/event_alert.triggered.json"),
    );
    let issue_body = serde_json::json!({"action": "resolved", "data": {"issue": {"id": "1117540176", "title": "x"}}});
    let h: &[(&str, &str)] = &[("Sentry-Hook-Resource", "issue")];
    let Ok(Decoded::Alerts(docs)) = (sentry.decode)(&h, issue_body) else {
        panic!()
    };
    let mapping = sentry.default_field_mapping().compile().unwrap();
    let (issue, _) = NormalizedAlert::from_doc(
        sentry,
        &mapping,
        &SeverityPolicy::default(),
        webhook(),
        docs.into_iter().next().unwrap(),
    )
    .unwrap();
    assert_eq!(event["alerts"][0]["dedup_key"], issue.dedup_key.as_str());
}

// ---- Sentry signatures -----------------------------------------------------------------------

const SENTRY_SECRET: &str = "example-sentry-client-secret-0123456789abcdef";

fn sentry_vectors() -> Vec<(Vec<u8>, String, String, bool)> {
    let dir = fixtures().join("sentry/vectors");
    let v: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("hmac_computed.json")).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let body = match c.get("body_file").and_then(Value::as_str) {
                Some(file) => fs::read(dir.join(file)).unwrap(),
                None => c["body_utf8"].as_str().unwrap().as_bytes().to_vec(),
            };
            (
                body,
                c["secret"].as_str().unwrap().to_string(),
                c["expected_signature"].as_str().unwrap().to_string(),
                c.get("expected_valid")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            )
        })
        .collect()
}

#[test]
fn sentry_signature_vectors_verify_with_the_default_auth() {
    let auth = (platforms::get("sentry").unwrap().default_auth)();
    let vectors = sentry_vectors();
    assert_eq!(vectors.len(), 8);
    for (body, secret, signature, valid) in vectors {
        let h: &[(&str, &str)] = &[("sentry-hook-signature", &signature)];
        let got = auth.verify(&h, &body, &[Secret::new(secret)]);
        assert_eq!(got.is_ok(), valid, "{}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn sentry_fixture_headers_verify_and_a_flipped_byte_fails() {
    let auth = (platforms::get("sentry").unwrap().default_auth)();
    let secrets = [Secret::new(SENTRY_SECRET)];
    for payload in payloads("sentry") {
        let body = fs::read(&payload).unwrap();
        let owned = headers(&payload);
        let pairs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let h: &[(&str, &str)] = &pairs;
        assert_eq!(
            auth.verify(&h, &body, &secrets),
            Ok(()),
            "{}",
            payload.display()
        );
        for at in [0, body.len() / 2, body.len() - 1] {
            let mut flipped = body.clone();
            flipped[at] ^= 0x01;
            assert_eq!(
                auth.verify(&h, &flipped, &secrets),
                Err(AuthError::Invalid),
                "{} byte {at}",
                payload.display()
            );
        }
        // A flipped byte in the signature fails too.
        let sig = h
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Sentry-Hook-Signature"))
            .unwrap()
            .1;
        let mut bad = sig.to_string().into_bytes();
        bad[10] = if bad[10] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        let h: &[(&str, &str)] = &[("Sentry-Hook-Signature", &bad)];
        assert_eq!(auth.verify(&h, &body, &secrets), Err(AuthError::Invalid));
    }
}

#[test]
fn sentry_accepts_either_of_two_active_secrets_and_rejects_a_third() {
    let auth = (platforms::get("sentry").unwrap().default_auth)();
    let body = fs::read(fixtures().join("sentry/issue.created.json")).unwrap();
    let active = [
        Secret::new("old-client-secret"),
        Secret::new("new-client-secret"),
    ];
    for secret in ["old-client-secret", "new-client-secret"] {
        let sig = hmac_sha256_hex(secret, None, &body);
        let h: &[(&str, &str)] = &[("Sentry-Hook-Signature", &sig)];
        assert_eq!(auth.verify(&h, &body, &active), Ok(()), "{secret}");
    }
    let sig = hmac_sha256_hex("third-client-secret", None, &body);
    let h: &[(&str, &str)] = &[("Sentry-Hook-Signature", &sig)];
    assert_eq!(auth.verify(&h, &body, &active), Err(AuthError::Invalid));
    // Sentry's timestamp header is not part of the MAC and is not needed.
    let sig = hmac_sha256_hex("new-client-secret", None, &body);
    let h: &[(&str, &str)] = &[
        ("Sentry-Hook-Signature", &sig),
        ("Sentry-Hook-Timestamp", "1"),
    ];
    assert_eq!(auth.verify(&h, &body, &active), Ok(()));
}

// ---- Arbitrary input -------------------------------------------------------------------------

mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    /// Key names the six decoders look at, so that random documents reach their branches.
    const KEYS: &[&str] = &[
        "Type",
        "Message",
        "Subject",
        "TopicArn",
        "SubscribeURL",
        "Timestamp",
        "AlarmName",
        "AlarmArn",
        "AWSAccountId",
        "Region",
        "NewStateValue",
        "StateChangeTime",
        "Trigger",
        "Namespace",
        "Dimensions",
        "Metrics",
        "MetricStat",
        "Metric",
        "name",
        "value",
        "data",
        "essentials",
        "alertRule",
        "description",
        "monitoringService",
        "firedDateTime",
        "incident",
        "documentation",
        "subject",
        "content",
        "policy_name",
        "condition_name",
        "summary",
        "started_at",
        "createdAt",
        "timestamp",
        "ImpactedEntities",
        "ImpactedEntityNames",
        "ProblemDetailsJSON",
        "ProblemDetails",
        "startTime",
        "issue",
        "event",
        "metric_alert",
        "alert_rule",
        "projects",
        "project",
        "slug",
        "id",
        "issue_id",
        "title",
        "url",
        "web_url",
        "action",
        "level",
        "firstSeen",
        "datetime",
        "date_started",
        "triggered_rule",
        "alertgate",
    ];

    const STRINGS: &[&str] = &[
        "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation", "ALARM", "OK",
        "€€", "é", "", " ", "2024-09-09T01:59:07.423+0000", "1700000000000",
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "{\"AlarmName\":\"a\",\"Trigger\":{\"Dimensions\":[{\"name\":\"InstanceId\",\"value\":\"i\"}]}}",
        "{\"AlarmName\":", "arn:aws:cloudwatch:€:1:alarm:x", "arn:aws", "/projects/a/",
    ];

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            prop::sample::select(STRINGS).prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 96, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..8).prop_map(
                    |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                ),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn no_document_makes_a_decoder_or_the_mapping_panic(
            body in json(),
            resource in prop::sample::select(&["issue", "event_alert", "metric_alert", "installation", "ÉVÉNEMENT"][..]),
        ) {
            let h: &[(&str, &str)] = &[("Sentry-Hook-Resource", resource)];
            let none: &[(&str, &str)] = &[];
            for id in ["aws_cloudwatch", "azure_monitor", "gcp_monitoring", "newrelic", "dynatrace", "sentry"] {
                let p = platforms::get(id).unwrap();
                let mapping = p.default_field_mapping().compile().unwrap();
                for headers in [h, none] {
                    if let Ok(Decoded::Alerts(docs)) = (p.decode)(&headers, body.clone()) {
                        for doc in docs {
                            let _ = NormalizedAlert::from_doc(p, &mapping, &SeverityPolicy::default(), webhook(), doc);
                        }
                    }
                }
            }
        }
    }
}
