//! The management API: authentication, webhook CRUD and validation, rotation, incident queries,
//! JSON errors everywhere.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn the_management_api_requires_the_admin_token() {
    let app = spawn_app().await;
    for path in ["/api/v1/webhooks", "/api/v1/incidents", "/api/v1/platforms"] {
        let none = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(none.status(), 401, "{path}");
        let body: Value = none.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        let wrong = app
            .client
            .get(app.url(path))
            .bearer_auth("test-admin-token-0123456788")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
        assert_eq!(app.admin_get(path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn creating_a_webhook_returns_its_intake_url_and_secret_once() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({
            "name": "Production API",
            "description": "CPU and memory alerts",
            "field_mapping": {"title": "$.alert.name"},
            "dedup_window_hours": 48
        }))
        .await;
    let b = &hook.body;
    assert!(hook.url.starts_with(&app.base));
    let token = hook
        .url
        .trim_end_matches("/trigger")
        .rsplit('/')
        .next()
        .unwrap();
    assert!(
        token.len() >= 43,
        "at least 256 bits of randomness, base64url"
    );
    assert!(hook.secret.starts_with("whsec_"));
    assert_eq!(b["platform"], "generic");
    assert_eq!(b["field_mapping"]["title"], "$.alert.name");
    assert_eq!(
        b["field_mapping"]["severity"],
        "$['severity','priority','level']"
    );
    assert_eq!(b["dedup_window_hours"], 48);
    assert_eq!(b["auth"]["type"], "bearer");

    let got: Value = app
        .admin_get(&format!("/api/v1/webhooks/{}", hook.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["intake_url"], hook.url);
    assert!(
        got.get("secret").is_none(),
        "the secret is shown only on creation"
    );
    assert!(!got.to_string().contains(&hook.secret));
    assert_eq!(got["secret_hint"].as_str().unwrap().chars().count(), 5);

    let list: Value = app
        .admin_get("/api/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&hook.secret));
}

#[tokio::test]
async fn invalid_webhook_settings_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"name": "x", "field_mapping": {"title": "$.["}}),
            "not valid JSONPath",
        ),
        (
            json!({"name": "x", "field_mapping": {"severity": "severity"}}),
            "severity path",
        ),
        (
            json!({"name": "x", "dedup_window_hours": 0}),
            "between 1 and 168",
        ),
        (
            json!({"name": "x", "dedup_window_hours": 169}),
            "between 1 and 168",
        ),
        (json!({"name": ""}), "name"),
        (
            json!({"name": "x", "platform": "nagios"}),
            "unknown platform",
        ),
        (
            json!({"name": "x", "field_mapping": {"title": ""}}),
            "title is required",
        ),
        (json!({"name": "x", "secret": "short"}), "secret"),
    ];
    for (body, needle) in cases {
        let resp = app
            .admin_json(Method::POST, "/api/v1/webhooks", body.clone())
            .await;
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"], "validation_failed", "{body}");
        assert!(
            err["message"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
    }
    let unknown_field = app
        .admin_json(
            Method::POST,
            "/api/v1/webhooks",
            json!({"name": "x", "colour": "red"}),
        )
        .await;
    assert_eq!(unknown_field.status(), 400);
    let not_json = app
        .client
        .post(app.url("/api/v1/webhooks"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(
        not_json.json::<Value>().await.unwrap()["error"],
        "invalid_json"
    );
    let list: Value = app
        .admin_get("/api/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn updating_the_mapping_takes_effect_on_the_next_alert() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let body = json!({"alert": {"name": "from nested path"}, "title": "from default path"});
    let (_, r) = app.send(&hook, &body).await;
    assert_eq!(
        app.incident(r["incident_id"].as_str().unwrap()).await["title"],
        "from default path"
    );

    let resp = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/webhooks/{}", hook.id),
            json!({"field_mapping": {"title": "$.alert.name"}, "name": "renamed"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["name"], "renamed");
    let (_, r) = app.send(&hook, &body).await;
    assert_eq!(
        app.incident(r["incident_id"].as_str().unwrap()).await["title"],
        "from nested path"
    );

    let bad = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/webhooks/{}", hook.id),
            json!({"dedup_window_hours": 500}),
        )
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_deleted_webhook_stops_taking_alerts_and_keeps_its_incidents() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let (_, r) = app.send(&hook, &seed_alert()).await;
    let resp = app
        .admin_json(
            Method::DELETE,
            &format!("/api/v1/webhooks/{}", hook.id),
            Value::Null,
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert_error(
        &app.send(&hook, &seed_alert()).await,
        404,
        "webhook_not_found",
    );
    assert_eq!(
        app.admin_get(&format!("/api/v1/webhooks/{}", hook.id))
            .await
            .status(),
        404
    );
    app.incident(r["incident_id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn rotating_the_secret_keeps_the_previous_one_working_until_revoked() {
    let app = spawn_app().await;
    let mut hook = app.generic_webhook().await;
    let old = hook.secret.clone();
    let resp = app
        .admin_json(
            Method::POST,
            &format!("/api/v1/webhooks/{}/rotate-secret", hook.id),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(rotated["active_secrets"], 2);
    for s in [&old, &new] {
        hook.secret = s.clone();
        assert_eq!(app.send(&hook, &seed_alert()).await.0 / 100, 2);
    }
    let resp = app
        .admin_json(
            Method::POST,
            &format!("/api/v1/webhooks/{}/rotate-secret", hook.id),
            json!({"revoke_previous": true}),
        )
        .await;
    let third = resp.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    for s in [&old, &new] {
        hook.secret = s.clone();
        assert_error(
            &app.send(&hook, &seed_alert()).await,
            401,
            "invalid_credentials",
        );
    }
    hook.secret = third;
    assert_eq!(app.send(&hook, &seed_alert()).await.0, 200);
}

#[tokio::test]
async fn incidents_can_be_filtered_searched_and_paged() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    for i in 0..7 {
        let sev = if i % 2 == 0 { "critical" } else { "low" };
        let svc = if i < 3 { "db" } else { "api" };
        app.send(
            &hook,
            &json!({"title": format!("alert {i} 100%_done"), "severity": sev, "service": svc}),
        )
        .await;
    }
    assert_eq!(app.incidents("").await.len(), 7);
    assert_eq!(app.incidents("severity=critical").await.len(), 4);
    assert_eq!(app.incidents("service=db").await.len(), 3);
    assert_eq!(
        app.incidents("q=ALERT%205").await.len(),
        1,
        "search is case-insensitive"
    );
    assert_eq!(
        app.incidents("q=100%25_").await.len(),
        7,
        "LIKE wildcards are literal"
    );
    assert_eq!(app.incidents("q=0%25x").await.len(), 0);
    assert_eq!(
        app.incidents(&format!("webhook_id={}", hook.id))
            .await
            .len(),
        7
    );
    assert_eq!(app.incidents("status=resolved").await.len(), 0);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=3&before={c}"),
            None => "limit=3".into(),
        };
        let page: Value = app
            .admin_get(&format!("/api/v1/incidents?{q}"))
            .await
            .json()
            .await
            .unwrap();
        for i in page["items"].as_array().unwrap() {
            seen.push(i["title"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7)
        .rev()
        .map(|i| format!("alert {i} 100%_done"))
        .collect();
    assert_eq!(seen, expected, "newest first, every incident exactly once");

    let bad = app.admin_get("/api/v1/incidents?severity=purple").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "invalid_query");
    assert_eq!(
        app.admin_get("/api/v1/incidents/inc_nope").await.status(),
        404
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    let r = app.admin_get("/api/v1/nothing-here").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    let r = app
        .client
        .delete(app.url("/api/v1/incidents"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "method_not_allowed"
    );
    let hook = app.generic_webhook().await;
    let r = app.client.get(&hook.url).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let h: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["database"], "ok");
}

#[tokio::test]
async fn platforms_are_listed_with_their_defaults() {
    let app = spawn_app().await;
    let body: Value = app
        .admin_get("/api/v1/platforms")
        .await
        .json()
        .await
        .unwrap();
    let generic = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "generic")
        .unwrap()
        .clone();
    assert_eq!(generic["name"], "Generic Webhook");
    assert_eq!(generic["default_auth"]["type"], "bearer");
    assert_eq!(
        generic["sample_payload"]["title"],
        "High CPU on production-api"
    );
}
