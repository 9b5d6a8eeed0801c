//! Scoring, ties, windows, modes and scopes.

use serde_json::{json, Value};

use super::*;

fn rule(name: &str, priority: Option<u32>, weight: f64, conditions: Value) -> Value {
    let mut r = json!({"name": name, "weight": weight, "conditions": conditions});
    if let Some(p) = priority {
        r["priority"] = json!(p);
    }
    r
}

/// A condition that holds for every candidate (it tests only the standard alert).
fn always() -> Value {
    json!({"field": "severity", "operator": "equals", "value": "critical"})
}

/// A condition that holds for candidates marked `name` (the alert carries every mark).
fn tag_condition(name: &str) -> Value {
    json!({"field": format!("marks.{name}"), "operator": "equals", "value": ""})
}

/// The standard alert, carrying every mark the tests use.
fn tagged_alert() -> NormalizedAlert {
    let mut a = alert();
    a.payload["marks"] = json!({"a": "on", "b": "on", "c": "on"});
    a
}

fn with_tag(n: u64, mark: &str) -> Candidate {
    let mut c = candidate(n);
    c.payload["marks"] = json!({ mark: "on" });
    c
}

fn settings(min: f64, rules: Vec<Value>) -> CompiledCorrelation {
    compiled(json!({
        "enable_correlation": true,
        "correlation_window_minutes": 5,
        "correlation_rules": {"enabled": true, "min_match_weight": min, "rules": rules}
    }))
}

#[test]
fn the_score_is_the_sum_of_matched_weights_capped_at_one() {
    let s = settings(
        0.5,
        vec![
            rule("first", Some(1), 0.8, always()),
            rule("second", Some(2), 0.7, always()),
            rule(
                "never",
                Some(3),
                0.9,
                json!({"field": "severity", "operator": "equals", "value": "low"}),
            ),
        ],
    );
    let m = correlate_webhook(&s, &alert(), &[candidate(1)]).unwrap();
    assert_eq!(m.score, 1.0);
    assert_eq!(m.rules, vec!["first", "second"]);
    assert_eq!(m.by, MatchedBy::Rules);
    assert_eq!(m.scope, Scope::Webhook);
    assert_eq!(m.window_minutes, 5);
}

#[test]
fn a_score_below_the_minimum_opens_a_new_incident() {
    let s = settings(0.5, vec![rule("weak", Some(1), 0.4, always())]);
    assert_eq!(correlate_webhook(&s, &alert(), &[candidate(1)]), None);
    let s = settings(0.4, vec![rule("weak", Some(1), 0.4, always())]);
    assert!(correlate_webhook(&s, &alert(), &[candidate(1)]).is_some());
}

#[test]
fn weights_add_up_exactly() {
    // 0.1 + 0.2 + 0.2 is 0.5000000000000001 in floating point, 0.3 + 0.2 is 0.5 exactly:
    // either way the minimum of 0.5 is reached, and the score reported is 0.5.
    let s = settings(
        0.5,
        vec![
            rule("a", Some(1), 0.1, always()),
            rule("b", Some(2), 0.2, always()),
            rule("c", Some(3), 0.2, always()),
        ],
    );
    assert_eq!(
        correlate_webhook(&s, &alert(), &[candidate(1)])
            .unwrap()
            .score,
        0.5
    );
    let s = settings(
        0.6,
        vec![
            rule("a", Some(1), 0.3, always()),
            rule("b", Some(2), 0.29999, always()),
        ],
    );
    assert_eq!(correlate_webhook(&s, &alert(), &[candidate(1)]), None);
}

#[test]
fn a_candidate_must_match_at_least_one_rule_even_with_a_zero_minimum() {
    let never = json!({"field": "severity", "operator": "equals", "value": "low"});
    let s = settings(0.0, vec![rule("never", Some(1), 1.0, never)]);
    assert_eq!(correlate_webhook(&s, &alert(), &[candidate(1)]), None);
    let s = settings(0.0, vec![rule("weightless", Some(1), 0.0, always())]);
    let m = correlate_webhook(&s, &alert(), &[candidate(1)]).unwrap();
    assert_eq!((m.score, m.rules), (0.0, vec!["weightless".to_string()]));
}

#[test]
fn the_best_score_wins_over_recency() {
    let s = settings(
        0.5,
        vec![
            rule("a-rule", Some(1), 0.6, tag_condition("a")),
            rule("b-rule", Some(2), 0.9, tag_condition("b")),
        ],
    );
    let mut recent = with_tag(1, "a");
    recent.last_alert_at = NOW;
    let older = with_tag(2, "b");
    let m = correlate_webhook(&s, &tagged_alert(), &[recent, older]).unwrap();
    assert_eq!(m.incident_id, inc(2));
    assert_eq!(m.rules, vec!["b-rule"]);
    assert_eq!(m.score, 0.9);
}

