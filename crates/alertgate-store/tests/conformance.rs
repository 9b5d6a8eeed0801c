//! The storage conformance suite: the same cases, word for word, against SQLite and PostgreSQL.
//! `cases` says what every engine must do; the macro at the bottom runs each case once per
//! engine (`sqlite::…` and `postgres::…`). PostgreSQL needs `ALERTGATE_TEST_DATABASE_URL`; each
//! case gets a fresh database (see alertgate-testdb).

use std::sync::Arc;

use alertgate_store::crypto::SecretCipher;
use alertgate_store::postgres::PostgresStore;
use alertgate_store::sqlite::{SqliteOptions, SqliteStore};
use alertgate_store::Store;
use alertgate_testdb::TestDatabase;

/// One engine under test, able to open a second handle on the same data (as another node, or
/// with another key).
pub enum Subject {
    Sqlite {
        store: Arc<dyn Store>,
        dir: tempfile::TempDir,
    },
    Postgres {
        store: Arc<dyn Store>,
        db: TestDatabase,
    },
}

pub fn cipher() -> SecretCipher {
    SecretCipher::new(&[7; 32])
}

impl Subject {
    pub fn store(&self) -> &dyn Store {
        match self {
            Subject::Sqlite { store, .. } | Subject::Postgres { store, .. } => store.as_ref(),
        }
    }

    /// Another handle on the same database (for reading: an embedded database is served by one).
    pub async fn reopen(&self, cipher: SecretCipher) -> Arc<dyn Store> {
        match self {
            Subject::Sqlite { dir, .. } => {
                let shared = SqliteOptions {
                    shared: true,
                    ..SqliteOptions::default()
                };
                let path = dir.path().join("alertgate.db");
                Arc::new(SqliteStore::open_with(&path, cipher, shared).unwrap())
            }
            Subject::Postgres { db, .. } => {
                Arc::new(PostgresStore::open(&db.url, cipher).await.unwrap())
            }
        }
    }

    /// What `sql` (a query of one integer, without parameters) answers, read straight from the
    /// database rather than through the store.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self {
            Subject::Sqlite { dir, .. } => {
                let c = rusqlite::Connection::open(dir.path().join("alertgate.db")).unwrap();
                c.query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Subject::Postgres { db, .. } => {
                let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client.query_one(sql, &[]).await.unwrap().get(0)
            }
        }
    }

    pub fn sqlite() -> Subject {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(SqliteStore::open(&dir.path().join("alertgate.db"), cipher()).unwrap());
        Subject::Sqlite { store, dir }
    }

    pub async fn postgres(test: &str) -> Option<Subject> {
        let admin = alertgate_testdb::postgres_url_or_skip(test)?;
        let db = TestDatabase::create(&admin).await;
        let store = Arc::new(PostgresStore::open(&db.url, cipher()).await.unwrap());
        Some(Subject::Postgres { store, db })
    }
}

mod cases {
    use std::sync::Arc;

    use serde_json::json;

    use alertgate_core::alert::{Decision, NormalizedAlert};
    use alertgate_core::auth::{AuthMethod, Secret};
    use alertgate_core::correlation::{CompiledCorrelation, CorrelationSettings};
    use alertgate_core::ids::{DeliveryId, DestinationId, IncidentId, WebhookId, WorkspaceId};
    use alertgate_core::mapping::FieldMapping;
    use alertgate_core::outbox::{AutomationSettings, DestinationKind, EventType, Purpose};
    use alertgate_core::webhook::{DedupWindow, Webhook, WebhookName};
    use alertgate_core::{AlertStatus, IncidentStatus, Severity, Timestamp};
    use alertgate_store::crypto::SecretCipher;
    use alertgate_store::*;

    use super::Subject;

