//! The embedded engine: SQLite in WAL mode, every write on disk before it returns, so a
//! confirmed write survives a crash of the process or the machine.
//!
//! One dedicated connection takes all intake writes (the node's writer already serializes them,
//! so there is never contention for it); a small pool serves reads and configuration changes.
//! The pool's connections commit with `synchronous = FULL`; the writer's commit with `NORMAL`
//! and then wait for a group flush of the WAL that does not hold the connection (see [`flush`]),
//! so the next batch is written while the previous one reaches the disk.
//! rusqlite is synchronous, so every call runs on the blocking thread pool, except the intake
//! writer's batch transaction, which runs in place on a multi-threaded runtime (see
//! `write_committed`).

mod access;
mod checkpoint;
mod flush;
mod ingest;
mod migrate;
mod open_alerts;
mod outbox;
pub(crate) mod packed;
#[cfg(test)]
mod plans;
mod read;
mod retention;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection, OptionalExtension};

use alertgate_core::ids::{DestinationId, IncidentId, MessageId, WebhookId, WorkspaceId};
use alertgate_core::webhook::Webhook;
use alertgate_core::Timestamp;

use crate::crypto::{open_webhook, seal_webhook, SecretCipher};
use crate::model::*;
use crate::outbox::{
    Attempt, AttemptOutcome, Claim, ClaimedMessage, Destination, OutboxMessage, OutboxStats,
};
use crate::{Result, Store, StoreError};
use open_alerts::OpenAlerts;

pub use checkpoint::CheckpointSettings;
// An alert's identity hash, which items made for SQLite carry (`model::EncodedAlert::identity`).
pub use migrate::SCHEMA_VERSION;
pub(crate) use open_alerts::identity;

/// Who checkpoints the WAL (see [`checkpoint`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checkpoints {
    /// A thread of its own, off the write path (the default).
    #[default]
    Background,
    /// SQLite's automatic checkpoint on the committing connection — the writer — after a commit
    /// that leaves 1,000 frames in the WAL. Kept to compare with.
    Writer,
}

/// How the embedded database is run; the defaults suit a node.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteOptions {
    pub checkpoints: Checkpoints,
    pub checkpoint_settings: CheckpointSettings,
    /// Open without taking the database's lock file: a second handle on a database that another
    /// handle serves (a test reading it with another key). Such a handle must not ingest: its
    /// map of unresolved alerts would not see the other's.
    pub shared: bool,
}

/// The SQLite store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    cipher: SecretCipher,
    writer: Arc<Mutex<Writer>>,
    flush: Arc<flush::WalFlush>,
    pool: r2d2::Pool<SqliteConnectionManager>,
    /// Held (an exclusive `flock` on `<database>.lock`) while the store is open: one process at a
    /// time writes the database, so [`open_alerts`] knows every unresolved alert.
    _lock: Option<Arc<std::fs::File>>,
    /// Stops the checkpoint thread when the last clone goes.
    _checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;",
    )
}

