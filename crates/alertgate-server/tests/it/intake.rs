//! The intake endpoint: the seed alert end to end, dedup, every refusal with its status and code,
//! truncation warnings, and the delivery log.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn the_seed_alert_creates_an_incident_and_a_repeat_is_deduplicated() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let (status, first) = app.send(&hook, &seed_alert()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "created");
    assert_eq!(first["occurrence_count"], 1);
    let incident_id = first["incident_id"].as_str().unwrap();
    assert!(incident_id.starts_with("inc_"));
    assert!(first["alert_id"].as_str().unwrap().starts_with("alt_"));

    let (status, second) = app.send(&hook, &seed_alert()).await;
    assert_eq!(status, 200);
    assert_eq!(second["status"], "deduplicated");
    assert_eq!(second["incident_id"], incident_id);
    assert_eq!(second["occurrence_count"], 2);
    assert_eq!(second["decision"]["kind"], "deduplicated");
    assert_eq!(second["decision"]["window_hours"], 24);

    let incident = app.incident(incident_id).await;
    assert_eq!(incident["title"], "High CPU on production-api");
    assert_eq!(incident["severity"], "high");
    assert_eq!(incident["status"], "open");
    assert_eq!(incident["services"], json!(["production-api"]));
    assert_eq!(incident["occurrence_count"], 2);
    let alerts = incident["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0]["description"],
        "CPU usage exceeded 90% for 5 minutes"
    );
    assert_eq!(alerts[0]["occurrence_count"], 2);
    assert_eq!(alerts[0]["decision"]["kind"], "created");
}

#[tokio::test]
async fn a_different_severity_or_title_is_a_different_alert() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let (_, a) = app.send(&hook, &seed_alert()).await;
    let mut other = seed_alert();
    other["severity"] = json!("critical");
    let (status, b) = app.send(&hook, &other).await;
    assert_eq!(status, 201);
    assert_ne!(a["incident_id"], b["incident_id"]);
}

#[tokio::test]
async fn a_repeat_after_the_dedup_window_opens_a_new_incident() {
    let clock = manual_clock();
    let app = spawn_with_clock(clock.clone()).await;
    let hook = app
        .create_webhook(json!({"name": "short window", "dedup_window_hours": 1}))
        .await;
    let (_, a) = app.send(&hook, &seed_alert()).await;
    clock.advance_millis(3_600_000);
    let (_, b) = app.send(&hook, &seed_alert()).await;
    assert_eq!(b["status"], "deduplicated", "exactly at the window's edge");
    clock.advance_millis(3_600_001);
    let (status, c) = app.send(&hook, &seed_alert()).await;
    assert_eq!(status, 201);
    assert_eq!(c["status"], "created");
    assert_eq!(a["incident_id"], b["incident_id"]);
    assert_ne!(a["incident_id"], c["incident_id"]);
}

#[tokio::test]
async fn a_custom_dedup_key_path_decides_identity() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(
            json!({"name": "k", "field_mapping": {"dedup_key": "$.labels.fingerprint"}}),
        )
        .await;
    let body = |title: &str| json!({"title": title, "labels": {"fingerprint": "fp-1"}});
    let (_, a) = app.send(&hook, &body("first wording")).await;
    let (status, b) = app.send(&hook, &body("second wording")).await;
    assert_eq!(status, 200);
    assert_eq!(b["status"], "deduplicated");
    assert_eq!(a["incident_id"], b["incident_id"]);
    assert_eq!(b["decision"]["dedup_key"], "fp-1");
}

#[tokio::test]
async fn severity_synonyms_normalize_and_unknown_values_fall_back_keeping_the_raw_value() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({"name": "s", "default_severity": "low", "severity_mapping": {"purple": "critical"}}))
        .await;
    for (raw, want) in [
        ("P1", "critical"),
        ("warning", "medium"),
        ("Sev3", "low"),
        ("purple", "critical"),
        ("mauve", "low"),
    ] {
        let (status, r) = app
            .send(
                &hook,
                &json!({"title": format!("sev {raw}"), "severity": raw}),
            )
            .await;
        assert_eq!(status, 201, "{r}");
        let inc = app.incident(r["incident_id"].as_str().unwrap()).await;
        assert_eq!(inc["severity"], want, "{raw}");
        assert_eq!(inc["alerts"][0]["raw_severity"], raw);
    }
}

