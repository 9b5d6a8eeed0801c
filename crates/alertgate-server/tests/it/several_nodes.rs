//! Several alertgate nodes on one PostgreSQL database (in-process servers on port 0): they agree
//! on every decision, see each other's configuration changes within the cache TTL, share the
//! rate limit within its documented bound, and ride out a database outage. PostgreSQL only:
//! skipped (or, with ALERTGATE_TEST_REQUIRE_ALL, failed) without ALERTGATE_TEST_DATABASE_URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use alertgate_core::auth::Secret;
use alertgate_server::{Config, Runtime};
use alertgate_testdb::TestDatabase;

use crate::helpers::*;
use crate::proxy::{self, Proxy};

/// Every node of a deployment shares the key that encrypts secrets at rest.
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn node_config(url: &str, dir: &std::path::Path, ttl_ms: u64) -> Config {
    Config {
        database_url: Some(url.to_string()),
        secret_key: Some(Secret::new(SECRET_KEY)),
        webhook_cache_ttl_ms: ttl_ms,
        ..config(dir)
    }
}

/// `n` nodes on one fresh database, or `None` when the run is not on PostgreSQL.
async fn spawn_nodes(test: &str, n: usize, ttl_ms: u64) -> Option<Vec<TestApp>> {
    let admin = alertgate_testdb::postgres_url_or_skip(test)?;
    let db = Arc::new(TestDatabase::create(&admin).await);
    let mut nodes = Vec::new();
    for _ in 0..n {
        let dir = tempfile::tempdir().unwrap();
        let config = node_config(&db.url, dir.path(), ttl_ms);
        nodes.push(spawn_config(config, dir, Runtime::default(), Some(db.clone())).await);
    }
    Some(nodes)
}

async fn post(app: &TestApp, hook: &Hook, body: &Value) -> (u16, Value, Option<String>) {
    let resp = app
        .client
        .post(&hook.url)
        .bearer_auth(&hook.secret)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, resp.json().await.unwrap_or(Value::Null), retry)
}

/// A hook created on one node, addressed to another (same token, that node's URL).
fn on(node: &TestApp, hook: &Hook) -> Hook {
    let path = hook.url.split_once("/webhook/").unwrap().1;
    Hook {
        id: hook.id.clone(),
        url: node.url(&format!("/webhook/{path}")),
        secret: hook.secret.clone(),
        body: hook.body.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_alert_posted_to_two_nodes_at_once_makes_one_incident_with_count_2() {
    let Some(nodes) = spawn_nodes("same_alert_two_nodes", 2, 2_000).await else {
        return;
    };
    let hook = nodes[0]
        .create_webhook(json!({"name": "shared", "rate_limit_per_hour": 0}))
        .await;
    let (a, b) = (on(&nodes[0], &hook), on(&nodes[1], &hook));
    for round in 0..10 {
        let body = json!({"title": format!("disk full {round}"), "severity": "high"});
        let ((s1, r1, _), (s2, r2, _)) =
            tokio::join!(post(&nodes[0], &a, &body), post(&nodes[1], &b, &body));
        let mut statuses = [s1, s2];
        statuses.sort();
        assert_eq!(statuses, [200, 201], "round {round}: {r1} {r2}");
        assert_eq!(r1["incident_id"], r2["incident_id"]);
        let inc = nodes[1].incident(r1["incident_id"].as_str().unwrap()).await;
        assert_eq!(inc["occurrence_count"], 2);
    }
    assert_eq!(nodes[0].incidents("limit=200").await.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_disabled_through_one_node_is_refused_by_the_others_within_the_cache_ttl() {
    let ttl = Duration::from_millis(500);
    let Some(nodes) = spawn_nodes("webhook_cache_ttl", 2, ttl.as_millis() as u64).await else {
        return;
    };
    let hook = nodes[0].generic_webhook().await;
    let (a, b) = (on(&nodes[0], &hook), on(&nodes[1], &hook));
    assert_eq!(
        post(&nodes[1], &b, &seed_alert()).await.0,
        201,
        "cached on node 2 now"
    );
    let resp = nodes[0]
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/webhooks/{}", hook.id),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let changed = Instant::now();
    let (s, body, _) = post(&nodes[0], &a, &seed_alert()).await;
    assert_error(&(s, body), 403, "webhook_disabled");
    loop {
        let (s, body, _) = post(&nodes[1], &b, &seed_alert()).await;
        if s == 403 {
            assert_eq!(body["error"], "webhook_disabled");
            break;
        }
        assert!(s == 200 || s == 201, "{s} {body}");
        assert!(
            changed.elapsed() <= ttl + Duration::from_millis(500),
            "still served from the cache after {:?}",
            changed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Rate limits are counted per node (see ratelimit.rs): across N nodes a webhook gets at most
/// N × its hourly limit through, and each node never more than the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_admits_at_most_the_limit_on_each_node() {
    let Some(nodes) = spawn_nodes("rate_limit_bound", 3, 2_000).await else {
        return;
    };
    let limit = 3;
    let hook = nodes[0]
        .create_webhook(json!({"name": "limited", "rate_limit_per_hour": limit}))
        .await;
    let mut total = 0;
    for (n, node) in nodes.iter().enumerate() {
        let h = on(node, &hook);
        let mut accepted = 0;
        for i in 0..6 {
            let (s, body, retry) = post(node, &h, &json!({"title": format!("n{n} a{i}")})).await;
            match s {
                201 => accepted += 1,
                429 => assert!(retry.is_some(), "{body}"),
                other => panic!("{other} {body}"),
            }
        }
        assert_eq!(accepted, limit, "node {n}");
        total += accepted;
    }
    assert!(total <= limit * nodes.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn intake_answers_503_while_the_database_is_away_and_recovers_by_itself() {
    let Some(admin) = alertgate_testdb::postgres_url_or_skip("database_outage") else {
        return;
    };
    let db = Arc::new(TestDatabase::create(&admin).await);
    let proxy = Proxy::start(proxy::server_addr(&db.url)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = node_config(&proxy::through(&db.url, proxy.addr), dir.path(), 300);
    let app = spawn_config(config, dir, Runtime::default(), Some(db)).await;
    let hook = app
        .create_webhook(json!({"name": "outage", "rate_limit_per_hour": 0}))
        .await;
    assert_eq!(post(&app, &hook, &json!({"title": "before"})).await.0, 201);

    proxy.cut();
    let cut = Instant::now();
    for i in 0..20 {
        let (s, body, retry) = post(&app, &hook, &json!({"title": format!("during {i}")})).await;
        assert_eq!(s, 503, "never a 2xx without the database: {body}");
        assert!(
            retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|n| n > 0)),
            "{body}"
        );
        assert!(body["error"].is_string(), "{body}");
        if i % 5 == 4 {
            // Past the cache TTL the webhook lookup itself needs the database.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    assert!(
        cut.elapsed() < Duration::from_secs(20),
        "failing fast: {:?}",
        cut.elapsed()
    );
    assert_eq!(app.admin_get("/readyz").await.status(), 503);

    proxy.restore();
    let restored = Instant::now();
    let mut recovered = None;
    while restored.elapsed() < Duration::from_secs(30) {
        let (s, body, _) = post(&app, &hook, &json!({"title": "after"})).await;
        if s == 201 {
            recovered = Some(body);
            break;
        }
        assert_eq!(s, 503, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered.is_some(), "intake recovered without a restart");
    assert_eq!(app.admin_get("/readyz").await.status(), 200);
    let mut titles: Vec<String> = app
        .incidents("limit=200")
        .await
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        ["after", "before"],
        "only what was acknowledged is stored"
    );
}