/// [`configure`], and who checkpoints.
fn configure_with(conn: &Connection, checkpoints: Checkpoints) -> rusqlite::Result<()> {
    configure(conn)?;
    if checkpoints == Checkpoints::Background {
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
    }
    Ok(())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(
                DatabaseBusy | DatabaseLocked | CannotOpen | DiskFull | SystemIoFailure | ReadOnly,
            ) => StoreError::Unavailable(e.to_string()),
            Some(ConstraintViolation) => StoreError::Conflict(e.to_string()),
            _ => StoreError::Other(e.to_string()),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl SqliteStore {
    /// Open (creating if needed) the database file at `path` and apply migrations.
    pub fn open(path: &Path, cipher: SecretCipher) -> Result<Self> {
        Self::open_with(path, cipher, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with other options.
    pub fn open_with(path: &Path, cipher: SecretCipher, options: SqliteOptions) -> Result<Self> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
            }
        }
        let lock = if options.shared {
            None
        } else {
            Some(Arc::new(lock(path)?))
        };
        let checkpoints = options.checkpoints;
        let mut writer = Connection::open(path)?;
        configure_with(&writer, checkpoints)?;
        migrate::apply(&mut writer)?;
        let open_alerts = OpenAlerts::load(&writer)?;
        tracing::debug!(
            open_alerts = open_alerts.len(),
            "loaded the unresolved alerts"
        );
        // Commits write the WAL without waiting for the disk; `write` waits for the flush.
        writer.execute_batch("PRAGMA synchronous = NORMAL;")?;
        let manager =
            SqliteConnectionManager::file(path).with_init(move |c| configure_with(c, checkpoints));
        let pool = r2d2::Pool::builder()
            .max_size(4)
            .min_idle(Some(1))
            .build(manager)?;
        let writer = Arc::new(Mutex::new(Writer {
            conn: writer,
            open_alerts,
        }));
        let checkpointer = match checkpoints {
            Checkpoints::Background => Some(Arc::new(checkpoint::start(
                path,
                writer.clone(),
                options.checkpoint_settings,
            )?)),
            Checkpoints::Writer => None,
        };
        Ok(Self {
            path: path.to_path_buf(),
            cipher,
            writer,
            _lock: lock,
            flush: Arc::new(flush::WalFlush::new(path)),
            pool,
            _checkpointer: checkpointer,
        })
    }

    /// Write a consistent copy of the database at `source` to `dest` while it may be in use
    /// (SQLite's `VACUUM INTO`: one read transaction, so the copy is one committed state; writers
    /// are not blocked in WAL mode). `dest` must not exist.
    pub fn backup(source: &Path, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(StoreError::Conflict(format!(
                "{} already exists; choose a new file",
                dest.display()
            )));
        }
        let conn = Connection::open_with_flags(
            source,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let dest = dest
            .to_str()
            .ok_or_else(|| StoreError::Other("the backup path is not valid UTF-8".into()))?;
        conn.execute("VACUUM INTO ?1", [dest])?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get()?;
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Other(format!("store task failed: {e}")))?
    }

    /// Run `f` on the writer connection and return once what it committed is on disk.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<T> + Send + 'static,
    {
        let (writer, flush) = (self.writer.clone(), self.flush.clone());
        tokio::task::spawn_blocking(move || {
            let (value, seq) = commit(&writer, &flush, f)?;
            flush.wait_durable(seq)?;
            Ok(value)
        })
        .await
        .map_err(|e| StoreError::Other(format!("store task failed: {e}")))?
    }

    /// Run `f` on the writer connection; return once it committed, with a future that resolves
    /// once that commit is on disk. The connection is free for the next write meanwhile.
    async fn write_committed<T, F>(&self, f: F) -> Result<(T, crate::Durable)>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<T> + Send + 'static,
    {
        let (writer, flush) = (self.writer.clone(), self.flush.clone());
        let fl = flush.clone();
        // The node's writer calls this for every batch and waits for it: on a multi-threaded
        // runtime the transaction runs right here (the runtime moves this worker's other tasks
        // to another thread) instead of being handed to a blocking thread and back, two thread
        // wake-ups on the path every batch takes. A current-thread runtime cannot lend its only
        // thread, so there the transaction goes to a blocking thread. Either way a panic in it
        // fails this batch, not the caller's task.
        let (value, seq) = if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit(&writer, &fl, f)))
            })
            .map_err(|_| {
                StoreError::Other("store task failed: the transaction panicked".into())
            })??
        } else {
            tokio::task::spawn_blocking(move || commit(&writer, &fl, f))
                .await
                .map_err(|e| StoreError::Other(format!("store task failed: {e}")))??
        };
        let durable = async move {
            tokio::task::spawn_blocking(move || flush.wait_durable(seq))
                .await
                .map_err(|e| StoreError::Other(format!("store task failed: {e}")))?
        };
        Ok((value, Box::pin(durable)))
    }
}

