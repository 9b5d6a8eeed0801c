//! Correlation settings as users write them (`PUT /api/v1/correlation`, a webhook's
//! `correlation_rules`): the JSON parser, the validator/compiler, and evaluation of whatever
//! compiles against a fixed alert and a few candidate incidents.
//!
//! Invariants: no panic; a refusal lists at least one problem; what compiles respects the
//! documented bounds (rules, window, minimum weight) and is off when correlation is off; settings
//! survive a JSON round trip with the same verdict; a match is one of the candidates, of the
//! alert's workspace, unresolved, with a score in [0, 1].
#![no_main]

use std::sync::OnceLock;

use alertgate_core::alert::NormalizedAlert;
use alertgate_core::correlation::{
    correlate, Candidate, CompiledCorrelation, CorrelationSettings, Incoming, Mode, MAX_RULES,
};
use alertgate_core::ids::{IncidentId, WebhookId, WorkspaceId};
use alertgate_core::{AlertStatus, IncidentStatus, Severity, Timestamp};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn alert() -> &'static NormalizedAlert {
    static A: OnceLock<NormalizedAlert> = OnceLock::new();
    A.get_or_init(|| NormalizedAlert {
        title: "Database down on db-primary".into(),
        description: Some("Connection refused".into()),
        severity: Severity::Critical,
        raw_severity: None,
        services: vec!["api".into(), "db".into()],
        status: AlertStatus::Firing,
        dedup_key: "k".into(),
        dedup_key_custom: false,
        source_url: Some("https://grafana.example/d/1".into()),
        payload: json!({
            "labels": {"cluster": "eu-1", "team": "Storage", "zone": "ünïcode-é"},
            "count": 42, "ratio": 1.5, "up": false,
            "tags": ["db", "prod", 7, true, null, ""],
            "empty_list": [], "empty_str": "", "empty_obj": {}, "nothing": null,
            "k8s.io/app": "web", "alerts": [{"fingerprint": "f1"}]
        }),
    })
}

fn candidates() -> &'static [Candidate] {
    static C: OnceLock<Vec<Candidate>> = OnceLock::new();
    C.get_or_init(|| {
        let base = Candidate {
            incident_id: IncidentId::new(Timestamp::from_millis(1_000), 0),
            webhook_id: WebhookId::new(Timestamp::from_millis(1), 1),
            workspace_id: WorkspaceId::new(Timestamp::from_millis(1), 1),
            title: "Database down on db-primary".into(),
            description: Some("Connection refused".into()),
            severity: Severity::High,
            services: vec!["db".into(), "web".into()],
            status: IncidentStatus::Open,
            source: "generic".into(),
            source_url: None,
            payload: json!({"labels": {"cluster": "eu-1"}, "count": "42", "tags": ["prod"]}),
            last_alert_at: NOW.saturating_sub_millis(60_000),
        };
        let mut other_webhook = base.clone();
        other_webhook.incident_id = IncidentId::new(Timestamp::from_millis(1_001), 0);
        other_webhook.webhook_id = WebhookId::new(Timestamp::from_millis(1), 2);
        other_webhook.title = "High CPU".into();
        other_webhook.payload = json!({"labels": {"cluster": "us-1"}, "k8s.io/app": "web"});
        let mut resolved = base.clone();
        resolved.incident_id = IncidentId::new(Timestamp::from_millis(1_002), 0);
        resolved.status = IncidentStatus::Resolved;
        let mut elsewhere = base.clone();
        elsewhere.incident_id = IncidentId::new(Timestamp::from_millis(1_003), 0);
        elsewhere.workspace_id = WorkspaceId::new(Timestamp::from_millis(1), 2);
        let mut old = base.clone();
        old.incident_id = IncidentId::new(Timestamp::from_millis(1_004), 0);
        old.last_alert_at = NOW.saturating_sub_millis(2 * 86_400_000);
        vec![base, other_webhook, resolved, elsewhere, old]
    })
}

fn check(c: &CompiledCorrelation, s: &CorrelationSettings) {
    if !s.enable_correlation {
        assert_eq!(c.mode(), Mode::Off);
    }
    assert!(c.rule_names().count() <= MAX_RULES);
    assert!((1..=1440).contains(&c.window().minutes()));
    assert!((0.0..=1.0).contains(&c.min_match_weight()));
}

fuzz_target!(|data: &[u8]| {
    let Ok(settings) = serde_json::from_slice::<CorrelationSettings>(data) else {
        return;
    };
    let compiled = settings.compile();
    let round = serde_json::to_vec(&settings).unwrap();
    let again: CorrelationSettings = serde_json::from_slice(&round).unwrap();
    assert_eq!(again, settings, "settings change in a JSON round trip");
    assert_eq!(again.compile().is_ok(), compiled.is_ok());
    let compiled = match compiled {
        Ok(c) => c,
        Err(e) => {
            assert!(!e.problems.is_empty());
            let _ = e.to_string();
            return;
        }
    };
    check(&compiled, &settings);

    let incoming = Incoming {
        alert: alert(),
        webhook_id: WebhookId::new(Timestamp::from_millis(1), 1),
        workspace_id: WorkspaceId::new(Timestamp::from_millis(1), 1),
        platform: "generic",
    };
    let off = CompiledCorrelation::off();
    for (webhook, workspace) in [(&compiled, &off), (&off, &compiled), (&compiled, &compiled)] {
        let Some(m) = correlate(&incoming, webhook, workspace, candidates(), NOW) else {
            continue;
        };
        let chosen = candidates()
            .iter()
            .find(|c| c.incident_id == m.incident_id)
            .expect("the match is one of the candidates");
        assert_eq!(chosen.workspace_id, incoming.workspace_id);
        assert_ne!(chosen.status, IncidentStatus::Resolved);
        assert!((0.0..=1.0).contains(&m.score));
    }
});
