//! Dedup keys depend on what a payload says, not on how it is written: the same logical body
//! serialized with its object keys in another order and other insignificant whitespace decodes,
//! maps and normalizes to the same alerts, with the same dedup keys. Checked on arbitrary bodies
//! of the generic platform and on the repository's fixtures of real platforms, each re-written
//! with arbitrary key orders and whitespace.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use alertgate_core::alert::NormalizedAlert;
use alertgate_core::limits::Limits;
use alertgate_core::platforms::{self, Decoded};
use alertgate_core::severity::SeverityPolicy;
use alertgate_core::{Timestamp, WebhookId};
use proptest::prelude::*;
use serde_json::{json, Value};

/// (platform id, fixture directory)
const PLATFORMS: [(&str, &str); 6] = [
    ("generic", "generic"),
    ("prometheus", "alertmanager"),
    ("grafana", "grafana"),
    ("pagerduty", "pagerduty"),
    ("datadog", "datadog"),
    ("opsgenie", "opsgenie"),
];

fn fixtures() -> &'static [(&'static str, String)] {
    static ALL: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let mut out = Vec::new();
        for (platform, dir) in PLATFORMS {
            let mut names: Vec<_> = fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    p.is_file()
                        && n.ends_with(".json")
                        && !n.ends_with(".headers.json")
                        && !n.ends_with(".expected.json")
                })
                .collect();
            names.sort();
            for path in names {
                out.push((platform, fs::read_to_string(path).unwrap()));
            }
        }
        out
    })
}

/// The body as intake sees it → the alerts it becomes, with the platform's default mapping.
fn alerts(platform: &str, body: &[u8]) -> Vec<NormalizedAlert> {
    let p = platforms::get(platform).unwrap();
    let mapping = p.default_field_mapping().compile().unwrap();
    let value = Limits::default().parse(body).unwrap().value;
    let none: &[(&str, &str)] = &[];
    let Ok(Decoded::Alerts(docs)) = (p.decode)(&none, value) else {
        return Vec::new();
    };
    let webhook = WebhookId::new(Timestamp::from_millis(1_700_000_000_000), 1);
    docs.into_iter()
        .filter_map(|d| {
            NormalizedAlert::from_doc(p, &mapping, &SeverityPolicy::default(), webhook, d)
                .ok()
                .map(|(a, _)| a)
        })
        .collect()
}

/// `v` written as JSON with each object's keys in an order drawn from `choices`, and whitespace
/// (of the four kinds JSON allows) drawn from it too. Strings and numbers are written as
/// serde_json writes them.
fn draw(choices: &[u32], at: &mut usize, n: usize) -> usize {
    let c = choices[*at % choices.len()] as usize;
    *at += 1;
    c % n.max(1)
}

fn rewrite(v: &Value, choices: &[u32], at: &mut usize, out: &mut String) {
    let ws = |k: usize| ["", " ", "\n", "\t", "\r\n  ", "   "][k];
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws(draw(choices, at, 6)));
                rewrite(item, choices, at, out);
                out.push_str(ws(draw(choices, at, 6)));
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            // A Fisher–Yates shuffle driven by the drawn numbers.
            for i in (1..keys.len()).rev() {
                let j = draw(choices, at, i + 1);
                keys.swap(i, j);
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(ws(draw(choices, at, 6)));
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push_str(ws(draw(choices, at, 6)));
                out.push(':');
                out.push_str(ws(draw(choices, at, 6)));
                rewrite(&map[*k], choices, at, out);
            }
            out.push_str(ws(draw(choices, at, 6)));
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn rewritten(v: &Value, choices: &[u32]) -> String {
    let mut out = String::new();
    let mut at = 0;
    rewrite(v, choices, &mut at, &mut out);
    out
}

fn dedup_keys(alerts: &[NormalizedAlert]) -> Vec<&str> {
    alerts.iter().map(|a| a.dedup_key.as_str()).collect()
}

/// A generic-platform body: the documented fields (some left out) among unrelated ones.
fn generic_body() -> impl Strategy<Value = Value> {
    let text = "[a-zA-Z0-9_.:/-][a-zA-Z0-9 _.:/-]{0,11}";
    (
        text,
        prop::option::of(prop::sample::select(vec![
            "critical", "high", "P2", "warning", "weird",
        ])),
        prop::option::of(prop::collection::vec(text, 0..4)),
        prop::option::of(text),
        prop::option::of(prop::sample::select(vec!["firing", "resolved", "ack"])),
        prop::collection::btree_map("[a-z]{1,6}", text, 0..6),
        prop::bool::ANY,
    )
        .prop_map(|(title, severity, services, key, status, extra, summary)| {
            let mut v = json!({});
            for (k, x) in extra {
                v[k] = json!(x);
            }
            v[if summary { "summary" } else { "title" }] = json!(title);
            if let Some(s) = severity {
                v["severity"] = json!(s);
            }
            if let Some(s) = services {
                v["services"] = json!(s);
            }
            if let Some(k) = key {
                v["dedup_key"] = json!(k);
            }
            if let Some(s) = status {
                v["status"] = json!(s);
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generic_dedup_keys_ignore_key_order_and_whitespace(
        body in generic_body(),
        a in prop::collection::vec(any::<u32>(), 1..64),
        b in prop::collection::vec(any::<u32>(), 1..64),
    ) {
        let one = rewritten(&body, &a);
        let two = rewritten(&body, &b);
        let first = alerts("generic", one.as_bytes());
        prop_assert_eq!(first.len(), 1, "{}", one);
        let second = alerts("generic", two.as_bytes());
        prop_assert_eq!(dedup_keys(&first), dedup_keys(&second), "{} / {}", one, two);
        prop_assert_eq!(&first, &second);
        // and the compact form serde_json itself writes
        prop_assert_eq!(&first, &alerts("generic", body.to_string().as_bytes()));
    }

    #[test]
    fn platform_dedup_keys_ignore_key_order_and_whitespace(
        pick in any::<prop::sample::Index>(),
        choices in prop::collection::vec(any::<u32>(), 1..256),
    ) {
        let (platform, text) = &fixtures()[pick.index(fixtures().len())];
        let value: Value = serde_json::from_str(text).unwrap();
        let original = alerts(platform, text.as_bytes());
        let again = rewritten(&value, &choices);
        let other = alerts(platform, again.as_bytes());
        prop_assert_eq!(dedup_keys(&original), dedup_keys(&other), "{}: {}", platform, again);
        prop_assert_eq!(original, other);
    }
}

#[test]
fn every_platform_in_the_test_has_fixtures_that_map() {
    for (platform, _) in PLATFORMS {
        let mapped = fixtures()
            .iter()
            .filter(|(p, _)| *p == platform)
            .map(|(p, t)| alerts(p, t.as_bytes()).len())
            .sum::<usize>();
        assert!(mapped > 0, "{platform}: no fixture maps to an alert");
    }
}
