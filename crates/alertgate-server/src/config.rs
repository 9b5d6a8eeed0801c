//! Server configuration: the values `alertgate serve` runs with, after merging flags, `ALERTGATE_*`
//! environment variables and the TOML file (in that order of precedence) over the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use alertgate_core::auth::Secret;
use alertgate_core::limits::Limits;
use alertgate_core::outbox::RetrySchedule;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Directory for the embedded database (and, later, generated keys).
    pub data_dir: PathBuf,
    /// `postgres://…` (several nodes), `sqlite://PATH`; none = `<data_dir>/alertgate.db`.
    pub database_url: Option<String>,
    /// Base URL clients reach this server at, for the intake URLs shown to users.
    pub public_url: Option<String>,
    /// A fixed admin token; without it one is generated on first start and printed once.
    pub admin_token: Option<Secret>,
    /// Base64 of the 32-byte key that encrypts secrets at rest; without it a key is generated
    /// into `<data_dir>/secret.key` (mode 0600) on first start.
    pub secret_key: Option<Secret>,
    pub limits: Limits,
    pub writer: WriterConfig,
    /// How long a webhook's configuration may be served from the node's cache.
    pub webhook_cache_ttl_ms: u64,
    /// Let destinations use plain http:// and private, loopback or link-local addresses. For
    /// local use and tests only: it turns the SSRF guard off.
    pub allow_insecure_destinations: bool,
    pub outbox: OutboxConfig,
    /// Time allowed to receive an intake request's body once its headers arrived; a client that
    /// stalls longer is answered 408 and its connection freed.
    pub request_timeout_ms: u64,
    /// Requests handled at once (all routes); beyond it requests are shed with 503 and
    /// Retry-After instead of queueing without bound.
    pub max_concurrent_requests: usize,
    /// Connections open at once, header read time and header size.
    pub connections: crate::serve::ConnectionLimits,
    /// Delivery-log rows older than this many days are deleted in the background; 0 keeps them.
    pub delivery_retention_days: u32,
    /// Incidents resolved more than this many days ago are deleted in the background, with their
    /// alerts, timeline and outbox rows; 0 keeps them.
    pub resolved_incident_retention_days: u32,
    /// Who checkpoints the embedded database's WAL: a background thread (default) or SQLite's
    /// automatic checkpoint on the writer's connection.
    pub sqlite_checkpoint: alertgate_store::sqlite::Checkpoints,
}

/// How the outbox worker delivers incident events.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// How often the worker looks for due messages when nothing wakes it.
    pub poll_interval_ms: u64,
    /// How long a claim holds a message; a node that dies mid-delivery leaves it to another after
    /// this. Keep it well above `request_timeout_ms`.
    pub lease_ms: u64,
    /// Time allowed for one request to a destination, connection included.
    pub request_timeout_ms: u64,
    /// Requests in flight at once, per node.
    pub concurrency: usize,
    pub retry: RetrySchedule,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 1_000,
            lease_ms: 60_000,
            request_timeout_ms: 10_000,
            concurrency: 8,
            retry: RetrySchedule::default(),
        }
    }
}

impl OutboxConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.retry.validate()?;
        if self.lease_ms <= self.request_timeout_ms {
            return Err("outbox lease_ms must be greater than request_timeout_ms".into());
        }
        if self.concurrency == 0 || self.poll_interval_ms == 0 {
            return Err("outbox concurrency and poll_interval_ms must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriterConfig {
    /// Requests waiting for the writer at most; beyond it intake answers 503 with Retry-After.
    pub queue_capacity: usize,
    /// Requests committed in one transaction at most.
    pub max_batch: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 8192,
            max_batch: 1024,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("alertgate-data"),
            database_url: None,
            public_url: None,
            admin_token: None,
            secret_key: None,
            limits: Limits::default(),
            writer: WriterConfig::default(),
            webhook_cache_ttl_ms: 2_000,
            allow_insecure_destinations: false,
            outbox: OutboxConfig::default(),
            request_timeout_ms: 10_000,
            max_concurrent_requests: 1_024,
            connections: crate::serve::ConnectionLimits::default(),
            delivery_retention_days: 7,
            resolved_incident_retention_days: 90,
            sqlite_checkpoint: Default::default(),
        }
    }
}

impl Config {
    /// Fill in what depends on the actual bound address (port 0 in tests).
    pub fn with_bound_addr(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The base of every URL shown to users, without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// The TOML file's shape: every key optional, names as in `alertgate serve --help`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub admin_token: Option<String>,
    pub secret_key: Option<String>,
    pub log_format: Option<String>,
    pub writer: Option<WriterConfig>,
    pub webhook_cache_ttl_ms: Option<u64>,
    pub allow_insecure_destinations: Option<bool>,
    pub outbox: Option<OutboxConfig>,
    pub request_timeout_ms: Option<u64>,
    pub max_concurrent_requests: Option<usize>,
    pub connections: Option<crate::serve::ConnectionLimits>,
    pub delivery_retention_days: Option<u32>,
    pub resolved_incident_retention_days: Option<u32>,
    pub sqlite_checkpoint: Option<alertgate_store::sqlite::Checkpoints>,
}

impl FileConfig {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        toml_from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

fn toml_from_str(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}