    const T0: i64 = 1_800_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(T0 + ms)
    }

    pub fn webhook(ws: WorkspaceId, name: &str) -> Webhook {
        Webhook {
            id: WebhookId::new(at(0), rand::random()),
            workspace_id: ws,
            platform: "generic".into(),
            name: WebhookName::parse(name).unwrap(),
            description: String::new(),
            token: format!("tok_{:032x}", rand::random::<u128>()),
            auth: AuthMethod::Bearer,
            secrets: vec![Secret::new(format!("whsec_{name}_0123456789abcdef"))],
            field_mapping: FieldMapping::default(),
            severity: Default::default(),
            dedup_window_hours: DedupWindow::DEFAULT,
            rate_limit_per_hour: Default::default(),
            correlation: CorrelationSettings::default(),
            automation: AutomationSettings::default(),
            enabled: true,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    pub fn alert(title: &str, severity: Severity, status: AlertStatus) -> NormalizedAlert {
        NormalizedAlert {
            title: title.into(),
            description: Some(format!("about {title}")),
            severity,
            raw_severity: None,
            services: vec!["api".into()],
            status,
            dedup_key: format!("key:{title}"),
            dedup_key_custom: true,
            source_url: None,
            payload: json!({"title": title, "z": 1, "a": [1, 2]}),
        }
    }

    /// A webhook as intake hands it to the store. Items are made in `form`: the store's own
    /// ([`setup`]), or text ([`hook`]), which the store must store all the same.
    pub struct Hook {
        pub ctx: WebhookContext,
        pub form: ColumnForm,
    }

    pub fn hook(w: &Webhook) -> Hook {
        Hook {
            ctx: WebhookContext {
                id: w.id,
                workspace_id: w.workspace_id,
                platform: "generic",
                dedup_window: w.dedup_window_hours,
                correlation: Arc::new(w.correlation.compile().unwrap()),
                workspace_correlation: Arc::new(CompiledCorrelation::off()),
            },
            form: ColumnForm::Text,
        }
    }

    pub fn item(h: &Hook, now: Timestamp, alerts: Vec<NormalizedAlert>) -> IngestItem {
        item_with(h, now, alerts, |_| {})
    }

    /// [`item`] with its delivery changed by `f`.
    pub fn item_with(
        h: &Hook,
        now: Timestamp,
        alerts: Vec<NormalizedAlert>,
        f: impl FnOnce(&mut NewDelivery),
    ) -> IngestItem {
        let mut delivery = NewDelivery {
            id: DeliveryId::new(now, rand::random()),
            received_at: now,
            source_addr: Some("127.0.0.1".into()),
            method: "POST".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: "{}".into(),
            error: None,
            extracted: Some(json!({"n": alerts.len()})),
            warnings: Vec::new(),
            latency_us: 5,
        };
        f(&mut delivery);
        IngestItem::new(h.ctx.clone(), delivery, alerts, h.form).unwrap()
    }

    fn refused(h: &Hook, now: Timestamp, status: u16, code: &str) -> IngestItem {
        item_with(h, now, Vec::new(), |d| {
            d.error = Some(DeliveryError {
                status_code: status,
                code: code.into(),
                message: format!("{code}!"),
            })
        })
    }

    pub async fn one(s: &dyn Store, it: IngestItem, now: Timestamp) -> IngestResult {
        s.ingest(vec![it], now).await.unwrap().remove(0)
    }

    async fn setup(s: &dyn Store) -> (Webhook, Hook) {
        let w = webhook(WorkspaceId::DEFAULT, "prod");
        s.create_webhook(&w).await.unwrap();
        let h = Hook {
            form: s.column_form(),
            ..hook(&w)
        };
        (w, h)
    }

    pub async fn settings_are_set_once_or_replaced(sub: &Subject) {
        let s = sub.store();
        assert_eq!(s.get_setting("k").await.unwrap(), None);
        assert_eq!(s.init_setting("k", "first").await.unwrap(), "first");
        assert_eq!(s.init_setting("k", "second").await.unwrap(), "first");
        s.put_setting("k", "third").await.unwrap();
        assert_eq!(s.get_setting("k").await.unwrap().as_deref(), Some("third"));
        s.ping().await.unwrap();
    }

    pub async fn webhooks_round_trip_with_secrets_encrypted_at_rest(sub: &Subject) {
        let s = sub.store();
        let ws = WorkspaceId::DEFAULT;
        let w = webhook(ws, "prod");
        let other = webhook(ws, "staging");
        s.create_webhook(&w).await.unwrap();
        s.create_webhook(&other).await.unwrap();
        assert_eq!(s.get_webhook(ws, w.id).await.unwrap().as_ref(), Some(&w));
        assert_eq!(
            s.webhook_by_token(&w.token).await.unwrap().as_ref(),
            Some(&w)
        );
        assert_eq!(s.webhook_by_token("nope").await.unwrap(), None);
        let mut ids: Vec<_> = [w.id, other.id].into();
        ids.sort();
        let listed: Vec<_> = s
            .list_webhooks(ws)
            .await
            .unwrap()
            .iter()
            .map(|w| w.id)
            .collect();
        assert_eq!(listed, ids, "ordered by id");
        let elsewhere = WorkspaceId::new(at(0), 9);
        assert!(s.get_webhook(elsewhere, w.id).await.unwrap().is_none());
        assert!(s.list_webhooks(elsewhere).await.unwrap().is_empty());

        let mut changed = w.clone();
        changed.token = format!("tok_{:032x}", rand::random::<u128>());
        changed
            .secrets
            .insert(0, Secret::new("whsec_rotated_0123456789"));
        changed.enabled = false;
        changed.updated_at = at(5);
        assert!(s.update_webhook(&changed).await.unwrap());
        assert_eq!(s.webhook_by_token(&w.token).await.unwrap(), None);
        assert_eq!(
            s.webhook_by_token(&changed.token).await.unwrap().as_ref(),
            Some(&changed)
        );
        let mut moved = changed.clone();
        moved.workspace_id = elsewhere;
        assert!(
            !s.update_webhook(&moved).await.unwrap(),
            "not in that workspace"
        );

        // Another key cannot read the secrets: they are encrypted, bound to the key.
        let stranger = sub.reopen(SecretCipher::new(&[8; 32])).await;
        assert!(matches!(
            stranger.get_webhook(ws, w.id).await,
            Err(StoreError::Corrupt(_))
        ));
        // The same key on another handle (another node) can.
        let twin = sub.reopen(super::cipher()).await;
        assert_eq!(
            twin.get_webhook(ws, w.id).await.unwrap().as_ref(),
            Some(&changed)
        );

        let mut clash = webhook(ws, "clash");
        clash.token = other.token.clone();
        assert!(matches!(
            s.create_webhook(&clash).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(s.delete_webhook(ws, w.id).await.unwrap());
        assert!(!s.delete_webhook(ws, w.id).await.unwrap());
        assert!(s.get_webhook(ws, w.id).await.unwrap().is_none());
    }

    pub async fn repeats_are_deduplicated_within_the_window_only(sub: &Subject) {
        let s = sub.store();
        let (_, h) = setup(s).await;
        let a = || alert("High CPU", Severity::High, AlertStatus::Firing);
        let first = one(s, item(&h, at(0), vec![a()]), at(0)).await;
        assert_eq!(first.status_code, 201);
        assert_eq!(first.outcomes[0].decision, Decision::Created);
        let inc = first.outcomes[0].incident_id.unwrap();
        // One batch: each item sees the decisions of the ones before it.
        let batch = s
            .ingest(
                vec![item(&h, at(HOUR), vec![a()]), item(&h, at(HOUR), vec![a()])],
                at(HOUR),
            )
            .await
            .unwrap();
        assert_eq!(batch[0].status_code, 200);
        assert_eq!(batch[0].outcomes[0].occurrence_count, 2);
        assert_eq!(batch[1].outcomes[0].occurrence_count, 3);
        assert_eq!(batch[1].outcomes[0].incident_id, Some(inc));
        assert!(matches!(
            batch[1].outcomes[0].decision,
            Decision::Deduplicated {
                occurrence_count: 3,
                window_hours: 24,
                ..
            }
        ));
        // The window runs from the last repeat: 25 h after it, a repeat opens a new incident.
        let later = at(HOUR + 25 * HOUR);
        let again = one(s, item(&h, later, vec![a()]), later).await;
        assert_eq!(again.outcomes[0].decision, Decision::Created);
        assert_ne!(again.outcomes[0].incident_id, Some(inc));
        let detail = s
            .get_incident(WorkspaceId::DEFAULT, inc)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.incident.occurrence_count, 3);
        assert_eq!(detail.alerts.len(), 1);
        assert_eq!(detail.alerts[0].occurrence_count, 3);
        assert_eq!(detail.alerts[0].last_seen_at, at(HOUR));
        assert_eq!(
            detail.alerts[0].payload,
            json!({"title": "High CPU", "z": 1, "a": [1, 2]}),
            "the payload reads back as stored"
        );
    }

    pub async fn sources_acknowledge_reopen_and_resolve_incidents(sub: &Subject) {
        let s = sub.store();
        let (_, h) = setup(s).await;
        let ws = WorkspaceId::DEFAULT;
        let fire = |t| alert(t, Severity::High, AlertStatus::Firing);
        let r = one(s, item(&h, at(0), vec![fire("a"), fire("b")]), at(0)).await;
        assert_eq!(r.status_code, 201);
        let inc_a = r.outcomes[0].incident_id.unwrap();
        let ack = one(
            s,
            item(
                &h,
                at(1),
                vec![alert("a", Severity::High, AlertStatus::Acknowledged)],
            ),
            at(1),
        )
        .await;
        assert!(matches!(
            ack.outcomes[0].decision,
            Decision::StatusChanged {
                to: AlertStatus::Acknowledged,
                ..
            }
        ));
        let get = |id| async move { s.get_incident(ws, id).await.unwrap().unwrap() };
        assert_eq!(
            get(inc_a).await.incident.status,
            IncidentStatus::Acknowledged
        );
        assert_eq!(get(inc_a).await.incident.acknowledged_at, Some(at(1)));
        // Firing again after an acknowledgement at the source: back to open.
        one(s, item(&h, at(2), vec![fire("a")]), at(2)).await;
        assert_eq!(get(inc_a).await.incident.status, IncidentStatus::Open);
        let res = one(
            s,
            item(
                &h,
                at(3),
                vec![alert("a", Severity::High, AlertStatus::Resolved)],
            ),
            at(3),
        )
        .await;
        assert_eq!(res.outcomes[0].status, "resolved");
        let done = get(inc_a).await;
        assert_eq!(done.incident.status, IncidentStatus::Resolved);
        assert_eq!(done.incident.resolved_at, Some(at(3)));
        let kinds: Vec<_> = done.timeline.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["acknowledged", "reopened", "resolved"]);
        assert!(done.timeline.iter().all(|e| e.actor == "source"));
        // A resolve for nothing open is ignored; a repeat opens a new incident.
        let stray = one(
            s,
            item(
                &h,
                at(4),
                vec![alert("a", Severity::High, AlertStatus::Resolved)],
            ),
            at(4),
        )
        .await;
        assert_eq!(stray.status_code, 200);
        assert!(matches!(
            stray.outcomes[0].decision,
            Decision::Ignored { .. }
        ));
        let repeat = one(s, item(&h, at(5), vec![fire("a")]), at(5)).await;
        assert_ne!(repeat.outcomes[0].incident_id, Some(inc_a));
    }

    pub async fn correlation_joins_open_incidents_and_raises_severity(sub: &Subject) {
        let s = sub.store();
        let mut w = webhook(WorkspaceId::DEFAULT, "correlated");
        w.correlation = serde_json::from_value(json!({
            "enable_correlation": true, "correlation_window_minutes": 5
        }))
        .unwrap();
        s.create_webhook(&w).await.unwrap();
        let h = hook(&w);
        let first = one(
            s,
            item(
                &h,
                at(0),
                vec![alert("db down", Severity::Medium, AlertStatus::Firing)],
            ),
            at(0),
        )
        .await;
        let inc = first.outcomes[0].incident_id.unwrap();
        let mut other = alert("api errors", Severity::Critical, AlertStatus::Firing);
        other.services = vec!["web".into()];
        let joined = one(s, item(&h, at(60_000), vec![other]), at(60_000)).await;
        assert_eq!(joined.status_code, 200);
        assert_eq!(joined.outcomes[0].incident_id, Some(inc));
        assert!(matches!(
            joined.outcomes[0].decision,
            Decision::Correlated(_)
        ));
        let d = s
            .get_incident(WorkspaceId::DEFAULT, inc)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.incident.alert_count, 2);
        assert_eq!(d.incident.correlated_alert_count, 1);
        assert_eq!(d.incident.severity, Severity::Critical);
        assert_eq!(d.incident.services, ["api", "web"]);
        let kinds: Vec<_> = d.timeline.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["alert_correlated", "severity_raised"]);
        // Outside the window (from the last alert), a new incident.
        let late = at(60_000 + 6 * 60_000);
        let apart = one(
            s,
            item(
                &h,
                late,
                vec![alert("disk", Severity::Low, AlertStatus::Firing)],
            ),
            late,
        )
        .await;
        assert_eq!(apart.outcomes[0].decision, Decision::Created);
    }

    pub async fn workspace_rules_correlate_across_webhooks(sub: &Subject) {
        let s = sub.store();
        let (_, a) = setup(s).await;
        let w2 = webhook(WorkspaceId::DEFAULT, "second");
        s.create_webhook(&w2).await.unwrap();
        let mut b = hook(&w2);
        let rules: CorrelationSettings = serde_json::from_value(json!({
            "enable_correlation": true, "correlation_window_minutes": 10,
            "correlation_rules": {"rules": [{"name": "Same service", "weight": 1.0,
                "conditions": {"field": "services", "operator": "intersects", "value": []}}]}
        }))
        .unwrap();
        b.ctx.workspace_correlation = Arc::new(rules.compile().unwrap());
        let first = one(
            s,
            item(
                &a,
                at(0),
                vec![alert("x", Severity::High, AlertStatus::Firing)],
            ),
            at(0),
        )
        .await;
        let joined = one(
            s,
            item(
                &b,
                at(1000),
                vec![alert("y", Severity::High, AlertStatus::Firing)],
            ),
            at(1000),
        )
        .await;
        assert_eq!(
            joined.outcomes[0].incident_id,
            first.outcomes[0].incident_id
        );
        let Decision::Correlated(m) = &joined.outcomes[0].decision else {
            panic!("{:?}", joined.outcomes[0].decision)
        };
        assert_eq!(m.rules, ["Same service"]);
        // Resolving the webhook-A alert leaves the incident open: B's alert still fires.
        one(
            s,
            item(
                &a,
                at(2000),
                vec![alert("x", Severity::High, AlertStatus::Resolved)],
            ),
            at(2000),
        )
        .await;
        let inc = first.outcomes[0].incident_id.unwrap();
        let d = s
            .get_incident(WorkspaceId::DEFAULT, inc)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.incident.status, IncidentStatus::Open);
        one(
            s,
            item(
                &b,
                at(3000),
                vec![alert("y", Severity::High, AlertStatus::Resolved)],
            ),
            at(3000),
        )
        .await;
        let d = s
            .get_incident(WorkspaceId::DEFAULT, inc)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.incident.status, IncidentStatus::Resolved);
    }

    /// Rows of `sql` (every column cast to text in the query), read straight from the database.
    async fn rows(sub: &Subject, sql: &str) -> Vec<Vec<Option<String>>> {
        match sub {
            Subject::Sqlite { dir, .. } => {
                let c = rusqlite::Connection::open(dir.path().join("alertgate.db")).unwrap();
                let mut st = c.prepare(sql).unwrap();
                let n = st.column_count();
                st.query_map([], |r| {
                    (0..n).map(|i| r.get::<_, Option<String>>(i)).collect()
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            }
            Subject::Postgres { db, .. } => {
                let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client
                    .query(sql, &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.get::<_, Option<String>>(i))
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// Random sequences of deliveries (firing, acknowledge and resolve events for a few
    /// identities, several alerts per request, several requests per batch, time jumping past the
    /// correlation and dedup windows) through webhooks with time-window correlation, with
    /// workspace rules and without correlation, with people acknowledging and resolving
    /// incidents in between. Whatever the sequence:
    /// - every alert is in exactly one incident, which exists, and every answer names the
    ///   incident the alert is stored in; an alert id is never answered with two incidents;
    /// - no identity (webhook, dedup key) is live in two incidents: of its unresolved alerts, at
    ///   most one was seen within the dedup window;
    /// - each incident's counters agree with its alerts, and an incident is resolved exactly when
    ///   all its alerts are.
    ///
    /// `ALERTGATE_PROPERTY_SEQUENCES` (default 6) sets how many sequences; each is seeded by its
    /// number, printed on failure.
    pub async fn random_sequences_never_put_an_alert_in_two_incidents(sub: &Subject) {
        use rand::{Rng, SeedableRng};
        use std::collections::HashMap;

        let s = sub.store();
        let ws = WorkspaceId::DEFAULT;
        let sequences: u64 = std::env::var("ALERTGATE_PROPERTY_SEQUENCES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(6);
        let window_rules: CorrelationSettings = serde_json::from_value(json!({
            "enable_correlation": true, "correlation_window_minutes": 10,
            "correlation_rules": {"min_match_weight": 0.5, "rules": [
                {"name": "Same service", "weight": 0.6, "conditions":
                    {"field": "services", "operator": "intersects", "value": []}},
                {"name": "Same title", "weight": 0.5, "priority": 1, "conditions":
                    {"field": "title", "operator": "equals", "value": ""}}]}
        }))
        .unwrap();
        let mut answered: HashMap<String, String> = HashMap::new();
        // How often each decision was made, so the sequences are known to reach every path.
        let mut decisions: HashMap<&'static str, usize> = HashMap::new();
        let mut now = 0i64;
        for seed in 0..sequences {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut hooks = Vec::new();
            for (n, kind) in ["window", "rules", "plain"].iter().enumerate() {
                let mut w = webhook(ws, &format!("seq{seed}-{kind}"));
                if n == 0 {
                    w.correlation = serde_json::from_value(json!({
                        "enable_correlation": true, "correlation_window_minutes": 5
                    }))
                    .unwrap();
                }
                s.create_webhook(&w).await.unwrap();
                let mut h = hook(&w);
                if n == 1 {
                    h.ctx.workspace_correlation = Arc::new(window_rules.compile().unwrap());
                }
                hooks.push(h);
            }
            let mut incidents: Vec<IncidentId> = Vec::new();
            for step in 0..40 {
                now += match rng.gen_range(0..20) {
                    0 => 25 * HOUR,
                    1..=3 => rng.gen_range(5..15) * 60_000,
                    _ => rng.gen_range(0..120) * 1_000,
                };
                let t = at(now);
                if rng.gen_range(0..8) == 0 && !incidents.is_empty() {
                    let inc = incidents[rng.gen_range(0..incidents.len())];
                    let action = if rng.gen_bool(0.5) {
                        IncidentAction::Acknowledge
                    } else {
                        IncidentAction::Resolve
                    };
                    assert!(s
                        .incident_action(ws, inc, action, t)
                        .await
                        .unwrap()
                        .is_some());
                    continue;
                }
                let batch: Vec<IngestItem> = (0..rng.gen_range(1..=4))
                    .map(|_| {
                        let h = &hooks[rng.gen_range(0..hooks.len())];
                        let alerts = (0..rng.gen_range(1..=3))
                            .map(|_| {
                                let title = ["cpu", "disk", "db", "net"][rng.gen_range(0..4)];
                                let status = match rng.gen_range(0..10) {
                                    0..=5 => AlertStatus::Firing,
                                    6 => AlertStatus::Acknowledged,
                                    _ => AlertStatus::Resolved,
                                };
                                let mut a =
                                    alert(title, Severity::ALL[rng.gen_range(0..5)], status);
                                a.services = [["api"], ["db"]][rng.gen_range(0..2)]
                                    .iter()
                                    .map(|s| s.to_string())
                                    .collect();
                                a
                            })
                            .collect();
                        item(h, t, alerts)
                    })
                    .collect();
                let results = s.ingest(batch, t).await.unwrap();
                for o in results.iter().flat_map(|r| &r.outcomes) {
                    let context = format!("sequence {seed}, step {step}: {o:?}");
                    let kind = match &o.decision {
                        Decision::Created => "created",
                        Decision::Deduplicated { .. } => "deduplicated",
                        Decision::Correlated(m) if m.rules.is_empty() => "correlated by time",
                        Decision::Correlated(_) => "correlated by rules",
                        Decision::StatusChanged { .. } => "status changed",
                        Decision::Ignored { .. } => "ignored",
                    };
                    *decisions.entry(kind).or_default() += 1;
                    match (&o.alert_id, &o.incident_id) {
                        (Some(alert), Some(incident)) => {
                            let known = answered
                                .entry(alert.to_string())
                                .or_insert_with(|| incident.to_string());
                            assert_eq!(known, &incident.to_string(), "{context}: moved");
                            if o.decision == Decision::Created {
                                incidents.push(*incident);
                            }
                        }
                        (None, None) => {
                            assert!(matches!(o.decision, Decision::Ignored { .. }), "{context}")
                        }
                        _ => panic!("{context}: an alert without an incident, or the reverse"),
                    }
                }
            }
        }

        for kind in [
            "created",
            "deduplicated",
            "correlated by time",
            "correlated by rules",
            "status changed",
            "ignored",
        ] {
            assert!(
                decisions.contains_key(kind),
                "no alert was {kind}: {decisions:?}"
            );
        }

        // The database agrees with every answer given.
        let alerts = rows(
            sub,
            "SELECT a.id, a.incident_id, i.id, a.webhook_id, a.dedup_key, a.status,
                    CAST(a.last_seen_at AS TEXT), CAST(a.occurrence_count AS TEXT), a.decision
             FROM alerts a LEFT JOIN incidents i ON i.id = a.incident_id",
        )
        .await;
        assert!(!alerts.is_empty());
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut per_incident: HashMap<String, (i64, i64, i64, usize)> = HashMap::new();
        let mut live: HashMap<(String, String), usize> = HashMap::new();
        let window = DedupWindow::DEFAULT.millis();
        for r in &alerts {
            let (id, incident) = (text(&r[0]), text(&r[1]));
            assert_eq!(
                r[2].as_ref(),
                Some(&incident),
                "alert {id}: its incident is missing"
            );
            if let Some(said) = answered.get(&id) {
                assert_eq!(
                    said, &incident,
                    "alert {id} is stored in another incident than answered"
                );
            }
            let unresolved = text(&r[5]) != "resolved";
            let last_seen: i64 = text(&r[6]).parse().unwrap();
            if unresolved && last_seen >= T0 + now - window {
                *live.entry((text(&r[3]), text(&r[4]))).or_default() += 1;
            }
            let decision: Decision = serde_json::from_str(&text(&r[8])).unwrap();
            let e = per_incident.entry(incident).or_default();
            e.0 += 1;
            e.1 += i64::from(matches!(decision, Decision::Correlated(_)));
            e.2 += text(&r[7]).parse::<i64>().unwrap();
            e.3 += usize::from(unresolved);
        }
        for ((webhook, key), n) in &live {
            assert_eq!(*n, 1, "{webhook} {key} is live in {n} incidents");
        }
        let incidents = rows(
            sub,
            "SELECT id, status, CAST(alert_count AS TEXT), CAST(correlated_alert_count AS TEXT),
                    CAST(occurrence_count AS TEXT) FROM incidents",
        )
        .await;
        assert_eq!(
            incidents.len(),
            per_incident.len(),
            "an incident without alerts"
        );
        for r in &incidents {
            let id = text(&r[0]);
            let (alerts, correlated, occurrences, unresolved) = per_incident[&id];
            let n = |i: usize| text(&r[i]).parse::<i64>().unwrap();
            assert_eq!(n(2), alerts, "{id}: alert_count");
            assert_eq!(n(3), correlated, "{id}: correlated_alert_count");
            assert_eq!(n(4), occurrences, "{id}: occurrence_count");
            assert_eq!(
                text(&r[1]) == "resolved",
                unresolved == 0,
                "{id}: status {:?} with {unresolved} unresolved alerts",
                r[1]
            );
        }
    }

    pub async fn people_acknowledge_and_resolve_incidents(sub: &Subject) {
        let s = sub.store();
        let (_, h) = setup(s).await;
        let ws = WorkspaceId::DEFAULT;
        let r = one(
            s,
            item(
                &h,
                at(0),
                vec![alert("a", Severity::High, AlertStatus::Firing)],
            ),
            at(0),
        )
        .await;
        let inc = r.outcomes[0].incident_id.unwrap();
        let acked = s
            .incident_action(ws, inc, IncidentAction::Acknowledge, at(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(acked.status, IncidentStatus::Acknowledged);
        let again = s
            .incident_action(ws, inc, IncidentAction::Acknowledge, at(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            again.acknowledged_at,
            Some(at(1)),
            "a second acknowledgement changes nothing"
        );
        // A repeat of the firing alert does not undo a person's acknowledgement.
        one(
            s,
            item(
                &h,
                at(3),
                vec![alert("a", Severity::High, AlertStatus::Firing)],
            ),
            at(3),
        )
        .await;
        let d = s.get_incident(ws, inc).await.unwrap().unwrap();
        assert_eq!(d.incident.status, IncidentStatus::Acknowledged);
        let resolved = s
            .incident_action(ws, inc, IncidentAction::Resolve, at(4))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resolved.status, IncidentStatus::Resolved);
        let d = s.get_incident(ws, inc).await.unwrap().unwrap();
        assert!(d
            .alerts
            .iter()
            .all(|a| a.status == AlertStatus::Resolved && a.resolved_at == Some(at(4))));
        assert!(d.timeline.iter().all(|e| e.actor == "api"));
        let repeat = one(
            s,
            item(
                &h,
                at(5),
                vec![alert("a", Severity::High, AlertStatus::Firing)],
            ),
            at(5),
        )
        .await;
        assert_eq!(repeat.outcomes[0].decision, Decision::Created);
        let elsewhere = WorkspaceId::new(at(0), 9);
        assert!(s
            .incident_action(elsewhere, inc, IncidentAction::Resolve, at(6))
            .await
            .unwrap()
            .is_none());
        let missing = IncidentId::new(at(0), 1);
        assert!(s
            .incident_action(ws, missing, IncidentAction::Resolve, at(6))
            .await
            .unwrap()
            .is_none());
    }

    /// Intake makes items in the store's column form; an item made in any form (text, or packed
    /// as SQLite stores it) reads back the same: body, extraction and payload, short and long.
    pub async fn items_are_stored_alike_in_every_column_form(sub: &Subject) {
        let s = sub.store();
        let (w, h) = setup(s).await;
        let long = "CPU above 90% on every node of the pool for five minutes. ".repeat(20);
        let mut stored = Vec::new();
        for (i, form) in [ColumnForm::Text, ColumnForm::Packed]
            .into_iter()
            .enumerate()
        {
            let h = Hook {
                form,
                ctx: h.ctx.clone(),
            };
            for (j, text) in ["short", long.as_str()].into_iter().enumerate() {
                let t = at(10 * i as i64 + j as i64);
                let mut a = alert(
                    &format!("form {i} text {j}"),
                    Severity::High,
                    AlertStatus::Firing,
                );
                a.payload = json!({"description": text, "n": j});
                let body = json!({"description": text}).to_string();
                let r = one(
                    s,
                    item_with(&h, t, vec![a], |d| {
                        d.body = body.clone();
                        d.extracted = Some(json!({"description": text}));
                    }),
                    t,
                )
                .await;
                let inc = r.outcomes[0].incident_id.unwrap();
                let detail = s
                    .get_incident(WorkspaceId::DEFAULT, inc)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    detail.alerts[0].payload,
                    json!({"description": text, "n": j})
                );
                let page = s
                    .list_deliveries(&DeliveryQuery {
                        webhook: w.id,
                        outcome: None,
                        before: None,
                        limit: 1,
                    })
                    .await
                    .unwrap();
                let d = &page.items[0];
                assert_eq!((d.id, &d.body), (r.delivery_id, &body));
                assert_eq!(d.extracted, Some(json!({"description": text})));
                stored.push((
                    d.body.clone(),
                    d.extracted.clone(),
                    detail.alerts[0].payload.clone(),
                ));
            }
        }
        assert_eq!(stored[..2], stored[2..], "both forms read back alike");
    }

    pub async fn deliveries_are_logged_filtered_and_paginated(sub: &Subject) {
        let s = sub.store();
        let (w, h) = setup(s).await;
        let mut batch = Vec::new();
        for i in 0..5 {
            batch.push(item(
                &h,
                at(i),
                vec![alert(&format!("t{i}"), Severity::Low, AlertStatus::Firing)],
            ));
            batch.push(refused(&h, at(i), 401, "unauthorized"));
        }
        // How intake records a valid request that carried no alert.
        let ping = item_with(&h, at(9), Vec::new(), |d| {
            d.extracted = Some(serde_json::json!({"ignored": "a ping"}))
        });
        batch.push(ping);
        let results = s.ingest(batch, at(9)).await.unwrap();
        assert_eq!(results.len(), 11);
        assert_eq!(results[1].status_code, 401);
        assert_eq!(results[10].status_code, 200);
        let q = |outcome: Option<&str>, before, limit| DeliveryQuery {
            webhook: w.id,
            outcome: outcome.map(str::to_string),
            before,
            limit,
        };
        let all = s.list_deliveries(&q(None, None, 200)).await.unwrap();
        assert_eq!(all.items.len(), 11);
        assert!(all.next_cursor.is_none());
        assert!(
            all.items.windows(2).all(|p| p[0].id > p[1].id),
            "newest first"
        );
        assert_eq!(
            s.list_deliveries(&q(Some("accepted"), None, 200))
                .await
                .unwrap()
                .items
                .len(),
            6
        );
        let rejected = s
            .list_deliveries(&q(Some("rejected"), None, 200))
            .await
            .unwrap()
            .items;
        assert_eq!(rejected.len(), 5);
        assert_eq!(rejected[0].error.as_ref().unwrap().code, "unauthorized");
        assert_eq!(
            s.list_deliveries(&q(Some("created"), None, 200))
                .await
                .unwrap()
                .items
                .len(),
            5
        );
        assert_eq!(
            s.list_deliveries(&q(Some("ignored"), None, 200))
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        // Keyset pages of 4: 4 + 4 + 3, no overlap.
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = s.list_deliveries(&q(None, before, 4)).await.unwrap();
            seen.extend(page.items.iter().map(|d| d.id));
            match page.next_cursor {
                Some(c) => before = Some(c.parse().unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, all.items.iter().map(|d| d.id).collect::<Vec<_>>());
        let d = &all.items.iter().find(|d| d.status_code == 201).unwrap();
        assert_eq!(
            d.headers,
            [("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(d.results.len(), 1);
        assert_eq!(d.latency_us, 5);
    }

    /// Retention of the delivery log: rows received before the cutoff go, a batch at a time, from
    /// every webhook's log — a deleted webhook's included — and newer rows stay.
    pub async fn old_delivery_rows_are_purged_from_every_webhook(sub: &Subject) {
        let s = sub.store();
        let mut hooks = Vec::new();
        for name in ["a", "b", "gone"] {
            let w = webhook(WorkspaceId::DEFAULT, name);
            s.create_webhook(&w).await.unwrap();
            hooks.push((w.id, hook(&w)));
        }
        // Per webhook: three rows at minutes 0-2 (old), two at minutes 10-11 (new).
        let mut batch = Vec::new();
        for (_, h) in &hooks {
            for t in [0, 1, 2, 10, 11] {
                batch.push(refused(h, at(t * 60_000), 401, "unauthorized"));
            }
        }
        s.ingest(batch, at(11 * 60_000)).await.unwrap();
        let gone = hooks[2].0;
        assert!(s.delete_webhook(WorkspaceId::DEFAULT, gone).await.unwrap());
        let cutoff = DeliveryId::min_at(at(5 * 60_000));
        let mut purged = Vec::new();
        loop {
            let n = s.purge_deliveries(cutoff, 4).await.unwrap();
            purged.push(n);
            if n < 4 {
                break;
            }
        }
        assert_eq!(purged, [4, 4, 1], "nine old rows, four at a time");
        for (id, _) in &hooks {
            let left = s
                .list_deliveries(&DeliveryQuery {
                    webhook: *id,
                    outcome: None,
                    before: None,
                    limit: 100,
                })
                .await
                .unwrap()
                .items;
            let times: Vec<i64> = left.iter().map(|d| d.received_at.as_millis()).collect();
            let new = [at(11 * 60_000), at(10 * 60_000)].map(|t| t.as_millis());
            assert_eq!(times, new, "{id}");
        }
        assert_eq!(s.purge_deliveries(cutoff, 4).await.unwrap(), 0);
    }

    pub async fn incidents_are_filtered_and_paginated(sub: &Subject) {
        let s = sub.store();
        let (w, h) = setup(s).await;
        for i in 0..7 {
            let mut a = alert(
                &format!("Disk {i} full"),
                if i % 2 == 0 {
                    Severity::High
                } else {
                    Severity::Low
                },
                AlertStatus::Firing,
            );
            if i == 3 {
                a.title = "100% CPU_load".into();
                a.services = vec!["billing".into()];
            }
            one(s, item(&h, at(i), vec![a]), at(i)).await;
        }
        let q = IncidentQuery {
            limit: 200,
            ..Default::default()
        };
        let all = s.list_incidents(&q).await.unwrap().items;
        assert_eq!(all.len(), 7);
        assert!(all.windows(2).all(|p| p[0].id > p[1].id));
        let with = |f: &dyn Fn(&mut IncidentQuery)| {
            let mut q = q.clone();
            f(&mut q);
            q
        };
        let n = |q: IncidentQuery| async move { s.list_incidents(&q).await.unwrap().items.len() };
        assert_eq!(
            n(with(&|q| q.severity = Some(Severity::High))).await,
            4,
            "0, 2, 4 and 6"
        );
        assert_eq!(n(with(&|q| q.service = Some("billing".into()))).await, 1);
        assert_eq!(
            n(with(&|q| q.search = Some("disk".into()))).await,
            6,
            "case-insensitive"
        );
        assert_eq!(
            n(with(&|q| q.search = Some("100%".into()))).await,
            1,
            "% is literal"
        );
        assert_eq!(
            n(with(&|q| q.search = Some("U_L".into()))).await,
            1,
            "_ is literal"
        );
        assert_eq!(n(with(&|q| q.search = Some("k_".into()))).await, 0);
        assert_eq!(n(with(&|q| q.webhook = Some(w.id))).await, 7);
        assert_eq!(
            n(with(&|q| q.workspace = Some(WorkspaceId::new(at(0), 9)))).await,
            0
        );
        assert_eq!(
            n(with(&|q| q.status = Some(IncidentStatus::Resolved))).await,
            0
        );
        let first = s.list_incidents(&with(&|q| q.limit = 3)).await.unwrap();
        assert_eq!(first.items.len(), 3);
        let cursor: IncidentId = first.next_cursor.unwrap().parse().unwrap();
        let second = s
            .list_incidents(&with(&|q| {
                q.limit = 3;
                q.before = Some(cursor)
            }))
            .await
            .unwrap();
        assert_eq!(second.items[0].id, all[3].id);
    }

    pub async fn workspaces_keys_and_sessions(sub: &Subject) {
        let s = sub.store();
        let ws = Workspace {
            id: WorkspaceId::new(at(0), 5),
            name: "Team B".into(),
            created_at: at(0),
        };
        s.create_workspace(&ws).await.unwrap();
        assert!(matches!(
            s.create_workspace(&ws).await,
            Err(StoreError::Conflict(_))
        ));
        let names: Vec<_> = s
            .list_workspaces()
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, ["Default", "Team B"]);
        assert_eq!(
            s.get_workspace(ws.id).await.unwrap().unwrap().name,
            "Team B"
        );
        let key = NewApiKey {
            id: "key_1".into(),
            workspace_id: ws.id,
            name: "ci".into(),
            role: Role::Responder,
            key_hash: "hash1".into(),
            key_prefix: "agk_abc".into(),
            created_at: at(0),
        };
        s.create_api_key(&key).await.unwrap();
        let got = s.api_key_by_hash("hash1").await.unwrap().unwrap();
        assert_eq!((got.role, got.last_used_at), (Role::Responder, None));
        s.touch_api_key("key_1", at(10)).await.unwrap();
        assert_eq!(
            s.list_api_keys(ws.id).await.unwrap()[0].last_used_at,
            Some(at(10))
        );
        assert!(s
            .list_api_keys(WorkspaceId::DEFAULT)
            .await
            .unwrap()
            .is_empty());
        let session = |hash: &str, key: Option<&str>, expires| Session {
            token_hash: hash.into(),
            workspace_id: ws.id,
            role: Role::Viewer,
            api_key_id: key.map(str::to_string),
            created_at: at(0),
            expires_at: at(expires),
        };
        s.create_session(&session("s1", Some("key_1"), 100))
            .await
            .unwrap();
        s.create_session(&session("s2", None, 100)).await.unwrap();
        assert!(s.session_by_hash("s1", at(50)).await.unwrap().is_some());
        assert!(
            s.session_by_hash("s1", at(100)).await.unwrap().is_none(),
            "expired"
        );
        assert!(!s
            .revoke_api_key(WorkspaceId::DEFAULT, "key_1", at(20))
            .await
            .unwrap());
        assert!(s.revoke_api_key(ws.id, "key_1", at(20)).await.unwrap());
        assert_eq!(
            s.api_key_by_hash("hash1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(at(20))
        );
        assert!(
            s.session_by_hash("s1", at(50)).await.unwrap().is_none(),
            "ends with its key"
        );
        assert!(s.session_by_hash("s2", at(50)).await.unwrap().is_some());
        s.delete_session("s2").await.unwrap();
        assert!(s.session_by_hash("s2", at(50)).await.unwrap().is_none());
    }

    pub async fn odd_text_never_fails_a_batch(sub: &Subject) {
        let s = sub.store();
        let (_, h) = setup(s).await;
        let mut odd = alert("nul\0inside", Severity::High, AlertStatus::Firing);
        odd.description = Some("ünïcödé \u{1F525} and \0".into());
        let bad = item_with(&h, at(0), vec![odd.clone()], |d| {
            d.body = "{\"title\":\"nul\0inside\"}".into()
        });
        let fine = item(
            &h,
            at(0),
            vec![alert("fine", Severity::Low, AlertStatus::Firing)],
        );
        let r = s.ingest(vec![bad, fine], at(0)).await.unwrap();
        assert_eq!((r[0].status_code, r[1].status_code), (201, 201));
        let again = one(s, item(&h, at(1), vec![odd]), at(1)).await;
        assert_eq!(
            again.outcomes[0].occurrence_count, 2,
            "the same key finds it again"
        );
        let inc = again.outcomes[0].incident_id.unwrap();
        let d = s
            .get_incident(WorkspaceId::DEFAULT, inc)
            .await
            .unwrap()
            .unwrap();
        assert!(d.incident.title.starts_with("nul") && d.incident.title.ends_with("inside"));
        assert!(d.alerts[0]
            .description
            .as_ref()
            .unwrap()
            .contains('\u{1F525}'));
    }
    // -- the outbox --

    pub fn destination(ws: WorkspaceId, kind: DestinationKind, n: u128) -> Destination {
        Destination {
            id: DestinationId::new(at(0), n),
            workspace_id: ws,
            kind,
            name: format!("{} {n}", kind.as_str()),
            url: format!("https://example.com/{n}"),
            secret: (kind != DestinationKind::Slack)
                .then(|| Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
            event_types: EventType::ALL.to_vec(),
            enabled: true,
            disabled_reason: None,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    /// A webhook with this automation, an investigation endpoint and a notification channel.
    async fn automated(s: &dyn Store, automation: AutomationSettings) -> (Hook, [Destination; 2]) {
        let mut w = webhook(WorkspaceId::DEFAULT, "auto");
        w.automation = automation;
        s.create_webhook(&w).await.unwrap();
        let dests = [
            destination(WorkspaceId::DEFAULT, DestinationKind::Investigation, 10),
            destination(WorkspaceId::DEFAULT, DestinationKind::Webhook, 11),
        ];
        for d in &dests {
            s.create_destination(d).await.unwrap();
        }
        (hook(&w), dests)
    }

    fn all_on() -> AutomationSettings {
        AutomationSettings {
            auto_trigger_rca: true,
            rca_min_severity: Severity::Medium,
            notify_workspace: true,
        }
    }

    async fn messages(s: &dyn Store, inc: IncidentId) -> Vec<OutboxMessage> {
        s.list_incident_messages(WorkspaceId::DEFAULT, inc)
            .await
            .unwrap()
            .unwrap()
    }

    async fn opened(s: &dyn Store, h: &Hook, title: &str, severity: Severity) -> IncidentId {
        let r = one(
            s,
            item(h, at(0), vec![alert(title, severity, AlertStatus::Firing)]),
            at(0),
        )
        .await;
        r.outcomes[0].incident_id.unwrap()
    }

    fn attempt(n: u32, t: Timestamp, code: u16) -> Attempt {
        Attempt {
            attempt: n,
            at: t,
            status_code: Some(code),
            error: (code >= 300).then(|| format!("HTTP {code}")),
            duration_ms: 5,
        }
    }

    pub async fn destinations_round_trip_with_secrets_sealed(sub: &Subject) {
        let s = sub.store();
        let ws = WorkspaceId::DEFAULT;
        let inv = destination(ws, DestinationKind::Investigation, 1);
        let mut slack = destination(ws, DestinationKind::Slack, 2);
        slack.url = "https://hooks.slack.com/services/T0/B0/secret".into();
        s.create_destination(&inv).await.unwrap();
        s.create_destination(&slack).await.unwrap();
        let second = destination(ws, DestinationKind::Investigation, 3);
        assert!(matches!(
            s.create_destination(&second).await,
            Err(StoreError::Conflict(_))
        ));
        let got = s.get_destination(ws, slack.id).await.unwrap().unwrap();
        assert_eq!(got.url, slack.url);
        let got = s.get_destination(ws, inv.id).await.unwrap().unwrap();
        assert_eq!(
            got.secret.as_ref().map(|x| x.expose().to_string()),
            inv.secret.as_ref().map(|x| x.expose().to_string())
        );
        let list = s.list_destinations(ws).await.unwrap();
        assert_eq!(
            list.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![inv.id, slack.id]
        );
        // Another key cannot read the sealed credentials.
        let other = sub.reopen(SecretCipher::new(&[9; 32])).await;
        assert!(other.get_destination(ws, slack.id).await.is_err());
        let other_ws = WorkspaceId::new(at(0), 77);
        assert!(s.get_destination(other_ws, inv.id).await.unwrap().is_none());
        assert!(s.list_destinations(other_ws).await.unwrap().is_empty());
        let mut renamed = inv.clone();
        renamed.name = "renamed".into();
        renamed.updated_at = at(5);
        assert!(s.update_destination(&renamed).await.unwrap());
        assert_eq!(
            s.get_destination(ws, inv.id).await.unwrap().unwrap().name,
            "renamed"
        );
        assert!(s.delete_destination(ws, slack.id).await.unwrap());
        assert!(!s.delete_destination(ws, slack.id).await.unwrap());
        assert!(s.get_destination(ws, slack.id).await.unwrap().is_none());
    }

    pub async fn outbox_events_are_written_with_the_incident_change(sub: &Subject) {
        let s = sub.store();
        let ws = WorkspaceId::DEFAULT;
        let (h, _) = automated(s, all_on()).await;
        let inc = opened(s, &h, "db down", Severity::High).await;
        let m = messages(s, inc).await;
        assert_eq!(m.len(), 2, "{m:#?}");
        assert_eq!(
            m.iter()
                .filter(|m| m.purpose == Purpose::Investigation)
                .count(),
            1
        );
        assert!(m.iter().all(|m| m.event_type == EventType::Created
            && m.status == MessageStatus::Pending
            && m.next_attempt_at == Some(at(0))));
        // People acknowledge and resolve: notifications only, never a second investigation.
        s.incident_action(ws, inc, IncidentAction::Acknowledge, at(1))
            .await
            .unwrap();
        s.incident_action(ws, inc, IncidentAction::Resolve, at(2))
            .await
            .unwrap();
        let m = messages(s, inc).await;
        let mut types: Vec<_> = m.iter().map(|m| (m.event_type, m.purpose)).collect();
        // Messages of one commit share a millisecond, so their order among themselves is open.
        types[..2].sort_by_key(|(_, p)| *p == Purpose::Notification);
        assert_eq!(
            types,
            vec![
                (EventType::Created, Purpose::Investigation),
                (EventType::Created, Purpose::Notification),
                (EventType::Acknowledged, Purpose::Notification),
                (EventType::Resolved, Purpose::Notification),
            ]
        );
        // The event carries the incident context as the transaction saw it.
        let claimed = s.claim_due_events(at(2), 1_000, 10, "n1").await.unwrap();
        assert_eq!(claimed.len(), 4);
        let created = claimed
            .iter()
            .find(|c| c.purpose == Purpose::Investigation)
            .unwrap();
        assert_eq!(created.data["incident"]["id"], json!(inc));
        assert_eq!(created.data["alerts"][0]["title"], "db down");
        assert_eq!(created.data["changes"][0]["kind"], "created");
        assert_eq!(created.event_at, at(0));
        assert_eq!(created.workspace_id, ws);
        assert!(created.destination.is_some());

        // Below the minimum severity: notified, not investigated.
        let low = opened(s, &h, "disk 80%", Severity::Low).await;
        let m = messages(s, low).await;
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].purpose, Purpose::Notification);
        // Another workspace sees nothing of it.
        let other = WorkspaceId::new(at(0), 77);
        assert!(s
            .list_incident_messages(other, low)
            .await
            .unwrap()
            .is_none());
    }

    pub async fn outbox_writes_nothing_when_automation_is_off(sub: &Subject) {
        let s = sub.store();
        let (h, _) = automated(s, AutomationSettings::default()).await;
        let inc = opened(s, &h, "quiet", Severity::Critical).await;
        assert!(messages(s, inc).await.is_empty());
        s.incident_action(WorkspaceId::DEFAULT, inc, IncidentAction::Resolve, at(1))
            .await
            .unwrap();
        assert!(messages(s, inc).await.is_empty());
        assert_eq!(s.outbox_stats(at(1)).await.unwrap(), OutboxStats::default());
    }

    pub async fn a_claim_hides_a_message_until_its_lease_expires(sub: &Subject) {
        let s = sub.store();
        let (h, _) = automated(
            s,
            AutomationSettings {
                notify_workspace: false,
                ..all_on()
            },
        )
        .await;
        let inc = opened(s, &h, "db down", Severity::High).await;
        let now = at(0);
        let first = s.claim_due_events(now, 1_000, 10, "n1").await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].attempt, 1);
        let stats = s.outbox_stats(now).await.unwrap();
        assert_eq!((stats.pending, stats.delivering, stats.due), (0, 1, 0));
        assert!(s
            .claim_due_events(now.saturating_add_millis(999), 1_000, 10, "n2")
            .await
            .unwrap()
            .is_empty());
        // n1 died; after the lease, n2 takes the message over.
        let second = s
            .claim_due_events(now.saturating_add_millis(1_000), 1_000, 10, "n2")
            .await
            .unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].attempt, 2);
        assert_ne!(second[0].claim.token, first[0].claim.token);
        let t = now.saturating_add_millis(1_100);
        assert!(
            !s.complete_event(
                &first[0].claim,
                &attempt(1, t, 200),
                AttemptOutcome::Delivered
            )
            .await
            .unwrap(),
            "a lapsed claim cannot settle the message"
        );
        assert!(s
            .complete_event(
                &second[0].claim,
                &attempt(2, t, 200),
                AttemptOutcome::Delivered
            )
            .await
            .unwrap());
        let m = &messages(s, inc).await[0];
        assert_eq!(m.status, MessageStatus::Delivered);
        assert_eq!(m.history.len(), 2, "both attempts are on record");
        assert_eq!(m.latency_ms, Some(1_105));
        assert_eq!(m.delivered_at, Some(now.saturating_add_millis(1_105)));
        assert_eq!(
            s.outbox_stats(now.saturating_add_millis(2_000))
                .await
                .unwrap(),
            OutboxStats::default()
        );
    }

    pub async fn retries_come_due_and_a_manual_retry_restarts_the_budget(sub: &Subject) {
        let s = sub.store();
        let (h, _) = automated(
            s,
            AutomationSettings {
                notify_workspace: false,
                ..all_on()
            },
        )
        .await;
        let inc = opened(s, &h, "db down", Severity::High).await;
        let now = at(0);
        let c = s.claim_due_events(now, 1_000, 10, "n1").await.unwrap();
        let later = now.saturating_add_millis(5_000);
        let failed = attempt(1, now, 503);
        s.complete_event(&c[0].claim, &failed, AttemptOutcome::RetryAt(later))
            .await
            .unwrap();
        let stats = s.outbox_stats(now.saturating_add_millis(10)).await.unwrap();
        assert_eq!((stats.pending, stats.due), (1, 0));
        let stats = s.outbox_stats(later).await.unwrap();
        assert_eq!((stats.due, stats.oldest_due_at), (1, Some(later)));
        let m = &messages(s, inc).await[0];
        assert_eq!(m.last_status_code, Some(503));
        assert_eq!(m.last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(m.next_attempt_at, Some(later));
        assert!(s
            .claim_due_events(now.saturating_add_millis(4_999), 1_000, 10, "n1")
            .await
            .unwrap()
            .is_empty());
        let c = s.claim_due_events(later, 1_000, 10, "n1").await.unwrap();
        assert_eq!((c[0].attempt, c[0].budget_attempt), (2, 2));
        s.complete_event(&c[0].claim, &failed, AttemptOutcome::Failed)
            .await
            .unwrap();
        let ws = WorkspaceId::DEFAULT;
        let m = s
            .retry_message(ws, inc, c[0].claim.message, later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.status, MessageStatus::Pending);
        assert_eq!(m.next_attempt_at, Some(later));
        let c = s.claim_due_events(later, 1_000, 10, "n1").await.unwrap();
        assert_eq!((c[0].attempt, c[0].budget_attempt), (3, 1));
        // In flight: that attempt is the re-send; the next claim counts on from it.
        let m = s
            .retry_message(ws, inc, c[0].claim.message, later)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.status, MessageStatus::Delivering);
        assert_eq!(m.lease_expires_at, Some(later.saturating_add_millis(1_000)));
        let lapsed = later.saturating_add_millis(1_000);
        let c = s.claim_due_events(lapsed, 1_000, 10, "n2").await.unwrap();
        assert_eq!((c[0].attempt, c[0].budget_attempt), (4, 2));
        // Another workspace sees nothing.
        let other = WorkspaceId::new(at(0), 77);
        assert!(s
            .retry_message(other, inc, c[0].claim.message, later)
            .await
            .unwrap()
            .is_none());
    }

    pub async fn a_gone_destination_is_disabled_and_its_waiting_messages_fail(sub: &Subject) {
        let s = sub.store();
        let ws = WorkspaceId::DEFAULT;
        let (h, [inv, chan]) = automated(s, all_on()).await;
        let a = opened(s, &h, "a", Severity::High).await;
        let b = opened(s, &h, "b", Severity::High).await;
        // Claim one notification only; the others wait.
        let claimed = s.claim_due_events(at(0), 1_000, 1, "n1").await.unwrap();
        assert_eq!(claimed.len(), 1);
        let c = &claimed[0];
        let gone_dest = c.destination.as_ref().unwrap().id;
        s.complete_event(
            &c.claim,
            &attempt(1, at(1), 410),
            AttemptOutcome::DestinationGone,
        )
        .await
        .unwrap();
        let d = s.get_destination(ws, gone_dest).await.unwrap().unwrap();
        assert!(!d.enabled);
        assert!(d.disabled_reason.unwrap().contains("410"));
        let all: Vec<_> = [messages(s, a).await, messages(s, b).await].concat();
        for m in all.iter().filter(|m| m.destination_id == gone_dest) {
            assert_eq!(m.status, MessageStatus::Failed, "{m:#?}");
        }
        let waiting = all.iter().find(|m| m.destination_id != gone_dest).unwrap();
        assert_eq!(waiting.status, MessageStatus::Pending);
        assert!(matches!(
            s.retry_message(
                ws,
                waiting.incident_id,
                all.iter()
                    .find(|m| m.destination_id == gone_dest)
                    .unwrap()
                    .id,
                at(2)
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        // Disabling or deleting the other one fails what still waits for it.
        let other = if gone_dest == inv.id { chan } else { inv };
        let mut off = other.clone();
        off.enabled = false;
        assert!(s.update_destination(&off).await.unwrap());
        let all: Vec<_> = [messages(s, a).await, messages(s, b).await].concat();
        assert!(
            all.iter().all(|m| m.status == MessageStatus::Failed),
            "{all:#?}"
        );
        assert!(s
            .claim_due_events(at(3), 1_000, 10, "n1")
            .await
            .unwrap()
            .is_empty());
        assert!(s.delete_destination(ws, other.id).await.unwrap());
        let m = messages(s, a).await;
        let deleted = m.iter().find(|m| m.destination_id == other.id).unwrap();
        assert_eq!(deleted.destination_name, None);
    }

    /// Rows of each table that belong to these incidents, straight from the database.
    async fn owned_rows(sub: &Subject, incidents: &[IncidentId]) -> Vec<(&'static str, i64)> {
        let ids = incidents
            .iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = Vec::new();
        for (table, sql) in [
            (
                "incidents",
                format!("SELECT COUNT(*) FROM incidents WHERE id IN ({ids})"),
            ),
            (
                "alerts",
                format!("SELECT COUNT(*) FROM alerts WHERE incident_id IN ({ids})"),
            ),
            (
                "incident_events",
                format!("SELECT COUNT(*) FROM incident_events WHERE incident_id IN ({ids})"),
            ),
            (
                "outbox_events",
                format!("SELECT COUNT(*) FROM outbox_events WHERE incident_id IN ({ids})"),
            ),
            (
                "outbox_messages",
                format!("SELECT COUNT(*) FROM outbox_messages WHERE incident_id IN ({ids})"),
            ),
            (
                "outbox_attempts",
                format!(
                    "SELECT COUNT(*) FROM outbox_attempts WHERE message_id IN
                        (SELECT id FROM outbox_messages WHERE incident_id IN ({ids}))"
                ),
            ),
        ] {
            out.push((table, sub.scalar(&sql).await));
        }
        out
    }

    /// Rows whose incident (or message) no longer exists.
    async fn orphans(sub: &Subject) -> i64 {
        let mut n = 0;
        for sql in [
            "SELECT COUNT(*) FROM alerts WHERE incident_id NOT IN (SELECT id FROM incidents)",
            "SELECT COUNT(*) FROM incident_events WHERE incident_id NOT IN (SELECT id FROM incidents)",
            "SELECT COUNT(*) FROM outbox_events WHERE incident_id NOT IN (SELECT id FROM incidents)",
            "SELECT COUNT(*) FROM outbox_messages WHERE incident_id NOT IN (SELECT id FROM incidents)",
            "SELECT COUNT(*) FROM outbox_attempts WHERE message_id NOT IN (SELECT id FROM outbox_messages)",
        ] {
            n += sub.scalar(sql).await;
        }
        n
    }

    pub async fn old_resolved_incidents_are_purged_with_everything_that_belongs_to_them(
        sub: &Subject,
    ) {
        const MIN: i64 = 60_000;
        const DAY: i64 = 24 * HOUR;
        let s = sub.store();
        let ws = WorkspaceId::DEFAULT;
        let mut w = webhook(ws, "kept");
        w.automation = all_on();
        w.correlation = serde_json::from_value(json!({
            "enable_correlation": true, "correlation_window_minutes": 5
        }))
        .unwrap();
        s.create_webhook(&w).await.unwrap();
        for d in [
            destination(ws, DestinationKind::Investigation, 10),
            destination(ws, DestinationKind::Webhook, 11),
        ] {
            s.create_destination(&d).await.unwrap();
        }
        let h = hook(&w);
        let fire = |title: &str, t: i64| {
            item(
                &h,
                at(t),
                vec![alert(title, Severity::High, AlertStatus::Firing)],
            )
        };
        let resolve = |title: &str, t: i64| {
            item(
                &h,
                at(t),
                vec![alert(title, Severity::High, AlertStatus::Resolved)],
            )
        };
        // A: two correlated alerts, resolved by the source on day 0.
        let a = one(s, fire("a1", 0), at(0)).await.outcomes[0]
            .incident_id
            .unwrap();
        let a2 = one(s, fire("a2", MIN), at(MIN)).await;
        assert_eq!(a2.outcomes[0].incident_id, Some(a), "correlated");
        one(s, resolve("a1", 2 * MIN), at(2 * MIN)).await;
        one(s, resolve("a2", 3 * MIN), at(3 * MIN)).await;
        // B: a repeat, acknowledged and resolved by people on day 0.
        let b = one(s, fire("b1", 10 * MIN), at(10 * MIN)).await.outcomes[0]
            .incident_id
            .unwrap();
        one(s, fire("b1", 11 * MIN), at(11 * MIN)).await;
        s.incident_action(ws, b, IncidentAction::Acknowledge, at(12 * MIN))
            .await
            .unwrap();
        s.incident_action(ws, b, IncidentAction::Resolve, at(20 * MIN))
            .await
            .unwrap();
        // C: resolved on day 0, but its events are still owed to the destinations.
        let c = one(s, fire("c1", 30 * MIN), at(30 * MIN)).await.outcomes[0]
            .incident_id
            .unwrap();
        // D: opened on day 0, resolved on day 9.
        let d = one(s, fire("d1", 40 * MIN), at(40 * MIN)).await.outcomes[0]
            .incident_id
            .unwrap();
        // E open and F acknowledged since day 0.
        let e = one(s, fire("e1", 50 * MIN), at(50 * MIN)).await.outcomes[0]
            .incident_id
            .unwrap();
        let f = one(s, fire("f1", 57 * MIN), at(57 * MIN)).await.outcomes[0]
            .incident_id
            .unwrap();
        s.incident_action(ws, f, IncidentAction::Acknowledge, at(HOUR))
            .await
            .unwrap();
        // Every message so far is delivered, with an attempt on record, except C's.
        let due = s
            .claim_due_events(at(HOUR), 60_000, 100, "n1")
            .await
            .unwrap();
        assert!(due.iter().any(|m| m.incident_id == a) && due.iter().any(|m| m.incident_id == b));
        for m in due.iter().filter(|m| m.incident_id != c) {
            let settled = s
                .complete_event(
                    &m.claim,
                    &attempt(1, at(HOUR), 200),
                    AttemptOutcome::Delivered,
                )
                .await
                .unwrap();
            assert!(settled);
        }
        for m in due.iter().filter(|m| m.incident_id == c) {
            let t = at(HOUR);
            s.complete_event(
                &m.claim,
                &attempt(1, t, 503),
                AttemptOutcome::RetryAt(at(2 * HOUR)),
            )
            .await
            .unwrap();
        }
        s.incident_action(ws, c, IncidentAction::Resolve, at(HOUR))
            .await
            .unwrap();
        one(s, resolve("d1", 9 * DAY), at(9 * DAY)).await;
        let deliveries = sub.scalar("SELECT COUNT(*) FROM deliveries").await;

        let purged = [a, b];
        let kept = [c, d, e, f];
        let before = owned_rows(sub, &purged).await;
        for (table, n) in &before {
            assert!(
                *n > 0,
                "{table}: the purged incidents own rows in every table"
            );
        }
        let kept_before = owned_rows(sub, &kept).await;

        // Resolved more than 5 days ago, as of day 10: A and B, one batch at a time, earliest
        // resolution first.
        let cutoff = at(5 * DAY);
        assert_eq!(s.purge_resolved_incidents(cutoff, 1).await.unwrap(), 1);
        assert!(s.get_incident(ws, a).await.unwrap().is_none());
        assert!(s.get_incident(ws, b).await.unwrap().is_some());
        assert_eq!(s.purge_resolved_incidents(cutoff, 1).await.unwrap(), 1);
        assert_eq!(s.purge_resolved_incidents(cutoff, 100).await.unwrap(), 0);
        assert!(s.get_incident(ws, b).await.unwrap().is_none());
        assert!(s.list_incident_messages(ws, a).await.unwrap().is_none());

        let after = owned_rows(sub, &purged).await;
        assert!(after.iter().all(|(_, n)| *n == 0), "{after:?}");
        assert_eq!(orphans(sub).await, 0);
        assert_eq!(
            owned_rows(sub, &kept).await,
            kept_before,
            "the others are untouched"
        );
        assert_eq!(
            sub.scalar("SELECT COUNT(*) FROM deliveries").await,
            deliveries,
            "the delivery log has its own retention"
        );
        for (inc, status) in [
            (c, IncidentStatus::Resolved),
            (d, IncidentStatus::Resolved),
            (e, IncidentStatus::Open),
            (f, IncidentStatus::Acknowledged),
        ] {
            let got = s.get_incident(ws, inc).await.unwrap().unwrap();
            assert_eq!(got.incident.status, status);
        }

        // Dedup and correlation never see a purged incident: its alert opens a new one, which
        // takes the repeats.
        let t = 10 * DAY;
        let again = one(s, fire("a1", t), at(t)).await;
        assert_eq!(again.outcomes[0].decision, Decision::Created);
        assert_ne!(again.outcomes[0].incident_id, Some(a));
        let repeat = one(s, fire("a1", t + MIN), at(t + MIN)).await;
        assert_eq!(
            repeat.outcomes[0].incident_id,
            again.outcomes[0].incident_id
        );
        assert!(matches!(
            repeat.outcomes[0].decision,
            Decision::Deduplicated { .. }
        ));

        // Once C's events are delivered, it goes too.
        let due = s
            .claim_due_events(at(2 * HOUR), 60_000, 100, "n1")
            .await
            .unwrap();
        for m in due.iter().filter(|m| m.incident_id == c) {
            s.complete_event(
                &m.claim,
                &attempt(2, at(2 * HOUR), 200),
                AttemptOutcome::Delivered,
            )
            .await
            .unwrap();
        }
        assert_eq!(s.purge_resolved_incidents(cutoff, 100).await.unwrap(), 1);
        assert!(s.get_incident(ws, c).await.unwrap().is_none());
        assert!(s.get_incident(ws, d).await.unwrap().is_some());
        assert_eq!(orphans(sub).await, 0);
    }

    pub async fn a_preview_decides_like_ingest_and_keeps_nothing(sub: &Subject) {
        let s = sub.store();
        let (h, _) = automated(s, all_on()).await;
        let fire = |t| {
            item(
                &h,
                t,
                vec![alert("cpu", Severity::High, AlertStatus::Firing)],
            )
        };
        let p = s.preview_ingest(fire(at(0)), at(0)).await.unwrap();
        assert_eq!(p.status_code, 201);
        assert_eq!(p.outcomes[0].decision, Decision::Created);
        let page = s
            .list_incidents(&IncidentQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.items.is_empty(), "a preview keeps nothing");
        assert_eq!(s.outbox_stats(at(0)).await.unwrap(), OutboxStats::default());
        let real = one(s, fire(at(1)), at(1)).await;
        let p = s.preview_ingest(fire(at(2)), at(2)).await.unwrap();
        assert_eq!(p.outcomes[0].incident_id, real.outcomes[0].incident_id);
        assert_eq!(p.outcomes[0].occurrence_count, 2);
        let inc = s
            .get_incident(WorkspaceId::DEFAULT, real.outcomes[0].incident_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(inc.incident.occurrence_count, 1, "still one occurrence");
    }
}

/// Each case once per engine.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let subject = super::Subject::sqlite();
                    super::cases::$case(&subject).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(subject) = super::Subject::postgres(stringify!($case)).await else {
                        return;
                    };
                    super::cases::$case(&subject).await;
                }
            )*
        }
    };
}

conformance!(
    settings_are_set_once_or_replaced,
    webhooks_round_trip_with_secrets_encrypted_at_rest,
    repeats_are_deduplicated_within_the_window_only,
    sources_acknowledge_reopen_and_resolve_incidents,
    correlation_joins_open_incidents_and_raises_severity,
    workspace_rules_correlate_across_webhooks,
    random_sequences_never_put_an_alert_in_two_incidents,
    people_acknowledge_and_resolve_incidents,
    deliveries_are_logged_filtered_and_paginated,
    old_delivery_rows_are_purged_from_every_webhook,
    items_are_stored_alike_in_every_column_form,
    incidents_are_filtered_and_paginated,
    workspaces_keys_and_sessions,
    odd_text_never_fails_a_batch,
    destinations_round_trip_with_secrets_sealed,
    outbox_events_are_written_with_the_incident_change,
    outbox_writes_nothing_when_automation_is_off,
    a_claim_hides_a_message_until_its_lease_expires,
    retries_come_due_and_a_manual_retry_restarts_the_budget,
    a_gone_destination_is_disabled_and_its_waiting_messages_fail,
    a_preview_decides_like_ingest_and_keeps_nothing,
    old_resolved_incidents_are_purged_with_everything_that_belongs_to_them,
);

/// What only a shared database has to get right: several nodes (store handles) at once.
mod several_nodes {
    use std::sync::Arc;

    use alertgate_core::alert::Decision;
    use alertgate_core::ids::WorkspaceId;
    use alertgate_core::{AlertStatus, Severity, Timestamp};
    use alertgate_store::postgres::PostgresStore;
    use alertgate_store::Store;
    use alertgate_testdb::TestDatabase;

    use super::cases::{alert, destination, hook, item, webhook};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn migrations_are_applied_once_when_nodes_start_together() {
        let Some(admin) = alertgate_testdb::postgres_url_or_skip("migrations_are_applied_once")
        else {
            return;
        };
        let db = TestDatabase::create(&admin).await;
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let url = db.url.clone();
                tokio::spawn(async move { PostgresStore::open(&url, super::cipher()).await })
            })
            .collect();
        for s in starts {
            s.await.unwrap().expect("every node starts");
        }
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM alertgate_schema", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
        let ws: i64 = client
            .query_one("SELECT COUNT(*) FROM workspaces", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(ws, 1, "the default workspace, once");
    }

    /// Three nodes, each with its own writer batches, ingest the same alert at once: the
    /// workspace lock serializes them, so there is one incident and every count from 1 to N.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nodes_ingesting_the_same_alert_at_once_agree_on_one_incident() {
        let Some(admin) = alertgate_testdb::postgres_url_or_skip("nodes_ingesting_the_same_alert")
        else {
            return;
        };
        let db = TestDatabase::create(&admin).await;
        let mut nodes: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..3 {
            nodes.push(Arc::new(
                PostgresStore::open(&db.url, super::cipher()).await.unwrap(),
            ));
        }
        let w = webhook(WorkspaceId::DEFAULT, "busy");
        nodes[0].create_webhook(&w).await.unwrap();
        let now = Timestamp::from_millis(1_800_000_000_000);
        let mut tasks = Vec::new();
        for i in 0..30 {
            let node = nodes[i % 3].clone();
            let h = hook(&w);
            tasks.push(tokio::spawn(async move {
                let batch = (0..5)
                    .map(|_| {
                        item(
                            &h,
                            now,
                            vec![alert("same", Severity::High, AlertStatus::Firing)],
                        )
                    })
                    .collect();
                node.ingest(batch, now).await.unwrap()
            }));
        }
        let mut counts = Vec::new();
        let mut created = 0;
        let mut incidents = std::collections::HashSet::new();
        for t in tasks {
            for r in t.await.unwrap() {
                let o = &r.outcomes[0];
                created += usize::from(o.decision == Decision::Created);
                incidents.insert(o.incident_id);
                counts.push(o.occurrence_count);
            }
        }
        counts.sort();
        assert_eq!(created, 1);
        assert_eq!(incidents.len(), 1);
        assert_eq!(counts, (1..=150).collect::<Vec<_>>());
        let page = nodes[2]
            .list_incidents(&alertgate_store::IncidentQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].occurrence_count, 150);
    }

    /// Three nodes claim the same due messages at once: `FOR UPDATE SKIP LOCKED` hands each
    /// message to exactly one of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nodes_claiming_at_once_never_share_a_message() {
        let Some(admin) = alertgate_testdb::postgres_url_or_skip("nodes_claiming_at_once") else {
            return;
        };
        let db = TestDatabase::create(&admin).await;
        let mut nodes: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..3 {
            nodes.push(Arc::new(
                PostgresStore::open(&db.url, super::cipher()).await.unwrap(),
            ));
        }
        let mut w = webhook(WorkspaceId::DEFAULT, "busy");
        w.automation.notify_workspace = true;
        nodes[0].create_webhook(&w).await.unwrap();
        for n in 0..2 {
            nodes[0]
                .create_destination(&destination(
                    WorkspaceId::DEFAULT,
                    alertgate_core::outbox::DestinationKind::Webhook,
                    n,
                ))
                .await
                .unwrap();
        }
        let now = Timestamp::from_millis(1_800_000_000_000);
        let h = hook(&w);
        let batch = (0..60)
            .map(|i| {
                item(
                    &h,
                    now,
                    vec![alert(&format!("a{i}"), Severity::High, AlertStatus::Firing)],
                )
            })
            .collect();
        nodes[0].ingest(batch, now).await.unwrap();
        let mut tasks = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let c = node
                        .claim_due_events(now, 60_000, 7, &format!("n{i}"))
                        .await
                        .unwrap();
                    if c.is_empty() {
                        return got;
                    }
                    got.extend(c.into_iter().map(|c| c.claim.message));
                }
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), 120, "every message claimed");
        assert_eq!(unique.len(), 120, "and none twice");
    }
}

