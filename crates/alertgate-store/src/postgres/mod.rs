//! The engine for several nodes: PostgreSQL through tokio-postgres and a deadpool pool.
//!
//! # Why tokio-postgres + deadpool-postgres (and not sqlx)
//! - Small: no macros, no query builder, no second SQLite driver whose `links` could clash with
//!   rusqlite's; builds need no live database (every query is checked at run time, and the
//!   conformance suite runs each one against a real server).
//! - Explicit: transactions are values, statements are prepared once per connection
//!   (`prepare_cached`), and errors say whether the connection is gone ([`db_error`]), which is
//!   what decides between a 503 (retry) and a 500 (a bug).
//!
//! # Connections
//! A pool of at most `pool_max_size` connections (default 16, `?pool_max_size=N` in the URL).
//! Waiting for a connection, opening one, and every operation are bounded (5 s, 5 s, 15 s): when
//! the database is unreachable an operation fails with [`StoreError::Unavailable`] (intake answers
//! 503 with Retry-After) instead of hanging, and a connection that timed out is thrown away, not
//! returned to the pool. Broken connections are dropped when they come back to the pool and new
//! ones are opened on demand, so the node recovers by itself when the database returns. Sessions
//! run with `lock_timeout` and `idle_in_transaction_session_timeout` so that a node that vanished
//! in the middle of a transaction cannot hold the workspace lock (below) for long.
//!
//! # Several nodes: who decides
//! Every intake decision (dedup, correlation, an incident's lifecycle) reads and writes only rows
//! of one workspace. The writer's transaction therefore takes a transaction-scoped advisory lock
//! per workspace in the batch (`pg_advisory_xact_lock`), all of them first, in ascending key
//! order, before it reads anything; `incident_action` takes the same lock. So decisions about one
//! workspace are serialized across all nodes exactly as one node's writer serializes them, and
//! under READ COMMITTED each statement after the lock sees everything the previous holder
//! committed. Taking every key of a batch up front in one global order means two batches can
//! never wait for each other in a cycle: no deadlocks. See [`ingest`] for why the workspace (and
//! not the webhook) is the unit.
//!
//! # Migrations
//! Applied at open in one transaction holding an advisory lock ([`migrate`]), so several nodes
//! starting at once apply each migration exactly once; the others wait and find it done.
//!
//! # The outbox (issue 6)
//! Outbox rows are written in the ingest and `incident_action` transactions (after triage,
//! under the same workspace lock); workers claim due rows with
//! `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)` setting a lease and a claim
//! token, so each row goes to one node, a dead node's rows return after the lease, and a lapsed
//! claim cannot settle a row another node took. See [`outbox`].

mod access;
mod ingest;
mod migrate;
mod outbox;
mod read;
mod retention;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::NoTls;

use alertgate_core::ids::{DestinationId, IncidentId, MessageId, WebhookId, WorkspaceId};
use alertgate_core::webhook::Webhook;
use alertgate_core::Timestamp;

use crate::crypto::{open_webhook, seal_webhook, SecretCipher};
use crate::model::*;
use crate::outbox::{
    Attempt, AttemptOutcome, Claim, ClaimedMessage, Destination, OutboxMessage, OutboxStats,
};
use crate::{Result, Store, StoreError};

pub use migrate::SCHEMA_VERSION;

/// How the store connects; every field has a default suitable for a node.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections per node at most.
    pub pool_max_size: usize,
    /// Opening a connection (TCP and start-up) at most.
    pub connect_timeout: Duration,
    /// Waiting for a free connection at most.
    pub wait_timeout: Duration,
    /// One store operation (a whole ingest transaction included) at most.
    pub operation_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_max_size: 16,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(15),
        }
    }
}

/// The PostgreSQL store. Cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    cipher: SecretCipher,
    operation_timeout: Duration,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

/// Is this URL one the PostgreSQL engine takes?
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable database URL>".into();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((creds, host)) => {
            let user = creds.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// Split alertgate's own query parameters (`pool_max_size`) off a URL; the rest is for
/// tokio-postgres.
fn split_options(url: &str, mut options: PostgresOptions) -> Result<(String, PostgresOptions)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), options));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("pool_max_size", v)) => {
                options.pool_max_size = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    StoreError::Other(format!(
                        "pool_max_size must be a positive number, not `{v}`"
                    ))
                })?;
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, options))
}

/// Map a driver error: a connection that is gone (or never came) is `Unavailable` — the caller
/// may retry — and so are the server's "not now" answers; constraint violations are conflicts.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    use std::error::Error as _;
    if let Some(code) = e.code() {
        let code = code.code();
        return if code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || matches!(code, "40001" | "40P01" | "55P03" | "25P03")
        {
            StoreError::Unavailable(e.to_string())
        } else if code.starts_with("23") {
            StoreError::Conflict(e.to_string())
        } else {
            StoreError::Other(e.to_string())
        };
    }
    let io = e
        .source()
        .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
    if e.is_closed() || io {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Other(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        db_error(e)
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Unavailable(format!("no database connection: {other}")),
        }
    }
}