/// Take the database's lock file, or say who holds it.
fn lock(path: &Path) -> Result<std::fs::File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "{} is in use by another alertgate process (it holds {}); \
             one process at a time serves an embedded database (several nodes share PostgreSQL)",
            path.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "{}: {e}",
            lock_path.display()
        ))),
    }
}

/// What the writer's mutex guards: the connection every write goes through, and the state only
/// those writes change. Derefs to the connection.
pub(crate) struct Writer {
    conn: Connection,
    /// The unresolved alerts by identity, kept by intake and by actions that resolve alerts.
    open_alerts: OpenAlerts,
}

impl std::ops::Deref for Writer {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Run `f` holding the writer and number its commit for [`flush::WalFlush`].
fn commit<T>(
    writer: &Mutex<Writer>,
    flush: &flush::WalFlush,
    f: impl FnOnce(&mut Writer) -> Result<T>,
) -> Result<(T, u64)> {
    let mut w = writer
        .lock()
        .map_err(|_| StoreError::Other("writer connection poisoned".into()))?;
    let value = f(&mut w)?;
    Ok((value, flush.committed()))
}

#[async_trait]
impl Store for SqliteStore {
    fn column_form(&self) -> crate::ColumnForm {
        crate::ColumnForm::Packed
    }

    fn pool_state(&self) -> Option<crate::PoolState> {
        let s = self.pool.state();
        Some(crate::PoolState {
            connections: s.connections,
            idle: s.idle_connections,
            max: self.pool.max_size(),
        })
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.read(move |c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await
    }

    async fn init_setting(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                params![key, value],
            )?;
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
        .await
    }

    async fn create_workspace(&self, w: &Workspace) -> Result<()> {
        let w = w.clone();
        self.read(move |c| access::create_workspace(c, &w)).await
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        self.read(access::list_workspaces).await
    }

    async fn get_workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        self.read(move |c| access::get_workspace(c, id)).await
    }

    async fn create_api_key(&self, key: &NewApiKey) -> Result<()> {
        let key = key.clone();
        self.read(move |c| access::create_api_key(c, &key)).await
    }

    async fn list_api_keys(&self, workspace: WorkspaceId) -> Result<Vec<ApiKey>> {
        self.read(move |c| access::list_api_keys(c, workspace))
            .await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let h = key_hash.to_string();
        self.read(move |c| access::api_key_by_hash(c, &h)).await
    }

    async fn revoke_api_key(
        &self,
        workspace: WorkspaceId,
        id: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let id = id.to_string();
        self.read(move |c| access::revoke_api_key(c, workspace, &id, now))
            .await
    }

    async fn touch_api_key(&self, id: &str, now: Timestamp) -> Result<()> {
        let id = id.to_string();
        self.read(move |c| access::touch_api_key(c, &id, now)).await
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        let s = session.clone();
        self.read(move |c| access::create_session(c, &s)).await
    }

