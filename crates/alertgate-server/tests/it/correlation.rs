//! Correlation over HTTP: related alerts become one incident (time window, webhook rules,
//! workspace rules across platforms), every decision says why, and people acknowledge and
//! resolve incidents through the API.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const MINUTE: i64 = 60_000;

fn seed_rules() -> Value {
    json!({"enabled": true, "min_match_weight": 0.5, "rules": [
        {"name": "Same Service", "priority": 1, "weight": 0.8, "conditions": {"operator": "and", "items": [
            {"field": "services", "operator": "intersects", "value": []},
            {"field": "severity", "operator": "in", "value": ["critical", "high"]}
        ]}}
    ]})
}

#[tokio::test]
async fn within_the_window_a_new_alert_joins_the_open_incident_of_its_webhook() {
    let clock = manual_clock();
    let app = spawn_with_clock(clock.clone()).await;
    let hook = app
        .create_webhook(
            json!({"name": "tw", "enable_correlation": true, "correlation_window_minutes": 5}),
        )
        .await;
    let (s1, a) = app.send(&hook, &json!({"title": "db down"})).await;
    assert_eq!(s1, 201);
    clock.advance_millis(4 * MINUTE);
    let (s2, b) = app.send(&hook, &json!({"title": "api errors"})).await;
    assert_eq!(s2, 200, "{b}");
    assert_eq!(b["status"], "correlated");
    assert_eq!(b["incident_id"], a["incident_id"]);
    assert_eq!(b["decision"]["by"], "time_window");
    assert_eq!(b["decision"]["window_minutes"], 5);
    // The window runs from the incident's last correlated alert, so it slides.
    clock.advance_millis(4 * MINUTE);
    let (_, c) = app.send(&hook, &json!({"title": "queue backlog"})).await;
    assert_eq!(c["incident_id"], a["incident_id"]);
    clock.advance_millis(5 * MINUTE + 1);
    let (s4, d) = app.send(&hook, &json!({"title": "late alert"})).await;
    assert_eq!(s4, 201);
    assert_ne!(d["incident_id"], a["incident_id"]);

    let inc = app.incident(a["incident_id"].as_str().unwrap()).await;
    assert_eq!(inc["alert_count"], 3);
    assert_eq!(inc["correlated_alert_count"], 2);
    let kinds: Vec<&str> = inc["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["decision"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["created", "correlated", "correlated"]);
    assert_eq!(inc["timeline"][0]["kind"], "alert_correlated");
}

#[tokio::test]
async fn correlation_is_off_by_default() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let (_, a) = app.send(&hook, &json!({"title": "one"})).await;
    let (_, b) = app.send(&hook, &json!({"title": "two"})).await;
    assert_ne!(a["incident_id"], b["incident_id"]);
}