#[test]
fn on_equal_scores_the_better_priority_wins_lower_numbers_first() {
    let s = settings(
        0.5,
        vec![
            rule("second", Some(2), 0.5, tag_condition("b")),
            rule("first", Some(1), 0.5, tag_condition("a")),
            rule("unranked", None, 0.5, tag_condition("c")),
        ],
    );
    let first = with_tag(1, "a");
    let mut second = with_tag(2, "b");
    second.last_alert_at = NOW;
    let mut unranked = with_tag(3, "c");
    unranked.last_alert_at = NOW;
    let alert = tagged_alert();
    let m = correlate_webhook(&s, &alert, &[second.clone(), first, unranked.clone()]).unwrap();
    assert_eq!(
        m.incident_id,
        inc(1),
        "priority 1 beats more recent priority 2"
    );
    let m = correlate_webhook(&s, &alert, &[unranked, second]).unwrap();
    assert_eq!(m.incident_id, inc(2), "any number beats no priority");
}

#[test]
fn on_equal_score_and_priority_the_most_recent_incident_wins() {
    let s = settings(0.5, vec![rule("all", Some(1), 1.0, always())]);
    let mut older = candidate(5);
    older.last_alert_at = minutes_ago(3);
    let mut recent = candidate(1);
    recent.last_alert_at = minutes_ago(1);
    let m = correlate_webhook(&s, &alert(), &[older.clone(), recent.clone()]).unwrap();
    assert_eq!(m.incident_id, inc(1));
    // same last alert: the newer incident (id) wins, whatever the order given
    recent.last_alert_at = older.last_alert_at;
    for list in [
        [older.clone(), recent.clone()],
        [recent.clone(), older.clone()],
    ] {
        assert_eq!(
            correlate_webhook(&s, &alert(), &list).unwrap().incident_id,
            inc(5)
        );
    }
}

#[test]
fn matched_rule_names_are_listed_in_priority_order() {
    let s = settings(
        0.5,
        vec![
            rule("z", None, 0.1, always()),
            rule("b", Some(2), 0.1, always()),
            rule("a", Some(1), 0.1, always()),
            rule("b2", Some(2), 0.3, always()),
        ],
    );
    let m = correlate_webhook(&s, &alert(), &[candidate(1)]).unwrap();
    assert_eq!(m.rules, vec!["a", "b", "b2", "z"]);
    assert_eq!(
        s.rule_names().collect::<Vec<_>>(),
        vec!["a", "b", "b2", "z"]
    );
}

#[test]
fn the_window_is_measured_from_the_candidates_last_alert_inclusive() {
    let s = one_rule(always());
    let mut at_edge = candidate(1);
    at_edge.last_alert_at = minutes_ago(5);
    assert!(correlate_webhook(&s, &alert(), &[at_edge.clone()]).is_some());
    let mut past = candidate(1);
    past.last_alert_at = minutes_ago(5).saturating_sub_millis(1);
    assert_eq!(correlate_webhook(&s, &alert(), &[past.clone()]), None);
    // the same candidate is joinable under a longer window
    let wide = compiled(
        json!({"enable_correlation": true, "correlation_window_minutes": 10,
        "correlation_rules": {"rules": [rule("r", Some(1), 1.0, always())]}}),
    );
    let m = correlate_webhook(&wide, &alert(), &[past]).unwrap();
    assert_eq!(m.window_minutes, 10);
    // a last alert stamped after `now` (another node's clock) is inside the window
    let mut ahead = candidate(1);
    ahead.last_alert_at = NOW.saturating_add_millis(MINUTE);
    assert!(correlate_webhook(&s, &alert(), &[ahead]).is_some());
}

#[test]
fn time_window_only_mode_joins_the_newest_open_incident_of_the_same_webhook() {
    let no_rules = compiled(json!({"enable_correlation": true, "correlation_window_minutes": 5}));
    assert_eq!(no_rules.mode(), Mode::TimeWindow);
    let mut older = candidate(1);
    older.last_alert_at = minutes_ago(4);
    let mut newer = candidate(2);
    newer.last_alert_at = minutes_ago(2);
    // unrelated in every way but time
    newer.title = "Something else".into();
    newer.services.clear();
    let mut other_webhook = candidate(3);
    other_webhook.webhook_id = whk(2);
    other_webhook.last_alert_at = NOW;
    let mut too_old = candidate(4);
    too_old.last_alert_at = minutes_ago(6);
    let m = correlate_webhook(
        &no_rules,
        &alert(),
        &[older, newer, other_webhook.clone(), too_old.clone()],
    )
    .unwrap();
    assert_eq!(m.incident_id, inc(2));
    assert_eq!(
        (m.by, m.scope, m.score),
        (MatchedBy::TimeWindow, Scope::Webhook, 0.0)
    );
    assert!(m.rules.is_empty());
    assert_eq!(
        correlate_webhook(&no_rules, &alert(), &[other_webhook, too_old]),
        None
    );
    assert_eq!(correlate_webhook(&no_rules, &alert(), &[]), None);
}

