-- alertgate embedded schema, version 1.
-- Ids are prefixed ULIDs (text), so ordering by id is ordering by creation time.
-- Times are Unix milliseconds. JSON columns hold arrays/objects as text.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    token        TEXT NOT NULL UNIQUE,
    config       TEXT NOT NULL,          -- the whole Webhook as JSON
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, id);

CREATE TABLE incidents (
    id                     TEXT PRIMARY KEY,
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
CREATE INDEX incidents_workspace ON incidents (workspace_id, id);
-- Correlation looks for recent unresolved incidents of a workspace.
CREATE INDEX incidents_open ON incidents (workspace_id, last_alert_at) WHERE status <> 'resolved';
-- …and, for webhook-scoped correlation, the recent unresolved incidents of one webhook.
CREATE INDEX incidents_open_webhook ON incidents (webhook_id, last_alert_at) WHERE status <> 'resolved';
-- Retention finds incidents resolved before a cutoff; only resolved ones are indexed.
CREATE INDEX incidents_resolved ON incidents (resolved_at) WHERE status = 'resolved';

-- State changes of an incident (its creation is the incident row itself).
CREATE TABLE incident_events (
    incident_id TEXT NOT NULL,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,      -- acknowledged | resolved | reopened | alert_correlated | severity_raised
    actor       TEXT NOT NULL,      -- "source" or "api"
    detail      TEXT NOT NULL       -- JSON
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, at);

CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
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
    payload          TEXT NOT NULL       -- JSON
);
-- Only unresolved alerts are ever looked up by identity, so only they are indexed by it.
CREATE INDEX alerts_open_identity ON alerts (webhook_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_incident ON alerts (incident_id);

CREATE TABLE deliveries (
    id            TEXT PRIMARY KEY,
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
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);

CREATE TABLE workspaces (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
-- Everything created before workspaces existed belongs to the default workspace.
INSERT INTO workspaces (id, name, created_at) VALUES ('wks_00000000000000000000000000', 'Default', 0);

-- API keys are stored as SHA-256 hashes; the key itself is shown once.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,          -- viewer | responder | admin
    key_hash     TEXT NOT NULL UNIQUE,
    key_prefix   TEXT NOT NULL,          -- the first characters, to tell keys apart
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, id);

-- Web UI sessions, by the SHA-256 of the cookie value.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    role         TEXT NOT NULL,
    api_key_id   TEXT,                   -- NULL when signed in with the admin token
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- Workspace destinations for incident events: one investigation endpoint per workspace and any
-- number of notification channels (generic signed webhooks, Slack-compatible incoming webhooks).
CREATE TABLE destinations (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    kind            TEXT NOT NULL,      -- investigation | webhook | slack
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,      -- for Slack a credential, so encrypted like secrets
    secret          TEXT,               -- Standard Webhooks signing secret (whsec_…), encrypted; NULL for Slack
    event_types     TEXT NOT NULL,      -- JSON array of incident.* names
    enabled         INTEGER NOT NULL,
    disabled_reason TEXT,               -- set when alertgate disabled it (410 Gone)
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX destinations_workspace ON destinations (workspace_id, id);
CREATE UNIQUE INDEX destinations_one_investigation ON destinations (workspace_id)
    WHERE kind = 'investigation';

-- The outbox. An event is written in the transaction that changed its incident, with the
-- incident context as it was then; a message is that event owed to one destination.
CREATE TABLE outbox_events (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    incident_id  TEXT NOT NULL,
    event_type   TEXT NOT NULL,         -- incident.created | incident.updated | …
    created_at   INTEGER NOT NULL,
    data         TEXT NOT NULL          -- JSON incident context
);

-- Retention deletes an incident's events with it.
CREATE INDEX outbox_events_incident ON outbox_events (incident_id);

CREATE TABLE outbox_messages (
    id               TEXT PRIMARY KEY,  -- the webhook-id destinations receive
    event_id         TEXT NOT NULL,
    workspace_id     TEXT NOT NULL,
    incident_id      TEXT NOT NULL,
    destination_id   TEXT NOT NULL,
    purpose          TEXT NOT NULL,     -- investigation | notification
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL,     -- pending | delivering | delivered | failed
    attempts         INTEGER NOT NULL,
    budget_start     INTEGER NOT NULL,  -- attempts before the last manual retry
    due_at           INTEGER,           -- pending: next attempt; delivering: lease expiry
    claim_token      TEXT,
    lease_owner      TEXT,
    last_attempt_at  INTEGER,
    last_status_code INTEGER,
    last_error       TEXT,
    delivered_at     INTEGER,
    latency_ms       INTEGER,
    created_at       INTEGER NOT NULL
);
-- What workers claim: due messages, oldest first.
CREATE INDEX outbox_messages_due ON outbox_messages (due_at)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX outbox_messages_incident ON outbox_messages (incident_id, id);
CREATE INDEX outbox_messages_destination ON outbox_messages (destination_id)
    WHERE status IN ('pending', 'delivering');
-- At most one investigation per incident, whatever happens to it later.
CREATE UNIQUE INDEX outbox_messages_one_investigation ON outbox_messages (incident_id)
    WHERE purpose = 'investigation';

CREATE TABLE outbox_attempts (
    message_id  TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX outbox_attempts_message ON outbox_attempts (message_id, attempt);
