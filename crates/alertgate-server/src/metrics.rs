//! Prometheus metrics: one recorder per server (not the process-global one), so several servers
//! in one process (the integration tests) each count only their own traffic. Events are recorded
//! through `metrics`' macros inside [`metrics::with_local_recorder`]; `/metrics` renders the
//! recorder and adds what is read at scrape time (writer queue, outbox backlog and counters,
//! database pool).
//!
//! Label values come only from bounded sets: platform ids, outcome and error codes (static
//! strings), status classes. Never tokens, titles or ids.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

use alertgate_core::alert::Decision;

use crate::state::AppState;

/// Latency buckets in seconds, from 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    pub fn new() -> Self {
        // Setting buckets fails only for an empty list; ours are constants.
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("alertgate_writer_batch_size".into()),
                    BATCH_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        Self {
            recorder: Arc::new(recorder),
        }
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(self.recorder.as_ref(), f)
    }

    /// One intake request answered. `outcome` is `accepted`, `ignored` or the error code.
    pub fn delivery(
        &self,
        platform: &'static str,
        outcome: &'static str,
        status: u16,
        took: Duration,
    ) {
        self.with(|| {
            counter!(
                "alertgate_intake_deliveries_total",
                "platform" => platform,
                "outcome" => outcome,
                "status_class" => status_class(status)
            )
            .increment(1);
            histogram!("alertgate_intake_latency_seconds", "platform" => platform)
                .record(took.as_secs_f64());
        });
    }

    /// A request refused for its credentials or signature (or for too many such failures).
    pub fn auth_failed(&self, platform: &'static str) {
        self.with(|| {
            counter!("alertgate_intake_auth_failures_total", "platform" => platform).increment(1)
        });
    }

    /// A request refused by the webhook's rate limit.
    pub fn rate_limited(&self, platform: &'static str) {
        self.with(|| {
            counter!("alertgate_intake_rate_limited_total", "platform" => platform).increment(1)
        });
    }

    /// What triage decided for one alert.
    pub fn alert(&self, platform: &'static str, decision: &Decision, status: &str) {
        let kind: &'static str = match decision {
            Decision::Created => "created",
            Decision::Deduplicated { .. } => "deduplicated",
            Decision::Correlated(_) => "correlated",
            Decision::Ignored { .. } => "ignored",
            _ => match status {
                "resolved" => "resolved",
                "acknowledged" => "acknowledged",
                "reopened" => "reopened",
                _ => "status_changed",
            },
        };
        self.with(|| {
            counter!("alertgate_alerts_total", "platform" => platform, "decision" => kind)
                .increment(1)
        });
    }

    /// One writer transaction of `size` requests.
    pub fn writer_batch(&self, size: usize, ok: bool) {
        self.with(|| {
            histogram!("alertgate_writer_batch_size").record(size as f64);
            counter!("alertgate_writer_batches_total", "outcome" => if ok { "committed" } else { "failed" })
                .increment(1);
        });
    }

    /// How long one writer transaction held the node's single writer, from handing the batch to
    /// the store until its commit returned (not its flush, which overlaps the next batch). The
    /// `_sum`'s rate is the share of time the writer was busy: near 1 (one second per second), the
    /// writer is what bounds intake, and more cores for requests will not raise it.
    pub fn writer_transaction(&self, took: Duration) {
        self.with(|| histogram!("alertgate_writer_transaction_seconds").record(took.as_secs_f64()));
    }

    /// Rows retention deleted: `kind` is `deliveries` or `resolved_incidents`.
    pub fn retention_deleted(&self, kind: &'static str, rows: u64) {
        self.with(|| counter!("alertgate_retention_deleted_total", "kind" => kind).increment(rows));
    }

    /// Render the recorded metrics plus what is read now from `app`.
    pub async fn render(&self, app: &AppState) -> String {
        let writer_depth = app.writer.queue_depth();
        let outbox = app.outbox.metrics.snapshot();
        let stats = app.store.outbox_stats(app.clock.now()).await.ok();
        let pool = app.store.pool_state();
        self.with(|| {
            gauge!("alertgate_writer_queue_depth").set(writer_depth as f64);
            gauge!("alertgate_writer_queue_capacity").set(app.config.writer.queue_capacity as f64);
            if let Some(s) = &stats {
                gauge!("alertgate_outbox_messages", "state" => "pending").set(s.pending as f64);
                gauge!("alertgate_outbox_messages", "state" => "delivering")
                    .set(s.delivering as f64);
                gauge!("alertgate_outbox_messages", "state" => "due").set(s.due as f64);
            }
            let successes = outbox
                .attempts_total
                .saturating_sub(outbox.attempt_failures_total);
            counter!("alertgate_outbox_attempts_total", "outcome" => "success").absolute(successes);
            counter!("alertgate_outbox_attempts_total", "outcome" => "failure")
                .absolute(outbox.attempt_failures_total);
            counter!("alertgate_outbox_messages_total", "outcome" => "delivered")
                .absolute(outbox.delivered_total);
            counter!("alertgate_outbox_messages_total", "outcome" => "failed")
                .absolute(outbox.failed_total);
            counter!("alertgate_outbox_destinations_disabled_total")
                .absolute(outbox.destinations_disabled_total);
            gauge!("alertgate_outbox_delivery_latency_seconds_max")
                .set(outbox.delivery_latency_ms_max as f64 / 1000.0);
            gauge!("alertgate_outbox_delivery_latency_seconds_avg")
                .set(outbox.delivery_latency_ms_avg.unwrap_or(0) as f64 / 1000.0);
            gauge!("alertgate_outbox_worker_running").set(if outbox.worker_running {
                1.0
            } else {
                0.0
            });
            if let Some(p) = pool {
                gauge!("alertgate_db_pool_connections", "state" => "idle").set(p.idle as f64);
                gauge!("alertgate_db_pool_connections", "state" => "in_use")
                    .set(p.connections.saturating_sub(p.idle) as f64);
                gauge!("alertgate_db_pool_max_connections").set(p.max as f64);
            }
        });
        self.recorder.handle().render()
    }
}

/// `GET /metrics`, in the Prometheus text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
))]
pub async fn scrape(State(app): State<AppState>) -> impl IntoResponse {
    let body = app.metrics.render(&app).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
