//! Decoders get arbitrary JSON from the network: no body, however odd, may panic anywhere on the
//! path decode → map → normalize. Bodies are either arbitrary JSON or a real fixture with one
//! node replaced by an arbitrary value (which reaches deep into each decoder's happy path).

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use alertgate_core::alert::NormalizedAlert;
use alertgate_core::platforms::{self, Decoded};
use alertgate_core::severity::SeverityPolicy;
use alertgate_core::{Timestamp, WebhookId};
use proptest::prelude::*;
use serde_json::Value;

const PLATFORMS: [(&str, &str); 7] = [
    ("pagerduty", "pagerduty"),
    ("opsgenie", "opsgenie"),
    ("servicenow", "servicenow"),
    ("datadog", "datadog"),
    ("grafana", "grafana"),
    ("prometheus", "alertmanager"),
    ("splunk", "splunk"),
];

fn corpus() -> &'static [(usize, Value)] {
    static CORPUS: OnceLock<Vec<(usize, Value)>> = OnceLock::new();
    CORPUS.get_or_init(load_corpus)
}

fn load_corpus() -> Vec<(usize, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut out = Vec::new();
    for (i, (_, dir)) in PLATFORMS.iter().enumerate() {
        for entry in fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_file()
                && name.ends_with(".json")
                && !name.ends_with(".headers.json")
                && !name.ends_with(".expected.json")
            {
                let v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
                out.push((i, v));
            }
        }
    }
    out
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,30}".prop_map(Value::String),
        prop::sample::select(vec![
            "",
            "firing",
            "resolved",
            "Create",
            "incident.triggered",
            "0001-01-01T00:00:00Z",
            "[Recovered on {service:x}] y",
            "/monitors/",
            "[Monitor Status](",
            "https://a/b",
            "x€abcd",
            "1",
            "P1",
            "%%%",
            "service:",
            "pagey.ping",
            "incident",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "event",
                    "event_type",
                    "data",
                    "type",
                    "status",
                    "priority",
                    "summary",
                    "alerts",
                    "labels",
                    "annotations",
                    "fingerprint",
                    "endsAt",
                    "startsAt",
                    "action",
                    "alert",
                    "alertId",
                    "message",
                    "sys_id",
                    "result",
                    "incident",
                    "cmdb_ci",
                    "link",
                    "value",
                    "display_value",
                    "title",
                    "body",
                    "tags",
                    "scopes",
                    "monitor_id",
                    "search_name",
                    "app",
                    "host",
                    "_raw",
                    "group",
                    "alertgate",
                    "url",
                    "created_at",
                    "opened_at",
                    "createdAt",
                    "date",
                ])
                .prop_map(str::to_string),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replace the `n`-th node (pre-order, modulo the node count) of `v` with `with`.
fn replace_nth(v: &mut Value, n: usize, with: Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn walk(v: &mut Value, n: &mut usize, with: &mut Option<Value>) {
        if *n == 0 {
            if let Some(w) = with.take() {
                *v = w;
            }
            return;
        }
        *n -= 1;
        match v {
            Value::Array(a) => a.iter_mut().for_each(|c| walk(c, n, with)),
            Value::Object(o) => o.values_mut().for_each(|c| walk(c, n, with)),
            _ => {}
        }
    }
    let mut n = n % count(v);
    walk(v, &mut n, &mut Some(with));
}

fn run(platform_id: &str, body: Value) {
    let platform = platforms::get(platform_id).unwrap();
    let mapping = platform.default_field_mapping().compile().unwrap();
    let webhook = WebhookId::new(Timestamp::from_millis(0), 1);
    let none: &[(&str, &str)] = &[];
    if let Ok(Decoded::Alerts(docs)) = (platform.decode)(&none, body) {
        for doc in docs {
            let _ = NormalizedAlert::from_doc(
                platform,
                &mapping,
                &SeverityPolicy::default(),
                webhook,
                doc,
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_never_panics(p in 0..PLATFORMS.len(), body in arb_json()) {
        run(PLATFORMS[p].0, body);
    }

    #[test]
    fn a_fixture_with_one_node_replaced_never_panics(
        pick in any::<prop::sample::Index>(),
        node in any::<usize>(),
        with in arb_json(),
    ) {
        let corpus = corpus();
        let (p, mut body) = corpus[pick.index(corpus.len())].clone();
        replace_nth(&mut body, node, with);
        run(PLATFORMS[p].0, body);
    }
}
