//! Query plans of the statements that find incidents, alerts and delivery-log rows by id. Since
//! migration 0004 those tables have no index on the id alone (it was a B-tree more per row,
//! written by every new alert in the single writer's transaction), so a statement that named
//! only the id would scan the whole table: with a million incidents, seconds per alert, and no
//! test of behaviour would notice. Each statement here must reach its rows through an index or
//! the rowid.

use rusqlite::Connection;

use super::{ingest, outbox, read, retention};

/// `EXPLAIN QUERY PLAN` of `sql`, one line per step (parameters left unbound).
fn plan(conn: &Connection, sql: &str) -> String {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
    let mut rows = stmt.raw_query();
    let mut lines = Vec::new();
    while let Some(r) = rows.next().unwrap() {
        lines.push(r.get::<_, String>(3).unwrap());
    }
    lines.join("\n")
}

/// Whether a step of `plan` reads all of incidents or alerts (by name or by the aliases the
/// statements use).
fn scans_a_table(plan: &str) -> bool {
    plan.lines().any(|l| {
        let l = l.trim_start();
        ["incidents", "alerts", "deliveries", "i", "a", "d"]
            .iter()
            .any(|t| {
                l.strip_prefix("SCAN ")
                    .and_then(|rest| rest.strip_prefix(t))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            })
    })
}

fn migrated() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    super::migrate::apply(&mut conn).unwrap();
    conn
}

#[test]
fn lookups_by_id_use_an_index() {
    let conn = migrated();
    let by_workspace = [
        ingest::TOUCH_INCIDENT.to_string(),
        ingest::JOINED_INCIDENT.to_string(),
        ingest::JOIN_INCIDENT.to_string(),
        ingest::OPEN_ALERT.to_string(),
        ingest::ALERT_STATES.to_string(),
        ingest::SET_INCIDENT_STATUS.to_string(),
        outbox::INCIDENT_WEBHOOK.to_string(),
        outbox::incident_row_sql(),
        read::incident_row_sql(),
    ];
    for sql in &by_workspace {
        let plan = plan(&conn, sql);
        assert!(!scans_a_table(&plan), "{sql}\n{plan}");
        assert!(
            plan.contains("incidents_workspace (workspace_id=? AND id=?)"),
            "{sql}\n{plan}"
        );
    }
    let others = [
        ingest::TOUCH_ALERT.to_string(),
        ingest::TRANSITION_ALERT.to_string(),
        outbox::context_alerts_sql(),
        retention::DOOMED.to_string(),
        retention::DELETE_INCIDENTS.to_string(),
        retention::PURGE_DELIVERIES.to_string(),
    ]
    .into_iter()
    .chain(retention::DELETES.iter().map(|s| s.to_string()));
    for sql in others {
        let plan = plan(&conn, &sql);
        assert!(!scans_a_table(&plan), "{sql}\n{plan}");
    }
}

#[test]
fn the_check_sees_a_scan() {
    let conn = migrated();
    for sql in [
        "SELECT status FROM incidents WHERE id = ?1",
        "SELECT a.status FROM alerts a WHERE a.id = ?1",
        "DELETE FROM deliveries WHERE id < ?1",
    ] {
        let steps = plan(&conn, sql);
        assert!(scans_a_table(&steps), "{sql}\n{steps}");
    }
}
