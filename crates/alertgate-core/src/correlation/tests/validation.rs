//! Validation: every problem names its rule, its place, and what is wrong.

use serde_json::{json, Value};

use super::*;

fn settings_with(rules: Value) -> CorrelationSettings {
    serde_json::from_value(json!({
        "enable_correlation": true,
        "correlation_window_minutes": 5,
        "correlation_rules": {"enabled": true, "min_match_weight": 0.5, "rules": rules}
    }))
    .expect("settings deserialize")
}

fn problems(rules: Value) -> Vec<ConfigProblem> {
    match settings_with(rules).compile() {
        Ok(_) => Vec::new(),
        Err(e) => e.problems,
    }
}

/// The single problem of a one-rule set named "R" with these conditions.
fn problem_of(conditions: Value) -> ConfigProblem {
    let mut ps =
        problems(json!([{"name": "R", "priority": 1, "weight": 0.5, "conditions": conditions}]));
    assert_eq!(ps.len(), 1, "{conditions}: {ps:?}");
    ps.remove(0)
}

fn cond(field: &str, operator: &str, value: Value) -> Value {
    json!({"field": field, "operator": operator, "value": value})
}

#[test]
fn each_bad_condition_is_reported_with_its_rule_place_and_problem() {
    let table: Vec<(Value, &str)> = vec![
        (cond("title", "like", json!("x")), "unknown operator `like`: expected one of equals, contains, regex, starts_with, in, intersects, exists"),
        (cond("title", "and", json!("x")), "`and`/`or` combine a group's `items`"),
        (cond("title", "regex", json!("([")), "`([` is not a valid regex"),
        (cond("title", "regex", json!("")), "`regex` needs a pattern"),
        (json!({"field": "title", "operator": "regex"}), "`regex` needs a pattern"),
        (cond("title", "regex", json!(5)), "`regex` needs a string pattern (got a number)"),
        (cond("title", "regex", json!(r"(\w{100}){100}")), "compiles to more than 256 KiB"),
        (cond("title", "regex", json!("a".repeat(1001))), "a regex is at most 1000 characters"),
        (cond("severity", "in", json!("critical")), "`in` needs an array of values"),
        (cond("services", "intersects", json!({"a": 1})), "`intersects` needs an array of values, e.g. [\"critical\", \"high\"] (got an object)"),
        (cond("severity", "in", json!(["critical", null])), "value 1 is null"),
        (cond("tags", "in", json!([["nested"]])), "value 0 is an array"),
        (cond("tags", "in", json!(["ok", ""])), "value 1 is an empty string"),
        (cond("tags", "in", json!(vec!["x"; 1001])), "at most 1000 values"),
        (cond("title", "contains", json!(["a", "b"])), "`contains` takes one value (a string, number or boolean), not an array"),
        (cond("title", "starts_with", json!({"a": 1})), "`starts_with` takes a string, number or boolean (got an object)"),
        (cond("title", "equals", json!({"a": 1})), "`equals` takes a string, number or boolean (got an object)"),
        (cond("title", "equals", json!("x".repeat(1001))), "at most 1000 characters"),
        (cond("title", "exists", json!("yes")), "`exists` takes true, false or no value (got a string)"),
        (cond("title", "exists", json!(["x"])), "`exists` takes true, false or no value (got an array)"),
        (cond("title", "exists", json!(1)), "`exists` takes true, false or no value (got a number)"),
        (cond("severity", "equals", json!("Critical")), "`Critical` is not a severity"),
        (cond("severity", "in", json!(["critical", "p1"])), "`p1` is not a severity"),
        (cond("status", "equals", json!("open")), "`open` is not an alert status (expected firing, acknowledged or resolved)"),
        (cond("", "equals", json!("x")), "field: the field is empty"),
        (cond("payload", "equals", json!("x")), "name a field inside the payload"),
        (cond("labels..cluster", "equals", json!("x")), "empty path segment"),
        (cond("$.[", "equals", json!("x")), "is not valid JSONPath"),
        (json!({"operator": "xor", "items": [cond("title", "equals", json!(""))]}), "unknown group operator `xor`: expected `and` or `or`"),
        (json!({"operator": "equals", "items": [cond("title", "equals", json!(""))]}), "a condition needs a `field`"),
        (json!({"operator": "and", "items": []}), "a group needs at least one item"),
    ];
    for (conditions, want) in table {
        let p = problem_of(conditions.clone());
        assert_eq!(p.rule.as_deref(), Some("R"), "{conditions}");
        assert_eq!(p.rule_number, Some(1), "{conditions}");
        assert!(
            p.problem.contains(want),
            "{conditions}: {:?} lacks {want:?}",
            p.problem
        );
        assert!(p.at.starts_with("conditions"), "{conditions}: {}", p.at);
    }
}