#[tokio::test]
async fn webhook_rules_correlate_what_matches_and_explain_why() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(
            json!({"name": "rules", "enable_correlation": true, "correlation_rules": seed_rules()}),
        )
        .await;
    let (_, a) = app
        .send(
            &hook,
            &json!({"title": "db primary down", "severity": "critical", "services": ["db", "api"]}),
        )
        .await;
    let (_, b) = app
        .send(
            &hook,
            &json!({"title": "api 5xx", "severity": "high", "service": "api"}),
        )
        .await;
    assert_eq!(b["status"], "correlated", "{b}");
    assert_eq!(b["incident_id"], a["incident_id"]);
    assert_eq!(b["decision"]["rules"], json!(["Same Service"]));
    assert_eq!(b["decision"]["score"], 0.8);
    assert_eq!(b["decision"]["scope"], "webhook");
    // Shares a service but is low severity: the rule does not match.
    let (s, c) = app
        .send(
            &hook,
            &json!({"title": "api latency", "severity": "low", "service": "api"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_ne!(c["incident_id"], a["incident_id"]);
    // High severity but another service: no match either.
    let (s, _) = app
        .send(
            &hook,
            &json!({"title": "cdn down", "severity": "critical", "service": "cdn"}),
        )
        .await;
    assert_eq!(s, 201);
    let inc = app.incident(a["incident_id"].as_str().unwrap()).await;
    assert_eq!(inc["correlated_alert_count"], 1);
    assert_eq!(inc["services"], json!(["api", "db"]));
}

#[tokio::test]
async fn invalid_rules_are_refused_naming_the_rule_and_the_problem() {
    let app = spawn_app().await;
    let bad = json!({"name": "x", "enable_correlation": true, "correlation_rules": {"rules": [
        {"name": "Broken", "weight": 1.5, "conditions": {"operator": "and", "items": [
            {"field": "title", "operator": "regex", "value": "(unclosed"},
            {"field": "severity", "operator": "like", "value": "x"}
        ]}}
    ]}});
    let resp = app.admin_json(Method::POST, "/api/v1/webhooks", bad).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "invalid_correlation_rules");
    let msg = err["message"].as_str().unwrap();
    for needle in ["Broken", "weight", "regex", "like"] {
        assert!(msg.contains(needle), "{needle} in {msg}");
    }
    let resp = app
        .admin_json(
            Method::PUT,
            "/api/v1/correlation",
            json!({"enable_correlation": true, "correlation_window_minutes": 0}),
        )
        .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_alerts_matching_one_rule_make_one_incident() {
    let app = spawn_app().await;
    let hook = Arc::new(
        app.create_webhook(
            json!({"name": "burst", "enable_correlation": true, "correlation_rules": seed_rules()}),
        )
        .await,
    );
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (client, hook) = (app.client.clone(), hook.clone());
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(&hook.url)
                .bearer_auth(&hook.secret)
                .json(&json!({"title": format!("symptom {i}"), "severity": "critical", "service": "payments"}))
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }));
    }
    let mut created = 0;
    for t in tasks {
        let s = t.await.unwrap();
        assert!(s == 200 || s == 201);
        created += usize::from(s == 201);
    }
    assert_eq!(created, 1);
    let incidents = app.incidents("").await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["alert_count"], 100);
    assert_eq!(incidents[0]["correlated_alert_count"], 99);
}

