//! AWS SNS over HTTP, offline: the server fetches signing certificates and confirms subscriptions
//! through an injected transport ([`FakeSns`]) that serves the corpus' certificates by URL and
//! records every GET. The clock is set next to each vector's signed `Timestamp`, since SNS
//! messages older than an hour are replays.

use std::sync::Arc;

use serde_json::{json, Value};

use alertgate_core::Timestamp;
use alertgate_server::clock::ManualClock;
use alertgate_server::Runtime;

use crate::helpers::*;
use crate::support::*;

/// A server whose clock stands one second after `envelope` was signed, and its fake Amazon.
async fn sns_app(envelope: &Value) -> (TestApp, Arc<FakeSns>, Arc<ManualClock>, Hook) {
    let at = Timestamp::parse_rfc3339(envelope["Timestamp"].as_str().unwrap()).unwrap();
    let clock = Arc::new(ManualClock::new(at.saturating_add_millis(1_000)));
    let sns = FakeSns::with_corpus_certificates();
    let app = spawn_with(Runtime {
        clock: clock.clone(),
        sns: sns.clone(),
    })
    .await;
    let hook = app
        .create_webhook(json!({"platform": "aws_cloudwatch", "name": "cloudwatch"}))
        .await;
    (app, sns, clock, hook)
}

fn case(i: usize) -> Value {
    sns_vectors()["cases"][i]["envelope"].clone()
}

async fn send(app: &TestApp, hook: &Hook, envelope: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(envelope).unwrap();
    app.post(hook, &body, &sns_headers(envelope)).await
}

#[tokio::test]
async fn a_signed_subscription_confirmation_is_confirmed_once_and_logged() {
    let envelope = case(0);
    assert_eq!(envelope["Type"], "SubscriptionConfirmation");
    assert_eq!(envelope["SigningCertURL"], TEST_CERT_URL);
    let subscribe_url = envelope["SubscribeURL"].as_str().unwrap().to_string();
    let (app, sns, _, hook) = sns_app(&envelope).await;

    let (status, reply) = send(&app, &hook, &envelope).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "ignored");
    assert!(reply["incident_id"].is_null());
    assert_eq!(sns.gets(), [TEST_CERT_URL, subscribe_url.as_str()]);
    assert_eq!(sns.count(&subscribe_url), 1, "confirmed exactly once");

    let log = app.deliveries(&hook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status_code"], 200);
    let sub = &log[0]["extracted"]["sns_subscription"];
    assert_eq!(sub["confirmed"], true, "{}", log[0]);
    assert_eq!(
        sub["topic_arn"],
        "arn:aws:sns:eu-west-1:1234567890:alerta-test"
    );
    assert_eq!(sub["subscribe_url"], subscribe_url.as_str());
    assert!(app.incidents_of(&hook).await.is_empty());
}

#[tokio::test]
async fn signed_notifications_create_an_incident_and_the_certificate_is_fetched_once() {
    let (v1, v2) = (case(2), case(3));
    assert_eq!(
        (&v1["Type"], &v2["Type"]),
        (&json!("Notification"), &json!("Notification"))
    );
    let (app, sns, _, hook) = sns_app(&v1).await;

    let (status, first) = send(&app, &hook, &v1).await;
    assert_eq!(status, 201, "SignatureVersion 1: {first}");
    assert_eq!(first["status"], "created");
    let incident = app.incident(first["incident_id"].as_str().unwrap()).await;
    assert_eq!(incident["title"], "node_disk_used(i-007a83a108d6e2c6e)");
    assert_eq!(incident["status"], "open");

    // The same message signed with SignatureVersion 2 (SNS retries carry the same alarm).
    let (status, second) = send(&app, &hook, &v2).await;
    assert_eq!(status, 200, "SignatureVersion 2: {second}");
    assert_eq!(second["status"], "deduplicated");
    assert_eq!(second["incident_id"], first["incident_id"]);
    assert_eq!(sns.gets(), [TEST_CERT_URL], "one fetch, then the cache");
}

