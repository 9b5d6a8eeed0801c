//! Every operator, through the engine: one rule, the standard alert, one candidate.

use serde_json::{json, Value};

use super::*;

/// Whether a single-condition rule makes the standard alert join `cand`.
fn joins_with(condition: Value, cand: Candidate) -> bool {
    correlate_webhook(&one_rule(condition), &alert(), &[cand]).is_some()
}

fn check(table: &[(Value, bool)]) {
    let mut failures = Vec::new();
    for (condition, want) in table {
        if joins_with(condition.clone(), candidate(1)) != *want {
            failures.push(format!("{condition} should be {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn c(field: &str, operator: &str, value: Value) -> Value {
    json!({"field": field, "operator": operator, "value": value})
}

fn ci(field: &str, operator: &str, value: Value) -> Value {
    json!({"field": field, "operator": operator, "value": value, "case_insensitive": true})
}

#[test]
fn equals_with_a_literal_tests_the_new_alert() {
    check(&[
        (
            c("title", "equals", json!("Database down on db-primary")),
            true,
        ),
        (
            c("title", "equals", json!("database down on db-primary")),
            false,
        ),
        (
            ci("title", "equals", json!("DATABASE down on DB-primary")),
            true,
        ),
        (c("title", "equals", json!("Database down")), false),
        (c("severity", "equals", json!("critical")), true),
        (c("severity", "equals", json!("high")), false),
        (c("status", "equals", json!("firing")), true),
        (c("source", "equals", json!("generic")), true),
        (
            c("source_url", "equals", json!("https://grafana.example/d/1")),
            true,
        ),
        (
            c("description", "equals", json!("Connection refused")),
            true,
        ),
        // numbers and booleans compare by their JSON text
        (c("count", "equals", json!(42)), true),
        (c("count", "equals", json!("42")), true),
        (c("count", "equals", json!(42.0)), false),
        (c("ratio", "equals", json!(1.5)), true),
        (c("up", "equals", json!(false)), true),
        (c("up", "equals", json!("false")), true),
        (c("up", "equals", json!(true)), false),
        // objects compare as compact JSON
        (c("obj", "equals", json!("{\"a\":1}")), true),
        // arrays: set equality (order and repeats do not matter, nulls and "" are left out)
        (c("tags", "equals", json!(["db", "prod", 7, true])), true),
        (
            c("tags", "equals", json!([true, "prod", "db", "7", "db"])),
            true,
        ),
        (c("tags", "equals", json!(["db", "prod"])), false),
        (c("services", "equals", json!(["db", "api"])), true),
        (c("services", "equals", json!("db")), false),
        (
            c("severity", "equals", json!(["critical", "critical"])),
            true,
        ),
        // unicode: exact code points
        (c("labels.zone", "equals", json!("ünïcode-é")), true),
        (
            c(
                "labels.zone",
                "equals",
                json!("u\u{308}ni\u{308}code-e\u{301}"),
            ),
            false,
        ),
        (ci("labels.zone", "equals", json!("ÜNÏCODE-É")), true),
        // missing and empty fields never match
        (c("no.such.field", "equals", json!("x")), false),
        (c("nothing", "equals", json!("null")), false),
        (c("empty_obj", "equals", json!("{}")), false),
        (c("empty_list", "equals", json!("[]")), false),
    ]);
}

#[test]
fn payload_fields_are_found_by_bare_prefixed_indexed_or_jsonpath_paths() {
    check(&[
        (c("metadata.deployment_id", "equals", json!("d-123")), true),
        (
            c("payload.metadata.deployment_id", "equals", json!("d-123")),
            true,
        ),
        (
            c("$.metadata.deployment_id", "equals", json!("d-123")),
            true,
        ),
        (c("$['k8s.io/app']", "equals", json!("web")), true),
        (c("k8s.io/app", "equals", json!("web")), false),
        (c("alerts.0.fingerprint", "equals", json!("f1")), true),
        (c("alerts.1.fingerprint", "equals", json!("f1")), false),
        (c("labels.cluster.deeper", "equals", json!("eu-1")), false),
    ]);
}

#[test]
fn contains_is_a_substring_on_text_and_an_element_on_lists() {
    check(&[
        (c("title", "contains", json!("db-primary")), true),
        (c("title", "contains", json!("DB-PRIMARY")), false),
        (ci("title", "contains", json!("DB-PRIMARY")), true),
        (c("services", "contains", json!("db")), true),
        (c("services", "contains", json!("d")), false),
        (c("tags", "contains", json!(7)), true),
        (c("tags", "contains", json!(true)), true),
        (c("tags", "contains", json!("prod")), true),
        (c("count", "contains", json!(4)), true),
        (c("labels.zone", "contains", json!("ï")), true),
        (c("labels.zone", "contains", json!("i")), false),
        (c("no.such.field", "contains", json!("x")), false),
        (c("empty_list", "contains", json!("x")), false),
    ]);
}

#[test]
fn starts_with_tests_the_text_or_any_element() {
    check(&[
        (c("title", "starts_with", json!("Database")), true),
        (c("title", "starts_with", json!("down")), false),
        (ci("title", "starts_with", json!("DATABASE")), true),
        (c("services", "starts_with", json!("a")), true),
        (c("services", "starts_with", json!("w")), false),
        (c("labels.zone", "starts_with", json!("ü")), true),
        (c("count", "starts_with", json!(4)), true),
        (c("no.such.field", "starts_with", json!("a")), false),
    ]);
}

#[test]
fn regex_searches_the_text_or_any_element() {
    check(&[
        (
            c("title", "regex", json!("^Database down on db-[a-z]+$")),
            true,
        ),
        (c("title", "regex", json!("db-primary")), true),
        (c("title", "regex", json!("DOWN")), false),
        (ci("title", "regex", json!("DOWN")), true),
        (c("tags", "regex", json!("^[0-9]+$")), true),
        (c("services", "regex", json!("^web$")), false),
        (c("count", "regex", json!("^4")), true),
        (c("labels.zone", "regex", json!(r"^\p{L}+-é$")), true),
        (c("no.such.field", "regex", json!(".*")), false),
        (c("empty_str", "regex", json!(".*")), false),
    ]);
}

#[test]
fn in_means_every_value_of_the_field_is_listed() {
    check(&[
        (c("severity", "in", json!(["critical", "high"])), true),
        (c("severity", "in", json!(["high", "medium"])), false),
        (c("services", "in", json!(["api", "db", "web"])), true),
        (c("services", "in", json!(["db"])), false),
        (c("count", "in", json!([41, 42])), true),
        (c("count", "in", json!(["42"])), true),
        (
            c("title", "in", json!(["database down on db-primary"])),
            false,
        ),
        (
            ci("title", "in", json!(["DATABASE DOWN ON DB-PRIMARY"])),
            true,
        ),
        (c("no.such.field", "in", json!(["x"])), false),
    ]);
}

#[test]
fn intersects_means_one_value_is_shared() {
    check(&[
        (c("services", "intersects", json!(["db", "x"])), true),
        (c("services", "intersects", json!(["x", "y"])), false),
        (c("tags", "intersects", json!([7])), true),
        (c("severity", "intersects", json!(["critical"])), true),
        (c("no.such.field", "intersects", json!(["x"])), false),
    ]);
}

#[test]
fn exists_tests_presence_on_the_new_alert() {
    check(&[
        (
            json!({"field": "labels.cluster", "operator": "exists"}),
            true,
        ),
        (c("labels.cluster", "exists", json!(true)), true),
        (c("labels.cluster", "exists", json!(false)), false),
        (c("labels.cluster", "exists", json!(null)), true),
        (c("labels.cluster", "exists", json!("")), true),
        (c("labels.cluster", "exists", json!([])), true),
        (c("no.such.field", "exists", json!([])), false),
        (
            json!({"field": "no.such.field", "operator": "exists"}),
            false,
        ),
        (c("no.such.field", "exists", json!(false)), true),
        (c("nothing", "exists", json!(true)), false),
        (c("empty_str", "exists", json!(true)), false),
        (c("empty_list", "exists", json!(true)), false),
        (c("empty_obj", "exists", json!(true)), false),
        (c("up", "exists", json!(true)), true),
        (c("description", "exists", json!(true)), true),
        (c("source_url", "exists", json!(true)), true),
    ]);
    // The candidate's field plays no part: it has no `labels.zone`, the alert does.
    assert!(joins_with(
        c("labels.zone", "exists", json!(true)),
        candidate(1)
    ));
}

#[test]
fn an_empty_value_compares_the_alert_with_the_candidate() {
    check(&[
        (c("title", "equals", json!("")), true),
        (json!({"field": "title", "operator": "equals"}), true),
        (c("title", "equals", json!(null)), true),
        (c("description", "equals", json!([])), true),
        (c("severity", "equals", json!("")), false),
        (c("services", "intersects", json!([])), true),
        (c("services", "equals", json!([])), false),
        (c("services", "in", json!([])), false),
        (c("services", "contains", json!("")), false),
        (c("labels.cluster", "equals", json!("")), true),
        (c("labels.team", "equals", json!("")), false),
        (ci("labels.team", "equals", json!("")), true),
        (c("metadata.deployment_id", "equals", json!("")), false),
        (c("metadata.deployment_id", "starts_with", json!("")), false),
        (c("count", "equals", json!("")), true),
        (c("tags", "intersects", json!([])), true),
        (c("tags", "equals", json!([])), false),
        (c("source", "equals", json!("")), true),
        (c("status", "equals", json!("")), true),
        (c("title", "starts_with", json!("")), true),
        (c("title", "contains", json!("")), true),
        // absent on either side: no match
        (c("source_url", "equals", json!("")), false),
        (c("labels.zone", "equals", json!("")), false),
        (c("no.such.field", "equals", json!("")), false),
    ]);
}

#[test]
fn candidate_comparisons_read_each_side_in_its_own_shape() {
    // the candidate's services are a superset: `in` holds, `contains` (of all of theirs) does not
    let mut cand = candidate(1);
    cand.services = vec!["api".into(), "db".into(), "web".into()];
    assert!(joins_with(c("services", "in", json!([])), cand.clone()));
    assert!(!joins_with(c("services", "contains", json!([])), cand));
    // a subset: `contains` holds
    let mut cand = candidate(1);
    cand.services = vec!["db".into()];
    assert!(joins_with(
        c("services", "contains", json!([])),
        cand.clone()
    ));
    assert!(!joins_with(c("services", "equals", json!([])), cand));
    // a shorter title is a prefix and a substring of the alert's
    let mut cand = candidate(1);
    cand.title = "Database down".into();
    assert!(joins_with(
        c("title", "starts_with", json!("")),
        cand.clone()
    ));
    assert!(!joins_with(c("title", "equals", json!("")), cand));
    // an acknowledged incident is not in the state of a firing alert
    let mut cand = candidate(1);
    cand.status = IncidentStatus::Acknowledged;
    assert!(!joins_with(c("status", "equals", json!("")), cand.clone()));
    assert!(joins_with(
        c("status", "in", json!(["firing", "acknowledged"])),
        cand
    ));
    // a different platform is a different source
    let mut cand = candidate(1);
    cand.source = "datadog".into();
    assert!(!joins_with(c("source", "equals", json!("")), cand));
    // a candidate without services shares none
    let mut cand = candidate(1);
    cand.services.clear();
    assert!(!joins_with(c("services", "intersects", json!([])), cand));
}

#[test]
fn groups_combine_with_and_or_and_nest() {
    let crit = c("severity", "equals", json!("critical"));
    let low = c("severity", "equals", json!("low"));
    let same_cluster = c("labels.cluster", "equals", json!(""));
    let same_deploy = c("metadata.deployment_id", "equals", json!(""));
    let and = |items: Vec<Value>| json!({"operator": "and", "items": items});
    let or = |items: Vec<Value>| json!({"operator": "or", "items": items});
    check(&[
        (and(vec![crit.clone(), same_cluster.clone()]), true),
        (and(vec![crit.clone(), same_deploy.clone()]), false),
        (or(vec![low.clone(), same_deploy.clone()]), false),
        (or(vec![low.clone(), same_cluster.clone()]), true),
        (
            and(vec![
                crit.clone(),
                or(vec![same_deploy.clone(), same_cluster.clone()]),
            ]),
            true,
        ),
        (
            or(vec![
                and(vec![low.clone(), same_cluster.clone()]),
                and(vec![crit.clone(), same_deploy.clone()]),
            ]),
            false,
        ),
        (
            and(vec![
                and(vec![and(vec![and(vec![crit.clone()])])]),
                same_cluster.clone(),
            ]),
            true,
        ),
        (and(vec![crit.clone()]), true),
        (or(vec![low]), false),
    ]);
}

#[test]
fn an_alert_only_test_is_reused_across_candidates_without_changing_answers() {
    // `severity in [...]` is computed once per alert; the candidate-comparing part still varies.
    let rule = one_rule(json!({"operator": "and", "items": [
        c("severity", "in", json!(["critical"])),
        c("labels.cluster", "equals", json!(""))
    ]}));
    let mut other_cluster = candidate(2);
    other_cluster.payload = json!({"labels": {"cluster": "us-1"}});
    other_cluster.last_alert_at = NOW;
    let same_cluster = candidate(1);
    let got = correlate_webhook(&rule, &alert(), &[other_cluster, same_cluster]);
    assert_eq!(got.map(|m| m.incident_id), Some(inc(1)));
}