    async fn session_by_hash(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>> {
        let h = token_hash.to_string();
        self.read(move |c| access::session_by_hash(c, &h, now))
            .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let h = token_hash.to_string();
        self.read(move |c| access::delete_session(c, &h)).await
    }

    async fn create_webhook(&self, w: &Webhook) -> Result<()> {
        let json = seal_webhook(&self.cipher, w)?;
        let (id, ws, token) = (
            w.id.to_string(),
            w.workspace_id.to_string(),
            w.token.clone(),
        );
        let (created, updated) = (w.created_at.as_millis(), w.updated_at.as_millis());
        self.read(move |c| {
            c.execute(
                "INSERT INTO webhooks (id, workspace_id, token, config, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, ws, token, json, created, updated],
            )?;
            Ok(())
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
        self.read(move |c| {
            let n = c.execute(
                "UPDATE webhooks SET token = ?3, config = ?4, updated_at = ?5
                 WHERE id = ?1 AND workspace_id = ?2",
                params![id, ws, token, json, updated],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_webhook(&self, workspace: WorkspaceId, id: WebhookId) -> Result<bool> {
        self.read(move |c| {
            let n = c.execute(
                "DELETE FROM webhooks WHERE id = ?1 AND workspace_id = ?2",
                params![id.to_string(), workspace.to_string()],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn get_webhook(&self, workspace: WorkspaceId, id: WebhookId) -> Result<Option<Webhook>> {
        let cipher = self.cipher.clone();
        self.read(move |c| {
            let json: Option<String> = c
                .query_row(
                    "SELECT config FROM webhooks WHERE id = ?1 AND workspace_id = ?2",
                    params![id.to_string(), workspace.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            json.as_deref()
                .map(|j| open_webhook(&cipher, j))
                .transpose()
        })
        .await
    }

    async fn webhook_by_token(&self, token: &str) -> Result<Option<Webhook>> {
        let token = token.to_string();
        let cipher = self.cipher.clone();
        self.read(move |c| {
            let json: Option<String> = c
                .prepare_cached("SELECT config FROM webhooks WHERE token = ?1")?
                .query_row([token], |r| r.get(0))
                .optional()?;
            json.as_deref()
                .map(|j| open_webhook(&cipher, j))
                .transpose()
        })
        .await
    }

    async fn list_webhooks(&self, workspace: WorkspaceId) -> Result<Vec<Webhook>> {
        let cipher = self.cipher.clone();
        self.read(move |c| {
            let mut stmt =
                c.prepare("SELECT config FROM webhooks WHERE workspace_id = ?1 ORDER BY id")?;
            let rows = stmt.query_map([workspace.to_string()], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(open_webhook(&cipher, &row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn ingest(&self, items: Vec<IngestItem>, now: Timestamp) -> Result<Vec<IngestResult>> {
        self.write(move |w| ingest::ingest(&mut w.conn, &mut w.open_alerts, &items, now))
            .await
    }

    async fn ingest_committed(
        &self,
        items: Vec<IngestItem>,
        now: Timestamp,
    ) -> Result<(Vec<IngestResult>, crate::Durable)> {
        let ((results, items), durable) = self
            .write_committed(move |w| {
                let results = ingest::ingest(&mut w.conn, &mut w.open_alerts, &items, now)?;
                Ok((results, items))
            })
            .await?;
        // Freeing a batch (its bodies, encoded columns, and the documents correlation kept; the
        // others went in `IngestItem::new`) is work the next batch need not wait for: not on the
        // writer's path.
        tokio::spawn(async move { drop(items) });
        Ok((results, durable))
    }

    async fn preview_ingest(&self, item: IngestItem, now: Timestamp) -> Result<IngestResult> {
        // On the writer's connection: serialized with intake, so the preview sees exactly what
        // the next real delivery would see.
        self.write(move |w| ingest::preview(&mut w.conn, &w.open_alerts, item, now))
            .await
    }

    async fn list_incidents(&self, query: &IncidentQuery) -> Result<Page<Incident>> {
        let query = query.clone();
        self.read(move |c| read::list_incidents(c, &query)).await
    }

    async fn get_incident(
        &self,
        workspace: WorkspaceId,
        id: IncidentId,
    ) -> Result<Option<IncidentDetail>> {
        self.read(move |c| read::get_incident(c, workspace, id))
            .await
    }

    async fn purge_deliveries(
        &self,
        before: alertgate_core::ids::DeliveryId,
        limit: u32,
    ) -> Result<u64> {
        // On the writer's connection: deletes are writes, and they then queue with intake
        // batches instead of contending with them.
        self.write(move |c| {
            let n = c
                .prepare_cached(retention::PURGE_DELIVERIES)?
                .execute(rusqlite::params![before.to_string(), limit])?;
            Ok(n as u64)
        })
        .await
    }

    async fn purge_resolved_incidents(
        &self,
        resolved_before: Timestamp,
        limit: u32,
    ) -> Result<u64> {
        self.write(move |c| retention::purge_resolved_incidents(c, resolved_before, limit))
            .await
    }

    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Page<Delivery>> {
        let query = query.clone();
        self.read(move |c| read::list_deliveries(c, &query)).await
    }

    async fn incident_action(
        &self,
        workspace: WorkspaceId,
        id: IncidentId,
        action: IncidentAction,
        now: Timestamp,
    ) -> Result<Option<Incident>> {
        self.write(move |w| {
            if !ingest::incident_action(
                &mut w.conn,
                &mut w.open_alerts,
                workspace,
                id,
                action,
                now,
            )? {
                return Ok(None);
            }
            read::get_incident_row(w, workspace, id)
        })
        .await
    }

    async fn create_destination(&self, d: &Destination) -> Result<()> {
        let (d, cipher) = (d.clone(), self.cipher.clone());
        self.write(move |c| outbox::create_destination(c, &cipher, &d))
            .await
    }

    async fn update_destination(&self, d: &Destination) -> Result<bool> {
        let (d, cipher) = (d.clone(), self.cipher.clone());
        self.write(move |c| outbox::update_destination(c, &cipher, &d))
            .await
    }

    async fn delete_destination(&self, workspace: WorkspaceId, id: DestinationId) -> Result<bool> {
        self.write(move |c| outbox::delete_destination(c, workspace, id))
            .await
    }

    async fn get_destination(
        &self,
        workspace: WorkspaceId,
        id: DestinationId,
    ) -> Result<Option<Destination>> {
        let cipher = self.cipher.clone();
        self.read(move |c| outbox::get_destination(c, &cipher, workspace, id))
            .await
    }

    async fn list_destinations(&self, workspace: WorkspaceId) -> Result<Vec<Destination>> {
        let cipher = self.cipher.clone();
        self.read(move |c| outbox::list_destinations(c, &cipher, workspace))
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
        self.write(move |c| outbox::claim(c, &cipher, now, lease_ms, limit, &owner))
            .await
    }

    async fn complete_event(
        &self,
        claim: &Claim,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> Result<bool> {
        let (claim, attempt) = (claim.clone(), attempt.clone());
        self.write(move |c| outbox::complete(c, &claim, &attempt, outcome))
            .await
    }

    async fn list_incident_messages(
        &self,
        workspace: WorkspaceId,
        incident: IncidentId,
    ) -> Result<Option<Vec<OutboxMessage>>> {
        self.read(move |c| outbox::incident_messages(c, workspace, incident))
            .await
    }

    async fn retry_message(
        &self,
        workspace: WorkspaceId,
        incident: IncidentId,
        message: MessageId,
        now: Timestamp,
    ) -> Result<Option<OutboxMessage>> {
        self.write(move |c| outbox::retry(c, workspace, incident, message, now))
            .await
    }

    async fn outbox_stats(&self, now: Timestamp) -> Result<OutboxStats> {
        self.read(move |c| outbox::stats(c, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's transaction runs in place on a multi-threaded runtime and on a blocking thread
    /// on a current-thread one; in both, a panic inside it fails that batch with an error (the
    /// writer answers its requests and goes on) instead of unwinding through the caller's task.
    #[test]
    fn a_panicking_transaction_fails_its_batch_not_the_caller() {
        for multi in [true, false] {
            let runtime = if multi {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
            } else {
                tokio::runtime::Builder::new_current_thread().build()
            }
            .expect("runtime");
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SqliteStore::open(&dir.path().join("a.db"), SecretCipher::new(&[7; 32]))
                .expect("store");
            let outcome = runtime.block_on(async {
                tokio::spawn(async move {
                    let failed = store
                        .write_committed(|_| -> Result<()> { panic!("a bug in a transaction") })
                        .await;
                    failed.err().map(|e| e.to_string())
                })
                .await
            });
            let error = outcome.expect("the caller's task did not panic");
            assert!(
                error.is_some_and(|e| e.contains("store task failed")),
                "multi-threaded: {multi}"
            );
        }
    }
}
