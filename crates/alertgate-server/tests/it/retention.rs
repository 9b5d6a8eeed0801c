//! Delivery-log retention: rows older than the configured days go, in batches; newer ones stay.

use serde_json::json;

use alertgate_server::retention::{purge_once, BATCH};

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
