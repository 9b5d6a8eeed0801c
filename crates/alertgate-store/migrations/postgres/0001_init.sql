-- alertgate PostgreSQL schema, version 1: the same tables and meaning as migrations/sqlite/0001_init.sql.
-- Ids are prefixed ULIDs compared byte-wise (COLLATE "C"), so ordering by id is ordering by
-- creation time whatever the database's locale. Times are Unix milliseconds (BIGINT). JSON is
-- kept as text, exactly as serialized (as on SQLite, so both engines read back the same values).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE webhooks (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL,
    token        TEXT NOT NULL UNIQUE,
    config       TEXT NOT NULL,          -- the whole Webhook as JSON, secrets encrypted
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id, id);

CREATE TABLE incidents (
    id                     TEXT COLLATE "C" PRIMARY KEY,
    workspace_id           TEXT COLLATE "C" NOT NULL,
    webhook_id             TEXT COLLATE "C" NOT NULL,
    platform               TEXT NOT NULL,
    title                  TEXT NOT NULL,
    description            TEXT,
    source_url             TEXT,
    severity               TEXT NOT NULL,
    status                 TEXT NOT NULL,      -- open | acknowledged | resolved
    services               TEXT NOT NULL,      -- JSON array
    alert_count            BIGINT NOT NULL,
    correlated_alert_count BIGINT NOT NULL,
    occurrence_count       BIGINT NOT NULL,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    last_alert_at          BIGINT NOT NULL,
    acknowledged_at        BIGINT,
    resolved_at            BIGINT
);
CREATE INDEX incidents_workspace ON incidents (workspace_id, id);
CREATE INDEX incidents_open ON incidents (workspace_id, last_alert_at) WHERE status <> 'resolved';
-- …and, for webhook-scoped correlation, the recent unresolved incidents of one webhook.
CREATE INDEX incidents_open_webhook ON incidents (webhook_id, last_alert_at) WHERE status <> 'resolved';
-- Retention finds incidents resolved before a cutoff; only resolved ones are indexed.
CREATE INDEX incidents_resolved ON incidents (resolved_at) WHERE status = 'resolved';

CREATE TABLE incident_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT COLLATE "C" NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, at, seq);

CREATE TABLE alerts (
    id               TEXT COLLATE "C" PRIMARY KEY,
    incident_id      TEXT COLLATE "C" NOT NULL,
    webhook_id       TEXT COLLATE "C" NOT NULL,
    dedup_key        TEXT NOT NULL,
    status           TEXT NOT NULL,      -- firing | acknowledged | resolved
    title            TEXT NOT NULL,
    description      TEXT,
    severity         TEXT NOT NULL,
    raw_severity     TEXT,
    services         TEXT NOT NULL,
    source_url       TEXT,
    occurrence_count BIGINT NOT NULL,
    first_seen_at    BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL,
    resolved_at      BIGINT,
    decision         TEXT NOT NULL,
    delivery_id      TEXT COLLATE "C" NOT NULL,
    payload          TEXT NOT NULL
);
CREATE INDEX alerts_open_identity ON alerts (webhook_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_incident ON alerts (incident_id, id);

CREATE TABLE deliveries (
    id            TEXT COLLATE "C" PRIMARY KEY,
    webhook_id    TEXT COLLATE "C" NOT NULL,
    workspace_id  TEXT COLLATE "C" NOT NULL,
    received_at   BIGINT NOT NULL,
    source_addr   TEXT,
    method        TEXT NOT NULL,
    headers       TEXT NOT NULL,
    body          TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    accepted      BOOLEAN NOT NULL,
    error         TEXT,
    extracted     TEXT,
    warnings      TEXT NOT NULL,
    results       TEXT NOT NULL,
    latency_us    BIGINT NOT NULL
);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);

CREATE TABLE workspaces (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO workspaces (id, name, created_at) VALUES ('wks_00000000000000000000000000', 'Default', 0);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    key_prefix   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, id);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL,
    role         TEXT NOT NULL,
    api_key_id   TEXT COLLATE "C",
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_api_key ON sessions (api_key_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Workspace destinations for incident events: one investigation endpoint per workspace and any
-- number of notification channels (generic signed webhooks, Slack-compatible incoming webhooks).
CREATE TABLE destinations (
    id              TEXT COLLATE "C" PRIMARY KEY,
    workspace_id    TEXT COLLATE "C" NOT NULL,
    kind            TEXT NOT NULL,      -- investigation | webhook | slack
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,      -- for Slack a credential, so encrypted like secrets
    secret          TEXT,               -- Standard Webhooks signing secret (whsec_…), encrypted; NULL for Slack
    event_types     TEXT NOT NULL,      -- JSON array of incident.* names
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT,               -- set when alertgate disabled it (410 Gone)
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX destinations_workspace ON destinations (workspace_id, id);
CREATE UNIQUE INDEX destinations_one_investigation ON destinations (workspace_id)
    WHERE kind = 'investigation';

-- The outbox. An event is written in the transaction that changed its incident, with the
-- incident context as it was then; a message is that event owed to one destination.
CREATE TABLE outbox_events (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL,
    incident_id  TEXT COLLATE "C" NOT NULL,
    event_type   TEXT NOT NULL,         -- incident.created | incident.updated | …
    created_at   BIGINT NOT NULL,
    data         TEXT NOT NULL          -- JSON incident context
);

-- Retention deletes an incident's events with it.
CREATE INDEX outbox_events_incident ON outbox_events (incident_id);

CREATE TABLE outbox_messages (
    id               TEXT COLLATE "C" PRIMARY KEY,  -- the webhook-id destinations receive
    event_id         TEXT COLLATE "C" NOT NULL,
    workspace_id     TEXT COLLATE "C" NOT NULL,
    incident_id      TEXT COLLATE "C" NOT NULL,
    destination_id   TEXT COLLATE "C" NOT NULL,
    purpose          TEXT NOT NULL,     -- investigation | notification
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL,     -- pending | delivering | delivered | failed
    attempts         BIGINT NOT NULL,
    budget_start     BIGINT NOT NULL,   -- attempts before the last manual retry
    due_at           BIGINT,            -- pending: next attempt; delivering: lease expiry
    claim_token      TEXT,
    lease_owner      TEXT,
    last_attempt_at  BIGINT,
    last_status_code BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT,
    latency_ms       BIGINT,
    created_at       BIGINT NOT NULL
);
-- What workers claim: due messages, oldest first (FOR UPDATE SKIP LOCKED over this index).
CREATE INDEX outbox_messages_due ON outbox_messages (due_at)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX outbox_messages_incident ON outbox_messages (incident_id, id);
CREATE INDEX outbox_messages_destination ON outbox_messages (destination_id)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX outbox_messages_claim ON outbox_messages (claim_token) WHERE claim_token IS NOT NULL;
-- At most one investigation per incident, whatever happens to it later.
CREATE UNIQUE INDEX outbox_messages_one_investigation ON outbox_messages (incident_id)
    WHERE purpose = 'investigation';

CREATE TABLE outbox_attempts (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  TEXT COLLATE "C" NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX outbox_attempts_message ON outbox_attempts (message_id, attempt);
