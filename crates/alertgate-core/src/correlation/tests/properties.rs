//! Properties: whatever the settings and candidates, correlation stays inside the workspace,
//! crosses webhooks only by a workspace rule, and answers with one of the given candidates.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const SERVICES: [&str; 4] = ["api", "db", "web", "queue"];
const TITLES: [&str; 3] = ["Database down", "High CPU", "Disk full"];

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(Severity::ALL.to_vec())
}

fn services() -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(SERVICES.to_vec(), 0..=SERVICES.len())
        .prop_map(|s| s.into_iter().map(String::from).collect())
}

fn payload() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::sample::select(vec!["eu-1", "us-1"])),
        prop::option::of(0u8..3),
    )
        .prop_map(|(cluster, deploy)| {
            let mut p = json!({"labels": {}});
            if let Some(c) = cluster {
                p["labels"]["cluster"] = json!(c);
            }
            if let Some(d) = deploy {
                p["deployment"] = json!(d);
            }
            p
        })
}

prop_compose! {
    fn arb_alert()(
        title in prop::sample::select(TITLES.to_vec()),
        severity in severity(),
        services in services(),
        payload in payload(),
    ) -> NormalizedAlert {
        let mut a = alert();
        a.title = title.into();
        a.severity = severity;
        a.services = services;
        a.payload = payload;
        a
    }
}

prop_compose! {
    /// Incident ids are made unique by the caller.
    fn arb_candidate()(
        workspace in 1u128..=2,
        webhook in 1u128..=3,
        title in prop::sample::select(TITLES.to_vec()),
        severity in severity(),
        services in services(),
        status in prop::sample::select(vec![IncidentStatus::Open, IncidentStatus::Acknowledged, IncidentStatus::Resolved]),
        payload in payload(),
        // mostly recent; some from up to 90 minutes ago or 2 minutes in the future
        age_secs in prop_oneof![3 => -120i64..600, 1 => 600i64..5_400],
    ) -> Candidate {
        Candidate {
            incident_id: inc(0),
            webhook_id: whk(webhook),
            workspace_id: wks(workspace),
            title: title.into(),
            description: None,
            severity,
            services,
            status,
            source: "generic".into(),
            source_url: None,
            payload,
            last_alert_at: NOW.saturating_sub_millis(age_secs * 1_000),
        }
    }
}

/// Rule conditions of every kind: alert-only, candidate-comparing, nested.
fn conditions() -> Vec<Value> {
    vec![
        json!({"field": "services", "operator": "intersects", "value": []}),
        json!({"field": "severity", "operator": "in", "value": ["critical", "high"]}),
        json!({"field": "title", "operator": "equals", "value": ""}),
        json!({"field": "labels.cluster", "operator": "equals", "value": ""}),
        json!({"field": "deployment", "operator": "equals"}),
        json!({"field": "title", "operator": "regex", "value": "(?i)down|cpu"}),
        json!({"field": "labels.cluster", "operator": "exists", "value": false}),
        json!({"operator": "or", "items": [
            {"field": "services", "operator": "contains", "value": "db"},
            {"operator": "and", "items": [
                {"field": "title", "operator": "starts_with", "value": ""},
                {"field": "severity", "operator": "equals", "value": []}
            ]}
        ]}),
    ]
}

prop_compose! {
    fn arb_rule()(
        condition in prop::sample::select(conditions()),
        priority in prop::option::of(1u32..4),
        weight in 0u32..=10,
    ) -> Value {
        let mut r = json!({"name": "", "weight": f64::from(weight) / 10.0, "conditions": condition});
        if let Some(p) = priority {
            r["priority"] = json!(p);
        }
        r
    }
}

prop_compose! {
    fn arb_settings()(
        enable in prop::bool::weighted(0.8),
        rules_enabled in prop::bool::weighted(0.8),
        window in prop::sample::select(vec![1i64, 5, 30, 60]),
        min in 0u32..=10,
        rules in prop::collection::vec(arb_rule(), 0..4),
    ) -> CompiledCorrelation {
        let rules: Vec<Value> = rules
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                r["name"] = json!(format!("rule {i}"));
                r
            })
            .collect();
        compiled(json!({
            "enable_correlation": enable,
            "correlation_window_minutes": window,
            "correlation_rules": {"enabled": rules_enabled, "min_match_weight": f64::from(min) / 10.0, "rules": rules}
        }))
    }
}

