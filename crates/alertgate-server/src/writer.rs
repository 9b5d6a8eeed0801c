//! The node's single writer: requests hand their normalized alerts over a bounded channel and wait;
//! the writer takes everything waiting (up to `max_batch`), has the store triage and commit it in
//! one transaction, then answers every request once the commit is durable. One flush serves the
//! whole batch (group commit), and decisions are serialized without any lock in the request path.
//!
//! Batches are committed one after another, in the order they were taken, but the writer does not
//! wait for a batch to reach the disk before committing the next (see
//! [`Store::ingest_committed`]): at most [`UNFLUSHED_BATCHES`] are committed and waiting for their
//! flush, so the queue still bounds what the node holds. After each durable batch it wakes the
//! outbox worker (`committed`): the batch may have written events to deliver.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

use alertgate_store::{IngestItem, IngestResult, Store, StoreError};

use crate::clock::Clock;
use crate::config::WriterConfig;
use crate::metrics::Metrics;

/// Batches committed and waiting for their flush, at most.
pub const UNFLUSHED_BATCHES: usize = 2;

struct Job {
    item: IngestItem,
    reply: oneshot::Sender<Result<IngestResult, WriteError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the writer queue is full")]
    Full,
    #[error("the writer has stopped")]
    Closed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub fn spawn(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: &WriterConfig,
        committed: Arc<Notify>,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        Self::spawn_with_metrics(store, clock, config, committed, Metrics::new())
    }

    /// [`Writer::spawn`], recording batch sizes into `metrics`.
    pub fn spawn_with_metrics(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: &WriterConfig,
        committed: Arc<Notify>,
        metrics: Metrics,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let max_batch = config.max_batch.max(1);
        let task = tokio::spawn(run(store, clock, rx, max_batch, committed, metrics));
        (Writer { tx }, task)
    }

    /// Hand `item` to the writer and wait until it is committed. Never waits for queue space: a
    /// full queue is answered at once with [`WriteError::Full`].
    pub async fn submit(&self, item: IngestItem) -> Result<IngestResult, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Job { item, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => WriteError::Full,
            mpsc::error::TrySendError::Closed(_) => WriteError::Closed,
        })?;
        rx.await.map_err(|_| WriteError::Closed)?
    }

    /// Requests waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    committed: Arc<Notify>,
    metrics: Metrics,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    let unflushed = Arc::new(Semaphore::new(UNFLUSHED_BATCHES));
    let mut flushing = tokio::task::JoinSet::new();
    loop {
        let Ok(permit) = unflushed.clone().acquire_owned().await else {
            break; // never closed
        };
        if rx.recv_many(&mut jobs, max_batch).await == 0 {
            break; // closed and drained
        }
        let (items, replies): (Vec<_>, Vec<_>) = jobs.drain(..).map(|j| (j.item, j.reply)).unzip();
        let n = items.len();
        let started = std::time::Instant::now();
        let committed_batch = store.ingest_committed(items, clock.now()).await;
        metrics.writer_transaction(started.elapsed());
        match committed_batch {
            Ok((results, durable)) => {
                let (metrics, committed) = (metrics.clone(), committed.clone());
                flushing.spawn(async move {
                    match durable.await {
                        Ok(()) => {
                            metrics.writer_batch(n, true);
                            committed.notify_one();
                            for (reply, result) in replies.into_iter().zip(results) {
                                let _ = reply.send(Ok(result));
                            }
                        }
                        Err(e) => fail(&metrics, replies, &e),
                    }
                    drop(permit);
                });
            }
            Err(e) => fail(&metrics, replies, &e),
        }
        // Reap finished flushes so the set does not grow.
        while flushing.try_join_next().is_some() {}
    }
    while flushing.join_next().await.is_some() {}
    tracing::debug!("writer stopped");
}

/// Answer every request of a batch that was not stored (or not made durable) with the error.
fn fail(
    metrics: &Metrics,
    replies: Vec<oneshot::Sender<Result<IngestResult, WriteError>>>,
    e: &StoreError,
) {
    metrics.writer_batch(replies.len(), false);
    tracing::error!(error = %e, batch = replies.len(), "ingest transaction failed");
    let msg = e.to_string();
    for reply in replies {
        let err = match e {
            StoreError::Unavailable(_) => StoreError::Unavailable(msg.clone()),
            _ => StoreError::Other(msg.clone()),
        };
        let _ = reply.send(Err(WriteError::Store(err)));
    }
}
