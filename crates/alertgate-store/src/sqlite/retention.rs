//! Retention on SQLite: one batch of resolved incidents, with everything that belongs to them,
//! deleted in one transaction on the writer's connection (so it queues with intake batches
//! instead of contending with them for SQLite's write lock). See
//! [`crate::Store::purge_resolved_incidents`]; and one batch of delivery-log rows.

use rusqlite::{params, Connection};

use alertgate_core::Timestamp;

use super::corrupt;
use crate::Result;

/// At most `?2` delivery-log rows received before `?1` (a delivery id: ids are time-ordered),
/// the oldest of each webhook first. The table has no index on the id alone (migration 0004),
/// so the rows are found webhook by webhook through `deliveries_webhook (webhook_id, id)`: the
/// webhooks that have rows (deleted ones included) are walked one index seek each, by a
/// recursive query, instead of read from a scan of the whole index.
pub(super) const PURGE_DELIVERIES: &str = "DELETE FROM deliveries WHERE rowid IN (
        WITH RECURSIVE hooks(id) AS (
            SELECT MIN(webhook_id) FROM deliveries
            UNION ALL
            SELECT (SELECT MIN(webhook_id) FROM deliveries WHERE webhook_id > hooks.id)
            FROM hooks WHERE hooks.id IS NOT NULL)
        SELECT d.rowid FROM hooks JOIN deliveries d ON d.webhook_id = hooks.id AND d.id < ?1
        LIMIT ?2)";

/// The incidents a batch takes: resolved before the cutoff, earliest first (the partial index
/// `incidents_resolved` holds exactly the resolved ones, by resolution time), and none whose
/// events are still owed to a destination.
pub(super) const DOOMED: &str = "SELECT i.id, i.rowid FROM incidents i
     WHERE i.status = 'resolved' AND i.resolved_at < ?1
       AND NOT EXISTS (SELECT 1 FROM outbox_messages m
                       WHERE m.incident_id = i.id AND m.status IN ('pending', 'delivering'))
     ORDER BY i.resolved_at LIMIT ?2";

/// What goes with them, children first. `?1` is a JSON array of incident ids; every statement
/// looks rows up by an index on the incident (or message) id.
pub(super) const DELETES: &[&str] = &[
    "DELETE FROM outbox_attempts WHERE message_id IN
        (SELECT id FROM outbox_messages WHERE incident_id IN (SELECT value FROM json_each(?1)))",
    "DELETE FROM outbox_messages WHERE incident_id IN (SELECT value FROM json_each(?1))",
    "DELETE FROM outbox_events WHERE incident_id IN (SELECT value FROM json_each(?1))",
    "DELETE FROM incident_events WHERE incident_id IN (SELECT value FROM json_each(?1))",
    "DELETE FROM alerts WHERE incident_id IN (SELECT value FROM json_each(?1))",
];

/// Then the incidents themselves, by rowid (`?1` a JSON array of them): their ids are not
/// indexed alone (migration 0004).
pub(super) const DELETE_INCIDENTS: &str =
    "DELETE FROM incidents WHERE rowid IN (SELECT value FROM json_each(?1))";

pub(crate) fn purge_resolved_incidents(
    conn: &mut Connection,
    resolved_before: Timestamp,
    limit: u32,
) -> Result<u64> {
    let tx = conn.transaction()?;
    let (ids, rows): (Vec<String>, Vec<i64>) = tx
        .prepare_cached(DOOMED)?
        .query_map(params![resolved_before.as_millis(), limit], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    if ids.is_empty() {
        return Ok(0); // nothing written: the transaction rolls back
    }
    let list = serde_json::to_string(&ids).map_err(corrupt)?;
    for sql in DELETES {
        tx.prepare_cached(sql)?.execute([&list])?;
    }
    let rows = serde_json::to_string(&rows).map_err(corrupt)?;
    tx.prepare_cached(DELETE_INCIDENTS)?.execute([&rows])?;
    tx.commit()?;
    Ok(ids.len() as u64)
}
