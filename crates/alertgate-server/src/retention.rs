//! Retention: in the background, delivery-log rows older than `delivery_retention_days`
//! (default 7) and incidents resolved more than `resolved_incident_retention_days` ago (default
//! 90, with their alerts, timeline and outbox rows) are deleted; 0 keeps them forever.
//!
//! A purge runs in small batches, each its own short transaction, paced so that intake never
//! waits long behind it: on SQLite a batch holds the one write connection (intake batches queue
//! behind it), so a batch should take about as long as an ordinary intake commit, and the pause
//! after it is a multiple of what it took, so the purge uses a bounded share of the writer's time.
//! The batch size adapts to that target: it halves when a batch was slow and doubles (up to
//! [`BATCH`]) when it was quick.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use alertgate_core::ids::DeliveryId;
use alertgate_store::{Store, StoreError};

use crate::clock::Clock;
use crate::metrics::Metrics;

/// The largest batch, in rows (delivery rows or incidents).
pub const BATCH: u32 = 1_000;
const DAY_MS: i64 = 24 * 3_600_000;

/// How a purge paces itself (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub min_batch: u32,
    pub max_batch: u32,
    /// What one batch should take at most.
    pub target: Duration,
    /// The pause after a batch is at least this…
    pub min_pause: Duration,
    /// …and at least this many times what the batch took.
    pub pause_factor: u32,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            min_batch: 20,
            max_batch: BATCH,
            target: Duration::from_millis(2),
            min_pause: Duration::from_millis(10),
            pause_factor: 4,
        }
    }
}

/// What the retention task deletes.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Delivery-log rows older than this many days; 0 keeps them.
    pub delivery_days: u32,
    /// Incidents resolved more than this many days ago; 0 keeps them.
    pub resolved_incident_days: u32,
    pub pacing: Pacing,
    /// The first purge waits this long after start (the node warms up first); then one every
    /// `every`.
    pub first_after: Duration,
    pub every: Duration,
}

/// Run `batch(size)` until it deletes fewer rows than asked, pacing as [`Pacing`] says; returns
/// how many rows went.
async fn purge_in_batches<F, Fut>(pacing: Pacing, mut batch: F) -> Result<u64, StoreError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let min = pacing.min_batch.max(1);
    let max = pacing.max_batch.max(min);
    let mut size = max;
    let mut total = 0;
    loop {
        let started = Instant::now();
        let n = batch(size).await?;
        let took = started.elapsed();
        tracing::debug!(
            size,
            deleted = n,
            took_us = took.as_micros() as u64,
            "retention batch"
        );
        total += n;
        if n < u64::from(size) {
            return Ok(total);
        }
        if took > pacing.target * 2 {
            size = (size / 2).max(min);
        } else if took < pacing.target / 2 {
            size = size.saturating_mul(2).min(max);
        }
        // Let intake batches in between.
        tokio::time::sleep(pacing.min_pause.max(took * pacing.pause_factor)).await;
    }
}

/// What a purge deletes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Delivery-log rows received before the cutoff.
    Deliveries,
    /// Incidents resolved before the cutoff, with their alerts, timeline and outbox rows.
    ResolvedIncidents,
}

impl Kind {
    /// The `kind` label of `alertgate_retention_deleted_total` and of the logs.
    fn label(self) -> &'static str {
        match self {
            Kind::Deliveries => "deliveries",
            Kind::ResolvedIncidents => "resolved_incidents",
        }
    }
}

/// Delete every delivery row older than `days`, batch by batch; returns how many went.
pub async fn purge_once(
    store: &dyn Store,
    clock: &dyn Clock,
    days: u32,
) -> Result<u64, StoreError> {
    purge(
        store,
        clock,
        Kind::Deliveries,
        days,
        Pacing::default(),
        None,
    )
    .await
}

/// Delete every incident resolved more than `days` ago (with its alerts, timeline and outbox
/// rows), batch by batch; returns how many incidents went.
pub async fn purge_resolved_incidents_once(
    store: &dyn Store,
    clock: &dyn Clock,
    days: u32,
) -> Result<u64, StoreError> {
    purge(
        store,
        clock,
        Kind::ResolvedIncidents,
        days,
        Pacing::default(),
        None,
    )
    .await
}

/// Delete what `kind` names, older than `days` (0: nothing), batch by batch; returns how many
/// rows (delivery rows or incidents) went.
async fn purge(
    store: &dyn Store,
    clock: &dyn Clock,
    kind: Kind,
    days: u32,
    pacing: Pacing,
    metrics: Option<&Metrics>,
) -> Result<u64, StoreError> {
    if days == 0 {
        return Ok(0);
    }
    let cutoff = clock.now().saturating_sub_millis(i64::from(days) * DAY_MS);
    purge_in_batches(pacing, move |size| async move {
        let n = match kind {
            Kind::Deliveries => {
                store
                    .purge_deliveries(DeliveryId::min_at(cutoff), size)
                    .await?
            }
            Kind::ResolvedIncidents => store.purge_resolved_incidents(cutoff, size).await?,
        };
        if let Some(m) = metrics {
            m.retention_deleted(kind.label(), n);
        }
        Ok(n)
    })
    .await
}

/// Purge as `policy` says, until `stop`.
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    stop: CancellationToken,
    metrics: Metrics,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(policy.first_after) => {}
        }
        let passes = [
            (Kind::Deliveries, policy.delivery_days),
            (Kind::ResolvedIncidents, policy.resolved_incident_days),
        ];
        loop {
            for (kind, days) in passes {
                let started = Instant::now();
                let purged = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = purge(store.as_ref(), clock.as_ref(), kind, days, policy.pacing, Some(&metrics)) => r,
                };
                report(kind, days, started, purged);
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(policy.every) => {}
            }
        }
    })
}

fn report(kind: Kind, days: u32, started: Instant, purged: Result<u64, StoreError>) {
    let kind = kind.label();
    match purged {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(
                kind,
                deleted = n,
                days,
                seconds = started.elapsed().as_secs_f64(),
                "retention: purged"
            );
        }
        Err(e) => tracing::warn!(kind, error = %e, "retention failed; will retry"),
    }
}
