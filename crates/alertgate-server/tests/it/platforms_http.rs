//! Issue 3's acceptance over real HTTP: each platform's own payloads from `tests/fixtures/`, sent
//! byte for byte with the platform's own headers and authentication to the running server, take
//! an incident from firing to resolved; every signature vector that a webhook can be configured
//! for is judged at the HTTP level as its file says, and one flipped byte is a 401; rotated secrets
//! overlap; pings and resolves for unknown alerts are logged without creating anything.
//!
//! Where the corpus has no matching firing/resolved pair (Grafana, and Opsgenie's Create), the
//! missing neighbour is derived from a captured payload by changing only its state words, and the
//! test says so.

use std::sync::Arc;

use serde_json::{json, Value};

use alertgate_core::platforms;
use alertgate_core::Timestamp;
use alertgate_server::clock::ManualClock;
use alertgate_server::Runtime;

use crate::helpers::*;
use crate::support::*;

/// The bearer token in the captured `alertmanager/firing_two_alerts.headers.json`.
const ALERTMANAGER_TOKEN: &str = "example-intake-token-123";

fn json_headers() -> Vec<(String, String)> {
    vec![("Content-Type".into(), "application/json".into())]
}

/// The captured headers without `Authorization` (for captures made with another scheme).
fn headers_without_auth(rel: &str) -> Vec<(String, String)> {
    fixture_headers(rel)
        .into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
        .collect()
}

fn statuses(results: &[(String, Value)]) -> Vec<&str> {
    results.iter().map(|(s, _)| s.as_str()).collect()
}

/// One request of a round trip and what it must lead to.
struct Step {
    what: &'static str,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    http: u16,
    /// The reply's `status`.
    reply: &'static str,
    /// The incident's status afterwards.
    incident: &'static str,
}

/// Send the steps in order; every step lands on the incident the first one opened.
async fn round_trip(app: &TestApp, hook: &Hook, steps: Vec<Step>) -> Value {
    let mut incident = Value::Null;
    for step in steps {
        let (status, reply) = app.post(hook, &step.body, &step.headers).await;
        assert_eq!(status, step.http, "{}: {reply}", step.what);
        assert_eq!(reply["status"], step.reply, "{}: {reply}", step.what);
        if incident.is_null() {
            incident = reply["incident_id"].clone();
        }
        assert_eq!(
            reply["incident_id"], incident,
            "{}: same incident",
            step.what
        );
        assert_eq!(
            app.incident_status(&incident).await,
            step.incident,
            "{}",
            step.what
        );
    }
    incident
}

#[tokio::test]
async fn alertmanager_sends_n_alerts_per_request_and_a_firing_group_can_resolve_just_one() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(
            json!({"platform": "prometheus", "name": "alertmanager", "secret": ALERTMANAGER_TOKEN}),
        )
        .await;

    // As captured, including its own `Authorization: Bearer example-intake-token-123`.
    let rel = "alertmanager/firing_two_alerts.json";
    let (status, first) = app.post(&hook, &fixture(rel), &fixture_headers(rel)).await;
    assert_eq!(status, 201, "{first}");
    let r = results(&first);
    assert_eq!(statuses(&r), ["created", "created"]);
    let (web1, web2) = (r[0].1.clone(), r[1].1.clone());
    assert_ne!(web1, web2, "each alert is its own incident");
    assert_eq!(first["incident_id"], web1);

    // Captured with Basic auth; this webhook takes the same secret as a bearer token.
    let rel = "alertmanager/firing_one_resolved_one.json";
    let (status, second) = app
        .post_as(
            &hook,
            ALERTMANAGER_TOKEN,
            &fixture(rel),
            &headers_without_auth(rel),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let r = results(&second);
    assert_eq!(statuses(&r), ["deduplicated", "resolved"]);
    assert_eq!((&r[0].1, &r[1].1), (&web1, &web2));
    assert_eq!(app.incident_status(&web1).await, "open");
    assert_eq!(app.incident_status(&web2).await, "resolved");

    // The final notification carries only web-1 (web-2 was already reported resolved).
    let rel = "alertmanager/resolved.json";
    let (status, third) = app
        .post_as(
            &hook,
            ALERTMANAGER_TOKEN,
            &fixture(rel),
            &headers_without_auth(rel),
        )
        .await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["status"], "resolved");
    assert_eq!(third["incident_id"], web1);
    assert_eq!(app.incident_status(&web1).await, "resolved");

    let incident = app.incident(web1.as_str().unwrap()).await;
    assert_eq!(incident["title"], "5xx error rate > 5% on web-1:9100");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["services"], json!(["checkout"]));
    assert_eq!(app.deliveries(&hook).await.len(), 3);
}

