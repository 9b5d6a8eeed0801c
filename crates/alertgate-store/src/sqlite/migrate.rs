//! Schema migrations, applied at open inside an immediate transaction so that two processes
//! opening the same file at once cannot both apply one.

use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use super::open_alerts::identity;
use crate::{Result, StoreError};

/// A migration: its SQL, then (for data SQL cannot compute) a step in Rust, in the same
/// transaction.
type Step = fn(&Transaction<'_>) -> Result<()>;

const MIGRATIONS: &[(&str, Option<Step>)] = &[
    (include_str!("../../migrations/sqlite/0001_init.sql"), None),
    (
        include_str!("../../migrations/sqlite/0002_alerts_incident_by_id.sql"),
        None,
    ),
    (
        include_str!("../../migrations/sqlite/0003_alerts_open_in_memory.sql"),
        Some(fill_identities),
    ),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn apply(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {current}, newer than this build's {SCHEMA_VERSION}; upgrade alertgate"
        )));
    }
    for (i, (sql, step)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        if let Some(step) = step {
            step(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    tx.commit()?;
    Ok(())
}

/// 0003: the identity of every unresolved alert (resolved ones are never looked up by it).
fn fill_identities(tx: &Transaction<'_>) -> Result<()> {
    let mut read = tx.prepare(
        "SELECT rowid, webhook_id, dedup_key FROM alerts
         WHERE status <> 'resolved' AND identity IS NULL",
    )?;
    // Read them all first: updating `identity` while scanning an index that holds it could skip
    // or revisit rows.
    let filled = read
        .query_map([], |r| {
            let (rowid, webhook, key): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok((rowid, identity(&webhook, &key)))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut write = tx.prepare("UPDATE alerts SET identity = ?2 WHERE rowid = ?1")?;
    for (rowid, identity) in filled {
        write.execute(params![rowid, identity])?;
    }
    Ok(())
}
