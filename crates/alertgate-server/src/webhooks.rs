//! Webhook configuration as the intake path needs it: looked up by URL token, with the mapping
//! compiled, cached per node for a bounded time (`webhook_cache_ttl_ms`) and dropped immediately
//! when this node changes the webhook. With several nodes on one database, a change made through
//! another node is seen here within that TTL (plus the time of one lookup).

use std::sync::Arc;

use crate::cache::TtlCache;

use alertgate_core::correlation::{CompiledCorrelation, CorrelationSettings};
use alertgate_core::ids::WorkspaceId;
use alertgate_core::mapping::CompiledMapping;
use alertgate_core::platforms::{self, Platform};
use alertgate_core::webhook::Webhook;
use alertgate_store::{Store, StoreError};

/// A webhook ready for intake.
#[derive(Debug)]
pub struct CompiledWebhook {
    pub webhook: Webhook,
    pub platform: &'static Platform,
    pub mapping: CompiledMapping,
    /// Header names to redact beyond the usual ones (the auth method's own).
    pub secret_headers: Vec<String>,
    pub correlation: Arc<CompiledCorrelation>,
}

impl CompiledWebhook {
    pub fn compile(webhook: Webhook) -> Result<Self, String> {
        let platform = platforms::get(&webhook.platform)
            .ok_or_else(|| format!("unknown platform `{}`", webhook.platform))?;
        let mapping = webhook.field_mapping.compile().map_err(|e| e.to_string())?;
        let secret_headers = webhook
            .auth
            .secret_headers()
            .into_iter()
            .map(str::to_string)
            .collect();
        let correlation = Arc::new(webhook.correlation.compile().map_err(|e| e.to_string())?);
        Ok(Self {
            webhook,
            platform,
            mapping,
            secret_headers,
            correlation,
        })
    }
}

#[derive(Clone)]
pub struct WebhookCache {
    store: Arc<dyn Store>,
    entries: Arc<TtlCache<String, Option<Arc<CompiledWebhook>>>>,
}

impl WebhookCache {
    pub fn new(store: Arc<dyn Store>, ttl_ms: u64) -> Self {
        Self {
            store,
            entries: Arc::new(TtlCache::new(ttl_ms)),
        }
    }

    /// The webhook with this intake token, or `None`.
    pub async fn by_token(&self, token: &str) -> Result<Option<Arc<CompiledWebhook>>, StoreError> {
        if let Some(hit) = self.entries.get(token) {
            return Ok(hit);
        }
        let loaded = match self.store.webhook_by_token(token).await? {
            None => None,
            Some(w) => match CompiledWebhook::compile(w) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    tracing::error!(error = %e, "stored webhook does not compile");
                    None
                }
            },
        };
        self.entries.put(token.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// Forget a token (after this node changed or deleted its webhook).
    pub fn invalidate(&self, token: &str) {
        self.entries.remove(token);
    }
}

/// The settings key that holds a workspace's correlation settings.
pub fn workspace_correlation_key(workspace: WorkspaceId) -> String {
    format!("workspace_correlation:{workspace}")
}

/// Each workspace's compiled correlation settings, cached like webhooks.
#[derive(Clone)]
pub struct WorkspaceCorrelationCache {
    store: Arc<dyn Store>,
    entries: Arc<TtlCache<WorkspaceId, Arc<CompiledCorrelation>>>,
}

impl WorkspaceCorrelationCache {
    pub fn new(store: Arc<dyn Store>, ttl_ms: u64) -> Self {
        Self {
            store,
            entries: Arc::new(TtlCache::new(ttl_ms)),
        }
    }

    /// The workspace's settings as stored (defaults when never set).
    pub async fn settings(
        &self,
        workspace: WorkspaceId,
    ) -> Result<CorrelationSettings, StoreError> {
        match self
            .store
            .get_setting(&workspace_correlation_key(workspace))
            .await?
        {
            None => Ok(CorrelationSettings::default()),
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))
            }
        }
    }

    pub async fn get(
        &self,
        workspace: WorkspaceId,
    ) -> Result<Arc<CompiledCorrelation>, StoreError> {
        if let Some(hit) = self.entries.get(&workspace) {
            return Ok(hit);
        }
        let compiled = match self.settings(workspace).await?.compile() {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!(error = %e, "stored workspace correlation settings do not compile");
                Arc::new(CompiledCorrelation::off())
            }
        };
        self.entries.put(workspace, compiled.clone());
        Ok(compiled)
    }

    pub fn invalidate(&self, workspace: WorkspaceId) {
        self.entries.remove(&workspace);
    }
}