#[tokio::test]
async fn grafana_alerts_of_one_group_resolve_one_by_one() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({"platform": "grafana", "name": "grafana"}))
        .await;
    let signed = |body: &[u8]| {
        let mut h = credentials(&hook.auth(), &hook.secret, body);
        h.extend(json_headers());
        h.push(("User-Agent".into(), "Grafana".into()));
        h
    };
    // Captured: a `firing` group of three alerts, two of them already resolved. The corpus has
    // no notification from before or after it, so those are derived by changing state words only.
    let mixed = fixture("grafana/mixed_1firing_2resolved_v9.json");
    let before = replace_n(
        &mixed,
        r#""status": "resolved""#,
        r#""status": "firing""#,
        2,
    );
    let after = replace_n(
        &mixed,
        r#""status": "firing""#,
        r#""status": "resolved""#,
        2,
    );

    let (status, first) = app.post(&hook, &before, &signed(&before)).await;
    assert_eq!(status, 201, "{first}");
    let r = results(&first);
    assert_eq!(statuses(&r), ["created", "created", "created"]);
    let ids: Vec<Value> = r.iter().map(|(_, id)| id.clone()).collect();

    let (status, second) = app.post(&hook, &mixed, &signed(&mixed)).await;
    assert_eq!(status, 200, "{second}");
    let r = results(&second);
    assert_eq!(statuses(&r), ["resolved", "resolved", "deduplicated"]);
    assert_eq!(r.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(app.incident_status(&ids[0]).await, "resolved");
    assert_eq!(app.incident_status(&ids[1]).await, "resolved");
    assert_eq!(app.incident_status(&ids[2]).await, "open");

    let (status, third) = app.post(&hook, &after, &signed(&after)).await;
    assert_eq!(status, 200, "{third}");
    let r = results(&third);
    // The first two are no longer open: a second resolve for them changes nothing.
    assert_eq!(statuses(&r), ["ignored", "ignored", "resolved"]);
    assert_eq!(r[2].1, ids[2]);
    for id in &ids {
        assert_eq!(app.incident_status(id).await, "resolved");
    }
}

#[tokio::test]
async fn pagerduty_triggered_acknowledged_annotated_resolved_with_its_real_signatures() {
    let app = spawn_app().await;
    // The captured deliveries were signed with the subscription secret published with them.
    let secret = fixture_json("pagerduty/vectors/aldaviva_real_deliveries.json")["vectors"][0]
        ["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let hook = app
        .create_webhook(json!({"platform": "pagerduty", "name": "pd", "secret": secret}))
        .await;
    let step = |file: &'static str, http, reply, incident| {
        let rel = format!("pagerduty/{file}");
        Step {
            what: file,
            body: fixture(&rel),
            headers: fixture_headers(&rel),
            http,
            reply,
            incident,
        }
    };
    let id = round_trip(
        &app,
        &hook,
        vec![
            step("incident.triggered.json", 201, "created", "open"),
            step(
                "incident.acknowledged.json",
                200,
                "acknowledged",
                "acknowledged",
            ),
            step("incident.resolved.json", 200, "resolved", "resolved"),
        ],
    )
    .await;
    let incident = app.incident(id.as_str().unwrap()).await;
    assert_eq!(incident["title"], "Test");

    // A note on the incident is recorded but changes nothing.
    let rel = "pagerduty/incident.annotated.json";
    let (status, reply) = app.post(&hook, &fixture(rel), &fixture_headers(rel)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "ignored");
    assert_eq!(app.incident_status(&id).await, "resolved");
    assert_eq!(app.incidents_of(&hook).await.len(), 1);
}

