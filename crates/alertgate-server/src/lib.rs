//! alertgate's imperative shell: HTTP routes (intake, management API), the writer, the outbox
//! worker, the webhook cache, configuration, start-up and graceful shutdown. Handlers are thin: parse, call core, hand
//! to the writer or the store, render.

pub mod api;
pub mod cache;
pub mod clock;
pub mod config;
pub mod dry_run;
pub mod error;
pub mod examples;
pub mod intake;
pub mod metrics;
pub mod outbound;
pub mod outbox;
pub mod ratelimit;
pub mod redact;
pub mod retention;
pub mod serve;
pub mod sns;
pub mod state;
pub mod ui;
pub mod webhooks;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use alertgate_store::crypto::SecretCipher;
use alertgate_store::postgres::{self, PostgresStore};
use alertgate_store::sqlite::SqliteStore;
use alertgate_store::Store;

pub use clock::{Clock, SystemClock};

/// What the server talks to besides its store, injectable for tests.
#[derive(Clone)]
pub struct Runtime {
    pub clock: Arc<dyn Clock>,
    /// How SNS certificates are fetched and subscriptions confirmed.
    pub sns: Arc<dyn sns::SnsTransport>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            sns: Arc::new(sns::HttpsTransport::default()),
        }
    }
}

impl Runtime {
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            ..Self::default()
        }
    }
}
pub use config::Config;
pub use state::AppState;

/// The setting that holds the SHA-256 of the admin token.
const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";

/// Open the store a config names, by the URL's scheme: `postgres://…` (or `postgresql://…`) for
/// PostgreSQL, shared by several nodes; `sqlite://PATH`, or no URL for the embedded database under
/// the data directory. Either way the schema is migrated before this returns, and the secret key
/// is checked against the one the database's secrets were encrypted with.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let cipher = secret_cipher(config)?;
    let store = open_engine(config, cipher.clone()).await?;
    check_secret_key(store.as_ref(), &cipher).await?;
    Ok(store)
}

/// Create or upgrade the schema of the database a config names (`alertgate migrate`). Needs no
/// secret key: nothing is encrypted or decrypted.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let unused =
        SecretCipher::from_base64(&SecretCipher::generate_key()).map_err(|e| anyhow::anyhow!(e))?;
    open_engine(config, unused).await.map(drop)
}

/// The embedded database file a config names, or `None` for PostgreSQL.
pub fn sqlite_path(config: &Config) -> anyhow::Result<Option<std::path::PathBuf>> {
    let url = config.database_url.as_deref().unwrap_or("");
    if postgres::is_postgres_url(url) {
        return Ok(None);
    }
    match url {
        "" => Ok(Some(config.data_dir.join("alertgate.db"))),
        url => match url.strip_prefix("sqlite://") {
            Some(path) => Ok(Some(path.into())),
            None => anyhow::bail!(
                "unsupported database URL scheme in `{}` (expected postgres://… or sqlite://PATH)",
                url.split(':').next().unwrap_or("")
            ),
        },
    }
}

async fn open_engine(config: &Config, cipher: SecretCipher) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url.as_deref().unwrap_or("");
    if postgres::is_postgres_url(url) {
        let shown = postgres::redact_url(url);
        let store = PostgresStore::open(url, cipher)
            .await
            .with_context(|| format!("opening the PostgreSQL database at {shown}"))?;
        tracing::info!(database = %shown, "using PostgreSQL");
        return Ok(Arc::new(store));
    }
    let Some(path) = sqlite_path(config)? else {
        anyhow::bail!(
            "`{}` is not an embedded database URL",
            postgres::redact_url(url)
        );
    };
    let options = alertgate_store::sqlite::SqliteOptions {
        checkpoints: config.sqlite_checkpoint,
        ..Default::default()
    };
    let store = SqliteStore::open_with(&path, cipher, options)
        .with_context(|| format!("opening the database at {}", path.display()))?;
    tracing::info!(path = %path.display(), "using the embedded SQLite database");
    Ok(Arc::new(store))
}

/// The setting that proves which key the database's secrets are encrypted with.
const KEY_CHECK_SETTING: &str = "secret_key_check";

/// Refuse to start with a key that cannot read the database's secrets: with several nodes, every
/// node needs the same `ALERTGATE_SECRET_KEY`, and a node with a key of its own would otherwise
/// fail on every webhook another node created.
async fn check_secret_key(store: &dyn Store, cipher: &SecretCipher) -> anyhow::Result<()> {
    let sealed = cipher.encrypt("alertgate", KEY_CHECK_SETTING)?;
    let in_force = store.init_setting(KEY_CHECK_SETTING, &sealed).await?;
    if cipher.decrypt(&in_force, KEY_CHECK_SETTING).is_err() {
        anyhow::bail!(
            "this node's secret key is not the one the database's secrets are encrypted with: \
             set ALERTGATE_SECRET_KEY to the same key on every node"
        );
    }
    Ok(())
}

