//! Retention on SQLite: one batch of resolved incidents, with everything that belongs to them,
//! deleted in one transaction on the writer's connection (so it queues with intake batches
//! instead of contending with them for SQLite's write lock). See
//! [`crate::Store::purge_resolved_incidents`].

use rusqlite::{params, Connection};

use alertgate_core::Timestamp;

use super::corrupt;
use crate::Result;

/// The incidents a batch takes: resolved before the cutoff, earliest first (the partial index
/// `incidents_resolved` holds exactly the resolved ones, by resolution time), and none whose
/// events are still owed to a destination.
const DOOMED: &str = "SELECT i.id FROM incidents i
     WHERE i.status = 'resolved' AND i.resolved_at < ?1
       AND NOT EXISTS (SELECT 1 FROM outbox_messages m
                       WHERE m.incident_id = i.id AND m.status IN ('pending', 'delivering'))
     ORDER BY i.resolved_at LIMIT ?2";

/// What goes with them, children first. `?1` is a JSON array of incident ids; every statement
/// looks rows up by an index on the incident (or message) id.
const DELETES: &[&str] = &[
    "DELETE FROM outbox_attempts WHERE message_id IN
        (SELECT id FROM outbox_messages WHERE incident_id IN (SELECT value FROM json_each(?1)))",
    "DELETE FROM outbox_messages WHERE incident_id IN (SELECT value FROM json_each(?1))",
    "DELETE FROM outbox_events WHERE incident_id IN (SELECT value FROM json_each(?1))",
    "DELETE FROM incident_events WHERE incident_id IN (SELECT value FROM json_each(?1))",
    "DELETE FROM alerts WHERE incident_id IN (SELECT value FROM json_each(?1))",
    "DELETE FROM incidents WHERE id IN (SELECT value FROM json_each(?1))",
];

pub(crate) fn purge_resolved_incidents(
    conn: &mut Connection,
    resolved_before: Timestamp,
    limit: u32,
) -> Result<u64> {
    let tx = conn.transaction()?;
    let ids = tx
        .prepare_cached(DOOMED)?
        .query_map(params![resolved_before.as_millis(), limit], |r| {
            r.get::<_, String>(0)
        })?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    if ids.is_empty() {
        return Ok(0); // nothing written: the transaction rolls back
    }
    let list = serde_json::to_string(&ids).map_err(corrupt)?;
    for sql in DELETES {
        tx.prepare_cached(sql)?.execute([&list])?;
    }
    tx.commit()?;
    Ok(ids.len() as u64)
}