#[tokio::test]
async fn services_may_be_a_string_or_an_array() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let (_, r) = app
        .send(
            &hook,
            &json!({"title": "t", "services": ["db", "api", "db"]}),
        )
        .await;
    let inc = app.incident(r["incident_id"].as_str().unwrap()).await;
    assert_eq!(inc["services"], json!(["api", "db"]));
}

#[tokio::test]
async fn a_resolve_closes_the_alert_and_its_incident_and_an_unknown_resolve_creates_nothing() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let firing = json!({"title": "disk full", "dedup_key": "disk-1", "status": "firing"});
    let (_, a) = app.send(&hook, &firing).await;
    let (status, r) = app
        .send(
            &hook,
            &json!({"title": "disk full", "dedup_key": "disk-1", "status": "resolved"}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "resolved");
    assert_eq!(r["incident_id"], a["incident_id"]);
    let inc = app.incident(a["incident_id"].as_str().unwrap()).await;
    assert_eq!(inc["status"], "resolved");
    assert!(inc["resolved_at"].is_string());

    let (status, r) = app
        .send(
            &hook,
            &json!({"title": "never fired", "dedup_key": "nope", "status": "ok"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(r["status"], "ignored");
    assert!(r["incident_id"].is_null());
    assert_eq!(app.incidents("").await.len(), 1);

    // A resolved incident takes no new alerts: the same identity firing again opens a new one.
    let (status, again) = app.send(&hook, &firing).await;
    assert_eq!(status, 201);
    assert_ne!(again["incident_id"], a["incident_id"]);
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let body = seed_alert().to_string();
    let ct = ("Content-Type", "application/json");
    let missing = app.send_raw(&hook, body.clone(), &[ct]).await;
    assert_error(&missing, 401, "missing_credentials");
    let wrong = app
        .send_raw(&hook, body.clone(), &[ct, ("Authorization", "Bearer nope")])
        .await;
    assert_error(&wrong, 401, "invalid_credentials");
    // Same length as the real secret, one character off: refused through the same path.
    let mut near = hook.secret.clone().into_bytes();
    let last = near.len() - 1;
    near[last] = if near[last] == b'A' { b'B' } else { b'A' };
    let near = String::from_utf8(near).unwrap();
    let auth = format!("Bearer {near}");
    let wrong_same_len = app
        .send_raw(&hook, body.clone(), &[ct, ("Authorization", &auth)])
        .await;
    assert_error(&wrong_same_len, 401, "invalid_credentials");
    let malformed = app
        .send_raw(&hook, body, &[ct, ("Authorization", "Basic Zm9vOmJhcg==")])
        .await;
    assert_error(&malformed, 401, "invalid_credentials");
    assert!(app.incidents("").await.is_empty());
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_404() {
    let app = spawn_app().await;
    for path in [
        "/webhook/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/trigger",
        "/webhook/short/trigger",
        "/webhook/..%2F..%2Fetc%2Fpasswd/trigger",
        "/webhook/%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9/trigger",
    ] {
        let resp = app
            .client
            .post(app.url(path))
            .json(&seed_alert())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "webhook_not_found", "{path}");
    }
}

#[tokio::test]
async fn bad_payloads_get_the_documented_errors_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let auth = format!("Bearer {}", hook.secret);
    let h = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];

    let over = format!("{{\"title\":\"{}\"}}", "x".repeat(102_400));
    assert_error(
        &app.send_raw(&hook, over, &h).await,
        413,
        "payload_too_large",
    );
    let deep = format!(
        "{{\"title\":\"t\",\"a\":{}1{}}}",
        "[".repeat(10),
        "]".repeat(10)
    );
    assert_error(
        &app.send_raw(&hook, deep, &h).await,
        400,
        "nesting_too_deep",
    );
    let ten_deep = format!(
        "{{\"title\":\"t\",\"a\":{}1{}}}",
        "[".repeat(9),
        "]".repeat(9)
    );
    assert_eq!(app.send_raw(&hook, ten_deep, &h).await.0, 201);
    assert_error(
        &app.send_raw(&hook, "{\"title\":", &h).await,
        400,
        "invalid_json",
    );
    assert_error(
        &app.send_raw(&hook, "not json", &h).await,
        400,
        "invalid_json",
    );
    assert_error(
        &app.send_raw(&hook, b"{\"title\":\"\xff\xfe\"}".to_vec(), &h)
            .await,
        400,
        "invalid_utf8",
    );
    assert_error(&app.send_raw(&hook, "", &h).await, 400, "empty_body");
    let no_title = app.send_raw(&hook, "{\"summary_x\":1}", &h).await;
    assert_error(&no_title, 422, "title_not_found");
    assert!(no_title.1["message"]
        .as_str()
        .unwrap()
        .contains("$['title','summary','message']"));

    // Still serving.
    let (status, _) = app.send(&hook, &seed_alert()).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn long_strings_and_arrays_are_truncated_and_reported() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let items: Vec<u32> = (0..101).collect();
    let body =
        json!({"title": "t", "description": "d".repeat(10_001), "services": ["a"], "items": items});
    let (status, r) = app.send(&hook, &body).await;
    assert_eq!(status, 201, "{r}");
    let codes: Vec<&str> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["string_truncated", "array_truncated"]);
    let inc = app.incident(r["incident_id"].as_str().unwrap()).await;
    let desc = inc["alerts"][0]["description"].as_str().unwrap();
    assert_eq!(desc.chars().count(), 10_000);
    assert!(desc.ends_with("…[truncated]"));
    let log = app.deliveries(&hook).await;
    assert_eq!(log[0]["warnings"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn every_request_leaves_a_delivery_row_with_credentials_redacted() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    app.send(&hook, &seed_alert()).await;
    app.send(&hook, &seed_alert()).await;
    app.send_raw(
        &hook,
        "{}",
        &[("Authorization", "Bearer wrong-secret-value")],
    )
    .await;
    let auth = format!("Bearer {}", hook.secret);
    app.send_raw(
        &hook,
        "{",
        &[("Authorization", auth.as_str()), ("Cookie", "session=abc")],
    )
    .await;
    let log = app.deliveries(&hook).await;
    assert_eq!(log.len(), 4);
    let outcomes: Vec<(&str, u64)> = log
        .iter()
        .map(|d| {
            (
                d["outcome"].as_str().unwrap(),
                d["status_code"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("invalid_json", 400),
            ("invalid_credentials", 401),
            ("deduplicated", 200),
            ("created", 201)
        ]
    );
    let created = &log[3];
    assert_eq!(
        created["extracted"]["fields"]["title"],
        "High CPU on production-api"
    );
    assert_eq!(created["extracted"]["severity"], "high");
    assert_eq!(created["source_addr"], "127.0.0.1");
    assert!(created["body"].as_str().unwrap().contains("High CPU"));
    assert!(created["results"][0]["incident_id"].is_string());
    assert_eq!(log[1]["error"]["code"], "invalid_credentials");

    let all = serde_json::to_string(&log).unwrap();
    assert!(
        !all.contains(&hook.secret),
        "the secret must never be stored"
    );
    assert!(!all.contains("wrong-secret-value"));
    assert!(!all.contains("session=abc"));
    assert!(all.contains("[redacted]"));

    let rejected = app
        .admin_get(&format!(
            "/api/v1/webhooks/{}/deliveries?outcome=rejected",
            hook.id
        ))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(rejected["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_disabled_webhook_refuses_alerts() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let resp = app
        .admin_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/webhooks/{}", hook.id),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_error(
        &app.send(&hook, &seed_alert()).await,
        403,
        "webhook_disabled",
    );
}

#[tokio::test]
async fn a_wrong_method_on_an_intake_url_is_405_allowing_post_whether_the_webhook_exists_or_not() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let unknown = app.url("/webhook/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/trigger");
    let short = app.url("/webhook/0/trigger");
    for url in [hook.url.as_str(), unknown.as_str(), short.as_str()] {
        for m in ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"] {
            let resp = app
                .client
                .request(reqwest::Method::from_bytes(m.as_bytes()).unwrap(), url)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 405, "{m} {url}");
            assert_eq!(resp.headers()["allow"], "POST", "{m} {url}");
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "method_not_allowed", "{m} {url}");
        }
    }
    // A POST to an unknown token is still "no such webhook".
    let (status, body) = {
        let r = app
            .client
            .post(&unknown)
            .json(&seed_alert())
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_error(&(status, body), 404, "webhook_not_found");
}