/// What only the embedded engine has to get right: the unresolved alerts it keeps in memory for
/// deduplication (sqlite/open_alerts.rs) are rebuilt when it opens, filled in for databases made
/// before they existed, and kept by one process at a time.
mod embedded {
    use std::path::Path;

    use alertgate_core::alert::Decision;
    use alertgate_core::ids::WorkspaceId;
    use alertgate_core::{AlertStatus, Severity, Timestamp};
    use alertgate_store::sqlite::SqliteStore;
    use alertgate_store::{IncidentAction, Store, StoreError};

    use super::cases::{alert, hook, item, webhook, Hook};

    fn open(path: &Path) -> SqliteStore {
        SqliteStore::open(path, super::cipher()).unwrap()
    }

    fn now(ms: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + ms)
    }

    async fn send(
        s: &SqliteStore,
        h: &Hook,
        title: &str,
        status: AlertStatus,
        ms: i64,
    ) -> Decision {
        let a = alert(title, Severity::High, status);
        let r = s
            .ingest(vec![item(h, now(ms), vec![a])], now(ms))
            .await
            .unwrap();
        r[0].outcomes[0].decision.clone()
    }

    fn is_dedup(d: &Decision, count: i64) -> bool {
        matches!(d, Decision::Deduplicated { occurrence_count, .. } if *occurrence_count == count)
    }

    #[tokio::test]
    async fn deduplication_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alertgate.db");
        let w = webhook(WorkspaceId::DEFAULT, "restarts");
        let h = hook(&w);
        let incident = {
            let s = open(&path);
            s.create_webhook(&w).await.unwrap();
            assert_eq!(
                send(&s, &h, "disk", AlertStatus::Firing, 0).await,
                Decision::Created
            );
            assert_eq!(
                send(&s, &h, "cpu", AlertStatus::Firing, 1).await,
                Decision::Created
            );
            assert!(is_dedup(
                &send(&s, &h, "cpu", AlertStatus::Firing, 2).await,
                2
            ));
            let gone = send(&s, &h, "gone", AlertStatus::Firing, 3).await;
            assert_eq!(gone, Decision::Created);
            assert!(matches!(
                send(&s, &h, "gone", AlertStatus::Resolved, 4).await,
                Decision::StatusChanged {
                    to: AlertStatus::Resolved,
                    ..
                }
            ));
            // Opened before the restart, resolved by a person after it (below).
            let r = s
                .ingest(
                    vec![item(
                        &h,
                        now(5),
                        vec![alert("net", Severity::Low, AlertStatus::Firing)],
                    )],
                    now(5),
                )
                .await
                .unwrap();
            r[0].outcomes[0].incident_id.unwrap()
        };
        let s = open(&path);
        assert!(s
            .incident_action(
                WorkspaceId::DEFAULT,
                incident,
                IncidentAction::Resolve,
                now(6)
            )
            .await
            .unwrap()
            .is_some());
        assert!(is_dedup(
            &send(&s, &h, "cpu", AlertStatus::Firing, 7).await,
            3
        ));
        assert!(is_dedup(
            &send(&s, &h, "disk", AlertStatus::Firing, 8).await,
            2
        ));
        // Resolved before the restart, or by a person after it: a new incident.
        assert_eq!(
            send(&s, &h, "gone", AlertStatus::Firing, 9).await,
            Decision::Created
        );
        assert_eq!(
            send(&s, &h, "net", AlertStatus::Firing, 10).await,
            Decision::Created
        );
        drop(s);
        let s = open(&path);
        assert!(is_dedup(
            &send(&s, &h, "gone", AlertStatus::Firing, 11).await,
            2
        ));
        assert!(is_dedup(
            &send(&s, &h, "net", AlertStatus::Firing, 12).await,
            2
        ));
    }

    /// A database written before migration 0003 (identities unknown, the on-disk identity index)
    /// still deduplicates its unresolved alerts after the upgrade.
    #[tokio::test]
    async fn an_upgraded_database_deduplicates_its_earlier_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alertgate.db");
        let w = webhook(WorkspaceId::DEFAULT, "upgraded");
        let h = hook(&w);
        {
            let s = open(&path);
            s.create_webhook(&w).await.unwrap();
            for (i, t) in ["a", "b", "c"].iter().enumerate() {
                assert_eq!(
                    send(&s, &h, t, AlertStatus::Firing, i as i64).await,
                    Decision::Created
                );
            }
            send(&s, &h, "c", AlertStatus::Resolved, 3).await;
        }
        // Back to schema version 2, as such a database was.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP INDEX alerts_open;
             ALTER TABLE alerts DROP COLUMN identity;
             CREATE INDEX alerts_open_identity ON alerts (webhook_id, dedup_key) WHERE status <> 'resolved';
             PRAGMA user_version = 2;",
        )
        .unwrap();
        drop(c);
        let s = open(&path);
        assert!(is_dedup(
            &send(&s, &h, "a", AlertStatus::Firing, 10).await,
            2
        ));
        assert!(is_dedup(
            &send(&s, &h, "b", AlertStatus::Firing, 11).await,
            2
        ));
        assert_eq!(
            send(&s, &h, "c", AlertStatus::Firing, 12).await,
            Decision::Created
        );
        drop(s);
        let c = rusqlite::Connection::open(&path).unwrap();
        let unfilled: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM alerts WHERE status <> 'resolved' AND identity IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(unfilled, 0);
    }

    #[tokio::test]
    async fn one_process_at_a_time_serves_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alertgate.db");
        let first = open(&path);
        let second = SqliteStore::open(&path, super::cipher());
        match second {
            Err(StoreError::Unavailable(m)) => assert!(m.contains("in use"), "{m}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a second store opened the same database"),
        }
        drop(first);
        open(&path);
    }
}
