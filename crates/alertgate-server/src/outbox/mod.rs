//! The outbox worker: delivers the incident events the writer committed to the workspace's
//! investigation endpoint and notification channels, at least once.
//!
//! Each node runs one worker. It claims due messages from the store with a lease
//! ([`alertgate_store::Store::claim_due_events`]), sends each through the SSRF-safe client
//! ([`crate::outbound`]) with a timeout, and settles it: a 2xx is delivered; a 410 Gone fails the
//! message and disables the destination; anything else (another status, a timeout, a refused
//! address) is retried on the configured [`RetrySchedule`] until its attempts are spent, then
//! failed. A node that dies mid-delivery leaves its claims to lapse; another worker (or this one
//! after a restart) takes them when the lease expires. Receivers may see a message twice; the
//! `webhook-id` is the same every time, so they can tell.
//!
//! The worker wakes when the writer commits (and on manual retries), otherwise polls every
//! `poll_interval_ms`, which also picks up retries that came due and other nodes' lapsed claims.
//!
//! Why the context is captured at enqueue time, inside the writer's transaction: it is all there
//! (no extra reads later), it is the incident as the event describes it rather than as it is
//! when a retry finally gets through, and a message stays deliverable whatever happens to the
//! incident afterwards. Only presentation (envelope, Slack layout, links from the public URL) is
//! done at delivery ([`render`]), deterministically, so every attempt sends the same bytes.

pub mod render;
pub mod signing;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use alertgate_core::outbox::{DestinationKind, RetrySchedule};
use alertgate_core::Timestamp;
use alertgate_store::{Attempt, AttemptOutcome, ClaimedMessage, Store};

use crate::clock::Clock;
use crate::config::Config;

/// How much of a destination's error reply is kept with the attempt.
const MAX_ERROR_BODY: usize = 512;
/// How long shutdown waits for requests in flight before leaving them to their leases.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the rest of the server shares with the worker: a way to wake it, and its counters.
#[derive(Clone, Default)]
pub struct OutboxHandle {
    pub wake: Arc<Notify>,
    pub metrics: Arc<OutboxMetrics>,
}

impl OutboxHandle {
    /// Something may be due now (a commit, a manual retry).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Counters since this node started, for readiness now and metrics later.
#[derive(Debug, Default)]
pub struct OutboxMetrics {
    running: AtomicBool,
    attempts: AtomicU64,
    delivered: AtomicU64,
    /// Attempts that did not end in a 2xx.
    attempt_failures: AtomicU64,
    /// Messages given up on (including 410s).
    failed: AtomicU64,
    destinations_gone: AtomicU64,
    /// Lost claims: the lease lapsed before the attempt was recorded.
    lapsed: AtomicU64,
    latency_ms_sum: AtomicU64,
    latency_ms_max: AtomicU64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricsSnapshot {
    pub worker_running: bool,
    pub attempts_total: u64,
    pub delivered_total: u64,
    pub attempt_failures_total: u64,
    pub failed_total: u64,
    pub destinations_disabled_total: u64,
    pub lapsed_claims_total: u64,
    /// From the event's commit to the destination's 2xx, over delivered messages.
    pub delivery_latency_ms_avg: Option<u64>,
    pub delivery_latency_ms_max: u64,
}

impl OutboxMetrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        let delivered = self.delivered.load(Ordering::Relaxed);
        MetricsSnapshot {
            worker_running: self.running.load(Ordering::Relaxed),
            attempts_total: self.attempts.load(Ordering::Relaxed),
            delivered_total: delivered,
            attempt_failures_total: self.attempt_failures.load(Ordering::Relaxed),
            failed_total: self.failed.load(Ordering::Relaxed),
            destinations_disabled_total: self.destinations_gone.load(Ordering::Relaxed),
            lapsed_claims_total: self.lapsed.load(Ordering::Relaxed),
            delivery_latency_ms_avg: (delivered > 0)
                .then(|| self.latency_ms_sum.load(Ordering::Relaxed) / delivered),
            delivery_latency_ms_max: self.latency_ms_max.load(Ordering::Relaxed),
        }
    }
}

