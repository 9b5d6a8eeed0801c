//! Retention: delivery-log rows older than `delivery_retention_days` (default 7; 0 keeps them
//! forever) are deleted in the background, in batches of [`BATCH`] with a pause between batches,
//! so a large purge never holds the writer for long.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use alertgate_core::ids::DeliveryId;
use alertgate_store::{Store, StoreError};

use crate::clock::Clock;

pub const BATCH: u32 = 1_000;
const DAY_MS: i64 = 24 * 3_600_000;

/// Delete every delivery row older than `days`, batch by batch; returns how many went.
pub async fn purge_once(
    store: &dyn Store,
    clock: &dyn Clock,
    days: u32,
) -> Result<u64, StoreError> {
    if days == 0 {
        return Ok(0);
    }
    let cutoff = clock.now().saturating_sub_millis(i64::from(days) * DAY_MS);
    let before = DeliveryId::min_at(cutoff);
    let mut total = 0;
    loop {
        let n = store.purge_deliveries(before, BATCH).await?;
        total += n;
        if n < u64::from(BATCH) {
            return Ok(total);
        }
        // Let intake batches in between.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Purge every `every`, until `stop`.
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    days: u32,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match purge_once(store.as_ref(), clock.as_ref(), days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, days, "purged old delivery-log rows"),
                Err(e) => tracing::warn!(error = %e, "delivery-log retention failed; will retry"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    })
}