#[test]
fn disabled_rules_mean_time_window_only_mode() {
    let never = json!({"field": "severity", "operator": "equals", "value": "low"});
    let s = compiled(json!({"enable_correlation": true, "correlation_rules": {
        "enabled": false, "rules": [rule("never", Some(1), 1.0, never)]}}));
    assert_eq!(s.mode(), Mode::TimeWindow);
    let m = correlate_webhook(&s, &alert(), &[candidate(1)]).unwrap();
    assert_eq!(m.by, MatchedBy::TimeWindow);
}

#[test]
fn with_correlation_off_nothing_is_joined() {
    let off = compiled(json!({"enable_correlation": false, "correlation_rules": {
        "rules": [rule("all", Some(1), 1.0, always())]}}));
    assert_eq!(off.mode(), Mode::Off);
    assert_eq!(correlate_webhook(&off, &alert(), &[candidate(1)]), None);
    assert_eq!(CompiledCorrelation::default().mode(), Mode::Off);
}

#[test]
fn resolved_incidents_are_never_joined() {
    let mut resolved = candidate(1);
    resolved.status = IncidentStatus::Resolved;
    let mut acked = candidate(2);
    acked.status = IncidentStatus::Acknowledged;
    acked.last_alert_at = minutes_ago(4);
    for s in [
        one_rule(always()),
        compiled(json!({"enable_correlation": true})),
    ] {
        assert_eq!(correlate_webhook(&s, &alert(), &[resolved.clone()]), None);
        let m = correlate_webhook(&s, &alert(), &[resolved.clone(), acked.clone()]).unwrap();
        assert_eq!(m.incident_id, inc(2));
    }
}

#[test]
fn webhook_rules_only_see_the_webhooks_own_incidents() {
    let mut other = candidate(1);
    other.webhook_id = whk(2);
    assert_eq!(
        correlate_webhook(&one_rule(always()), &alert(), &[other]),
        None
    );
}

#[test]
fn another_workspace_is_never_joined_in_any_scope() {
    let mut foreign = candidate(1);
    foreign.workspace_id = wks(2);
    // even with the same webhook id and everything matching
    let everything = one_rule(always());
    let time_only = compiled(json!({"enable_correlation": true}));
    for webhook in [&everything, &time_only, &CompiledCorrelation::off()] {
        let got = correlate(
            &incoming(&alert()),
            webhook,
            &everything,
            &[foreign.clone()],
            NOW,
        );
        assert_eq!(got, None);
    }
}

#[test]
fn workspace_rules_join_incidents_of_other_webhooks() {
    // Twenty alerts, five tools: the workspace rule "same service" pulls them together.
    let workspace = compiled(
        json!({"enable_correlation": true, "correlation_window_minutes": 15,
        "correlation_rules": {"rules": [rule("Same Service", Some(1), 0.8, json!(
            {"field": "services", "operator": "intersects", "value": []}))]}}),
    );
    let mut from_datadog = candidate(1);
    from_datadog.webhook_id = whk(2);
    from_datadog.source = "datadog".into();
    from_datadog.last_alert_at = minutes_ago(12);
    let m = correlate(
        &incoming(&alert()),
        &CompiledCorrelation::off(),
        &workspace,
        &[from_datadog],
        NOW,
    )
    .unwrap();
    assert_eq!(m.incident_id, inc(1));
    assert_eq!(m.scope, Scope::Workspace);
    assert_eq!(m.rules, vec!["Same Service"]);
    assert_eq!(m.window_minutes, 15);
}

#[test]
fn a_workspace_without_rules_does_not_cross_webhooks() {
    let workspace = compiled(json!({"enable_correlation": true}));
    assert_eq!(workspace.mode(), Mode::TimeWindow);
    let mut other = candidate(1);
    other.webhook_id = whk(2);
    let got = correlate(
        &incoming(&alert()),
        &CompiledCorrelation::off(),
        &workspace,
        &[other],
        NOW,
    );
    assert_eq!(got, None);
}

