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
    (
        include_str!("../../migrations/sqlite/0004_no_id_indexes.sql"),
        None,
    ),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn apply(conn: &mut Connection) -> Result<()> {
    // A migration that rebuilds a table sorts every row of its indexes: in temporary files, not
    // in memory (where the server keeps its temporary data): 0004 took ~700 MB of memory at the
    // first start of a database of a million incidents, ~100 MB this way.
    let temp_store: i64 = conn.query_row("PRAGMA temp_store", [], |r| r.get(0))?;
    conn.pragma_update(None, "temp_store", "FILE")?;
    let applied = apply_pending(conn);
    conn.pragma_update(None, "temp_store", temp_store)?;
    applied
}

fn apply_pending(conn: &mut Connection) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of `table`, rowid first, as text.
    fn rows(conn: &Connection, table: &str) -> Vec<Vec<String>> {
        let mut stmt = conn
            .prepare(&format!("SELECT rowid, * FROM {table} ORDER BY rowid"))
            .unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| {
                    r.get::<_, rusqlite::types::Value>(i)
                        .map(|v| format!("{v:?}"))
                })
                .collect()
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// 0004 rebuilds incidents, alerts and deliveries without their primary-key indexes: every
    /// row, with its rowid (the map of unresolved alerts holds rowids), and every other index
    /// survive.
    #[test]
    fn version_3_loses_the_id_indexes_and_nothing_else() {
        let mut conn = Connection::open_in_memory().unwrap();
        {
            let tx = conn.transaction().unwrap();
            for (sql, step) in &MIGRATIONS[..3] {
                tx.execute_batch(sql).unwrap();
                if let Some(step) = step {
                    step(&tx).unwrap();
                }
            }
            tx.pragma_update(None, "user_version", 3).unwrap();
            tx.commit().unwrap();
        }
        conn.execute_batch(
            "INSERT INTO incidents (rowid, id, workspace_id, webhook_id, platform, title,
                description, source_url, severity, status, services, alert_count,
                correlated_alert_count, occurrence_count, created_at, updated_at, last_alert_at,
                acknowledged_at, resolved_at)
             VALUES (7, 'inc_01JAAAAAAAAAAAAAAAAAAAAAAA', 'wks_00000000000000000000000000',
                'whk_01JAAAAAAAAAAAAAAAAAAAAAAA', 'generic', 'db down', NULL, 'https://x', 'high',
                'open', '[\"db\"]', 2, 1, 3, 10, 20, 20, NULL, NULL),
                (9, 'inc_01JBBBBBBBBBBBBBBBBBBBBBBB', 'wks_00000000000000000000000000',
                'whk_01JAAAAAAAAAAAAAAAAAAAAAAA', 'generic', 'disk', 'full', NULL, 'low',
                'resolved', '[]', 1, 0, 1, 11, 30, 11, NULL, 30);
             INSERT INTO alerts (rowid, id, incident_id, webhook_id, dedup_key, status, title,
                description, severity, raw_severity, services, source_url, occurrence_count,
                first_seen_at, last_seen_at, resolved_at, decision, delivery_id, payload, identity)
             VALUES (3, 'alt_01JAAAAAAAAAAAAAAAAAAAAAAA', 'inc_01JAAAAAAAAAAAAAAAAAAAAAAA',
                'whk_01JAAAAAAAAAAAAAAAAAAAAAAA', 'k1', 'firing', 'db down', NULL, 'high', 'P2',
                '[\"db\"]', NULL, 2, 10, 20, NULL, '{}', 'dlv_01JA', X'00ff', -42),
                (5, 'alt_01JBBBBBBBBBBBBBBBBBBBBBBB', 'inc_01JBBBBBBBBBBBBBBBBBBBBBBB',
                'whk_01JAAAAAAAAAAAAAAAAAAAAAAA', 'k2', 'resolved', 'disk', 'full', 'low', NULL,
                '[]', NULL, 1, 11, 30, 30, '{}', 'dlv_01JB', '{\"a\":1}', NULL);
             INSERT INTO deliveries (rowid, id, webhook_id, workspace_id, received_at, source_addr,
                method, headers, body, status_code, outcome, accepted, error, extracted, warnings,
                results, latency_us)
             VALUES (4, 'dlv_01JA', 'whk_01JAAAAAAAAAAAAAAAAAAAAAAA',
                'wks_00000000000000000000000000', 10, '10.0.0.1', 'POST', '[]', X'01', 201,
                'created', 1, NULL, NULL, '[]', '[]', 120),
                (6, 'dlv_01JC', 'whk_01JAAAAAAAAAAAAAAAAAAAAAAA',
                'wks_00000000000000000000000000', 12, NULL, 'POST', '[]', 'nope', 400,
                'invalid_json', 0, '{}', NULL, '[]', '[]', 80);",
        )
        .unwrap();
        let tables = ["incidents", "alerts", "deliveries"];
        let before = tables.map(|t| rows(&conn, t));

        apply(&mut conn).unwrap();

        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(tables.map(|t| rows(&conn, t)), before);
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'index'
                 AND tbl_name IN ('incidents', 'alerts', 'deliveries') ORDER BY name",
            )
            .unwrap();
        let indexes: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            indexes,
            [
                "alerts_incident",
                "alerts_open",
                "deliveries_webhook",
                "incidents_open",
                "incidents_open_webhook",
                "incidents_resolved",
                "incidents_workspace"
            ]
        );
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
