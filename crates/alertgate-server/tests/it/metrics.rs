//! `/metrics` counts what was sent: a scripted run, then the exposition text adds up.

use serde_json::json;

use crate::helpers::*;

/// The value of the sample `name{labels}` (labels in the order Prometheus prints them).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_add_up_to_what_was_sent_and_carry_no_tokens_or_titles() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({"name": "metrics", "rate_limit_per_hour": 4}))
        .await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let alert = json!({"title": format!("disk full {i}"), "dedup_key": format!("k{i}")});
        statuses.push(app.send(&hook, &alert).await.0);
    }
    // A duplicate, then the first alert resolves (resolution is never rate limited).
    statuses.push(
        app.send(&hook, &json!({"title": "disk full 0", "dedup_key": "k0"}))
            .await
            .0,
    );
    statuses.push(
        app.send(
            &hook,
            &json!({"title": "disk full 1", "dedup_key": "k1", "status": "resolved"}),
        )
        .await
        .0,
    );
    // Over the limit of 4 firing requests per hour.
    statuses.push(
        app.send(&hook, &json!({"title": "disk full 9", "dedup_key": "k9"}))
            .await
            .0,
    );
    let wrong = Hook {
        secret: "wrong-secret-000".into(),
        id: hook.id.clone(),
        url: hook.url.clone(),
        body: hook.body.clone(),
    };
    statuses.push(app.send(&wrong, &seed_alert()).await.0);
    statuses.push(
        app.send_raw(
            &hook,
            "not json",
            &[("Authorization", &format!("Bearer {}", hook.secret))],
        )
        .await
        .0,
    );
    let unknown = app
        .client
        .post(app.url("/webhook/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/trigger"))
        .json(&seed_alert())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(statuses, vec![201, 201, 201, 200, 200, 429, 401, 400]);
    assert_eq!(unknown, 404);

    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();

    let d = |outcome: &str, class: &str| {
        sample(
            &text,
            &format!("alertgate_intake_deliveries_total{{platform=\"generic\",outcome=\"{outcome}\",status_class=\"{class}\"}}"),
        )
    };
    assert_eq!(d("accepted", "2xx"), 5.0, "{text}");
    assert_eq!(d("rate_limited", "4xx"), 1.0, "{text}");
    assert_eq!(d("invalid_credentials", "4xx"), 1.0, "{text}");
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("alertgate_intake_deliveries_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 9.0, "every request is counted once: {text}");
    assert_eq!(
        sample(
            &text,
            "alertgate_intake_latency_seconds_count{platform=\"generic\"}"
        ),
        8.0
    );
    let a = |decision: &str| {
        sample(
            &text,
            &format!("alertgate_alerts_total{{platform=\"generic\",decision=\"{decision}\"}}"),
        )
    };
    assert_eq!(a("created"), 3.0, "{text}");
    assert_eq!(a("deduplicated"), 1.0, "{text}");
    assert_eq!(a("resolved"), 1.0, "{text}");
    assert_eq!(
        sample(
            &text,
            "alertgate_intake_rate_limited_total{platform=\"generic\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "alertgate_intake_auth_failures_total{platform=\"generic\"}"
        ),
        1.0
    );
    // Every request (refusals too) went through the writer: the batch sizes sum to 8.
    assert_eq!(
        sample(&text, "alertgate_writer_batch_size_sum"),
        8.0,
        "{text}"
    );
    // One transaction per batch, each timed.
    assert_eq!(
        sample(&text, "alertgate_writer_transaction_seconds_count"),
        sample(&text, "alertgate_writer_batch_size_count"),
        "{text}"
    );
    assert!(
        sample(&text, "alertgate_writer_transaction_seconds_sum") > 0.0,
        "{text}"
    );
    assert!(text.contains("alertgate_writer_queue_depth 0"), "{text}");
    assert!(
        text.contains("alertgate_outbox_messages{state=\"pending\"}"),
        "{text}"
    );
    assert!(text.contains("alertgate_db_pool_max_connections"), "{text}");

    let token = hook.url.rsplit('/').nth(1).unwrap();
    assert!(!text.contains(token) && !text.contains("disk full") && !text.contains(&hook.id));
}

#[tokio::test]
async fn two_servers_in_one_process_count_only_their_own_requests() {
    let (a, b) = (spawn_app().await, spawn_app().await);
    let hook = a.generic_webhook().await;
    assert_eq!(a.send(&hook, &seed_alert()).await.0, 201);
    let scrape = |app: &TestApp| {
        let url = app.url("/metrics");
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let (ta, tb) = (scrape(&a).await, scrape(&b).await);
    let series = "alertgate_alerts_total{platform=\"generic\",decision=\"created\"}";
    assert_eq!(sample(&ta, series), 1.0);
    assert_eq!(sample(&tb, series), 0.0);
}