#[tokio::test]
async fn pagerduty_ping_is_answered_200_and_creates_nothing() {
    let app = spawn_app().await;
    let secret = fixture_json("pagerduty/vectors/aldaviva_real_deliveries.json")["vectors"][0]
        ["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let hook = app
        .create_webhook(json!({"platform": "pagerduty", "name": "pd", "secret": secret}))
        .await;
    let rel = "pagerduty/pagey.ping.json";
    let (status, reply) = app.post(&hook, &fixture(rel), &fixture_headers(rel)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "ignored");
    assert!(reply["incident_id"].is_null(), "{reply}");
    assert!(app.incidents_of(&hook).await.is_empty());
    let log = app.deliveries(&hook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status_code"], 200);
    assert_eq!(log[0]["outcome"], "ignored");
}

#[tokio::test]
async fn cloudwatch_alarm_then_ok_via_sns_resolves_the_incident() {
    // The alarm is the corpus' self-signed SignatureVersion 2 vector; the OK that follows it
    // (`RECONSTRUCTED_notification_ok.json`) is signed here with the same throw-away test key.
    let vectors = sns_vectors();
    let alarm = vectors["cases"][3]["envelope"].clone();
    assert_eq!(alarm["SignatureVersion"], "2");
    let mut ok = fixture_json("aws_cloudwatch_sns/RECONSTRUCTED_notification_ok.json");
    sign_sns(&mut ok, "1");

    let at = |e: &Value| Timestamp::parse_rfc3339(e["Timestamp"].as_str().unwrap()).unwrap();
    let clock = Arc::new(ManualClock::new(at(&alarm).saturating_add_millis(1_000)));
    let sns = FakeSns::with_corpus_certificates();
    let app = spawn_with(Runtime {
        clock: clock.clone(),
        sns: sns.clone(),
    })
    .await;
    let hook = app
        .create_webhook(json!({"platform": "aws_cloudwatch", "name": "cloudwatch"}))
        .await;

    let body = serde_json::to_vec(&alarm).unwrap();
    let (status, fired) = app.post(&hook, &body, &sns_headers(&alarm)).await;
    assert_eq!(status, 201, "{fired}");
    assert_eq!(fired["status"], "created");
    let id = fired["incident_id"].clone();
    let incident = app.incident(id.as_str().unwrap()).await;
    assert_eq!(incident["title"], "node_disk_used(i-007a83a108d6e2c6e)");

    // Fifteen minutes later the alarm returns to OK.
    clock.advance_millis(at(&ok).as_millis() - at(&alarm).as_millis());
    let body = serde_json::to_vec(&ok).unwrap();
    let (status, resolved) = app.post(&hook, &body, &sns_headers(&ok)).await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["incident_id"], id);
    assert_eq!(app.incident_status(&id).await, "resolved");
    assert_eq!(sns.count(TEST_CERT_URL), 1, "the certificate is cached");
}

#[tokio::test]
async fn azure_monitor_fired_then_resolved() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({"platform": "azure_monitor", "name": "azure"}))
        .await;
    let step = |file: &'static str, http, reply, incident| Step {
        what: file,
        body: fixture(&format!("azure_monitor/{file}")),
        headers: json_headers(),
        http,
        reply,
        incident,
    };
    round_trip(
        &app,
        &hook,
        vec![
            step("log_search_v2_fired.json", 201, "created", "open"),
            step(
                "RECONSTRUCTED_log_search_v2_resolved.json",
                200,
                "resolved",
                "resolved",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn gcp_monitoring_open_then_closed_with_basic_auth() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({"platform": "gcp_monitoring", "name": "gcp"}))
        .await;
    assert!(matches!(
        hook.auth(),
        alertgate_core::auth::AuthMethod::Basic { .. }
    ));
    let step = |file: &'static str, http, reply, incident| {
        let body = fixture(&format!("gcp_monitoring/{file}"));
        let mut headers = credentials(&hook.auth(), &hook.secret, &body);
        headers.extend(json_headers());
        Step {
            what: file,
            body,
            headers,
            http,
            reply,
            incident,
        }
    };
    round_trip(
        &app,
        &hook,
        vec![
            step("legacy_v1.1_open.json", 201, "created", "open"),
            step("legacy_v1.1_closed.json", 200, "resolved", "resolved"),
        ],
    )
    .await;
}

