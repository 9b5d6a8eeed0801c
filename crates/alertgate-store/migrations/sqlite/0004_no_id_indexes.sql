-- Incidents, alerts and delivery-log rows lose the index SQLite kept for their text primary
-- keys. Every lookup of an incident by id also names its workspace, every lookup of an alert by
-- id its incident (or uses the rowid), and delivery-log rows are read and purged per webhook, so
-- `incidents_workspace (workspace_id, id)`, `alerts_incident (incident_id, id)` and
-- `deliveries_webhook (webhook_id, id)` already find them; each primary-key index was one more
-- B-tree written by every new alert, incident and delivery in the single writer's transaction,
-- with a text key compared at every level. Ids stay unique as they are made (80 random bits
-- each). SQLite cannot drop a primary key, so the three tables are rebuilt, keeping their rowids
-- (the in-memory map of unresolved alerts, rebuilt at start, refers to alerts by rowid).

CREATE TABLE incidents_v4 (
    id                     TEXT NOT NULL,
    workspace_id           TEXT NOT NULL,
    webhook_id             TEXT NOT NULL,
    platform               TEXT NOT NULL,      -- the first alert's platform id
    title                  TEXT NOT NULL,
    description            TEXT,
    source_url             TEXT,
    severity               TEXT NOT NULL,      -- the highest of its alerts'
    status                 TEXT NOT NULL,      -- open | acknowledged | resolved
    services               TEXT NOT NULL,      -- JSON array, union of its alerts'
    alert_count            INTEGER NOT NULL,
    correlated_alert_count INTEGER NOT NULL,
    occurrence_count       INTEGER NOT NULL,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    last_alert_at          INTEGER NOT NULL,   -- last alert created, deduplicated or correlated into it
    acknowledged_at        INTEGER,
    resolved_at            INTEGER
);
INSERT INTO incidents_v4 (rowid, id, workspace_id, webhook_id, platform, title, description,
        source_url, severity, status, services, alert_count, correlated_alert_count,
        occurrence_count, created_at, updated_at, last_alert_at, acknowledged_at, resolved_at)
    SELECT rowid, id, workspace_id, webhook_id, platform, title, description,
        source_url, severity, status, services, alert_count, correlated_alert_count,
        occurrence_count, created_at, updated_at, last_alert_at, acknowledged_at, resolved_at
    FROM incidents ORDER BY rowid;
DROP TABLE incidents;
ALTER TABLE incidents_v4 RENAME TO incidents;
-- The workspace's incidents by id (lists), and an incident by workspace and id (every lookup).
CREATE INDEX incidents_workspace ON incidents (workspace_id, id);
CREATE INDEX incidents_open ON incidents (workspace_id, last_alert_at) WHERE status <> 'resolved';
CREATE INDEX incidents_open_webhook ON incidents (webhook_id, last_alert_at) WHERE status <> 'resolved';
CREATE INDEX incidents_resolved ON incidents (resolved_at) WHERE status = 'resolved';

CREATE TABLE alerts_v4 (
    id               TEXT NOT NULL,
    incident_id      TEXT NOT NULL,
    webhook_id       TEXT NOT NULL,
    dedup_key        TEXT NOT NULL,
    status           TEXT NOT NULL,      -- firing | acknowledged | resolved
    title            TEXT NOT NULL,
    description      TEXT,
    severity         TEXT NOT NULL,
    raw_severity     TEXT,
    services         TEXT NOT NULL,      -- JSON array
    source_url       TEXT,
    occurrence_count INTEGER NOT NULL,
    first_seen_at    INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    resolved_at      INTEGER,
    decision         TEXT NOT NULL,      -- JSON Decision
    delivery_id      TEXT NOT NULL,
    payload          TEXT NOT NULL,      -- JSON
    identity         INTEGER             -- see 0003
);
INSERT INTO alerts_v4 (rowid, id, incident_id, webhook_id, dedup_key, status, title, description,
        severity, raw_severity, services, source_url, occurrence_count, first_seen_at,
        last_seen_at, resolved_at, decision, delivery_id, payload, identity)
    SELECT rowid, id, incident_id, webhook_id, dedup_key, status, title, description,
        severity, raw_severity, services, source_url, occurrence_count, first_seen_at,
        last_seen_at, resolved_at, decision, delivery_id, payload, identity
    FROM alerts ORDER BY rowid;
DROP TABLE alerts;
ALTER TABLE alerts_v4 RENAME TO alerts;
-- An incident's alerts in id order, and an alert by incident and id (every lookup by id).
CREATE INDEX alerts_incident ON alerts (incident_id, id);
CREATE INDEX alerts_open ON alerts (first_seen_at, identity, status) WHERE status <> 'resolved';

CREATE TABLE deliveries_v4 (
    id            TEXT NOT NULL,
    webhook_id    TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    source_addr   TEXT,
    method        TEXT NOT NULL,
    headers       TEXT NOT NULL,         -- JSON [[name, value], …], redacted
    body          TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    accepted      INTEGER NOT NULL,      -- 1 when 2xx
    error         TEXT,                  -- JSON DeliveryError
    extracted     TEXT,                  -- JSON
    warnings      TEXT NOT NULL,         -- JSON array
    results       TEXT NOT NULL,         -- JSON array of AlertOutcome
    latency_us    INTEGER NOT NULL
);
INSERT INTO deliveries_v4 (rowid, id, webhook_id, workspace_id, received_at, source_addr, method,
        headers, body, status_code, outcome, accepted, error, extracted, warnings, results,
        latency_us)
    SELECT rowid, id, webhook_id, workspace_id, received_at, source_addr, method,
        headers, body, status_code, outcome, accepted, error, extracted, warnings, results,
        latency_us
    FROM deliveries ORDER BY rowid;
DROP TABLE deliveries;
ALTER TABLE deliveries_v4 RENAME TO deliveries;
-- A webhook's delivery log by id (lists, and retention webhook by webhook).
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);
