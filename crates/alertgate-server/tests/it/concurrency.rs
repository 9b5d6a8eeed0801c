//! Decisions are serialized by the writer: concurrent identical alerts fold into one incident.

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_identical_alerts_make_one_incident_with_count_200() {
    let app = spawn_app().await;
    let hook = std::sync::Arc::new(
        app.create_webhook(serde_json::json!({"name": "busy", "rate_limit_per_hour": 0}))
            .await,
    );
    let client = app.client.clone();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (client, hook) = (client.clone(), hook.clone());
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(&hook.url)
                .bearer_auth(&hook.secret)
                .json(&seed_alert())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body)
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    let mut counts = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(status == 200 || status == 201, "{status} {body}");
        if status == 201 {
            created += 1;
        }
        ids.insert(body["incident_id"].as_str().unwrap().to_string());
        counts.push(body["occurrence_count"].as_i64().unwrap());
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    counts.sort();
    assert_eq!(
        counts,
        (1..=200).collect::<Vec<_>>(),
        "each request saw its own count"
    );
    let incidents = app.incidents("").await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["occurrence_count"], 200);
    let inc = app.incident(ids.iter().next().unwrap()).await;
    assert_eq!(inc["alerts"][0]["occurrence_count"], 200);
    assert_eq!(app.deliveries(&hook).await.len(), 200);
}
