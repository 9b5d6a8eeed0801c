//! What the store takes in and gives back.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

use alertgate_core::correlation::{self, CompiledCorrelation};
use serde_json::Value;

use alertgate_core::alert::{AlertOutcome, Decision, NormalizedAlert};
use alertgate_core::ids::{AlertId, DeliveryId, IncidentId, WebhookId, WorkspaceId};
use alertgate_core::limits::Warning;
use alertgate_core::webhook::DedupWindow;
use alertgate_core::{AlertStatus, IncidentStatus, Severity, Timestamp};

/// One request received on an intake URL, as the delivery log records it.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub received_at: Timestamp,
    pub source_addr: Option<String>,
    pub method: String,
    /// Redacted before it gets here.
    pub headers: Vec<(String, String)>,
    /// The body as received (lossy UTF-8), bounded by the intake limit.
    pub body: String,
    /// For a refused request: its status, error code and message.
    pub error: Option<DeliveryError>,
    /// What the mapping extracted, per alert.
    pub extracted: Option<Value>,
    pub warnings: Vec<Warning>,
    /// Microseconds from receiving the request to handing it to the writer.
    pub latency_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeliveryError {
    pub status_code: u16,
    pub code: String,
    pub message: String,
}

/// The webhook-level context triage needs.
#[derive(Debug, Clone)]
pub struct WebhookContext {
    pub id: WebhookId,
    pub workspace_id: WorkspaceId,
    /// The webhook's platform id (the alerts' `source` for correlation).
    pub platform: &'static str,
    pub dedup_window: DedupWindow,
    /// The webhook's correlation settings, compiled.
    pub correlation: Arc<CompiledCorrelation>,
    /// The workspace's correlation settings, compiled.
    pub workspace_correlation: Arc<CompiledCorrelation>,
}

/// One unit of work for [`crate::Store::ingest`]: a delivery and the alerts it carried (none when
/// it was refused). Made with [`IngestItem::new`].
#[derive(Debug, Clone)]
pub struct IngestItem {
    pub(crate) webhook: WebhookContext,
    pub(crate) delivery: NewDelivery,
    pub(crate) alerts: Vec<NormalizedAlert>,
    /// Derived from `delivery` and `alerts` by [`IngestItem::new`], so those are not changed after
    /// (except for the parsed documents it drops once they are encoded, and the body it moves
    /// here).
    pub(crate) encoded: Encoded,
}

/// The item's JSON columns as text, serialized by whoever makes the item (a request's task, in
/// parallel with the others) instead of by the node's single writer, whose thread every
/// delivery waits on: serializing alert payloads was a sixth of the writer's time with
/// 100-alert batches. The large ones are in the form their engine stores them ([`ColumnForm`]).
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub headers: String,
    pub error: Option<String>,
    /// The request body (moved out of the delivery).
    pub body: Column,
    pub extracted: Option<Column>,
    pub warnings: String,
    /// One per alert, in order.
    pub alerts: Vec<EncodedAlert>,
}

#[derive(Debug, Clone)]
pub(crate) struct EncodedAlert {
    pub payload: Column,
    pub services: String,
    /// For SQLite ([`ColumnForm::Packed`]): the alert's identity hash (`alerts.identity`, a
    /// SHA-256 of its webhook and dedup key), hashed here rather than by the writer.
    pub identity: Option<i64>,
}

/// The form in which an engine stores the large text columns (request bodies, what the mapping
/// extracted, alert payloads), so that whoever makes an [`IngestItem`] puts them in that form
/// instead of the node's single writer: packing them there was a seventh of the SQLite writer's
/// time with 100-alert batches. [`crate::Store::column_form`] says which; an item made in another
/// form is stored all the same (the writer converts it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColumnForm {
    /// The text itself (PostgreSQL, which compresses large values on its own).
    #[default]
    Text,
    /// SQLite's: LZ4-compressed where that pays, else the text (`sqlite::packed`).
    Packed,
}

