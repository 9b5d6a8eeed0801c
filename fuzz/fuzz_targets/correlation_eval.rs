//! Correlation evaluation on structured input: rule sets for the webhook and the workspace
//! (conditions on normalized fields and payload paths, every operator, literal and
//! candidate-comparing values, nested groups), a new alert and up to 16 candidate incidents with
//! arbitrary payloads.
//!
//! Invariants (the engine's contract): no panic; a match is one of the candidates, of the alert's
//! workspace, not resolved, inside the window of the scope that matched; it crosses webhooks only
//! through a workspace rule; a rule match scores at least the scope's minimum and at most 1 and
//! names only rules of that scope; the answer does not depend on the order of the candidates;
//! the candidate query admits the chosen incident.
#![no_main]

use alertgate_core::alert::NormalizedAlert;
use alertgate_core::correlation::{
    candidate_query, correlate, Candidate, CompiledCorrelation, CorrelationSettings, Incoming,
    MatchedBy, Mode, Scope, NORMALIZED_FIELDS, OPERATORS,
};
use alertgate_core::ids::{IncidentId, WebhookId, WorkspaceId};
use alertgate_core::{AlertStatus, IncidentStatus, Severity, Timestamp};
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const PATHS: [&str; 9] = [
    "labels.cluster",
    "a",
    "a.b",
    "b.0",
    "payload.title",
    "$..a",
    "$['k8s.io/app']",
    "tags",
    "labels",
];
const KEYS: [&str; 7] = ["a", "b", "labels", "cluster", "0", "k8s.io/app", "tags"];
const WORDS: [&str; 8] = ["api", "db", "critical", "high", "firing", "eu-1", "", "Db"];

#[derive(Debug)]
struct Json(Value);

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        fn value(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
            let kind = if depth >= 4 {
                u.int_in_range(0..=4)?
            } else {
                u.int_in_range(0..=6)?
            };
            Ok(match kind {
                0 => Value::Null,
                1 => Value::Bool(u.arbitrary()?),
                2 => Value::from(u.arbitrary::<i64>()?),
                3 => Value::String(word(u)?),
                4 => {
                    serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number)
                }
                5 => {
                    let n = u.int_in_range(0..=4)?;
                    Value::Array(
                        (0..n)
                            .map(|_| value(u, depth + 1))
                            .collect::<Result<_, _>>()?,
                    )
                }
                _ => {
                    let n = u.int_in_range(0..=4)?;
                    let mut m = Map::new();
                    for _ in 0..n {
                        let k = if u.arbitrary()? {
                            (*u.choose(&KEYS)?).to_string()
                        } else {
                            u.arbitrary()?
                        };
                        m.insert(k, value(u, depth + 1)?);
                    }
                    Value::Object(m)
                }
            })
        }
        Ok(Json(value(u, 0)?))
    }
}

fn word(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    Ok(if u.arbitrary()? {
        (*u.choose(&WORDS)?).to_string()
    } else {
        u.arbitrary()?
    })
}

#[derive(Debug)]
struct Node(Value);