/// A database outage seen by three tools: Alertmanager, Datadog and a generic webhook. Workspace
/// rules make one incident of the database cascade; an unrelated alert stays apart.
#[tokio::test]
async fn a_cascading_failure_across_three_platforms_becomes_one_incident() {
    let app = spawn_app().await;
    let resp = app
        .admin_json(
            Method::PUT,
            "/api/v1/correlation",
            json!({"enable_correlation": true, "correlation_window_minutes": 10, "correlation_rules": {
                "enabled": true, "min_match_weight": 0.5, "rules": [
                    {"name": "Same service", "priority": 1, "weight": 0.6, "conditions":
                        {"field": "services", "operator": "intersects", "value": []}},
                    {"name": "Same cluster", "priority": 2, "weight": 0.5, "conditions": {"operator": "and", "items": [
                        {"field": "labels.cluster", "operator": "exists"},
                        {"field": "labels.cluster", "operator": "equals", "value": ""}]}}
                ]}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let am = app
        .create_webhook(json!({"name": "am", "platform": "prometheus", "auth": {"type": "bearer"}}))
        .await;
    let dd = app
        .create_webhook(json!({"name": "dd", "platform": "datadog", "auth": {"type": "bearer"}}))
        .await;
    let gen = app.generic_webhook().await;

    // 1 request, 10 alerts from Alertmanager: postgres instances and the API that depends on them.
    let mut alerts = Vec::new();
    for i in 0..10 {
        let service = if i < 6 { "postgres" } else { "checkout-api" };
        alerts.push(json!({
            "status": "firing",
            "labels": {"alertname": format!("Symptom{i}"), "severity": "critical", "service": service,
                       "cluster": "prod-eu", "instance": format!("10.0.0.{i}:9100")},
            "annotations": {"summary": format!("symptom {i} on {service}")},
            "startsAt": "2026-11-27T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph", "fingerprint": format!("{i:016x}")
        }));
    }
    let am_body = json!({"receiver": "alertgate", "status": "firing", "alerts": alerts,
        "groupLabels": {"cluster": "prod-eu"}, "commonLabels": {"cluster": "prod-eu"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093", "version": "4", "groupKey": "{}:{cluster=\"prod-eu\"}", "truncatedAlerts": 0});
    let (status, r) = app.send(&am, &am_body).await;
    assert_eq!(status, 201, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 10);
    let outage = results[0]["incident_id"].as_str().unwrap().to_string();
    assert!(
        results.iter().all(|x| x["incident_id"] == outage.as_str()),
        "{r}"
    );

    // 10 Datadog monitors on the same services.
    for i in 0..10 {
        let service = if i % 2 == 0 {
            "postgres"
        } else {
            "checkout-api"
        };
        let body = json!({
            "title": format!("[Triggered on {{service:{service}}}] Monitor {i}"),
            "body": "%%%\nsomething is wrong\n%%%", "alert_transition": "Triggered", "alert_type": "error",
            "monitor_id": format!("{}", 9000 + i), "scopes": format!("service:{service}"),
            "tags": format!("env:prod,service:{service}"), "id": format!("{}", 1000 + i)
        });
        let (s, r) = app.send(&dd, &body).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["status"], "correlated");
        assert_eq!(r["incident_id"], outage.as_str());
        assert_eq!(r["decision"]["scope"], "workspace");
    }
    // 9 generic alerts: 8 on the same cluster, one about something else entirely.
    for i in 0..8 {
        let body = json!({"title": format!("synthetic check {i} failing"), "severity": "high",
                          "labels": {"cluster": "prod-eu"}});
        let (_, r) = app.send(&gen, &body).await;
        assert_eq!(r["incident_id"], outage.as_str(), "{r}");
        assert_eq!(r["decision"]["rules"], json!(["Same cluster"]));
    }
    let (s, other) = app
        .send(&gen, &json!({"title": "marketing site certificate expires in 20 days", "severity": "low", "service": "www"}))
        .await;
    assert_eq!(s, 201);
    assert_ne!(other["incident_id"], outage.as_str());

    let incidents = app.incidents("").await;
    assert_eq!(incidents.len(), 2);
    let inc = app.incident(&outage).await;
    assert_eq!(inc["alert_count"], 28);
    assert_eq!(inc["correlated_alert_count"], 27);
    assert_eq!(inc["severity"], "critical");
    assert_eq!(inc["platform"], "prometheus");
    let alerts = inc["alerts"].as_array().unwrap();
    let count = |platform_hook: &Hook| {
        alerts
            .iter()
            .filter(|a| a["webhook_id"] == platform_hook.id.as_str())
            .count()
    };
    assert_eq!((count(&am), count(&dd), count(&gen)), (10, 10, 8));
}

#[tokio::test]
async fn people_acknowledge_and_resolve_incidents_and_the_timeline_records_it() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let (_, a) = app.send(&hook, &seed_alert()).await;
    let id = a["incident_id"].as_str().unwrap();
    let ack = app
        .admin_json(
            Method::POST,
            &format!("/api/v1/incidents/{id}/acknowledge"),
            Value::Null,
        )
        .await;
    assert_eq!(ack.status(), 200);
    assert_eq!(ack.json::<Value>().await.unwrap()["status"], "acknowledged");
    // A repeat from the source does not undo the acknowledgement.
    let (_, r) = app.send(&hook, &seed_alert()).await;
    assert_eq!(r["status"], "deduplicated");
    assert_eq!(app.incident(id).await["status"], "acknowledged");
    let res = app
        .admin_json(
            Method::POST,
            &format!("/api/v1/incidents/{id}/resolve"),
            Value::Null,
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "resolved");
    let inc = app.incident(id).await;
    let kinds: Vec<(&str, &str)> = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("acknowledged", "api"), ("resolved", "api")]);
    assert_eq!(inc["alerts"][0]["status"], "resolved");
    // A resolved incident takes no new alerts.
    let (s, again) = app.send(&hook, &seed_alert()).await;
    assert_eq!(s, 201);
    assert_ne!(again["incident_id"], id);
    let missing = app
        .admin_json(
            Method::POST,
            "/api/v1/incidents/inc_01ARZ3NDEKTSV4RRFFQ69G5FAV/resolve",
            Value::Null,
        )
        .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_source_acknowledgement_then_unacknowledgement_moves_the_incident() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let body = |status: &str| json!({"title": "t", "dedup_key": "k", "status": status});
    let (_, a) = app.send(&hook, &body("firing")).await;
    let id = a["incident_id"].as_str().unwrap();
    let (_, r) = app.send(&hook, &body("acknowledged")).await;
    assert_eq!(r["status"], "acknowledged");
    assert_eq!(app.incident(id).await["status"], "acknowledged");
    app.send(&hook, &body("firing")).await;
    assert_eq!(app.incident(id).await["status"], "open");
    app.send(&hook, &body("resolved")).await;
    let inc = app.incident(id).await;
    assert_eq!(inc["status"], "resolved");
    let kinds: Vec<&str> = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["acknowledged", "reopened", "resolved"]);
}