/// One large text column of an item, in the [`ColumnForm`] it was made for.
#[derive(Debug, Clone)]
pub(crate) enum Column {
    Text(String),
    /// As `sqlite::packed::pack` stores it.
    Packed(rusqlite::types::Value),
}

impl Column {
    fn new(text: String, form: ColumnForm) -> Self {
        match form {
            ColumnForm::Text => Column::Text(text),
            ColumnForm::Packed => Column::Packed(crate::sqlite::packed::pack_owned(text)),
        }
    }

    /// The text (unpacked, when it was packed).
    pub(crate) fn text(&self) -> crate::Result<Cow<'_, str>> {
        match self {
            Column::Text(t) => Ok(Cow::Borrowed(t)),
            Column::Packed(v) => crate::sqlite::packed::unpack(v.into()).map(Cow::Owned),
        }
    }
}

impl IngestItem {
    /// Encode the item's JSON columns. The parsed documents the writer will not read are freed
    /// here, by the request's task while they are still in its cache, rather than after the
    /// commit (that was a tenth of the server's CPU with 100-alert batches): the mapping's
    /// extraction, and the alerts' payloads unless correlation may compare them with other
    /// alerts (they are stored as encoded text either way). `form`: the store's
    /// ([`crate::Store::column_form`]).
    pub fn new(
        webhook: WebhookContext,
        mut delivery: NewDelivery,
        mut alerts: Vec<NormalizedAlert>,
        form: ColumnForm,
    ) -> crate::Result<Self> {
        let large = |text| Column::new(text, form);
        let webhook_id = (form == ColumnForm::Packed).then(|| webhook.id.to_string());
        let encoded = Encoded {
            headers: json_text(&delivery.headers)?,
            error: delivery.error.as_ref().map(json_text).transpose()?,
            body: large(std::mem::take(&mut delivery.body)),
            extracted: delivery
                .extracted
                .take()
                .map(|e| json_text(&e).map(large))
                .transpose()?,
            warnings: json_text(&delivery.warnings)?,
            alerts: alerts
                .iter()
                .map(|a| {
                    Ok(EncodedAlert {
                        payload: large(json_text(&a.payload)?),
                        services: json_text(&a.services)?,
                        identity: webhook_id
                            .as_deref()
                            .map(|w| crate::sqlite::identity(w, &a.dedup_key)),
                    })
                })
                .collect::<crate::Result<_>>()?,
        };
        if !correlation::may_correlate(&webhook.correlation, &webhook.workspace_correlation) {
            for a in &mut alerts {
                a.payload = Value::Null;
            }
        }
        Ok(IngestItem {
            webhook,
            delivery,
            alerts,
            encoded,
        })
    }

    /// Each alert with its encoded columns.
    pub(crate) fn encoded_alerts(&self) -> impl Iterator<Item = (&NormalizedAlert, &EncodedAlert)> {
        self.alerts.iter().zip(&self.encoded.alerts)
    }
}

/// A value as the JSON text a column holds (both engines).
pub(crate) fn json_text<T: Serialize + ?Sized>(v: &T) -> crate::Result<String> {
    serde_json::to_string(v).map_err(|e| crate::StoreError::Corrupt(e.to_string()))
}

/// What happened to one [`IngestItem`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestResult {
    pub delivery_id: DeliveryId,
    pub status_code: u16,
    pub outcomes: Vec<AlertOutcome>,
}

