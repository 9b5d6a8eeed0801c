//! The `alertgate` command: `serve` runs the gateway, `migrate` prepares the database,
//! `check-config` validates a configuration or declarations file, and the admin commands
//! (`webhook`, `send-test`, `incidents`, `apply`) speak to a running server (see [`cli`]).

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use alertgate_core::auth::Secret;
use alertgate_server::config::{FileConfig, WriterConfig};
use alertgate_server::{Config, Runtime};

#[derive(Parser)]
#[command(
    name = "alertgate",
    version,
    about = "A self-hosted incident intake gateway."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: intake webhooks, the management API, the outbox worker.
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(ServeArgs),
    /// Write a consistent copy of the embedded database to PATH while the server may be running
    /// (to restore: stop the server, copy the file to `<data-dir>/alertgate.db`, remove any
    /// `alertgate.db-wal` / `-shm` beside it, keep `secret.key`, start). For PostgreSQL use
    /// pg_dump.
    Backup {
        #[command(flatten)]
        args: ServeArgs,
        /// Where to write the copy (must not exist).
        path: PathBuf,
    },
    /// Check a server configuration file, or a declarations file for `apply`, without starting
    /// anything (a file with `[[webhook]]`, `[[destination]]` or `[correlation]` is a
    /// declarations file).
    CheckConfig {
        /// The file, as given to `serve --config` or to `apply`.
        file: PathBuf,
    },
    /// Make the server's webhooks, destinations and workspace correlation rules match a
    /// declarations file (TOML); `--dry-run` prints the difference only.
    Apply {
        #[command(flatten)]
        conn: cli::Connection,
        #[command(flatten)]
        args: cli::apply::ApplyArgs,
    },
    /// Manage webhooks on a running server.
    Webhook {
        #[command(flatten)]
        conn: cli::Connection,
        #[command(subcommand)]
        command: cli::WebhookCommand,
    },
    /// Send a webhook's sample payload (or a file) to its intake URL, authenticated as the
    /// platform would, and print the outcome.
    SendTest {
        #[command(flatten)]
        conn: cli::Connection,
        #[command(flatten)]
        args: cli::send_test::SendTestArgs,
    },
    /// List, show, acknowledge and resolve incidents on a running server.
    #[command(alias = "incident")]
    Incidents {
        #[command(flatten)]
        conn: cli::Connection,
        #[command(subcommand)]
        command: cli::IncidentCommand,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SqliteCheckpoint {
    Background,
    Writer,
}

impl SqliteCheckpoint {
    fn into_store(self) -> alertgate_store::sqlite::Checkpoints {
        match self {
            SqliteCheckpoint::Background => alertgate_store::sqlite::Checkpoints::Background,
            SqliteCheckpoint::Writer => alertgate_store::sqlite::Checkpoints::Writer,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Every option can also be set by its ALERTGATE_* environment variable or in the TOML file given
/// with --config; a flag wins over the environment, which wins over the file.
#[derive(Args, Clone)]
struct ServeArgs {
    /// TOML configuration file (keys as the long flags, with underscores).
    #[arg(long, env = "ALERTGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ALERTGATE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for the embedded database and the generated secret key [default: ./alertgate-data].
    #[arg(long, env = "ALERTGATE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: postgres://USER:PASSWORD@HOST:PORT/DB (several nodes share it) or sqlite://PATH
    /// [default: the embedded SQLite database in the data directory].
    #[arg(long, env = "ALERTGATE_DATABASE_URL")]
    database_url: Option<String>,
    /// URL clients reach this server at, used in the intake URLs shown to users
    /// [default: http://<listen>].
    #[arg(long, env = "ALERTGATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Admin API token. Without it, one is generated on first start and printed once.
    #[arg(long, env = "ALERTGATE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Base64 of a 32-byte key that encrypts secrets at rest. Without it a key is generated into
    /// <data-dir>/secret.key on first start.
    #[arg(long, env = "ALERTGATE_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Log format [default: text].
    #[arg(long, env = "ALERTGATE_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Requests that may wait for the database writer; beyond it intake answers 503 [default: 8192].
    #[arg(long, env = "ALERTGATE_WRITER_QUEUE")]
    writer_queue: Option<usize>,
    /// Requests committed together in one transaction at most [default: 1024].
    #[arg(long, env = "ALERTGATE_WRITER_MAX_BATCH")]
    writer_max_batch: Option<usize>,
    /// Milliseconds allowed to receive an intake request's body; a stalled client gets 408
    /// [default: 10000].
    #[arg(long, env = "ALERTGATE_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// Requests handled at once across all routes; beyond it requests get 503 with Retry-After
    /// [default: 1024].
    #[arg(long, env = "ALERTGATE_MAX_CONCURRENT_REQUESTS")]
    max_concurrent_requests: Option<usize>,
    /// Connections open at once; further clients wait in the listen queue [default: 4096].
    #[arg(long, env = "ALERTGATE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Milliseconds a client has to send a request's headers (and to start the next request on
    /// an idle keep-alive connection) before it is closed [default: 10000].
    #[arg(long, env = "ALERTGATE_HEADER_READ_TIMEOUT_MS")]
    header_read_timeout_ms: Option<u64>,
    /// Delete delivery-log rows older than this many days, in the background; 0 keeps them
    /// [default: 7].
    #[arg(long, env = "ALERTGATE_DELIVERY_RETENTION_DAYS")]
    delivery_retention_days: Option<u32>,
    /// Delete incidents resolved more than this many days ago (with their alerts, timeline and
    /// outbox rows), in the background; 0 keeps them [default: 90].
    #[arg(long, env = "ALERTGATE_RESOLVED_INCIDENT_RETENTION_DAYS")]
    resolved_incident_retention_days: Option<u32>,
    /// Who checkpoints the embedded database's WAL: `background` (a thread of its own, off the
    /// write path) or `writer` (SQLite's automatic checkpoint on the committing connection)
    /// [default: background].
    #[arg(long, env = "ALERTGATE_SQLITE_CHECKPOINT", value_enum)]
    sqlite_checkpoint: Option<SqliteCheckpoint>,
    /// Let investigation and notification destinations use plain http:// and private, loopback
    /// or link-local addresses. For local use and tests only: this turns off the SSRF guard.
    #[arg(
        long,
        env = "ALERTGATE_ALLOW_INSECURE_DESTINATIONS",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    allow_insecure_destinations: bool,
    /// Apply this declarations file (see `alertgate apply`) to the default workspace once the
    /// server listens; needs --admin-token. Nothing is pruned. The server stops if it fails.
    #[arg(long, env = "ALERTGATE_APPLY")]
    apply: Option<PathBuf>,
}

impl ServeArgs {
    fn resolve(&self) -> anyhow::Result<(Config, LogFormat)> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let defaults = Config::default();
        let file_writer = file.writer.clone().unwrap_or_default();
        let file_connections = file.connections.clone().unwrap_or_default();
        let log_format = match (self.log_format, file.log_format.as_deref()) {
            (Some(f), _) => f,
            (None, Some("json")) => LogFormat::Json,
            (None, Some("text") | None) => LogFormat::Text,
            (None, Some(other)) => anyhow::bail!("log_format must be text or json, not `{other}`"),
        };
        let config = Config {
            listen: self.listen.or(file.listen).unwrap_or(defaults.listen),
            data_dir: self
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or(defaults.data_dir),
            database_url: self.database_url.clone().or(file.database_url),
            public_url: self.public_url.clone().or(file.public_url),
            admin_token: self
                .admin_token
                .clone()
                .or(file.admin_token)
                .filter(|t| !t.is_empty())
                .map(Secret::new),
            secret_key: self
                .secret_key
                .clone()
                .or(file.secret_key)
                .filter(|t| !t.is_empty())
                .map(Secret::new),
            limits: defaults.limits,
            writer: WriterConfig {
                queue_capacity: self.writer_queue.unwrap_or(file_writer.queue_capacity),
                max_batch: self.writer_max_batch.unwrap_or(file_writer.max_batch),
            },
            webhook_cache_ttl_ms: file
                .webhook_cache_ttl_ms
                .unwrap_or(defaults.webhook_cache_ttl_ms),
            allow_insecure_destinations: self.allow_insecure_destinations
                || file.allow_insecure_destinations.unwrap_or(false),
            outbox: file.outbox.unwrap_or_default(),
            request_timeout_ms: self
                .request_timeout_ms
                .or(file.request_timeout_ms)
                .unwrap_or(defaults.request_timeout_ms)
                .max(1),
            max_concurrent_requests: self
                .max_concurrent_requests
                .or(file.max_concurrent_requests)
                .unwrap_or(defaults.max_concurrent_requests)
                .max(1),
            connections: alertgate_server::serve::ConnectionLimits {
                max_connections: self
                    .max_connections
                    .unwrap_or(file_connections.max_connections),
                header_read_timeout_ms: self
                    .header_read_timeout_ms
                    .unwrap_or(file_connections.header_read_timeout_ms),
                max_header_bytes: file_connections.max_header_bytes,
            },
            delivery_retention_days: self
                .delivery_retention_days
                .or(file.delivery_retention_days)
                .unwrap_or(defaults.delivery_retention_days),
            resolved_incident_retention_days: self
                .resolved_incident_retention_days
                .or(file.resolved_incident_retention_days)
                .unwrap_or(defaults.resolved_incident_retention_days),
            sqlite_checkpoint: self
                .sqlite_checkpoint
                .map(SqliteCheckpoint::into_store)
                .or(file.sqlite_checkpoint)
                .unwrap_or(defaults.sqlite_checkpoint),
        };
        Ok((config, log_format))
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

/// Whether `file` is a declarations file (for `apply`) rather than a server configuration.
fn is_declarations(file: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return false;
    };
    ["webhook", "destination", "correlation"]
        .iter()
        .any(|k| table.contains_key(*k))
}

/// Validate a configuration file the way `serve --config FILE` would read it, or a declarations
/// file the way `apply` would.
fn check_config(file: PathBuf) -> anyhow::Result<()> {
    if is_declarations(&file) {
        let decl =
            cli::apply::declarations::Declarations::load(&file).map_err(|e| anyhow::anyhow!(e))?;
        println!(
            "{}: OK (declarations: {})",
            file.display(),
            cli::apply::describe(&decl)
        );
        return Ok(());
    }
    let args = ServeArgs {
        config: Some(file.clone()),
        listen: None,
        data_dir: None,
        database_url: None,
        public_url: None,
        admin_token: None,
        secret_key: None,
        log_format: None,
        writer_queue: None,
        writer_max_batch: None,
        allow_insecure_destinations: false,
        request_timeout_ms: None,
        max_concurrent_requests: None,
        max_connections: None,
        header_read_timeout_ms: None,
        delivery_retention_days: None,
        resolved_incident_retention_days: None,
        sqlite_checkpoint: None,
        apply: None,
    };
    let (config, _) = args.resolve()?;
    config
        .outbox
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: outbox: {e}", file.display()))?;
    config
        .connections
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if let Some(url) = config.database_url.as_deref() {
        let known = ["sqlite://", "postgres://", "postgresql://"];
        if !url.is_empty() && !known.iter().any(|p| url.starts_with(p)) {
            anyhow::bail!(
                "{}: database_url must be sqlite://PATH or postgres://…",
                file.display()
            );
        }
    }
    if let Some(key) = &config.secret_key {
        alertgate_store::crypto::SecretCipher::from_base64(key.expose())
            .map_err(|e| anyhow::anyhow!("{}: secret_key: {e}", file.display()))?;
    }
    if config.writer.queue_capacity == 0 || config.writer.max_batch == 0 {
        anyhow::bail!(
            "{}: writer queue_capacity and max_batch must be at least 1",
            file.display()
        );
    }
    println!(
        "{}: OK (listen {}, public URL {})",
        file.display(),
        config.listen,
        config.base_url()
    );
    Ok(())
}

/// `serve --apply`: apply the declarations through this server's own API, as `alertgate apply`
/// would, before it announces that it listens.
async fn apply_at_start(
    addr: SocketAddr,
    token: Secret,
    decl: &cli::apply::declarations::Declarations,
) -> anyhow::Result<()> {
    let mut local = addr;
    if local.ip().is_unspecified() {
        local.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let client =
        cli::client::ApiClient::new(&format!("http://{local}"), Some(token.expose().to_string()))
            .map_err(|e| anyhow::anyhow!(e.message))?;
    match cli::apply::apply(&client, decl, false, false).await {
        Ok(plan) => {
            for line in cli::apply::plan_lines(&plan) {
                tracing::info!("apply: {line}");
            }
            Ok(())
        }
        Err(failed) => Err(anyhow::anyhow!(
            "applying the declarations: {}",
            failed.error.message
        )),
    }
}

/// Admin commands end with their own exit codes (see [`cli`]).
fn finish(result: Result<(), cli::CliError>) -> anyhow::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            eprintln!("error: {}", e.message);
            std::process::exit(e.code);
        }
    }
}

// jemalloc: +11% alerts/s in 100-alert batches over glibc's allocator, whose free/consolidate of
// parsed payloads was a quarter of the server's CPU; RSS stays as low (61 MB at the end of the
// benchmark; mimalloc, tried before, held 179 MB). README, Performance.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => {
            if let Err(e) = check_config(file) {
                eprintln!("error: {e:#}");
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Webhook { conn, command } => finish(cli::webhook(&conn, command).await),
        Command::SendTest { conn, args } => finish(cli::send_test::run(&conn, args).await),
        Command::Incidents { conn, command } => finish(cli::incidents(&conn, command).await),
        Command::Apply { conn, args } => finish(cli::apply::run(&conn, args).await),
        Command::Serve(args) => {
            let (config, log_format) = args.resolve()?;
            init_logging(log_format);
            // Checked before anything starts: a file that cannot be applied stops the start.
            let declarations = match &args.apply {
                None => None,
                Some(file) => {
                    let decl = cli::apply::declarations::Declarations::load(file)
                        .map_err(|e| anyhow::anyhow!(e))?;
                    let Some(token) = config.admin_token.clone() else {
                        anyhow::bail!(
                            "--apply needs the admin token: set --admin-token or ALERTGATE_ADMIN_TOKEN"
                        );
                    };
                    Some((decl, token))
                }
            };
            let store = alertgate_server::open_store(&config).await?;
            let server = alertgate_server::start(config, store, Runtime::default()).await?;
            if let Some(token) = &server.generated_admin_token {
                println!(
                    "\nalertgate created an admin API token. It is shown only this once; keep it safe:\n\n    {token}\n\nUse it as `Authorization: Bearer <token>` on /api/v1, or set ALERTGATE_ADMIN_TOKEN to choose your own.\n"
                );
            }
            if let Some((decl, token)) = declarations {
                if let Err(e) = apply_at_start(server.addr, token, &decl).await {
                    tracing::error!(error = %e, "applying the declarations failed; stopping");
                    server.shutdown().await?;
                    anyhow::bail!(e);
                }
            }
            println!("alertgate listening on http://{}", server.addr);
            server.run_until(shutdown_signal()).await
        }
        Command::Backup { args, path } => {
            let (config, log_format) = args.resolve()?;
            init_logging(log_format);
            let Some(source) = alertgate_server::sqlite_path(&config)? else {
                anyhow::bail!("backup copies the embedded database; for PostgreSQL use pg_dump");
            };
            if !source.exists() {
                anyhow::bail!("there is no database at {}", source.display());
            }
            alertgate_store::sqlite::SqliteStore::backup(&source, &path).with_context(|| {
                format!("backing up {} to {}", source.display(), path.display())
            })?;
            println!("backed up {} to {}", source.display(), path.display());
            Ok(())
        }
        Command::Migrate(args) => {
            let (config, log_format) = args.resolve()?;
            init_logging(log_format);
            alertgate_server::migrate(&config)
                .await
                .context("migrating")?;
            println!("database schema is up to date");
            Ok(())
        }
    }
}