prop_compose! {
    fn arb_case()(
        alert in arb_alert(),
        webhook in 1u128..=3,
        workspace in 1u128..=2,
        candidates in prop::collection::vec(arb_candidate(), 0..12),
        webhook_settings in arb_settings(),
        workspace_settings in arb_settings(),
    ) -> (NormalizedAlert, WebhookId, WorkspaceId, Vec<Candidate>, CompiledCorrelation, CompiledCorrelation) {
        let candidates = candidates
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c.incident_id = inc(i as u64);
                c
            })
            .collect();
        (alert, whk(webhook), wks(workspace), candidates, webhook_settings, workspace_settings)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn correlation_stays_in_its_workspace_and_crosses_webhooks_only_by_a_workspace_rule(
        (alert, webhook_id, workspace_id, candidates, webhook, workspace) in arb_case()
    ) {
        let incoming = Incoming { alert: &alert, webhook_id, workspace_id, platform: "generic" };
        let got = correlate(&incoming, &webhook, &workspace, &candidates, NOW);
        let Some(m) = got else { return Ok(()) };

        // always one of the given candidates
        let chosen = candidates.iter().find(|c| c.incident_id == m.incident_id);
        prop_assert!(chosen.is_some(), "{m:?} is not a candidate");
        let chosen = chosen.unwrap();

        // never another workspace, never a resolved incident
        prop_assert_eq!(chosen.workspace_id, workspace_id);
        prop_assert_ne!(chosen.status, IncidentStatus::Resolved);

        // another webhook only through a workspace-scope rule that matched
        if chosen.webhook_id != webhook_id {
            prop_assert_eq!(m.scope, Scope::Workspace);
            prop_assert_eq!(m.by, MatchedBy::Rules);
            prop_assert!(!m.rules.is_empty());
            prop_assert_eq!(workspace.mode(), Mode::Rules);
        }
        if m.scope == Scope::Webhook {
            prop_assert_eq!(chosen.webhook_id, webhook_id);
        }

        // inside the window of the scope that matched, with a score the scope accepts
        let cfg = match m.scope { Scope::Webhook => &webhook, Scope::Workspace => &workspace };
        prop_assert_eq!(m.window_minutes, cfg.window().minutes());
        prop_assert!(chosen.last_alert_at >= NOW.saturating_sub_millis(cfg.window().millis()));
        prop_assert!((0.0..=1.0).contains(&m.score));
        match m.by {
            MatchedBy::Rules => {
                prop_assert_eq!(cfg.mode(), Mode::Rules);
                prop_assert!(m.score >= cfg.min_match_weight());
                prop_assert!(m.rules.iter().all(|r| cfg.rule_names().any(|n| n == r)));
            }
            MatchedBy::TimeWindow => {
                prop_assert_eq!(m.scope, Scope::Webhook);
                prop_assert_eq!(webhook.mode(), Mode::TimeWindow);
            }
        }
    }

    #[test]
    fn the_answer_does_not_depend_on_the_order_of_the_candidates(
        (alert, webhook_id, workspace_id, candidates, webhook, workspace) in arb_case()
    ) {
        let incoming = Incoming { alert: &alert, webhook_id, workspace_id, platform: "generic" };
        let forward = correlate(&incoming, &webhook, &workspace, &candidates, NOW);
        let mut reversed = candidates.clone();
        reversed.reverse();
        prop_assert_eq!(forward, correlate(&incoming, &webhook, &workspace, &reversed, NOW));
    }

    #[test]
    fn an_alert_of_a_workspace_with_no_candidates_is_never_correlated(
        (alert, webhook_id, _workspace, candidates, webhook, workspace) in arb_case()
    ) {
        let incoming = Incoming { alert: &alert, webhook_id, workspace_id: wks(3), platform: "generic" };
        prop_assert_eq!(correlate(&incoming, &webhook, &workspace, &candidates, NOW), None);
    }

    #[test]
    fn the_candidate_query_admits_every_candidate_that_can_be_chosen(
        (alert, webhook_id, workspace_id, candidates, webhook, workspace) in arb_case()
    ) {
        let incoming = Incoming { alert: &alert, webhook_id, workspace_id, platform: "generic" };
        if let Some(m) = correlate(&incoming, &webhook, &workspace, &candidates, NOW) {
            let q = candidate_query(&webhook, &workspace, NOW);
            prop_assert!(q.is_some());
            let q = q.unwrap();
            let chosen = candidates.iter().find(|c| c.incident_id == m.incident_id).unwrap();
            prop_assert!(chosen.last_alert_at >= q.since);
            prop_assert!(q.across_webhooks || chosen.webhook_id == webhook_id);
        }
    }
}

/// Arbitrary JSON, a few levels deep.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]{1,2}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_condition_either_compiles_or_is_refused_without_panicking(
        field in prop_oneof![Just("title".to_string()), Just("$.a".to_string()), "[a-c.$\\[\\]']{0,6}"],
        operator in prop_oneof![prop::sample::select(OPERATORS.to_vec()).prop_map(String::from), ".{0,6}"],
        value in arb_json(),
        case_insensitive in any::<bool>(),
    ) {
        let settings = json!({"enable_correlation": true, "correlation_rules": {"rules": [
            {"name": "R", "weight": 1, "conditions":
                {"field": field, "operator": operator, "value": value, "case_insensitive": case_insensitive}}
        ]}});
        let settings: CorrelationSettings = serde_json::from_value(settings).unwrap();
        if let Err(e) = settings.compile() {
            prop_assert!(!e.problems.is_empty());
            prop_assert!(e.problems.iter().all(|p| p.rule.as_deref() == Some("R")));
        }
    }

    #[test]
    fn evaluation_on_any_payload_never_panics(
        alert_payload in arb_json(),
        candidate_payload in arb_json(),
        pattern in "[a-c.*+?|()\\[\\]^$]{1,8}",
    ) {
        let mut a = alert();
        a.payload = alert_payload;
        let mut c = candidate(1);
        c.payload = candidate_payload;
        let mut items = vec![
            json!({"field": "a", "operator": "equals", "value": ""}),
            json!({"field": "a.b", "operator": "contains", "value": []}),
            json!({"field": "$..a", "operator": "intersects", "value": []}),
            json!({"field": "b.0", "operator": "in", "value": []}),
            json!({"field": "c", "operator": "starts_with", "value": "", "case_insensitive": true}),
            json!({"field": "a", "operator": "exists"}),
        ];
        if regex::Regex::new(&pattern).is_ok() {
            items.push(json!({"field": "a", "operator": "regex", "value": pattern}));
        }
        let rules: Vec<Value> = items
            .into_iter()
            .enumerate()
            .map(|(i, cond)| json!({"name": format!("r{i}"), "weight": 0.2, "conditions": cond}))
            .collect();
        let s = with_rules(Value::Array(rules));
        let _ = correlate_webhook(&s, &a, &[c]);
    }
}
