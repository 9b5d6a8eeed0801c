//! Shared state handed to every handler.

use std::sync::Arc;

use base64::Engine;
use sha2::{Digest, Sha256};

use alertgate_store::Store;

use crate::clock::Clock;
use crate::config::Config;
use crate::webhooks::{WebhookCache, WorkspaceCorrelationCache};
use crate::writer::Writer;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub writer: Writer,
    pub webhooks: WebhookCache,
    pub workspace_correlation: WorkspaceCorrelationCache,
    pub sns: Arc<crate::sns::SnsVerifier>,
    pub rate_limits: Arc<crate::ratelimit::RateLimits>,
    /// Wakes the outbox worker and holds its counters.
    pub outbox: crate::outbox::OutboxHandle,
    /// This server's Prometheus recorder.
    pub metrics: crate::metrics::Metrics,
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        runtime: crate::Runtime,
        writer: Writer,
    ) -> Self {
        let webhooks = WebhookCache::new(store.clone(), config.webhook_cache_ttl_ms);
        let workspace_correlation =
            WorkspaceCorrelationCache::new(store.clone(), config.webhook_cache_ttl_ms);
        Self {
            workspace_correlation,
            config,
            store,
            rate_limits: Arc::new(crate::ratelimit::RateLimits::new(runtime.clock.clone())),
            clock: runtime.clock,
            writer,
            webhooks,
            sns: Arc::new(crate::sns::SnsVerifier::new(runtime.sns)),
            outbox: crate::outbox::OutboxHandle::default(),
            metrics: crate::metrics::Metrics::new(),
        }
    }
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A credential with 256 bits of randomness, URL-safe, after `prefix`.
pub fn new_token(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}
