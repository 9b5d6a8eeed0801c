//! Retention on PostgreSQL: one batch of resolved incidents, with everything that belongs to
//! them, deleted in one transaction. The batch's incident rows are locked `FOR UPDATE SKIP
//! LOCKED`, so nodes purging at once take different incidents and never wait for each other. No
//! workspace lock is needed: triage never reads a resolved incident (see
//! [`crate::Store::purge_resolved_incidents`]). The same statements as on SQLite, with the ids as
//! an array parameter.

use deadpool_postgres::Object;

use alertgate_core::Timestamp;

use crate::Result;

const DOOMED: &str = "SELECT i.id FROM incidents i
     WHERE i.status = 'resolved' AND i.resolved_at < $1
       AND NOT EXISTS (SELECT 1 FROM outbox_messages m
                       WHERE m.incident_id = i.id AND m.status IN ('pending', 'delivering'))
     ORDER BY i.resolved_at LIMIT $2
     FOR UPDATE OF i SKIP LOCKED";

const DELETES: &[&str] = &[
    "DELETE FROM outbox_attempts WHERE message_id IN
        (SELECT id FROM outbox_messages WHERE incident_id = ANY($1))",
    "DELETE FROM outbox_messages WHERE incident_id = ANY($1)",
    "DELETE FROM outbox_events WHERE incident_id = ANY($1)",
    "DELETE FROM incident_events WHERE incident_id = ANY($1)",
    "DELETE FROM alerts WHERE incident_id = ANY($1)",
    "DELETE FROM incidents WHERE id = ANY($1)",
];

pub(crate) async fn purge_resolved_incidents(
    client: &mut Object,
    resolved_before: Timestamp,
    limit: u32,
) -> Result<u64> {
    let tx = client.transaction().await?;
    let doomed = tx.prepare_cached(DOOMED).await?;
    let ids: Vec<String> = tx
        .query(&doomed, &[&resolved_before.as_millis(), &i64::from(limit)])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    for sql in DELETES {
        let stmt = tx.prepare_cached(sql).await?;
        tx.execute(&stmt, &[&ids]).await?;
    }
    tx.commit().await?;
    Ok(ids.len() as u64)
}