#[tokio::test]
async fn dynatrace_open_then_resolved_with_its_api_token() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({"platform": "dynatrace", "name": "dynatrace"}))
        .await;
    let step = |file: &'static str, http, reply, incident| {
        let body = fixture(&format!("dynatrace/{file}"));
        let mut headers = vec![(
            "Authorization".to_string(),
            format!("Api-Token {}", hook.secret),
        )];
        headers.extend(json_headers());
        Step {
            what: file,
            body,
            headers,
            http,
            reply,
            incident,
        }
    };
    round_trip(
        &app,
        &hook,
        vec![
            step(
                "RECONSTRUCTED_open_keptn_template.json",
                201,
                "created",
                "open",
            ),
            step(
                "resolved_real_keptn_template.json",
                200,
                "resolved",
                "resolved",
            ),
        ],
    )
    .await;
}

fn sentry_secret() -> String {
    fixture_json("sentry/vectors/hmac_computed.json")["cases"][0]["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn sentry_metric_alert_critical_warning_resolved_with_the_vectors_signatures() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({"platform": "sentry", "name": "sentry", "secret": sentry_secret()}))
        .await;
    // Each fixture's sidecar carries the signature the vectors file computed with that secret.
    let step = |file: &'static str, http, reply, incident| {
        let rel = format!("sentry/{file}");
        Step {
            what: file,
            body: fixture(&rel),
            headers: fixture_headers(&rel),
            http,
            reply,
            incident,
        }
    };
    let id = round_trip(
        &app,
        &hook,
        vec![
            step(
                "RECONSTRUCTED_metric_alert.critical.json",
                201,
                "created",
                "open",
            ),
            step(
                "RECONSTRUCTED_metric_alert.warning.json",
                200,
                "deduplicated",
                "open",
            ),
            step("metric_alert.resolved.json", 200, "resolved", "resolved"),
        ],
    )
    .await;
    let incident = app.incident(id.as_str().unwrap()).await;
    assert_eq!(incident["title"], "Too many errors");
}

#[tokio::test]
async fn opsgenie_create_acknowledge_close() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({"platform": "opsgenie", "name": "opsgenie"}))
        .await;
    let genie = |body: Vec<u8>| {
        let mut headers = vec![(
            "Authorization".to_string(),
            format!("GenieKey {}", hook.secret),
        )];
        headers.extend(json_headers());
        (body, headers)
    };
    // The corpus' Acknowledge and Close are for alert 052652ac-…; the Create before them is the
    // Close with its action word changed.
    let close = fixture("opsgenie/close_docs_example.json");
    let create = replace_one(&close, r#""action":"Close""#, r#""action":"Create""#);
    let steps = [
        ("Create (derived)", create, 201, "created", "open"),
        (
            "acknowledge_docs_example.json",
            fixture("opsgenie/acknowledge_docs_example.json"),
            200,
            "acknowledged",
            "acknowledged",
        ),
        (
            "close_docs_example.json",
            close,
            200,
            "resolved",
            "resolved",
        ),
    ];
    let steps = steps
        .into_iter()
        .map(|(what, body, http, reply, incident)| {
            let (body, headers) = genie(body);
            Step {
                what,
                body,
                headers,
                http,
                reply,
                incident,
            }
        })
        .collect();
    let id = round_trip(&app, &hook, steps).await;
    assert_eq!(
        app.incident(id.as_str().unwrap()).await["title"],
        "test alert"
    );
}

