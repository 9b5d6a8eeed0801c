//! Persistence behind one trait, [`Store`], so the server never knows which engine it talks to.
//!
//! The write path is [`Store::ingest`]: one call = one transaction = one commit, carrying every
//! request the node's writer collected (group commit). Inside it, each alert is triaged with
//! [`alertgate_core::triage::decide`] against what the transaction sees, so decisions are
//! serialized and see the writes of earlier alerts in the same batch.
//!
//! The same transaction writes the outbox events an incident change owes (see [`outbox`]);
//! workers claim and settle their deliveries through `claim_due_events` / `complete_event`.
//!
//! Everything else (configuration, read models) is ordinary async CRUD.
//!
//! Two engines implement the trait, each owning its migrations (`migrations/<engine>/`):
//! [`sqlite`] (embedded, the default) and [`postgres`] (several nodes on one database; its module
//! docs say how nodes agree). They share the engine-independent rules of the ingest transaction
//! (`lifecycle`) and the sealing of secrets ([`crypto`]); `tests/conformance.rs` runs the same
//! cases against both.

pub mod crypto;
mod lifecycle;
pub mod model;
pub mod outbox;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;

use alertgate_core::ids::{
    DeliveryId, DestinationId, IncidentId, MessageId, WebhookId, WorkspaceId,
};
use alertgate_core::webhook::Webhook;
use alertgate_core::Timestamp;

pub use model::*;
pub use outbox::{
    Attempt, AttemptOutcome, Claim, ClaimedMessage, Destination, MessageStatus, OutboxMessage,
    OutboxStats,
};

