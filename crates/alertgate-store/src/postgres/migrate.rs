//! Schema migrations for PostgreSQL, applied at open. All pending migrations run in one
//! transaction that first takes a transaction-scoped advisory lock: when several nodes start at
//! once, one applies them and the others wait for its commit, then find nothing left to do.
//! A failed migration rolls back whole (PostgreSQL's DDL is transactional).

use deadpool_postgres::Object;

use crate::{Result, StoreError};

const MIGRATIONS: &[&str] = &[include_str!("../../migrations/postgres/0001_init.sql")];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The advisory lock that serializes migrations: (alertgate's namespace, 0). Workspace locks use
/// another namespace ([`super::ingest::WORKSPACE_LOCKS`]).
const MIGRATION_LOCK: (i32, i32) = (0x616c_6701, 0);

pub(crate) async fn apply(client: &mut Object) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&MIGRATION_LOCK.0, &MIGRATION_LOCK.1],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS alertgate_schema (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM alertgate_schema",
            &[],
        )
        .await?
        .try_get(0)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {current}, newer than this build's {SCHEMA_VERSION}; upgrade alertgate"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO alertgate_schema (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tracing::info!(version, "applied schema migration");
    }
    tx.commit().await?;
    Ok(())
}