#[tokio::test]
async fn a_resolve_for_an_alert_never_seen_is_logged_and_answered_200_without_an_incident() {
    let app = spawn_app().await;
    let pd_secret = fixture_json("pagerduty/vectors/aldaviva_real_deliveries.json")["vectors"][0]
        ["secret"]
        .as_str()
        .unwrap()
        .to_string();
    // (platform, secret to configure, fixture, captured headers carry the credentials)
    let cases: [(&str, Option<String>, &str, bool); 7] = [
        ("prometheus", None, "alertmanager/resolved.json", false),
        (
            "pagerduty",
            Some(pd_secret),
            "pagerduty/incident.resolved.json",
            true,
        ),
        ("opsgenie", None, "opsgenie/close_docs_example.json", false),
        (
            "azure_monitor",
            None,
            "azure_monitor/RECONSTRUCTED_log_search_v2_resolved.json",
            false,
        ),
        (
            "gcp_monitoring",
            None,
            "gcp_monitoring/legacy_v1.1_closed.json",
            false,
        ),
        (
            "dynatrace",
            None,
            "dynatrace/resolved_real_keptn_template.json",
            false,
        ),
        (
            "sentry",
            Some(sentry_secret()),
            "sentry/metric_alert.resolved.json",
            true,
        ),
    ];
    for (platform, secret, rel, captured) in cases {
        let mut create = json!({"platform": platform, "name": platform});
        if let Some(s) = secret {
            create["secret"] = s.into();
        }
        let hook = app.create_webhook(create).await;
        let body = fixture(rel);
        let (status, reply) = if captured {
            app.post(&hook, &body, &fixture_headers(rel)).await
        } else {
            app.post_as(&hook, &hook.secret, &body, &json_headers())
                .await
        };
        assert_eq!(status, 200, "{platform}: {reply}");
        assert_eq!(reply["status"], "ignored", "{platform}: {reply}");
        assert!(reply["incident_id"].is_null(), "{platform}: {reply}");
        assert!(app.incidents_of(&hook).await.is_empty(), "{platform}");
        let log = app.deliveries(&hook).await;
        assert_eq!(log.len(), 1, "{platform}");
        assert_eq!(log[0]["status_code"], 200, "{platform}");
        assert_eq!(log[0]["outcome"], "ignored", "{platform}: {}", log[0]);
        assert_eq!(
            log[0]["results"][0]["decision"]["kind"], "ignored",
            "{platform}: {}",
            log[0]
        );
    }
    assert!(app.incidents("limit=200").await.is_empty());
}

/// One PagerDuty vector: the secret it was signed with, the body and the header sent with it.
struct PdVector {
    name: String,
    secret: String,
    body: Vec<u8>,
    header: String,
    valid: bool,
}

fn pagerduty_vectors() -> Vec<PdVector> {
    let mut out = Vec::new();
    let real = fixture_json("pagerduty/vectors/aldaviva_real_deliveries.json");
    for v in real["vectors"].as_array().unwrap() {
        out.push(PdVector {
            name: v["name"].as_str().unwrap().into(),
            secret: v["secret"].as_str().unwrap().into(),
            body: v["body"].as_str().unwrap().as_bytes().to_vec(),
            header: v["signature_header"].as_str().unwrap().into(),
            valid: v["expected_valid"].as_bool().unwrap(),
        });
    }
    let official = fixture_json("pagerduty/vectors/go_pagerduty_official_test.json");
    for c in official["cases"].as_array().unwrap() {
        out.push(PdVector {
            name: c["name"].as_str().unwrap().into(),
            secret: official["secret"].as_str().unwrap().into(),
            body: official["body"].as_str().unwrap().as_bytes().to_vec(),
            header: c["signature_header"].as_str().unwrap().into(),
            valid: c["expected_valid"].as_bool().unwrap(),
        });
    }
    assert_eq!(out.len(), 10, "both files, every case");
    out
}