/// The key that encrypts secrets at rest: `secret_key` from the config, else the key file in the
/// data directory, created (mode 0600) on first start.
pub fn secret_cipher(config: &Config) -> anyhow::Result<SecretCipher> {
    if let Some(key) = &config.secret_key {
        return SecretCipher::from_base64(key.expose())
            .map_err(|e| anyhow::anyhow!("ALERTGATE_SECRET_KEY: {e}"));
    }
    let path = config.data_dir.join("secret.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            SecretCipher::from_base64(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("creating {}", config.data_dir.display()))?;
            let key = SecretCipher::generate_key();
            write_private(&path, &key)?;
            tracing::warn!(
                path = %path.display(),
                "generated a key to encrypt secrets at rest; back it up with the database, or set ALERTGATE_SECRET_KEY"
            );
            SecretCipher::from_base64(&key).map_err(|e| anyhow::anyhow!(e))
        }
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// A server that is accepting connections.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The admin token, when this start created it (shown once).
    pub generated_admin_token: Option<String>,
    pub state: AppState,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Stop accepting, finish in-flight requests, drain the writer, stop the outbox worker
    /// (pending events stay in the database), return.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let RunningServer {
            state,
            shutdown,
            task,
            ..
        } = self;
        // Our handle on the state holds a writer sender; the writer only stops once every
        // sender is gone.
        drop(state);
        shutdown.cancel();
        task.await.context("server task panicked")?
    }

    /// Run until `signal` resolves, then shut down gracefully.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let token = self.shutdown.clone();
        tokio::select! {
            _ = signal => {}
            _ = token.cancelled() => {}
        }
        self.shutdown().await
    }
}

/// Bind, prepare the store and the admin token, start the writer and serve.
pub async fn start(
    config: Config,
    store: Arc<dyn Store>,
    runtime: Runtime,
) -> anyhow::Result<RunningServer> {
    let clock = runtime.clock.clone();
    config
        .outbox
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid outbox configuration: {e}"))?;
    config
        .connections
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid connection limits: {e}"))?;
    if config.allow_insecure_destinations {
        tracing::warn!("destinations may use http:// and private addresses (allow-insecure-destinations): for local use only");
    }
    let generated_admin_token = ensure_admin_token(&config, store.as_ref()).await?;
    let listener =
        serve::bind(config.listen).with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let config = Arc::new(config.with_bound_addr(addr));
    let shutdown = CancellationToken::new();
    let outbox = outbox::OutboxHandle::default();
    let metrics = metrics::Metrics::new();
    let (writer, writer_task) = writer::Writer::spawn_with_metrics(
        store.clone(),
        clock.clone(),
        &config.writer,
        outbox.wake.clone(),
        metrics.clone(),
    );
    let outbox_task = outbox::spawn(
        store.clone(),
        clock.clone(),
        config.clone(),
        outbox.clone(),
        shutdown.child_token(),
    );
    let retention_task = retention::spawn(
        store.clone(),
        clock.clone(),
        retention::Policy {
            delivery_days: config.delivery_retention_days,
            resolved_incident_days: config.resolved_incident_retention_days,
            pacing: retention::Pacing::default(),
            first_after: std::time::Duration::from_secs(30),
            every: std::time::Duration::from_secs(60),
        },
        shutdown.child_token(),
        metrics.clone(),
    );
    let mut state = AppState::new(config.clone(), store, runtime, writer);
    state.outbox = outbox;
    state.metrics = metrics;
    let app = api::router(state.clone());
    let token = shutdown.clone();
    let connections = config.connections.clone();
    let task = tokio::spawn(async move {
        serve::serve(listener, app, &connections, token).await;
        // Every request is answered; the router (and its writer handles) are dropped, so the
        // writer drains what is queued and stops.
        writer_task.await.context("writer task panicked")?;
        // What the writer committed last is delivered after the next start.
        outbox_task.await.context("outbox worker panicked")?;
        retention_task.await.context("retention task panicked")?;
        tracing::info!("shut down cleanly");
        Ok(())
    });
    tracing::info!(%addr, "alertgate is listening");
    Ok(RunningServer {
        addr,
        generated_admin_token,
        state,
        shutdown,
        task,
    })
}

/// Make sure an admin token exists. With `admin_token` configured, its hash is stored (replacing
/// any other); otherwise one is generated on first start and returned so it can be shown once.
async fn ensure_admin_token(config: &Config, store: &dyn Store) -> anyhow::Result<Option<String>> {
    if let Some(token) = &config.admin_token {
        store
            .put_setting(ADMIN_TOKEN_SETTING, &state::sha256_hex(token.expose()))
            .await?;
        return Ok(None);
    }
    let candidate = state::new_token("agt_");
    let hash = state::sha256_hex(&candidate);
    let in_force = store.init_setting(ADMIN_TOKEN_SETTING, &hash).await?;
    Ok((in_force == hash).then_some(candidate))
}
