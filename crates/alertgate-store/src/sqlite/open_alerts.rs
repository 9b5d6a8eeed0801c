//! The unresolved alerts by identity (webhook + dedup key), in memory, for deduplication.
//!
//! Every incoming alert asks "is an alert with this identity still open?". On disk that needed an
//! index keyed by the identity — effectively random — so every new alert dirtied one random
//! index page, written to the WAL and again by the checkpoint: ~6 KB per alert, a fifth of what
//! intake wrote. Instead the writer keeps this map, and the table keeps each alert's `identity`
//! (the first 8 bytes of SHA-256 over webhook id and key) with an index of the unresolved alerts
//! in arrival order (`alerts_open`), which only ever grows at its end; the map is rebuilt from
//! that index when the store opens (start-up with ~2 million unresolved alerts: 0.5 s). It costs
//! ~17–29 bytes of memory per unresolved alert.
//!
//! The map holds `(identity, rowid)` pairs and is only a hint: [`super::ingest`] reads each
//! candidate row and checks its webhook, key and status, so a hash collision, a row resolved by
//! a person, or a rowid reused after retention can only cost a lookup, never a wrong answer. It
//! changes only when a transaction commits ([`Changes`] collects what a transaction did; a
//! rolled-back one leaves the map as it was). Only the writer's connection writes alerts, and the
//! store holds a lock on the database file's companion `.lock` file, so no other process adds
//! alerts the map would not know of.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use crate::Result;

/// The identity hash stored in `alerts.identity`.
pub(crate) fn identity(webhook_id: &str, dedup_key: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(webhook_id.as_bytes());
    h.update([0]);
    h.update(dedup_key.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(first)
}

/// The rebuild's query (see [`OpenAlerts::load`]).
const LOAD: &str = "SELECT identity, rowid FROM alerts WHERE status <> 'resolved'";

fn all_rows(identity: i64) -> RangeInclusive<(i64, i64)> {
    (identity, i64::MIN)..=(identity, i64::MAX)
}

#[derive(Debug, Default)]
pub(crate) struct OpenAlerts {
    set: BTreeSet<(i64, i64)>,
}

impl OpenAlerts {
    /// Every unresolved alert, from the `alerts_open` index (a covering scan, no table reads).
    pub(crate) fn load(conn: &Connection) -> Result<Self> {
        let mut stmt = conn.prepare(LOAD)?;
        let set = stmt
            .query_map([], |r| {
                Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, i64>(1)?))
            })?
            .filter_map(|r| match r {
                Ok((Some(identity), rowid)) => Some(Ok((identity, rowid))),
                // Migration 0003 fills in every unresolved alert's identity; a row without one
                // cannot be found by dedup and is skipped.
                Ok((None, _)) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<rusqlite::Result<BTreeSet<_>>>()?;
        Ok(Self { set })
    }

    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }

    /// The rows that may hold an unresolved alert with this identity, as `changes` leaves them.
    pub(crate) fn candidates(&self, changes: &Changes, identity: i64) -> Vec<i64> {
        let mut rows: Vec<i64> = self
            .set
            .range(all_rows(identity))
            .chain(changes.added.range(all_rows(identity)))
            .filter(|e| !changes.removed.contains(e))
            .map(|&(_, rowid)| rowid)
            .collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// What a committed transaction did.
    pub(crate) fn apply(&mut self, changes: Changes) {
        for e in &changes.removed {
            self.set.remove(e);
        }
        self.set.extend(changes.added);
    }
}

/// What one transaction did to the unresolved alerts: applied to [`OpenAlerts`] once it commits.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    added: BTreeSet<(i64, i64)>,
    removed: BTreeSet<(i64, i64)>,
}

impl Changes {
    /// An unresolved alert was written.
    pub(crate) fn opened(&mut self, identity: i64, rowid: i64) {
        self.removed.remove(&(identity, rowid));
        self.added.insert((identity, rowid));
    }

    /// The alert was resolved, or the row no longer holds an unresolved alert of this identity.
    pub(crate) fn closed(&mut self, identity: i64, rowid: i64) {
        self.added.remove(&(identity, rowid));
        self.removed.insert((identity, rowid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_separate_webhooks_and_keys() {
        let a = identity("whk_1", "key");
        assert_eq!(a, identity("whk_1", "key"));
        assert_ne!(a, identity("whk_2", "key"));
        assert_ne!(a, identity("whk_1", "key2"));
        // The separator keeps "ab" + "c" apart from "a" + "bc".
        assert_ne!(identity("ab", "c"), identity("a", "bc"));
    }

    #[test]
    fn a_transaction_sees_its_own_changes_and_the_map_only_committed_ones() {
        let mut open = OpenAlerts::default();
        let mut tx = Changes::default();
        tx.opened(7, 1);
        tx.opened(7, 2);
        tx.opened(8, 3);
        assert_eq!(open.candidates(&tx, 7), vec![1, 2]);
        assert!(open.candidates(&Changes::default(), 7).is_empty());
        open.apply(tx);
        assert_eq!(open.len(), 3);

        let mut tx = Changes::default();
        tx.closed(7, 1);
        assert_eq!(open.candidates(&tx, 7), vec![2]);
        // Rolled back: dropped, not applied.
        drop(tx);
        assert_eq!(open.candidates(&Changes::default(), 7), vec![1, 2]);

        let mut tx = Changes::default();
        tx.closed(7, 1);
        tx.opened(7, 4);
        open.apply(tx);
        assert_eq!(open.candidates(&Changes::default(), 7), vec![2, 4]);
        assert_eq!(open.candidates(&Changes::default(), 8), vec![3]);
        assert_eq!(open.len(), 3);
    }

    /// The map is rebuilt at start from an index of the unresolved alerts alone, read without
    /// touching the table (with a million open alerts, a table scan would read gigabytes).
    #[test]
    fn the_rebuild_reads_one_covering_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate::apply(&mut conn).unwrap();
        let plan: String = conn
            .query_row(&format!("EXPLAIN QUERY PLAN {LOAD}"), [], |r| r.get(3))
            .unwrap();
        assert!(plan.contains("USING COVERING INDEX alerts_open"), "{plan}");
    }

    #[test]
    fn opening_after_closing_in_one_transaction_keeps_the_row() {
        let mut open = OpenAlerts::default();
        let mut tx = Changes::default();
        tx.opened(5, 9);
        open.apply(tx);
        let mut tx = Changes::default();
        tx.closed(5, 9); // e.g. the rowid was freed by retention…
        tx.opened(5, 9); // …and reused in the same transaction
        open.apply(tx);
        assert_eq!(open.candidates(&Changes::default(), 5), vec![9]);
    }
}
