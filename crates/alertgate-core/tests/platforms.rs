//! Every payload in `tests/fixtures/<platform>/` maps to the normalized result written down next
//! to it in `<name>.expected.json`, through the whole intake path after authentication: payload
//! limits → the platform's decoder → `NormalizedAlert::from_doc` with the platform's default
//! mapping and a default severity policy.
//!
//! An expected file holds either `{"alerts": [...]}` (one entry per alert the request carries,
//! in order) or `{"ignored": "<part of the reason>"}`, plus a `note` saying why, for reviewers.
//! In an alert, `description` and `started_at` are checked only when present (`null` = none).

use std::fs;
use std::path::{Path, PathBuf};

use alertgate_core::alert::NormalizedAlert;
use alertgate_core::limits::Limits;
use alertgate_core::platforms::{self, Decoded};
use alertgate_core::severity::SeverityPolicy;
use alertgate_core::{AlertStatus, Severity, Timestamp, WebhookId};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[allow(dead_code)]
    note: String,
    #[serde(default)]
    alerts: Vec<ExpectedAlert>,
    #[serde(default)]
    ignored: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedAlert {
    title: String,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    severity: Severity,
    services: Vec<String>,
    status: AlertStatus,
    dedup_key: String,
    source_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    started_at: Option<Option<String>>,
}

/// Tell a key that is present (even as `null`) from one that is absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The payloads in a fixture directory: `*.json` but not sidecars, expectations or vectors.
fn payloads(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".json")
                && !name.ends_with(".headers.json")
                && !name.ends_with(".expected.json")
        })
        .collect();
    files.sort();
    files
}

fn sibling(payload: &Path, suffix: &str) -> PathBuf {
    let name = payload.file_name().unwrap().to_string_lossy();
    let stem = name.strip_suffix(".json").unwrap();
    payload.with_file_name(format!("{stem}.{suffix}.json"))
}

/// The request headers recorded next to a payload, if any.
fn headers(payload: &Path) -> Vec<(String, String)> {
    let path = sibling(payload, "headers");
    let Ok(text) = fs::read_to_string(&path) else {
        return Vec::new();
    };
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    map.into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap().to_string()))
        .collect()
}

/// Run every payload of `dir` through `platform_id` and compare with its expectation; returns
/// how many payloads were checked.
fn check_platform(platform_id: &str, dir: &str) -> usize {
    let platform = platforms::get(platform_id).unwrap();
    let mapping = platform.default_field_mapping().compile().unwrap();
    let policy = SeverityPolicy::default();
    let webhook = WebhookId::new(Timestamp::from_millis(1_700_000_000_000), 7);
    let dir = fixtures().join(dir);
    let files = payloads(&dir);
    assert!(!files.is_empty(), "no payloads in {}", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let mut fail = |what: String| failures.push(format!("{name}: {what}"));
        let expected_path = sibling(file, "expected");
        let expected: Expected = match fs::read_to_string(&expected_path) {
            Ok(text) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
            Err(_) => {
                fail(format!("no {}", expected_path.display()));
                continue;
            }
        };
        let body = fs::read(file).unwrap();
        let sanitized = Limits::default()
            .parse(&body)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let headers = headers(file);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let headers = headers.as_slice();
        let decoded = match (platform.decode)(&headers, sanitized.value) {
            Ok(d) => d,
            Err(e) => {
                fail(format!("decode failed: {e}"));
                continue;
            }
        };
        let docs = match (decoded, &expected.ignored) {
            (Decoded::Ignore { reason }, Some(want)) => {
                if !reason.contains(want.as_str()) {
                    fail(format!("ignored because `{reason}`, expected `{want}`"));
                }
                continue;
            }
            (Decoded::Ignore { reason }, None) => {
                fail(format!("ignored (`{reason}`), expected alerts"));
                continue;
            }
            (Decoded::Alerts(_), Some(want)) => {
                fail(format!("decoded alerts, expected ignored (`{want}`)"));
                continue;
            }
            (Decoded::Alerts(docs), None) => docs,
            (other, _) => {
                fail(format!("unexpected decode result {other:?}"));
                continue;
            }
        };
        if docs.len() != expected.alerts.len() {
            fail(format!(
                "{} alerts, expected {}",
                docs.len(),
                expected.alerts.len()
            ));
            continue;
        }
        for (i, (doc, want)) in docs.into_iter().zip(&expected.alerts).enumerate() {
            let mut fail = |what: String| failures.push(format!("{name} alert {i}: {what}"));
            let started_at = doc.started_at;
            let (got, _) =
                match NormalizedAlert::from_doc(platform, &mapping, &policy, webhook, doc) {
                    Ok(x) => x,
                    Err(e) => {
                        fail(format!("mapping failed: {e}"));
                        continue;
                    }
                };
            let mut cmp = |field: &str, got: String, want: String| {
                if got != want {
                    fail(format!("{field} is {got}, expected {want}"));
                }
            };
            cmp(
                "title",
                format!("{:?}", got.title),
                format!("{:?}", want.title),
            );
            cmp(
                "severity",
                got.severity.to_string(),
                want.severity.to_string(),
            );
            cmp(
                "services",
                format!("{:?}", got.services),
                format!("{:?}", want.services),
            );
            cmp("status", got.status.to_string(), want.status.to_string());
            cmp(
                "dedup_key",
                format!("{:?}", got.dedup_key),
                format!("{:?}", want.dedup_key),
            );
            cmp(
                "dedup_key_custom",
                got.dedup_key_custom.to_string(),
                "true".into(),
            );
            cmp(
                "source_url",
                format!("{:?}", got.source_url),
                format!("{:?}", want.source_url),
            );
            if let Some(description) = &want.description {
                cmp(
                    "description",
                    format!("{:?}", got.description),
                    format!("{description:?}"),
                );
            }
            if let Some(started) = &want.started_at {
                let want = started
                    .as_deref()
                    .map(|s| Timestamp::parse_rfc3339(s).unwrap_or_else(|| panic!("{name}: {s}")));
                cmp("started_at", format!("{started_at:?}"), format!("{want:?}"));
            }
        }
    }
    // An expectation whose payload is gone is a test that silently stopped running.
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".expected.json") {
            if !dir.join(format!("{stem}.json")).exists() {
                failures.push(format!("{name}: no payload {stem}.json"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{platform_id}:\n  {}",
        failures.join("\n  ")
    );
    files.len()
}

#[test]
fn pagerduty_payloads_map_to_their_expected_alerts() {
    assert_eq!(check_platform("pagerduty", "pagerduty"), 6);
}

#[test]
fn opsgenie_payloads_map_to_their_expected_alerts() {
    assert_eq!(check_platform("opsgenie", "opsgenie"), 5);
}

#[test]
fn servicenow_payloads_map_to_their_expected_alerts() {
    assert_eq!(check_platform("servicenow", "servicenow"), 4);
}

#[test]
fn datadog_payloads_map_to_their_expected_alerts() {
    assert_eq!(check_platform("datadog", "datadog"), 6);
}

#[test]
fn grafana_payloads_map_to_their_expected_alerts() {
    assert_eq!(check_platform("grafana", "grafana"), 5);
}

#[test]
fn alertmanager_payloads_map_to_their_expected_alerts() {
    assert_eq!(check_platform("prometheus", "alertmanager"), 5);
}

#[test]
fn splunk_payloads_map_to_their_expected_alerts() {
    assert_eq!(check_platform("splunk", "splunk"), 3);
}