/// These tests fail authentication on purpose, many times from one address: a minute passes
/// between senders so that the per-address failure limit (tested in `access`) stays out of the
/// way.
const PER_ADDRESS_FAILURE_WINDOW_MS: i64 = 60_000;

/// An authentication failure: 401 with a JSON error body.
fn assert_refused(got: &(u16, Value), what: &str) {
    assert_eq!(got.0, 401, "{what}: {}", got.1);
    assert!(
        got.1["error"]
            .as_str()
            .is_some_and(|c| c.ends_with("_credentials")),
        "{what}: {}",
        got.1
    );
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}"
    );
}

#[tokio::test]
async fn every_pagerduty_vector_is_judged_over_http_as_its_file_says_and_a_flipped_byte_is_401() {
    let clock = manual_clock();
    let app = spawn_with_clock(clock.clone()).await;
    let vectors = pagerduty_vectors();
    // The two files were signed with two different secrets: make both active, by rotation.
    let official = vectors.last().unwrap().secret.clone();
    let real = vectors[0].secret.clone();
    let hook = app
        .create_webhook(json!({"platform": "pagerduty", "name": "pd", "secret": official}))
        .await;
    let resp = app
        .admin_json(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{}/rotate-secret", hook.id),
            json!({"secret": real}),
        )
        .await;
    assert_eq!(resp.status(), 200);

    let header = |value: &str| {
        let mut h = json_headers();
        h.push(("X-PagerDuty-Signature".into(), value.to_string()));
        h
    };
    let mut refused = 0;
    for v in &vectors {
        clock.advance_millis(PER_ADDRESS_FAILURE_WINDOW_MS);
        let got = app.post(&hook, &v.body, &header(&v.header)).await;
        if !v.valid {
            assert_refused(&got, &v.name);
            refused += 1;
            continue;
        }
        assert!(
            (200..300).contains(&got.0),
            "{} must be accepted: {}",
            v.name,
            got.1
        );
        let got = app
            .post(&hook, &flip_middle_byte(&v.body), &header(&v.header))
            .await;
        assert_refused(&got, &format!("{} with a flipped body byte", v.name));
        let got = app
            .post(&hook, &v.body, &header(&flip_last_hex_digit(&v.header)))
            .await;
        assert_refused(&got, &format!("{} with a flipped signature digit", v.name));
        refused += 2;
    }
    let rejected = app
        .admin_get(&format!(
            "/api/v1/webhooks/{}/deliveries?outcome=rejected&limit=200",
            hook.id
        ))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        rejected["items"].as_array().unwrap().len(),
        refused,
        "every refusal is in the delivery log"
    );
}