#[test]
fn the_place_of_a_problem_is_its_path_in_the_rule() {
    let p = problem_of(json!({"operator": "and", "items": [
        cond("title", "equals", json!("")),
        {"operator": "or", "items": [cond("title", "equals", json!("")), cond("title", "like", json!(""))]}
    ]}));
    assert_eq!(p.at, "conditions.items[1].items[1]");
    assert_eq!(
        p.to_string(),
        "rule \"R\" (#1), conditions.items[1].items[1]: unknown operator `like`: expected one of equals, contains, regex, starts_with, in, intersects, exists"
    );
}

#[test]
fn valid_literals_pass_including_case_insensitive_vocabulary() {
    for conditions in [
        json!({"field": "severity", "operator": "equals", "value": "Critical", "case_insensitive": true}),
        cond("severity", "intersects", json!(["critical", "info"])),
        cond(
            "status",
            "in",
            json!(["firing", "acknowledged", "resolved"]),
        ),
        cond("severity", "contains", json!("crit")),
        cond("count", "equals", json!(42)),
        cond("up", "in", json!([true, false])),
        cond("title", "exists", json!(false)),
        json!({"field": "title", "operator": "exists"}),
        cond("title", "regex", json!(r"(?i)^db-\d+$")),
    ] {
        assert_eq!(
            problems(json!([{"name": "R", "weight": 1, "conditions": conditions}])),
            vec![],
            "{conditions}"
        );
    }
}

#[test]
fn rule_level_problems_name_the_rule_by_number_when_it_has_no_name() {
    let ok = cond("title", "equals", json!(""));
    let ps = problems(json!([
        {"name": "Heavy", "weight": 1.5, "conditions": ok},
        {"name": "  ", "weight": 0.5, "conditions": ok},
        {"name": "Negative", "weight": -0.1, "conditions": ok},
        {"name": "Heavy", "weight": 0.5, "conditions": ok},
        {"name": "x".repeat(101), "weight": 0.5, "conditions": ok},
        {"name": "tab\there", "weight": 0.5, "conditions": ok}
    ]));
    let got: Vec<(Option<usize>, Option<String>, String, String)> = ps
        .into_iter()
        .map(|p| (p.rule_number, p.rule, p.at, p.problem))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Some(1),
                Some("Heavy".into()),
                "weight".into(),
                "must be between 0 and 1 (got 1.5)".into()
            ),
            (Some(2), None, "name".into(), "the rule has no name".into()),
            (
                Some(3),
                Some("Negative".into()),
                "weight".into(),
                "must be between 0 and 1 (got -0.1)".into()
            ),
            (
                Some(4),
                Some("Heavy".into()),
                "name".into(),
                "another rule has the same name (names must be unique)".into()
            ),
            (
                Some(5),
                Some(format!("{}…", "x".repeat(100))),
                "name".into(),
                "a rule name is at most 100 characters".into()
            ),
            (
                Some(6),
                Some("tab\there".into()),
                "name".into(),
                "a rule name must not contain control characters".into()
            ),
        ]
    );
}

#[test]
fn settings_level_problems_name_the_setting() {
    for (minutes, ok) in [
        (0, false),
        (-5, false),
        (1, true),
        (5, true),
        (1440, true),
        (1441, false),
        (i64::MAX, false),
    ] {
        let s: CorrelationSettings =
            serde_json::from_value(json!({"correlation_window_minutes": minutes})).unwrap();
        match s.compile() {
            Ok(c) => {
                assert!(ok, "{minutes}");
                assert_eq!(i64::from(c.window().minutes()), minutes);
            }
            Err(e) => {
                assert!(!ok, "{minutes}");
                assert_eq!(e.problems[0].at, "correlation_window_minutes");
                assert_eq!(e.problems[0].rule, None);
                assert!(e.problems[0].problem.contains("between 1 and 1440 minutes"));
            }
        }
    }
    for (min, ok) in [(-0.01, false), (0.0, true), (1.0, true), (1.01, false)] {
        let s: CorrelationSettings =
            serde_json::from_value(json!({"correlation_rules": {"min_match_weight": min}}))
                .unwrap();
        let r = s.validate();
        assert_eq!(r.is_ok(), ok, "{min}");
        if let Err(e) = r {
            assert_eq!(e.problems[0].at, "correlation_rules.min_match_weight");
            assert_eq!(
                e.to_string(),
                format!("invalid correlation settings: correlation_rules.min_match_weight: must be between 0 and 1 (got {min})")
            );
        }
    }
}

#[test]
fn too_many_rules_are_refused() {
    let rule = |i: usize| json!({"name": format!("r{i}"), "weight": 0.1, "conditions": cond("title", "equals", json!(""))});
    assert!(settings_with(Value::Array((0..50).map(rule).collect()))
        .validate()
        .is_ok());
    let e = settings_with(Value::Array((0..51).map(rule).collect()))
        .validate()
        .unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert_eq!(e.problems[0].at, "correlation_rules.rules");
    assert_eq!(e.problems[0].problem, "at most 50 rules (got 51)");
}