/// Resolves when a committed batch is durable (see [`Store::ingest_committed`]).
pub type Durable = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// What can go wrong in storage. The message is for logs, not for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage error: {0}")]
    Other(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection pool's use right now, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open (idle or in use).
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<()>;

    /// The read pool's use now, where the backend has one to report.
    fn pool_state(&self) -> Option<PoolState> {
        None
    }

    /// The form to make [`IngestItem`]s in for this store (see [`ColumnForm`]).
    fn column_form(&self) -> ColumnForm {
        ColumnForm::Text
    }

    // -- settings (server-wide key/value) --
    async fn get_setting(&self, key: &str) -> Result<Option<String>>;
    /// Store `value` unless the key already has one; returns the value in force.
    async fn init_setting(&self, key: &str, value: &str) -> Result<String>;
    async fn put_setting(&self, key: &str, value: &str) -> Result<()>;

    // -- workspaces, API keys, sessions --
    async fn create_workspace(&self, workspace: &Workspace) -> Result<()>;
    async fn list_workspaces(&self) -> Result<Vec<Workspace>>;
    async fn get_workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>>;
    async fn create_api_key(&self, key: &NewApiKey) -> Result<()>;
    async fn list_api_keys(&self, workspace: WorkspaceId) -> Result<Vec<ApiKey>>;
    /// The key with this hash, revoked or not.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>>;
    /// Revoke a key; false when it does not exist in the workspace.
    async fn revoke_api_key(
        &self,
        workspace: WorkspaceId,
        id: &str,
        now: Timestamp,
    ) -> Result<bool>;
    async fn touch_api_key(&self, id: &str, now: Timestamp) -> Result<()>;
    async fn create_session(&self, session: &Session) -> Result<()>;
    /// The live session with this hash (expired or revoked-key sessions are not returned).
    async fn session_by_hash(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    // -- webhooks --
    async fn create_webhook(&self, webhook: &Webhook) -> Result<()>;
    /// Replace a webhook's configuration; false when it does not exist.
    async fn update_webhook(&self, webhook: &Webhook) -> Result<bool>;
    async fn delete_webhook(&self, workspace: WorkspaceId, id: WebhookId) -> Result<bool>;
    async fn get_webhook(&self, workspace: WorkspaceId, id: WebhookId) -> Result<Option<Webhook>>;
    async fn webhook_by_token(&self, token: &str) -> Result<Option<Webhook>>;
    async fn list_webhooks(&self, workspace: WorkspaceId) -> Result<Vec<Webhook>>;

    // -- intake --
    /// Triage and persist a batch of deliveries in one transaction, committed durably before
    /// returning. Results are in the order of `items`.
    async fn ingest(&self, items: Vec<IngestItem>, now: Timestamp) -> Result<Vec<IngestResult>>;

    /// [`Store::ingest`] in two steps, for a writer that starts its next batch while this one is
    /// still being flushed: returns once the batch is committed (later transactions see it), with
    /// a future that resolves once it is durable. Nothing of the batch may be acknowledged before
    /// that future resolves `Ok`; an `Err` means it may not survive a crash of the machine.
    ///
    /// The default commits durably and returns a future that is already done.
    async fn ingest_committed(
        &self,
        items: Vec<IngestItem>,
        now: Timestamp,
    ) -> Result<(Vec<IngestResult>, Durable)> {
        let results = self.ingest(items, now).await?;
        Ok((results, Box::pin(std::future::ready(Ok(())))))
    }

    /// What [`Store::ingest`] would decide for `item` now, without keeping anything: the same
    /// triage (dedup, correlation, lifecycle) runs inside a transaction that is rolled back, so a
    /// preview can never drift from what a real delivery would do. Ids of objects that would be
    /// created are invented and must not be shown; ids of existing incidents and alerts are real.
    /// Used by the webhook Test tab's dry run.
    ///
    /// The default refuses, so an engine that does not implement it yet still builds; the UI then
    /// says that dry runs are unavailable.
    async fn preview_ingest(&self, item: IngestItem, now: Timestamp) -> Result<IngestResult> {
        let _ = (item, now);
        Err(StoreError::Other(
            "this storage engine cannot preview triage".into(),
        ))
    }

    // -- read models --
    async fn list_incidents(&self, query: &IncidentQuery) -> Result<Page<Incident>>;
    async fn get_incident(
        &self,
        workspace: WorkspaceId,
        id: IncidentId,
    ) -> Result<Option<IncidentDetail>>;
    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Page<Delivery>>;

    /// Delete at most `limit` delivery-log rows received before `before` (ids are time-ordered,
    /// so this walks an index on the id: SQLite's per webhook); returns how many went. Retention calls it in small batches
    /// so intake never waits long behind it.
    async fn purge_deliveries(&self, before: DeliveryId, limit: u32) -> Result<u64>;

    /// Delete at most `limit` incidents resolved before `resolved_before` (earliest resolution
    /// first) together with everything that belongs to them: their alerts, timeline entries and
    /// outbox events, messages and attempts. An incident whose events are still owed to a
    /// destination (a message pending or being delivered) is kept until they settle. Returns how
    /// many incidents went. Retention calls it in small batches.
    ///
    /// Resolved is final: no alert deduplicates into, correlates with or reopens a resolved
    /// incident (triage only looks at unresolved ones), so deleting one never changes a later
    /// decision. Delivery-log rows keep naming it in their results until their own retention.
    async fn purge_resolved_incidents(&self, resolved_before: Timestamp, limit: u32)
        -> Result<u64>;

    /// Acknowledge or resolve an incident on a person's behalf, serialized with intake. `None`
    /// when it does not exist in the workspace. Resolving also resolves its open alerts, so a
    /// repeat opens a new incident.
    async fn incident_action(
        &self,
        workspace: WorkspaceId,
        id: IncidentId,
        action: IncidentAction,
        now: Timestamp,
    ) -> Result<Option<Incident>>;

    // -- destinations: where a workspace's incident events go --
    /// `Conflict` when the workspace already has an investigation endpoint.
    async fn create_destination(&self, destination: &Destination) -> Result<()>;
    /// Replace a destination's configuration; false when it does not exist. Disabling it fails
    /// the messages still waiting for it.
    async fn update_destination(&self, destination: &Destination) -> Result<bool>;
    /// Delete it and fail the messages still waiting for it.
    async fn delete_destination(&self, workspace: WorkspaceId, id: DestinationId) -> Result<bool>;
    async fn get_destination(
        &self,
        workspace: WorkspaceId,
        id: DestinationId,
    ) -> Result<Option<Destination>>;
    async fn list_destinations(&self, workspace: WorkspaceId) -> Result<Vec<Destination>>;

    // -- outbox: events are written by `ingest` and `incident_action`, delivered by workers --
    /// Claim up to `limit` messages that are due at `now` (pending, or held by a claim whose
    /// lease expired) for `lease_ms`, oldest due first, counting an attempt for each. A claim
    /// is settled with [`Store::complete_event`]; one that is not (the worker died) lapses when
    /// the lease expires. Messages of a deleted or disabled destination come back with none.
    async fn claim_due_events(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: usize,
        owner: &str,
    ) -> Result<Vec<ClaimedMessage>>;
    /// Record an attempt and settle the message by `outcome`. False when the claim had lapsed
    /// and another worker claimed the message since (the attempt is still recorded).
    async fn complete_event(
        &self,
        claim: &Claim,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> Result<bool>;
    /// The messages an incident's events produced, oldest first, with their latest attempts;
    /// `None` when the incident does not exist in the workspace.
    async fn list_incident_messages(
        &self,
        workspace: WorkspaceId,
        incident: IncidentId,
    ) -> Result<Option<Vec<OutboxMessage>>>;
    /// Send a message again now, with a fresh retry budget (while an attempt is in flight, that
    /// attempt is the re-send). `None` when it does not exist; `Conflict` when its destination
    /// is disabled or deleted.
    async fn retry_message(
        &self,
        workspace: WorkspaceId,
        incident: IncidentId,
        message: MessageId,
        now: Timestamp,
    ) -> Result<Option<OutboxMessage>>;
    async fn outbox_stats(&self, now: Timestamp) -> Result<OutboxStats>;
}