#[tokio::test]
async fn grafana_vectors_verify_over_http_with_and_without_the_timestamp_header() {
    // Vectors 0-2 use the secret `secret`, shorter than the 8 characters a webhook secret must
    // have; core's table tests cover them. Vectors 3-4 sign a corpus payload.
    let vectors = fixture_json("grafana/vectors/hmac_computed.json");
    // A signed timestamp must be within 5 minutes of the server's clock: start the clock at the
    // vector's own time.
    let signed_at: i64 = vectors["cases"].as_array().unwrap()[3..]
        .iter()
        .find_map(|c| c["timestamp"].as_str())
        .unwrap()
        .parse()
        .unwrap();
    let clock = Arc::new(alertgate_server::clock::ManualClock::new(
        alertgate_core::Timestamp::from_millis(signed_at * 1000),
    ));
    let app = spawn_with_clock(clock.clone()).await;
    let rel = "grafana/RECONSTRUCTED_wire_firing_hmac_signed.json";
    let body = fixture(rel);
    for case in &vectors["cases"].as_array().unwrap()[3..] {
        clock.advance_millis(PER_ADDRESS_FAILURE_WINDOW_MS);
        let secret = case["secret"].as_str().unwrap();
        let sig = case["signature"].as_str().unwrap();
        let mut create = json!({"platform": "grafana", "name": "grafana", "secret": secret});
        let mut headers = json_headers();
        headers.push(("X-Grafana-Alerting-Signature".into(), sig.into()));
        if let Some(ts) = case["timestamp"].as_str() {
            create["auth"] = json!({"type": "hmac_sha256", "header": "X-Grafana-Alerting-Signature",
                "timestamp_header": "X-Grafana-Alerting-Timestamp"});
            headers.push(("X-Grafana-Alerting-Timestamp".into(), ts.into()));
            // The vector's headers are the captured sidecar's.
            assert_eq!(
                fixture_headers(rel)
                    .into_iter()
                    .filter(|(k, _)| k.starts_with("X-Grafana"))
                    .collect::<Vec<_>>(),
                headers[1..].to_vec()
            );
        }
        let hook = app.create_webhook(create).await;
        let name = case["name"].as_str().unwrap();
        let (status, reply) = app.post(&hook, &body, &headers).await;
        assert_eq!(status, 201, "{name}: {reply}");
        assert_eq!(reply["status"], "created");

        let flipped = app.post(&hook, &flip_middle_byte(&body), &headers).await;
        assert_refused(&flipped, &format!("{name}: flipped body byte"));
        let mut bad = headers.clone();
        bad[1].1 = flip_last_hex_digit(sig);
        assert_refused(&app.post(&hook, &body, &bad).await, name);
        if case["timestamp"].is_string() {
            let mut moved = headers.clone();
            moved[2].1 = "1709258941".into();
            assert_refused(
                &app.post(&hook, &body, &moved).await,
                &format!("{name}: another timestamp"),
            );
        }
        if case["timestamp"].is_string() {
            // The same signed request replayed more than 5 minutes later is refused.
            clock.advance_millis(301_000);
            let replay = app.post(&hook, &body, &headers).await;
            assert_refused(&replay, &format!("{name}: replayed after 301 s"));
            assert!(
                replay.1["message"]
                    .as_str()
                    .unwrap()
                    .contains("replays are refused"),
                "{}",
                replay.1
            );
        }
    }
}

#[tokio::test]
async fn every_sentry_vector_is_judged_over_http_and_a_flipped_byte_is_401() {
    let clock = manual_clock();
    let app = spawn_with_clock(clock.clone()).await;
    let hook = app
        .create_webhook(json!({"platform": "sentry", "name": "sentry", "secret": sentry_secret()}))
        .await;
    let vectors = fixture_json("sentry/vectors/hmac_computed.json");
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for (i, case) in cases.iter().enumerate() {
        clock.advance_millis(PER_ADDRESS_FAILURE_WINDOW_MS);
        assert_eq!(case["secret"].as_str().unwrap(), sentry_secret());
        let (body, resource) = match case["body_file"].as_str() {
            Some(file) => {
                let rel = format!("sentry/{}", file.trim_start_matches("../"));
                let resource = fixture_headers(&rel)
                    .into_iter()
                    .find(|(k, _)| k == "Sentry-Hook-Resource")
                    .unwrap()
                    .1;
                (fixture(&rel), resource)
            }
            None => (
                case["body_utf8"].as_str().unwrap().as_bytes().to_vec(),
                "installation".to_string(),
            ),
        };
        let sig = case["expected_signature"].as_str().unwrap();
        let mut headers = json_headers();
        headers.push(("Sentry-Hook-Resource".into(), resource));
        headers.push(("Sentry-Hook-Signature".into(), sig.into()));
        let got = app.post(&hook, &body, &headers).await;
        if case["expected_valid"] == false {
            assert_refused(&got, &format!("case {i}"));
            continue;
        }
        assert!((200..300).contains(&got.0), "case {i}: {}", got.1);
        let flipped = app.post(&hook, &flip_middle_byte(&body), &headers).await;
        assert_refused(&flipped, &format!("case {i}: flipped body byte"));
        let mut bad = headers.clone();
        bad[2].1 = flip_last_hex_digit(sig);
        assert_refused(&app.post(&hook, &body, &bad).await, &format!("case {i}"));
    }
}