/// Text as PostgreSQL can hold it: `text` cannot contain NUL, which JSON (`"\u0000"`) and a
/// lossy body can. NUL becomes U+FFFD, so one odd alert cannot fail the batch it is in.
pub(crate) fn text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

pub(crate) fn opt_text(s: &Option<String>) -> Option<std::borrow::Cow<'_, str>> {
    s.as_deref().map(text)
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

type BoxFuture<'c, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'c>>;

impl PostgresStore {
    /// Connect to the database at `url` (`postgres://user:pass@host:port/db?…`) and apply
    /// migrations.
    pub async fn open(url: &str, cipher: SecretCipher) -> Result<Self> {
        Self::open_with(url, cipher, PostgresOptions::default()).await
    }

    pub async fn open_with(
        url: &str,
        cipher: SecretCipher,
        options: PostgresOptions,
    ) -> Result<Self> {
        let (url, options) = split_options(url, options)?;
        let mut pg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        let lock_ms = options.operation_timeout.as_millis();
        let session = format!(
            "-c lock_timeout={lock_ms} -c idle_in_transaction_session_timeout={}",
            lock_ms * 4
        );
        let session = match pg.get_options() {
            Some(user) if !user.is_empty() => format!("{user} {session}"),
            _ => session,
        };
        pg.options(session)
            .application_name("alertgate")
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_max_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Other(format!("building the connection pool: {e}")))?;
        let store = Self {
            pool,
            cipher,
            operation_timeout: options.operation_timeout,
        };
        store
            .with_client(|c| Box::pin(async move { migrate::apply(c).await }))
            .await?;
        Ok(store)
    }

    /// Run `f` on a pooled connection within the operation timeout. A connection whose
    /// operation timed out is closed rather than returned to the pool: it may be stuck.
    async fn with_client<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut Object) -> BoxFuture<'c, Result<T>> + Send,
    {
        let mut client = tokio::time::timeout(self.operation_timeout, self.pool.get())
            .await
            .map_err(|_| StoreError::Unavailable("no database connection in time".into()))??;
        match tokio::time::timeout(self.operation_timeout, f(&mut client)).await {
            Ok(result) => result,
            Err(_) => {
                drop(Object::take(client));
                Err(StoreError::Unavailable(
                    "the database did not answer in time".into(),
                ))
            }
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn pool_state(&self) -> Option<crate::PoolState> {
        let s = self.pool.status();
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Some(crate::PoolState {
            connections: clamp(s.size),
            idle: clamp(s.available),
            max: clamp(s.max_size),
        })
    }

    async fn ping(&self) -> Result<()> {
        self.with_client(|c| {
            Box::pin(async move {
                c.simple_query("SELECT 1").await?;
                Ok(())
            })
        })
        .await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt("SELECT value FROM settings WHERE key = $1", &[&key])
                    .await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            })
        })
        .await
    }

    async fn init_setting(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_string(), value.to_string());
        self.with_client(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                    &[&key, &value],
                )
                .await?;
                let row = c
                    .query_one("SELECT value FROM settings WHERE key = $1", &[&key])
                    .await?;
                Ok(row.try_get(0)?)
            })
        })
        .await
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.with_client(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO settings (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&key, &value],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn create_workspace(&self, w: &Workspace) -> Result<()> {
        let w = w.clone();
        self.with_client(move |c| Box::pin(async move { access::create_workspace(c, &w).await }))
            .await
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        self.with_client(|c| Box::pin(async move { access::list_workspaces(c).await }))
            .await
    }

    async fn get_workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        self.with_client(move |c| Box::pin(async move { access::get_workspace(c, id).await }))
            .await
    }

    async fn create_api_key(&self, key: &NewApiKey) -> Result<()> {
        let key = key.clone();
        self.with_client(move |c| Box::pin(async move { access::create_api_key(c, &key).await }))
            .await
    }

    async fn list_api_keys(&self, workspace: WorkspaceId) -> Result<Vec<ApiKey>> {
        self.with_client(move |c| {
            Box::pin(async move { access::list_api_keys(c, workspace).await })
        })
        .await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let h = key_hash.to_string();
        self.with_client(move |c| Box::pin(async move { access::api_key_by_hash(c, &h).await }))
            .await
    }

    async fn revoke_api_key(
        &self,
        workspace: WorkspaceId,
        id: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let id = id.to_string();
        self.with_client(move |c| {
            Box::pin(async move { access::revoke_api_key(c, workspace, &id, now).await })
        })
        .await
    }

    async fn touch_api_key(&self, id: &str, now: Timestamp) -> Result<()> {
        let id = id.to_string();
        self.with_client(move |c| Box::pin(async move { access::touch_api_key(c, &id, now).await }))
            .await
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        let s = session.clone();
        self.with_client(move |c| Box::pin(async move { access::create_session(c, &s).await }))
            .await
    }

    async fn session_by_hash(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>> {
        let h = token_hash.to_string();
        self.with_client(move |c| {
            Box::pin(async move { access::session_by_hash(c, &h, now).await })
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let h = token_hash.to_string();
        self.with_client(move |c| Box::pin(async move { access::delete_session(c, &h).await }))
            .await
    }

    async fn create_webhook(&self, w: &Webhook) -> Result<()> {
        let json = seal_webhook(&self.cipher, w)?;
        let (id, ws, token) = (
            w.id.to_string(),
            w.workspace_id.to_string(),
            w.token.clone(),
        );
        let (created, updated) = (w.created_at.as_millis(), w.updated_at.as_millis());
        self.with_client(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO webhooks (id, workspace_id, token, config, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&id, &ws, &token, &json, &created, &updated],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn update_webhook(&self, w: &Webhook) -> Result<bool> {
        let json = seal_webhook(&self.cipher, w)?;
        let (id, ws, token) = (
            w.id.to_string(),
            w.workspace_id.to_string(),
            w.token.clone(),
        );
        let updated = w.updated_at.as_millis();
        self.with_client(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "UPDATE webhooks SET token = $3, config = $4, updated_at = $5
                         WHERE id = $1 AND workspace_id = $2",
                        &[&id, &ws, &token, &json, &updated],
                    )
                    .await?;
                Ok(n == 1)
            })
        })
        .await
    }

    async fn delete_webhook(&self, workspace: WorkspaceId, id: WebhookId) -> Result<bool> {
        let (id, ws) = (id.to_string(), workspace.to_string());
        self.with_client(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "DELETE FROM webhooks WHERE id = $1 AND workspace_id = $2",
                        &[&id, &ws],
                    )
                    .await?;
                Ok(n == 1)
            })
        })
        .await
    }

    async fn get_webhook(&self, workspace: WorkspaceId, id: WebhookId) -> Result<Option<Webhook>> {
        let (id, ws) = (id.to_string(), workspace.to_string());
        let cipher = self.cipher.clone();
        self.with_client(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT config FROM webhooks WHERE id = $1 AND workspace_id = $2",
                        &[&id, &ws],
                    )
                    .await?;
                row.map(|r| open_webhook(&cipher, r.try_get(0)?))
                    .transpose()
            })
        })
        .await
    }

    async fn webhook_by_token(&self, token: &str) -> Result<Option<Webhook>> {
        let token = token.to_string();
        let cipher = self.cipher.clone();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT config FROM webhooks WHERE token = $1")
                    .await?;
                let row = c.query_opt(&stmt, &[&token]).await?;
                row.map(|r| open_webhook(&cipher, r.try_get(0)?))
                    .transpose()
            })
        })
        .await
    }

    async fn list_webhooks(&self, workspace: WorkspaceId) -> Result<Vec<Webhook>> {
        let ws = workspace.to_string();
        let cipher = self.cipher.clone();
        self.with_client(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT config FROM webhooks WHERE workspace_id = $1 ORDER BY id",
                        &[&ws],
                    )
                    .await?;
                rows.iter()
                    .map(|r| open_webhook(&cipher, r.try_get(0)?))
                    .collect()
            })
        })
        .await
    }

    async fn ingest(&self, items: Vec<IngestItem>, now: Timestamp) -> Result<Vec<IngestResult>> {
        self.with_client(move |c| Box::pin(async move { ingest::ingest(c, items, now).await }))
            .await
    }

    async fn list_incidents(&self, query: &IncidentQuery) -> Result<Page<Incident>> {
        let query = query.clone();
        self.with_client(move |c| Box::pin(async move { read::list_incidents(c, &query).await }))
            .await
    }

    async fn get_incident(
        &self,
        workspace: WorkspaceId,
        id: IncidentId,
    ) -> Result<Option<IncidentDetail>> {
        self.with_client(move |c| {
            Box::pin(async move { read::get_incident(c, workspace, id).await })
        })
        .await
    }

    async fn purge_deliveries(
        &self,
        before: alertgate_core::ids::DeliveryId,
        limit: u32,
    ) -> Result<u64> {
        let before = before.to_string();
        let limit = i64::from(limit);
        self.with_client(move |c| {
            Box::pin(async move {
                let n = c
                    .execute(
                        "DELETE FROM deliveries WHERE id IN
                            (SELECT id FROM deliveries WHERE id < $1 ORDER BY id LIMIT $2)",
                        &[&before, &limit],
                    )
                    .await?;
                Ok(n)
            })
        })
        .await
    }

    async fn purge_resolved_incidents(
        &self,
        resolved_before: Timestamp,
        limit: u32,
    ) -> Result<u64> {
        self.with_client(move |c| {
            Box::pin(
                async move { retention::purge_resolved_incidents(c, resolved_before, limit).await },
            )
        })
        .await
    }

    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Page<Delivery>> {
        let query = query.clone();
        self.with_client(move |c| Box::pin(async move { read::list_deliveries(c, &query).await }))
            .await
    }

    async fn incident_action(
        &self,
        workspace: WorkspaceId,
        id: IncidentId,
        action: IncidentAction,
        now: Timestamp,
    ) -> Result<Option<Incident>> {
        self.with_client(move |c| {
            Box::pin(async move {
                if !ingest::incident_action(c, workspace, id, action, now).await? {
                    return Ok(None);
                }
                read::get_incident_row(c, workspace, id).await
            })
        })
        .await
    }

    async fn preview_ingest(&self, item: IngestItem, now: Timestamp) -> Result<IngestResult> {
        self.with_client(move |c| Box::pin(async move { ingest::preview(c, item, now).await }))
            .await
    }

    async fn create_destination(&self, d: &Destination) -> Result<()> {
        let (d, cipher) = (d.clone(), self.cipher.clone());
        self.with_client(move |c| {
            Box::pin(async move { outbox::create_destination(c, &cipher, &d).await })
        })
        .await
    }

    async fn update_destination(&self, d: &Destination) -> Result<bool> {
        let (d, cipher) = (d.clone(), self.cipher.clone());
        self.with_client(move |c| {
            Box::pin(async move { outbox::update_destination(c, &cipher, &d).await })
        })
        .await
    }

    async fn delete_destination(&self, workspace: WorkspaceId, id: DestinationId) -> Result<bool> {
        self.with_client(move |c| {
            Box::pin(async move { outbox::delete_destination(c, workspace, id).await })
        })
        .await
    }

    async fn get_destination(
        &self,
        workspace: WorkspaceId,
        id: DestinationId,
    ) -> Result<Option<Destination>> {
        let cipher = self.cipher.clone();
        self.with_client(move |c| {
            Box::pin(async move { outbox::get_destination(c, &cipher, workspace, id).await })
        })
        .await
    }

    async fn list_destinations(&self, workspace: WorkspaceId) -> Result<Vec<Destination>> {
        let cipher = self.cipher.clone();
        self.with_client(move |c| {
            Box::pin(async move { outbox::list_destinations(c, &cipher, workspace).await })
        })
        .await
    }

    async fn claim_due_events(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: usize,
        owner: &str,
    ) -> Result<Vec<ClaimedMessage>> {
        let (owner, cipher) = (owner.to_string(), self.cipher.clone());
        self.with_client(move |c| {
            Box::pin(async move { outbox::claim(c, &cipher, now, lease_ms, limit, &owner).await })
        })
        .await
    }

    async fn complete_event(
        &self,
        claim: &Claim,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> Result<bool> {
        let (claim, attempt) = (claim.clone(), attempt.clone());
        self.with_client(move |c| {
            Box::pin(async move { outbox::complete(c, &claim, &attempt, outcome).await })
        })
        .await
    }

    async fn list_incident_messages(
        &self,
        workspace: WorkspaceId,
        incident: IncidentId,
    ) -> Result<Option<Vec<OutboxMessage>>> {
        self.with_client(move |c| {
            Box::pin(async move { outbox::incident_messages(c, workspace, incident).await })
        })
        .await
    }

    async fn retry_message(
        &self,
        workspace: WorkspaceId,
        incident: IncidentId,
        message: MessageId,
        now: Timestamp,
    ) -> Result<Option<OutboxMessage>> {
        self.with_client(move |c| {
            Box::pin(async move { outbox::retry(c, workspace, incident, message, now).await })
        })
        .await
    }

    async fn outbox_stats(&self, now: Timestamp) -> Result<OutboxStats> {
        self.with_client(move |c| Box::pin(async move { outbox::stats(c, now).await }))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact_url("postgres://alert:s3cret@db:5432/alertgate?sslmode=disable"),
            "postgres://alert:***@db:5432/alertgate?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://db/alertgate"),
            "postgres://db/alertgate"
        );
    }

    #[test]
    fn the_pool_size_is_ours_and_the_rest_goes_to_the_driver() {
        let (url, o) = split_options(
            "postgres://u@h/db?pool_max_size=4&application_name=x",
            PostgresOptions::default(),
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert_eq!(o.pool_max_size, 4);
        assert!(split_options("postgres://u@h/db?pool_max_size=0", o).is_err());
    }
}
