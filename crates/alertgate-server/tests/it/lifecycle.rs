//! Start-up and shutdown: what was acknowledged survives a restart, and a graceful shutdown
//! answers what is in flight before it stops.

use std::sync::Arc;

use alertgate_server::Runtime;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_alerts_survive_a_restart_and_in_flight_requests_are_answered_on_shutdown() {
    let mut app = spawn_app().await;
    let hook = Arc::new(app.generic_webhook().await);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (client, hook) = (app.client.clone(), hook.clone());
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(&hook.url)
                .bearer_auth(&hook.secret)
                .json(&serde_json::json!({"title": format!("alert {i}")}))
                .send()
                .await;
            match resp {
                Ok(r) if r.status() == 201 => {
                    let body: serde_json::Value = r.json().await.unwrap();
                    Some(body["incident_id"].as_str().unwrap().to_string())
                }
                _ => None,
            }
        }));
    }
    tokio::task::yield_now().await;
    app.stop().await;
    let mut acknowledged = Vec::new();
    for t in tasks {
        if let Some(id) = t.await.unwrap() {
            acknowledged.push(id);
        }
    }
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    let app = spawn_in(dir, Runtime::default()).await;
    for id in &acknowledged {
        let inc = app.incident(id).await;
        assert_eq!(inc["alerts"].as_array().unwrap().len(), 1);
    }
    let all = app.incidents("limit=200").await;
    assert_eq!(
        all.len(),
        acknowledged.len(),
        "nothing stored that was not acknowledged, and nothing twice"
    );
}

#[tokio::test]
async fn the_admin_token_is_generated_once_when_none_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _db) = database_for(dir.path()).await;
    let mut config = alertgate_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        database_url,
        ..Default::default()
    };
    config.admin_token = None;
    let store = alertgate_server::open_store(&config).await.unwrap();
    let first = alertgate_server::start(config.clone(), store, Runtime::default())
        .await
        .unwrap();
    let token = first
        .generated_admin_token
        .clone()
        .expect("generated on first start");
    assert!(token.starts_with("agt_"));
    let base = format!("http://{}", first.addr);
    let client = reqwest::Client::new();
    let ok = client
        .get(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    first.shutdown().await.unwrap();

    let store = alertgate_server::open_store(&config).await.unwrap();
    let second = alertgate_server::start(config, store, Runtime::default())
        .await
        .unwrap();
    assert!(second.generated_admin_token.is_none(), "shown only once");
    let base = format!("http://{}", second.addr);
    let ok = client
        .get(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    second.shutdown().await.unwrap();
}