#[test]
fn webhook_rules_go_first_then_workspace_rules_then_the_time_window() {
    let same_cluster = json!({"field": "labels.cluster", "operator": "equals", "value": ""});
    let webhook = settings(0.5, vec![rule("own", Some(1), 0.5, same_cluster.clone())]);
    let workspace = settings(0.5, vec![rule("shared", Some(1), 1.0, always())]);
    let time_only = compiled(json!({"enable_correlation": true}));

    let own = candidate(1);
    let mut elsewhere = candidate(2);
    elsewhere.webhook_id = whk(2);
    elsewhere.last_alert_at = NOW;

    // the webhook's rule matched: it wins although the workspace rule scores higher
    let m = correlate(
        &incoming(&alert()),
        &webhook,
        &workspace,
        &[own.clone(), elsewhere.clone()],
        NOW,
    )
    .unwrap();
    assert_eq!((m.incident_id, m.scope), (inc(1), Scope::Webhook));

    // the webhook's rule matches nothing: the workspace rule decides
    let mut own_other_cluster = own.clone();
    own_other_cluster.payload = json!({"labels": {"cluster": "us-1"}});
    let m = correlate(
        &incoming(&alert()),
        &webhook,
        &workspace,
        &[own_other_cluster.clone(), elsewhere.clone()],
        NOW,
    )
    .unwrap();
    assert_eq!((m.incident_id, m.scope), (inc(2), Scope::Workspace));

    // a workspace rule that matched beats the webhook's time-window-only mode
    let m = correlate(
        &incoming(&alert()),
        &time_only,
        &workspace,
        &[own.clone(), elsewhere.clone()],
        NOW,
    )
    .unwrap();
    assert_eq!(
        (m.incident_id, m.scope, m.by),
        (inc(2), Scope::Workspace, MatchedBy::Rules)
    );

    // nothing matched by rules: time-window-only mode on the webhook's own incidents
    let never = settings(
        0.5,
        vec![rule(
            "never",
            Some(1),
            1.0,
            json!({"field": "severity", "operator": "equals", "value": "low"}),
        )],
    );
    let m = correlate(
        &incoming(&alert()),
        &time_only,
        &never,
        &[own, elsewhere],
        NOW,
    )
    .unwrap();
    assert_eq!((m.incident_id, m.by), (inc(1), MatchedBy::TimeWindow));
}

#[test]
fn the_workspace_scope_uses_its_own_window() {
    let workspace = compiled(
        json!({"enable_correlation": true, "correlation_window_minutes": 60,
        "correlation_rules": {"rules": [rule("all", Some(1), 1.0, always())]}}),
    );
    let webhook = one_rule(always());
    let mut quiet = candidate(1);
    quiet.last_alert_at = minutes_ago(30);
    let m = correlate(&incoming(&alert()), &webhook, &workspace, &[quiet], NOW).unwrap();
    assert_eq!((m.scope, m.window_minutes), (Scope::Workspace, 60));
}

#[test]
fn the_candidate_query_covers_every_active_scope() {
    let off = CompiledCorrelation::off();
    assert_eq!(candidate_query(&off, &off, NOW), None);
    let time_only = compiled(json!({"enable_correlation": true, "correlation_window_minutes": 5}));
    assert_eq!(
        candidate_query(&time_only, &off, NOW),
        Some(CandidateQuery {
            since: minutes_ago(5),
            across_webhooks: false
        })
    );
    // a workspace without rules never crosses webhooks, so it needs no candidates
    assert_eq!(candidate_query(&off, &time_only, NOW), None);
    let workspace = compiled(
        json!({"enable_correlation": true, "correlation_window_minutes": 30,
        "correlation_rules": {"rules": [rule("all", Some(1), 1.0, always())]}}),
    );
    assert_eq!(
        candidate_query(&time_only, &workspace, NOW),
        Some(CandidateQuery {
            since: minutes_ago(30),
            across_webhooks: true
        })
    );
    let long_webhook =
        compiled(json!({"enable_correlation": true, "correlation_window_minutes": 90}));
    assert_eq!(
        candidate_query(&long_webhook, &workspace, NOW).map(|q| q.since),
        Some(minutes_ago(90))
    );
}

#[test]
fn a_match_serializes_for_the_alerts_explanation() {
    let m = CorrelationMatch {
        incident_id: inc(1),
        scope: Scope::Workspace,
        by: MatchedBy::Rules,
        score: 0.8,
        rules: vec!["Same Service".into()],
        window_minutes: 5,
    };
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(
        v,
        json!({"incident_id": inc(1).to_string(), "scope": "workspace", "by": "rules",
               "score": 0.8, "rules": ["Same Service"], "window_minutes": 5})
    );
    assert_eq!(serde_json::from_value::<CorrelationMatch>(v).unwrap(), m);
}