#[tokio::test]
async fn every_self_signed_vector_is_accepted_and_one_flipped_signature_byte_is_401() {
    let vectors = sns_vectors();
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(
        cases.len(),
        6,
        "three message types, two signature versions"
    );
    for (i, c) in cases.iter().enumerate() {
        let envelope = &c["envelope"];
        let what = format!(
            "case {i}: {} v{}",
            envelope["Type"], envelope["SignatureVersion"]
        );
        let (app, _, _, hook) = sns_app(envelope).await;

        let mut flipped = envelope.clone();
        let sig = envelope["Signature"].as_str().unwrap();
        let first = if sig.starts_with('A') { "B" } else { "A" };
        flipped["Signature"] = format!("{first}{}", &sig[1..]).into();
        let got = send(&app, &hook, &flipped).await;
        assert_eq!(got.0, 401, "{what}: {}", got.1);
        assert_eq!(got.1["error"], "invalid_credentials", "{what}");

        let (status, reply) = send(&app, &hook, envelope).await;
        let expected = if envelope["Type"] == "Notification" {
            201
        } else {
            200
        };
        assert_eq!(status, expected, "{what}: {reply}");
    }
}

#[tokio::test]
async fn a_flipped_byte_in_a_signed_field_or_the_signature_is_401() {
    let envelope = case(3);
    let (app, _, _, hook) = sns_app(&envelope).await;
    let body = serde_json::to_vec(&envelope).unwrap();
    let headers = sns_headers(&envelope);

    // One byte of the alarm inside `Message` (the body stays valid JSON).
    let tampered = replace_one(
        &body,
        r#"AlarmName\":\"node_disk_used"#,
        r#"AlarmName\":\"node_disk_usee"#,
    );
    let got = app.post(&hook, &tampered, &headers).await;
    assert_error(&got, 401, "invalid_credentials");
    // One byte of the signature.
    let sig = envelope["Signature"].as_str().unwrap();
    let mut flipped = envelope.clone();
    let first = if sig.starts_with('A') { "B" } else { "A" };
    flipped["Signature"] = format!("{first}{}", &sig[1..]).into();
    let got = send(&app, &hook, &flipped).await;
    assert_error(&got, 401, "invalid_credentials");

    // Untouched, it still passes: the 401s were the flips.
    let (status, reply) = app.post(&hook, &body, &headers).await;
    assert_eq!(status, 201, "{reply}");
    assert!(app.incidents_of(&hook).await.len() == 1);
    assert_eq!(
        app.deliveries(&hook)
            .await
            .iter()
            .filter(|d| d["status_code"] == 401)
            .count(),
        2
    );
}

#[tokio::test]
async fn a_certificate_url_off_amazons_sns_hosts_is_401_and_never_fetched() {
    let envelope = case(2);
    let (app, sns, _, hook) = sns_app(&envelope).await;
    for url in [
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-TESTONLY.pem",
        "https://example.com/SimpleNotificationService-TESTONLY.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-TESTONLY.pem",
        "https://s3.amazonaws.com/SimpleNotificationService-TESTONLY.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-TESTONLY.pem",
    ] {
        let mut e = envelope.clone();
        e["SigningCertURL"] = url.into();
        let got = send(&app, &hook, &e).await;
        assert_error(&got, 401, "invalid_credentials");
    }
    assert!(sns.gets().is_empty(), "fetched: {:?}", sns.gets());
    assert!(app.incidents_of(&hook).await.is_empty());
}

#[tokio::test]
async fn when_amazon_cannot_be_reached_the_sender_gets_502_upstream_unavailable() {
    let envelope = case(2);
    let (app, sns, _, hook) = sns_app(&envelope).await;
    sns.fail(true);
    let got = send(&app, &hook, &envelope).await;
    assert_error(&got, 502, "upstream_unavailable");
    let log = app.deliveries(&hook).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status_code"], 502);
    assert_eq!(log[0]["outcome"], "upstream_unavailable");

    // Not cached as a failure: once Amazon answers, the retry goes through.
    sns.fail(false);
    let (status, reply) = send(&app, &hook, &envelope).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(sns.count(TEST_CERT_URL), 2);
}