/// One attempt's result before it is recorded.
struct Sent {
    status_code: Option<u16>,
    error: Option<String>,
    retry_after_ms: Option<u64>,
}

impl Sent {
    fn refused(why: impl Into<String>) -> Self {
        Self {
            status_code: None,
            error: Some(why.into()),
            retry_after_ms: None,
        }
    }
}

struct Worker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    client: reqwest::Client,
    handle: OutboxHandle,
    owner: String,
}

/// Start the node's worker; it stops when `shutdown` is cancelled.
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    handle: OutboxHandle,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let client = crate::outbound::client(
        config.allow_insecure_destinations,
        Duration::from_millis(config.outbox.request_timeout_ms.max(1)),
    );
    let worker = Arc::new(Worker {
        store,
        clock,
        config,
        client,
        handle,
        owner: format!("node-{:016x}", rand::random::<u64>()),
    });
    tokio::spawn(worker.run(shutdown))
}

impl Worker {
    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let metrics = self.handle.metrics.clone();
        metrics.running.store(true, Ordering::Relaxed);
        let cfg = &self.config.outbox;
        let concurrency = cfg.concurrency.max(1);
        let poll = Duration::from_millis(cfg.poll_interval_ms.max(1));
        let mut inflight: JoinSet<()> = JoinSet::new();
        tracing::info!(owner = %self.owner, "outbox worker started");
        loop {
            let free = concurrency.saturating_sub(inflight.len());
            let mut full = false;
            if free > 0 {
                match self
                    .store
                    .claim_due_events(self.clock.now(), cfg.lease_ms as i64, free, &self.owner)
                    .await
                {
                    Ok(claimed) => {
                        full = claimed.len() == free;
                        for m in claimed {
                            let w = self.clone();
                            inflight.spawn(async move { w.deliver(m).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "outbox claim failed"),
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
                _ = self.handle.wake.notified(), if !full => {}
                _ = tokio::time::sleep(poll), if !full => {}
            }
        }
        // Let requests in flight finish and be recorded; past the grace period their claims
        // simply lapse and the messages are sent again later.
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while inflight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            inflight.abort_all();
        }
        metrics.running.store(false, Ordering::Relaxed);
        tracing::debug!("outbox worker stopped");
    }

    #[tracing::instrument(name = "outbox_delivery", skip_all, fields(
        message = %m.claim.message, incident = %m.incident_id, event = %m.event_type,
        attempt = m.attempt,
    ))]
    async fn deliver(&self, m: ClaimedMessage) {
        let metrics = &self.handle.metrics;
        let at = self.clock.now();
        let started = Instant::now();
        let (sent, kind) = match &m.destination {
            None => (
                Sent::refused("the destination was deleted or disabled"),
                None,
            ),
            Some(d) => (self.send(&m, d, at).await, Some(d.kind)),
        };
        let duration_ms = started.elapsed().as_millis() as i64;
        let outcome = match sent.status_code {
            Some(code) if (200..300).contains(&code) => AttemptOutcome::Delivered,
            Some(410) => AttemptOutcome::DestinationGone,
            _ if kind.is_none() => AttemptOutcome::Failed,
            _ => self.next_try(&m, sent.retry_after_ms),
        };
        let attempt = Attempt {
            attempt: m.attempt,
            at,
            status_code: sent.status_code,
            error: sent.error,
            duration_ms,
        };
        metrics.attempts.fetch_add(1, Ordering::Relaxed);
        match outcome {
            AttemptOutcome::Delivered => {
                let latency = (at.as_millis() + duration_ms - m.event_at.as_millis()).max(0) as u64;
                metrics.delivered.fetch_add(1, Ordering::Relaxed);
                metrics.latency_ms_sum.fetch_add(latency, Ordering::Relaxed);
                metrics.latency_ms_max.fetch_max(latency, Ordering::Relaxed);
                tracing::info!(latency_ms = latency, "delivered");
            }
            AttemptOutcome::RetryAt(next) => {
                metrics.attempt_failures.fetch_add(1, Ordering::Relaxed);
                tracing::info!(error = ?attempt.error, status = ?attempt.status_code, %next, "will retry");
            }
            AttemptOutcome::Failed | AttemptOutcome::DestinationGone => {
                metrics.attempt_failures.fetch_add(1, Ordering::Relaxed);
                metrics.failed.fetch_add(1, Ordering::Relaxed);
                if outcome == AttemptOutcome::DestinationGone {
                    metrics.destinations_gone.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(error = ?attempt.error, status = ?attempt.status_code, ?outcome, "gave up");
            }
        }
        match self.store.complete_event(&m.claim, &attempt, outcome).await {
            Ok(true) => {}
            Ok(false) => {
                metrics.lapsed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("the claim lapsed before the attempt was recorded");
            }
            // The claim lapses and the message is sent again: at least once.
            Err(e) => tracing::error!(error = %e, "recording the attempt failed"),
        }
    }

    /// When to try again after a failed attempt, or give up.
    fn next_try(&self, m: &ClaimedMessage, retry_after_ms: Option<u64>) -> AttemptOutcome {
        let schedule: &RetrySchedule = &self.config.outbox.retry;
        match schedule.delay_after(m.budget_attempt, rand::random::<f64>()) {
            None => AttemptOutcome::Failed,
            Some(delay) => {
                // A destination that says when to come back is believed, within the cap.
                let delay = delay.max(retry_after_ms.unwrap_or(0).min(schedule.max_delay_ms));
                AttemptOutcome::RetryAt(self.clock.now().saturating_add_millis(delay as i64))
            }
        }
    }

    async fn send(
        &self,
        m: &ClaimedMessage,
        d: &alertgate_store::Destination,
        at: Timestamp,
    ) -> Sent {
        let insecure = self.config.allow_insecure_destinations;
        let url = match crate::outbound::check_destination_url(&d.url, insecure) {
            Ok(u) => u,
            Err(why) => return Sent::refused(format!("refused before sending: {why}")),
        };
        let body = render::body(m, d.kind, &self.config.base_url());
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if d.kind.is_signed() {
            let Some(secret) = &d.secret else {
                return Sent::refused("the destination has no signing secret");
            };
            let msg_id = m.claim.message.to_string();
            match signing::sign(secret, &msg_id, at.as_millis().div_euclid(1000), &body) {
                Ok(h) => {
                    req = req
                        .header("webhook-id", h.id)
                        .header("webhook-timestamp", h.timestamp)
                        .header("webhook-signature", h.signature);
                }
                Err(why) => return Sent::refused(why),
            }
        }
        if d.kind != DestinationKind::Slack {
            req = req.header("x-alertgate-event", m.event_type.as_str());
        }
        match req.body(body).send().await {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after_ms = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| s.saturating_mul(1000));
                let error = if (200..300).contains(&status) {
                    None
                } else {
                    let excerpt = read_excerpt(&mut resp).await;
                    Some(if excerpt.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        format!("HTTP {status}: {excerpt}")
                    })
                };
                Sent {
                    status_code: Some(status),
                    error,
                    retry_after_ms,
                }
            }
            // Without the URL: for Slack it is a credential.
            Err(e) => Sent::refused(describe(&e.without_url())),
        }
    }
}

/// The start of an error reply, as text.
async fn read_excerpt(resp: &mut reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_ERROR_BODY {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&buf)
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// A failed request in words: whether it timed out, could not connect or failed mid-request,
/// then its chain of causes (e.g. a reset).
pub fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
