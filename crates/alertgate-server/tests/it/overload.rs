//! Overload is shed, not queued: with a tiny writer queue, a burst gets 503 + Retry-After for
//! what the writer cannot take, every accepted alert is stored correctly, and once the burst is
//! over requests succeed again without a restart.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_burst_beyond_the_writer_queue_is_shed_with_503_and_the_server_recovers() {
    let app = spawn_configured(alertgate_server::Runtime::default(), |c| {
        c.writer.queue_capacity = 1;
        c.writer.max_batch = 1;
    })
    .await;
    let hook = app
        .create_webhook(json!({"name": "burst", "rate_limit_per_hour": 0}))
        .await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let (client, url, secret) = (app.client.clone(), hook.url.clone(), hook.secret.clone());
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(secret)
                .json(&json!({"title": format!("burst {i}")}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").cloned();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (status, retry_after, body)
        }));
    }
    let (mut accepted, mut shed) = (Vec::new(), 0);
    for t in tasks {
        let (status, retry_after, body) = t.await.unwrap();
        match status {
            201 => accepted.push(body),
            503 => {
                assert_eq!(body["error"], "overloaded", "{body}");
                assert!(retry_after.is_some(), "503 carries Retry-After");
                shed += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    println!(
        "overload: {} accepted, {shed} shed with 503 in {:?}",
        accepted.len(),
        started.elapsed()
    );
    assert!(shed > 0, "a queue of one cannot take 300 requests at once");
    assert!(!accepted.is_empty());
    // Every accepted alert is stored, in the incident its reply named.
    for body in accepted.iter().take(20) {
        let inc = app.incident(body["incident_id"].as_str().unwrap()).await;
        assert_eq!(inc["alerts"][0]["id"], body["alert_id"]);
    }
    // The burst is over: the same server takes requests again.
    let deadline = Instant::now() + Duration::from_secs(10);
    for i in 0..20 {
        let (status, reply) = app
            .send(&hook, &json!({"title": format!("after the burst {i}")}))
            .await;
        assert_eq!(status, 201, "{reply}");
        assert!(Instant::now() < deadline);
    }
}