#[tokio::test]
async fn every_platform_with_a_secret_accepts_both_rotated_secrets_and_refuses_a_third() {
    let clock = manual_clock();
    let app = spawn_with_clock(clock.clone()).await;
    let mut checked = Vec::new();
    for platform in platforms::ALL {
        if !(platform.default_auth)().needs_secret() {
            continue;
        }
        clock.advance_millis(PER_ADDRESS_FAILURE_WINDOW_MS);
        let id = platform.id;
        let first = format!("first-secret-for-{id}");
        let hook = app
            .create_webhook(json!({"platform": id, "name": id, "secret": first}))
            .await;
        let body = platform.sample.as_bytes();
        let extra = json_headers();
        let accepted = |got: &(u16, Value), what: &str| {
            assert!(
                (200..300).contains(&got.0),
                "{id}: {what} must be accepted: {}",
                got.1
            );
        };

        let got = app.post_as(&hook, &first, body, &extra).await;
        assert_eq!(got.0, 201, "{id}: {}", got.1);
        // One byte off: of the body where the body is signed, of the credential otherwise.
        let mut credentials_off = first.clone().into_bytes();
        credentials_off[0] ^= 0x01;
        let credentials_off = String::from_utf8(credentials_off).unwrap();
        assert_refused(
            &app.post_as(&hook, &credentials_off, body, &extra).await,
            &format!("{id}: credential off by one byte"),
        );
        if matches!(
            hook.auth(),
            alertgate_core::auth::AuthMethod::HmacSha256 { .. }
        ) {
            let signed = credentials(&hook.auth(), &first, body);
            let mut headers = extra.clone();
            headers.extend(signed);
            assert_refused(
                &app.post(&hook, &flip_middle_byte(body), &headers).await,
                &format!("{id}: body off by one byte"),
            );
        }

        let second = format!("second-secret-for-{id}");
        let resp = app
            .admin_json(
                reqwest::Method::POST,
                &format!("/api/v1/webhooks/{}/rotate-secret", hook.id),
                json!({"secret": second}),
            )
            .await;
        assert_eq!(resp.status(), 200, "{id}");
        let rotated: Value = resp.json().await.unwrap();
        assert_eq!(rotated["secret"], second.as_str());
        assert_eq!(rotated["active_secrets"], 2);

        accepted(
            &app.post_as(&hook, &first, body, &extra).await,
            "the old secret",
        );
        accepted(
            &app.post_as(&hook, &second, body, &extra).await,
            "the new secret",
        );
        let third = format!("third-secret-for-{id}");
        assert_refused(
            &app.post_as(&hook, &third, body, &extra).await,
            &format!("{id}: a third secret"),
        );

        // Rotating again retires the oldest: two secrets at most.
        let resp = app
            .admin_json(
                reqwest::Method::POST,
                &format!("/api/v1/webhooks/{}/rotate-secret", hook.id),
                json!({"secret": third}),
            )
            .await;
        assert_eq!(resp.status(), 200, "{id}");
        assert_refused(
            &app.post_as(&hook, &first, body, &extra).await,
            &format!("{id}: the retired secret"),
        );
        accepted(&app.post_as(&hook, &second, body, &extra).await, "second");
        accepted(&app.post_as(&hook, &third, body, &extra).await, "third");
        checked.push(id);
    }
    assert_eq!(checked.len(), 11, "{checked:?}");
}