#[tokio::test]
async fn a_subscription_that_cannot_be_confirmed_is_502_so_sns_retries() {
    let envelope = case(1);
    assert_eq!(envelope["Type"], "SubscriptionConfirmation");
    let (app, sns, _, hook) = sns_app(&envelope).await;
    // Warm the certificate cache with the v1 confirmation, then let Amazon go away.
    let (status, _) = send(&app, &hook, &case(0)).await;
    assert_eq!(status, 200);
    sns.fail(true);
    let got = send(&app, &hook, &envelope).await;
    assert_error(&got, 502, "upstream_unavailable");
    assert_eq!(sns.count(TEST_CERT_URL), 1);
}

#[tokio::test]
async fn an_old_message_is_a_replay_and_refused() {
    let envelope = case(2);
    let (app, _, clock, hook) = sns_app(&envelope).await;
    clock.advance_millis(3_600_000);
    let got = send(&app, &hook, &envelope).await;
    assert_error(&got, 401, "invalid_credentials");
}

#[tokio::test]
async fn an_unsubscribe_confirmation_is_logged_and_its_url_not_visited() {
    let envelope = case(4);
    assert_eq!(envelope["Type"], "UnsubscribeConfirmation");
    let (app, sns, _, hook) = sns_app(&envelope).await;
    let (status, reply) = send(&app, &hook, &envelope).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "ignored");
    assert_eq!(
        sns.gets(),
        [TEST_CERT_URL],
        "SubscribeURL would re-subscribe"
    );
    assert_eq!(app.deliveries(&hook).await.len(), 1);
}

#[tokio::test]
async fn the_real_2015_notification_verifies_with_amazons_certificate_and_tampering_is_401() {
    let real = fixture_json("aws_cloudwatch_sns/vectors/real_aws_sigv1_2015.json");
    let body = real["body"].as_str().unwrap().as_bytes().to_vec();
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    let (app, sns, _, hook) = sns_app(&envelope).await;
    let headers = sns_headers(&envelope);

    let tampered = replace_one(&body, "\"test message\"", "\"TAMPERED MESSAGE\"");
    let got = app.post(&hook, &tampered, &headers).await;
    assert_error(&got, 401, "invalid_credentials");

    let (status, reply) = app.post(&hook, &body, &headers).await;
    assert!((200..300).contains(&status), "{status}: {reply}");
    assert_eq!(
        sns.gets(),
        [envelope["SigningCertURL"].as_str().unwrap()],
        "fetched once, from the URL in the message"
    );
}

#[tokio::test]
async fn a_signed_confirmation_whose_subscribe_url_is_off_amazon_is_never_visited() {
    // Properly signed (with the test key), so only the SubscribeURL rule stands in the way.
    let mut envelope = case(0);
    let evil = "https://169.254.169.254/?Action=ConfirmSubscription&Token=x";
    envelope["SubscribeURL"] = evil.into();
    sign_sns(&mut envelope, "2");
    let (app, sns, _, hook) = sns_app(&envelope).await;
    let got = send(&app, &hook, &envelope).await;
    assert_error(&got, 422, "unsupported_payload");
    assert_eq!(
        sns.gets(),
        [TEST_CERT_URL],
        "only the certificate was fetched"
    );
    assert_eq!(app.deliveries(&hook).await[0]["status_code"], 422);
}

#[tokio::test]
async fn a_topic_the_webhook_does_not_allow_is_401_before_any_fetch() {
    let envelope = case(2);
    let (app, sns, _, _) = sns_app(&envelope).await;
    let hook = app
        .create_webhook(json!({"platform": "aws_cloudwatch", "name": "one topic",
            "auth": {"type": "aws_sns", "topic_arns": ["arn:aws:sns:eu-west-1:111122223333:only-this"]}}))
        .await;
    let got = send(&app, &hook, &envelope).await;
    assert_error(&got, 401, "invalid_credentials");
    assert!(sns.gets().is_empty());
}
