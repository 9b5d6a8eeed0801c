//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

/// The process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can take alerts: the database answers and the writer runs. Also reports the
/// outbox (messages waiting, counters since start); a backlog of deliveries does not make the
/// node unready, since intake does not depend on it.
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let db = app.store.ping().await;
    let outbox = app.store.outbox_stats(app.clock.now()).await.ok();
    let writer_ok = !app.writer.is_closed();
    let ready = db.is_ok() && writer_ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": if db.is_ok() { "ok" } else { "unavailable" },
            "writer": if writer_ok { "ok" } else { "stopped" },
            "writer_queue_depth": app.writer.queue_depth(),
            "outbox": {
                "messages": outbox,
                "since_start": app.outbox.metrics.snapshot(),
            },
        })),
    )
}