impl<'a> Arbitrary<'a> for Node {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        fn node(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
            if depth < 6 && u.ratio(1, 4)? {
                let n = u.int_in_range(0..=3)?;
                let items = (0..n)
                    .map(|_| node(u, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                let op = match u.int_in_range(0..=4)? {
                    0 | 1 => "and".to_string(),
                    2 | 3 => "or".to_string(),
                    _ => u.arbitrary()?,
                };
                return Ok(json!({"operator": op, "items": items}));
            }
            let field = match u.int_in_range(0..=4)? {
                0 | 1 => (*u.choose(&NORMALIZED_FIELDS)?).to_string(),
                2 | 3 => (*u.choose(&PATHS)?).to_string(),
                _ => u.arbitrary()?,
            };
            let operator = if u.ratio(7, 8)? {
                (*u.choose(&OPERATORS)?).to_string()
            } else {
                u.arbitrary()?
            };
            let mut c = json!({"field": field, "operator": operator});
            match u.int_in_range(0..=6)? {
                0 => {}
                1 => c["value"] = json!(""),
                2 => c["value"] = json!([]),
                3 => c["value"] = json!(word(u)?),
                4 => {
                    let n = u.int_in_range(1..=3)?;
                    c["value"] = Value::Array(
                        (0..n)
                            .map(|_| word(u).map(Value::String))
                            .collect::<Result<_, _>>()?,
                    );
                }
                5 => c["value"] = json!(u.arbitrary::<bool>()?),
                _ => c["value"] = Json::arbitrary(u)?.0,
            }
            if u.arbitrary()? {
                c["case_insensitive"] = json!(true);
            }
            Ok(c)
        }
        Ok(Node(node(u, 0)?))
    }
}

#[derive(Debug, Arbitrary)]
struct Rule {
    priority: Option<u8>,
    weight: u8,
    conditions: Node,
}

#[derive(Debug, Arbitrary)]
struct Settings {
    enable: bool,
    rules_enabled: bool,
    window: u8,
    min: u8,
    rules: Vec<Rule>,
}

impl Settings {
    fn compile(&self) -> Option<CompiledCorrelation> {
        let windows = [1, 5, 30, 60, 1440];
        let rules: Vec<Value> = self
            .rules
            .iter()
            .take(8)
            .enumerate()
            .map(|(i, r)| {
                let mut v = json!({
                    "name": format!("rule {i}"),
                    "weight": f64::from(r.weight % 11) / 10.0,
                    "conditions": r.conditions.0,
                });
                if let Some(p) = r.priority {
                    v["priority"] = json!(p % 4);
                }
                v
            })
            .collect();
        let s: CorrelationSettings = serde_json::from_value(json!({
            "enable_correlation": self.enable,
            "correlation_window_minutes": windows[usize::from(self.window) % windows.len()],
            "correlation_rules": {"enabled": self.rules_enabled, "min_match_weight": f64::from(self.min % 11) / 10.0, "rules": rules},
        }))
        .ok()?;
        s.compile().ok()
    }
}

#[derive(Debug, Arbitrary)]
struct Alert {
    title: String,
    severity: u8,
    services: Vec<String>,
    status: u8,
    payload: Json,
}

#[derive(Debug, Arbitrary)]
struct Cand {
    workspace: bool,
    webhook: u8,
    title: String,
    severity: u8,
    services: Vec<String>,
    status: u8,
    payload: Json,
    age_secs: i16,
}

#[derive(Debug, Arbitrary)]
struct Input {
    webhook: Settings,
    workspace: Settings,
    alert: Alert,
    webhook_id: u8,
    candidates: Vec<Cand>,
}

fn severity(n: u8) -> Severity {
    Severity::ALL[usize::from(n) % Severity::ALL.len()]
}

fn whk(n: u8) -> WebhookId {
    WebhookId::new(Timestamp::from_millis(1), u128::from(n % 3))
}

fn wks(other: bool) -> WorkspaceId {
    WorkspaceId::new(Timestamp::from_millis(1), u128::from(other))
}

fuzz_target!(|input: Input| {
    let (Some(webhook), Some(workspace)) = (input.webhook.compile(), input.workspace.compile())
    else {
        return;
    };
    let a = &input.alert;
    let alert = NormalizedAlert {
        title: a.title.clone(),
        description: None,
        severity: severity(a.severity),
        raw_severity: None,
        services: a.services.clone(),
        status: [
            AlertStatus::Firing,
            AlertStatus::Acknowledged,
            AlertStatus::Resolved,
        ][usize::from(a.status) % 3],
        dedup_key: "k".into(),
        dedup_key_custom: false,
        source_url: None,
        payload: a.payload.0.clone(),
    };
    let candidates: Vec<Candidate> = input
        .candidates
        .iter()
        .take(16)
        .enumerate()
        .map(|(i, c)| Candidate {
            incident_id: IncidentId::new(Timestamp::from_millis(1_000 + i as i64), 0),
            webhook_id: whk(c.webhook),
            workspace_id: wks(c.workspace),
            title: c.title.clone(),
            description: None,
            severity: severity(c.severity),
            services: c.services.clone(),
            status: [
                IncidentStatus::Open,
                IncidentStatus::Acknowledged,
                IncidentStatus::Resolved,
            ][usize::from(c.status) % 3],
            source: if c.webhook % 2 == 0 {
                "generic".into()
            } else {
                "prometheus".into()
            },
            source_url: None,
            payload: c.payload.0.clone(),
            last_alert_at: NOW.saturating_sub_millis(i64::from(c.age_secs) * 1_000),
        })
        .collect();
    let webhook_id = whk(input.webhook_id);
    let workspace_id = wks(false);
    let incoming = Incoming {
        alert: &alert,
        webhook_id,
        workspace_id,
        platform: "generic",
    };

    let got = correlate(&incoming, &webhook, &workspace, &candidates, NOW);
    let mut reversed = candidates.clone();
    reversed.reverse();
    assert_eq!(
        got,
        correlate(&incoming, &webhook, &workspace, &reversed, NOW),
        "order matters"
    );
    let Some(m) = got else {
        return;
    };
    let chosen = candidates
        .iter()
        .find(|c| c.incident_id == m.incident_id)
        .expect("one of the candidates");
    assert_eq!(chosen.workspace_id, workspace_id);
    assert_ne!(chosen.status, IncidentStatus::Resolved);
    if chosen.webhook_id != webhook_id {
        assert_eq!((m.scope, m.by), (Scope::Workspace, MatchedBy::Rules));
        assert_eq!(workspace.mode(), Mode::Rules);
    }
    if m.scope == Scope::Webhook {
        assert_eq!(chosen.webhook_id, webhook_id);
    }
    let cfg = match m.scope {
        Scope::Webhook => &webhook,
        Scope::Workspace => &workspace,
    };
    assert_eq!(m.window_minutes, cfg.window().minutes());
    assert!(chosen.last_alert_at >= NOW.saturating_sub_millis(cfg.window().millis()));
    assert!((0.0..=1.0).contains(&m.score));
    match m.by {
        MatchedBy::Rules => {
            assert_eq!(cfg.mode(), Mode::Rules);
            assert!(m.score >= cfg.min_match_weight());
            assert!(!m.rules.is_empty());
            assert!(m.rules.iter().all(|r| cfg.rule_names().any(|n| n == r)));
        }
        MatchedBy::TimeWindow => {
            assert_eq!(m.scope, Scope::Webhook);
            assert_eq!(webhook.mode(), Mode::TimeWindow);
        }
    }
    let q = candidate_query(&webhook, &workspace, NOW).expect("a query when something can match");
    assert!(chosen.last_alert_at >= q.since);
    assert!(q.across_webhooks || chosen.webhook_id == webhook_id);
});