/// A page of a list, newest first, with the cursor for the next page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: IncidentId,
    pub workspace_id: WorkspaceId,
    pub webhook_id: WebhookId,
    /// The platform id of the webhook that opened it.
    pub platform: String,
    pub title: String,
    pub description: Option<String>,
    pub source_url: Option<String>,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub services: Vec<String>,
    pub alert_count: i64,
    /// Alerts that joined by correlation (not the one that opened it).
    pub correlated_alert_count: i64,
    pub occurrence_count: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_alert_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: AlertId,
    pub incident_id: IncidentId,
    pub webhook_id: WebhookId,
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    pub raw_severity: Option<String>,
    pub services: Vec<String>,
    pub status: AlertStatus,
    pub dedup_key: String,
    pub source_url: Option<String>,
    pub occurrence_count: i64,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Why this alert was placed in its incident.
    pub decision: Decision,
    pub delivery_id: DeliveryId,
    pub payload: Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    pub alerts: Vec<Alert>,
    /// State changes, oldest first (creation is `created_at`).
    pub timeline: Vec<IncidentEvent>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentEvent {
    pub at: Timestamp,
    /// `acknowledged`, `resolved`, `reopened`, `alert_correlated`, `severity_raised`.
    pub kind: String,
    /// `source` (a platform's event) or `api` (a person or a script).
    pub actor: String,
    pub detail: Value,
}

/// What a person (or script) does to an incident through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentAction {
    Acknowledge,
    Resolve,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub received_at: Timestamp,
    pub source_addr: Option<String>,
    pub method: String,
    /// `[name, value]` pairs, credentials redacted.
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub status_code: u16,
    /// `created`, `deduplicated`, `resolved`, … for accepted requests; the error code otherwise.
    pub outcome: String,
    pub error: Option<DeliveryError>,
    pub extracted: Option<Value>,
    pub warnings: Vec<Warning>,
    pub results: Vec<AlertOutcome>,
    pub latency_us: i64,
}

/// Filters for the incident list. `limit` is clamped to 1..=200.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub workspace: Option<WorkspaceId>,
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    pub webhook: Option<WebhookId>,
    pub service: Option<String>,
    /// Case-insensitive substring of the title.
    pub search: Option<String>,
    /// Return incidents older than this one.
    pub before: Option<IncidentId>,
    pub limit: u32,
}

/// Filters for a webhook's delivery log. `limit` is clamped to 1..=200.
#[derive(Debug, Clone)]
pub struct DeliveryQuery {
    pub webhook: WebhookId,
    /// `accepted`, `rejected`, or an exact outcome word.
    pub outcome: Option<String>,
    pub before: Option<DeliveryId>,
    pub limit: u32,
}

pub(crate) fn clamp_limit(limit: u32) -> u32 {
    limit.clamp(1, 200)
}

/// What an API key (or a session made with one) may do. Ordered: each role can do what the ones
/// before it can.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Responder,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "responder" => Some(Role::Responder),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub role: Role,
    /// The first characters of the key, to tell keys apart.
    pub key_prefix: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A new API key as stored (the key itself only as its hash).
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub role: Role,
    pub key_hash: String,
    pub key_prefix: String,
    pub created_at: Timestamp,
}

