-- Deduplication finds unresolved alerts by identity in memory (sqlite/open_alerts.rs) instead of
-- through an index keyed by (webhook_id, dedup_key), whose random order dirtied one page per new
-- alert. Each alert keeps its identity hash, and the unresolved ones are indexed in arrival order
-- (appended at the end; with the status, so that the index covers the rebuild's query) so the
-- map can be rebuilt at start by one covering scan. The identities
-- of alerts already unresolved are filled in by the migration step that follows this script.
ALTER TABLE alerts ADD COLUMN identity INTEGER;
DROP INDEX alerts_open_identity;
CREATE INDEX alerts_open ON alerts (first_seen_at, identity, status) WHERE status <> 'resolved';