fn nested(depth: usize) -> Value {
    let mut node = cond("title", "equals", json!(""));
    for _ in 0..depth {
        node = json!({"operator": "and", "items": [node]});
    }
    node
}

#[test]
fn groups_nest_at_most_five_deep() {
    assert!(problems(json!([{"name": "R", "weight": 1, "conditions": nested(5)}])).is_empty());
    let p = problem_of(nested(6));
    assert_eq!(p.problem, "groups are nested more than 5 deep");
    assert_eq!(
        p.at,
        "conditions.items[0].items[0].items[0].items[0].items[0]"
    );
    // reported once per rule, however deep
    assert_eq!(
        problem_of(nested(40)).problem,
        "groups are nested more than 5 deep"
    );
}

#[test]
fn a_rule_has_at_most_fifty_conditions() {
    let items =
        |n: usize| Value::Array((0..n).map(|_| cond("title", "equals", json!(""))).collect());
    assert!(problems(
        json!([{"name": "R", "weight": 1, "conditions": {"operator": "or", "items": items(50)}}])
    )
    .is_empty());
    let p = problem_of(json!({"operator": "or", "items": items(51)}));
    assert_eq!(p.problem, "a rule has at most 50 conditions");
}

#[test]
fn a_rule_set_has_at_most_twenty_regexes() {
    let regexes = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| cond("title", "regex", json!(format!("^a{i}"))))
                .collect(),
        )
    };
    assert!(problems(
        json!([{"name": "R", "weight": 1, "conditions": {"operator": "or", "items": regexes(20)}}])
    )
    .is_empty());
    let p = problem_of(json!({"operator": "or", "items": regexes(21)}));
    assert_eq!(p.problem, "at most 20 `regex` conditions per rule set");
}

#[test]
fn every_problem_is_reported_at_once_even_when_correlation_is_off() {
    let s: CorrelationSettings = serde_json::from_value(json!({
        "enable_correlation": false,
        "correlation_window_minutes": 0,
        "correlation_rules": {"enabled": false, "min_match_weight": 2, "rules": [
            {"name": "A", "weight": 0.5, "conditions": {"operator": "and", "items": [
                cond("title", "like", json!("x")), cond("title", "regex", json!("("))]}},
            {"name": "B", "weight": 3, "conditions": cond("severity", "in", json!("high"))}
        ]}
    }))
    .unwrap();
    let e = s.validate().unwrap_err();
    let places: Vec<String> = e
        .problems
        .iter()
        .map(|p| format!("{:?}/{}", p.rule, p.at))
        .collect();
    assert_eq!(
        places,
        vec![
            "None/correlation_window_minutes",
            "None/correlation_rules.min_match_weight",
            "Some(\"A\")/conditions.items[0]",
            "Some(\"A\")/conditions.items[1]",
            "Some(\"B\")/weight",
            "Some(\"B\")/conditions",
        ]
    );
    assert_eq!(e.code(), "invalid_correlation_rules");
    // the problems serialize for the 400 body
    let body = serde_json::to_value(&e).unwrap();
    assert_eq!(
        body["problems"][4],
        json!({"rule_number": 2, "rule": "B", "at": "weight", "problem": "must be between 0 and 1 (got 3)"})
    );
}

#[test]
fn type_errors_in_the_json_itself_are_clear() {
    let err = |v: Value| {
        serde_json::from_value::<CorrelationSettings>(v)
            .unwrap_err()
            .to_string()
    };
    let e = err(
        json!({"correlation_rules": {"rules": [{"name": "R", "weight": "high", "conditions": cond("title", "equals", json!(""))}]}}),
    );
    assert!(
        e.contains("invalid type: string \"high\", expected f64"),
        "{e}"
    );
    let e = err(
        json!({"correlation_rules": {"rules": [{"name": "R", "priority": -1, "weight": 1, "conditions": cond("title", "equals", json!(""))}]}}),
    );
    assert!(
        e.contains("invalid value: integer `-1`, expected u32"),
        "{e}"
    );
    let e = err(json!({"correlation_window_minutes": "5"}));
    assert!(e.contains("invalid type: string \"5\""), "{e}");
    let e = err(json!({"correlation_rules": {"rules": [], "min_weight": 1}}));
    assert!(e.contains("unknown field `min_weight`"), "{e}");
    let e = err(
        json!({"correlation_rules": {"rules": [{"name": "R", "weight": 1, "conditions": {"operator": "and"}}]}}),
    );
    assert!(e.contains("neither `field` nor `items`"), "{e}");
    // from text, serde_json adds the line and column
    let text = r#"{"correlation_rules": {"rules": [{"name": "R", "weight": 1, "conditions": {"field": "title"}}]}}"#;
    let e = serde_json::from_str::<CorrelationSettings>(text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the condition on `title` has no `operator`") && e.contains("line 1"),
        "{e}"
    );
}