/// A web UI session.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub workspace_id: WorkspaceId,
    pub role: Role,
    pub api_key_id: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use alertgate_core::correlation::CorrelationSettings;

    use super::*;

    fn item(webhook: CorrelationSettings, workspace: CorrelationSettings) -> IngestItem {
        let now = Timestamp::from_millis(1_790_000_000_000);
        let ctx = WebhookContext {
            id: WebhookId::new(now, 1),
            workspace_id: WorkspaceId::new(now, 2),
            platform: "generic",
            dedup_window: DedupWindow::DEFAULT,
            correlation: Arc::new(webhook.compile().unwrap()),
            workspace_correlation: Arc::new(workspace.compile().unwrap()),
        };
        let delivery = NewDelivery {
            id: DeliveryId::new(now, 3),
            received_at: now,
            source_addr: None,
            method: "POST".into(),
            headers: Vec::new(),
            body: payload().to_string(),
            error: None,
            extracted: Some(json!({"title": "disk full"})),
            warnings: Vec::new(),
            latency_us: 1,
        };
        let alert = NormalizedAlert {
            title: "disk full".into(),
            description: None,
            severity: Severity::High,
            raw_severity: None,
            services: vec!["db".into()],
            status: AlertStatus::Firing,
            dedup_key: "k".into(),
            dedup_key_custom: false,
            source_url: None,
            payload: payload(),
        };
        IngestItem::new(ctx, delivery, vec![alert], ColumnForm::Text).unwrap()
    }

    fn payload() -> Value {
        json!({"title": "disk full", "labels": {"cluster": "eu-1"}})
    }

    fn settings(v: serde_json::Value) -> CorrelationSettings {
        serde_json::from_value(v).unwrap()
    }

    /// The writer gets every column encoded; of the parsed documents it keeps an alert's payload
    /// only where correlation may compare it with other alerts' (the webhook's own correlation in
    /// any mode, or the workspace's rules).
    #[test]
    fn an_items_documents_are_kept_only_where_correlation_reads_them() {
        let off = CorrelationSettings::default;
        let cases = [
            (off(), off(), false),
            (settings(json!({"enable_correlation": true})), off(), true),
            (
                off(),
                settings(
                    json!({"enable_correlation": true, "correlation_rules": {"enabled": true,
                    "rules": [{"name": "cluster", "weight": 1.0, "conditions":
                        {"field": "labels.cluster", "operator": "exists"}}]}}),
                ),
                true,
            ),
        ];
        for (webhook, workspace, kept) in cases {
            let item = item(webhook, workspace);
            let (alert, encoded) = item.encoded_alerts().next().unwrap();
            assert_eq!(
                serde_json::from_str::<Value>(&encoded.payload.text().unwrap()).unwrap(),
                payload()
            );
            let extracted = item.encoded.extracted.as_ref().map(|e| e.text().unwrap());
            assert_eq!(extracted.as_deref(), Some(r#"{"title":"disk full"}"#));
            assert_eq!(item.delivery.extracted, None);
            let expected = if kept { payload() } else { Value::Null };
            assert_eq!(alert.payload, expected, "kept: {kept}");
        }
    }

    /// Made for SQLite, the large columns leave the request's task packed (a long one
    /// compressed), and read back as the same text.
    #[test]
    fn an_item_made_for_sqlite_carries_its_large_columns_packed() {
        use rusqlite::types::Value as Sql;
        let long = "disk full on every node of the pool; ".repeat(20);
        let column = Column::new(long.clone(), ColumnForm::Packed);
        assert!(
            matches!(&column, Column::Packed(Sql::Blob(_))),
            "{column:?}"
        );
        assert_eq!(column.text().unwrap(), long);
        let short = Column::new("{}".into(), ColumnForm::Packed);
        assert!(matches!(&short, Column::Packed(Sql::Text(t)) if t == "{}"));
        assert!(
            matches!(Column::new(long.clone(), ColumnForm::Text), Column::Text(t) if t == long)
        );

        let mut item = item(
            CorrelationSettings::default(),
            CorrelationSettings::default(),
        );
        item.delivery.body = long.clone();
        let item =
            IngestItem::new(item.webhook, item.delivery, item.alerts, ColumnForm::Packed).unwrap();
        assert!(matches!(item.encoded.body, Column::Packed(Sql::Blob(_))));
        assert_eq!(item.encoded.body.text().unwrap(), long);
        assert!(item.delivery.body.is_empty(), "moved, not copied");
        assert!(matches!(item.encoded.alerts[0].payload, Column::Packed(_)));
        // …and with each alert's identity hash, as the writer would compute it.
        let webhook = item.webhook.id.to_string();
        assert_eq!(
            item.encoded.alerts[0].identity,
            Some(crate::sqlite::identity(&webhook, &item.alerts[0].dedup_key))
        );
        let text = IngestItem::new(
            item.webhook.clone(),
            item.delivery.clone(),
            item.alerts.clone(),
            ColumnForm::Text,
        )
        .unwrap();
        assert_eq!(
            text.encoded.alerts[0].identity, None,
            "PostgreSQL has no use for it"
        );
    }
}
