//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use alertgate_store::OutboxStats;

use crate::outbox::MetricsSnapshot;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    /// `ok` or `unavailable`.
    database: &'static str,
    /// `ok` or `stopped`.
    writer: &'static str,
    writer_queue_depth: usize,
    outbox: OutboxReadiness,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxReadiness {
    /// Messages waiting; absent when the database could not say.
    messages: Option<OutboxStats>,
    since_start: MetricsSnapshot,
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The process can take alerts: the database answers and the writer runs. Also reports the
/// outbox (messages waiting, counters since start); a backlog of deliveries does not make the
/// node unready, since intake does not depend on it.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready to take alerts", body = Readiness),
    (status = 503, description = "Not ready: the database or the writer is down", body = Readiness),
))]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
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
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            database: if db.is_ok() { "ok" } else { "unavailable" },
            writer: if writer_ok { "ok" } else { "stopped" },
            writer_queue_depth: app.writer.queue_depth(),
            outbox: OutboxReadiness {
                messages: outbox,
                since_start: app.outbox.metrics.snapshot(),
            },
        }),
    )
}
