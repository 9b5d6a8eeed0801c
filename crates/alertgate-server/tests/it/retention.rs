//! Retention: delivery-log rows older than the configured days go, in batches, and so do
//! incidents resolved longer ago than theirs; newer ones stay.

use serde_json::json;

use alertgate_server::retention::{purge_once, purge_resolved_incidents_once, BATCH};

use crate::helpers::*;

const DAY_MS: i64 = 24 * 3_600_000;

#[tokio::test]
async fn delivery_rows_older_than_the_retention_are_purged_in_batches_and_newer_ones_stay() {
    let clock = manual_clock();
    let app = spawn_with_clock(clock.clone()).await;
    let hook = app
        .create_webhook(json!({"name": "kept a week", "rate_limit_per_hour": 0}))
        .await;
    let old = BATCH as usize + 5; // more than one batch
    for i in 0..old {
        let (s, _) = app.send(&hook, &json!({"title": format!("old {i}")})).await;
        assert_eq!(s, 201);
    }
    clock.advance_millis(6 * DAY_MS);
    app.send(&hook, &json!({"title": "six days later"})).await;
    clock.advance_millis(2 * DAY_MS);
    app.send(&hook, &json!({"title": "today"})).await;

    let state = &app.server.as_ref().unwrap().state;
    // Nothing is old enough for a 30-day retention, and 0 keeps everything.
    assert_eq!(
        purge_once(state.store.as_ref(), state.clock.as_ref(), 30)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        purge_once(state.store.as_ref(), state.clock.as_ref(), 0)
            .await
            .unwrap(),
        0
    );
    // 7 days: the rows from 8 days ago go, the 2-day-old and new ones stay.
    let purged = purge_once(state.store.as_ref(), state.clock.as_ref(), 7)
        .await
        .unwrap();
    assert_eq!(purged, old as u64);
    let log = app.deliveries(&hook).await;
    assert_eq!(log.len(), 2);
    // The incidents themselves are untouched by delivery-log retention.
    let page = app.incidents("limit=5").await;
    assert_eq!(page.len(), 5);
}

#[tokio::test]
async fn incidents_resolved_longer_ago_than_the_retention_are_purged_and_the_rest_stay() {
    // Ids are monotonic across the test process: one made after the clock jumps 91 days would
    // push the ids of every test running alongside that far ahead (the delivery-log test above
    // purges by id). So nothing here is created after the jump.
    let clock = manual_clock();
    let app = spawn_with_clock(clock.clone()).await;
    let hook = app
        .create_webhook(json!({"name": "kept a quarter", "rate_limit_per_hour": 0}))
        .await;
    let mut ids = Vec::new();
    for title in ["resolved long ago", "open since then", "resolved today"] {
        let (s, body) = app.send(&hook, &json!({"title": title})).await;
        assert_eq!(s, 201);
        ids.push(body["incident_id"].as_str().unwrap().to_string());
    }
    let [old, still_open, recent] = <[String; 3]>::try_from(ids).unwrap();
    let resolve = |id: String| {
        let app = &app;
        async move {
            app.admin_json(
                reqwest::Method::POST,
                &format!("/api/v1/incidents/{id}/resolve"),
                json!({}),
            )
            .await
            .status()
        }
    };
    assert_eq!(resolve(old.clone()).await, 200);
    clock.advance_millis(91 * DAY_MS);
    assert_eq!(resolve(recent.clone()).await, 200);

    let state = &app.server.as_ref().unwrap().state;
    let (store, now) = (state.store.as_ref(), state.clock.as_ref());
    assert_eq!(
        purge_resolved_incidents_once(store, now, 0).await.unwrap(),
        0
    );
    assert_eq!(
        purge_resolved_incidents_once(store, now, 92).await.unwrap(),
        0
    );
    assert_eq!(
        purge_resolved_incidents_once(store, now, 90).await.unwrap(),
        1
    );
    let gone = app.admin_get(&format!("/api/v1/incidents/{old}")).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(app.incident(&still_open).await["status"], "open");
    assert_eq!(app.incident(&recent).await["status"], "resolved");
    let listed: Vec<_> = app
        .incidents("limit=10")
        .await
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, [recent, still_open]);
}
