//! Every platform's decoder and default mapping, the way intake runs them on a request body:
//! limits → decode → map and normalize each alert document.
//!
//! Input: byte 0 picks the platform (of the 14), byte 1 the `Sentry-Hook-Resource` header (the
//! one header a decoder reads), the rest is the body.
//!
//! Invariants: no panic; decoding is deterministic; a decoder that reports alerts reports at
//! least one; every mapped alert has a trimmed, non-empty title, a dedup key of the documented
//! shape, and services that are trimmed, non-empty, sorted and distinct; mapping is
//! deterministic too (same alert, same dedup key).
#![no_main]

use std::sync::OnceLock;

use alertgate_core::alert::NormalizedAlert;
use alertgate_core::fingerprint::MAX_KEY_BYTES;
use alertgate_core::limits::Limits;
use alertgate_core::mapping::CompiledMapping;
use alertgate_core::platforms::{self, Decoded, Platform};
use alertgate_core::severity::SeverityPolicy;
use alertgate_core::{Timestamp, WebhookId};
use libfuzzer_sys::fuzz_target;

const SENTRY_RESOURCES: [Option<&str>; 6] = [
    None,
    Some("issue"),
    Some("event_alert"),
    Some("metric_alert"),
    Some("installation"),
    Some(" Issue "),
];

fn compiled() -> &'static [(&'static Platform, CompiledMapping)] {
    static ALL: OnceLock<Vec<(&'static Platform, CompiledMapping)>> = OnceLock::new();
    ALL.get_or_init(|| {
        platforms::ALL
            .iter()
            .map(|p| (*p, p.default_field_mapping().compile().unwrap()))
            .collect()
    })
}

fn check_alert(a: &NormalizedAlert) {
    assert!(!a.title.is_empty(), "empty title");
    assert_eq!(a.title, a.title.trim(), "untrimmed title");
    assert!(!a.dedup_key.is_empty(), "empty dedup key");
    if a.dedup_key_custom {
        assert!(
            a.dedup_key.len() <= MAX_KEY_BYTES
                || (a.dedup_key.len() == 7 + 64 && a.dedup_key.starts_with("sha256:")),
            "custom dedup key of {} bytes",
            a.dedup_key.len()
        );
        assert_eq!(a.dedup_key, a.dedup_key.trim());
    } else {
        assert_eq!(a.dedup_key.len(), 64);
        assert!(a.dedup_key.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    for s in &a.services {
        assert!(!s.is_empty() && s == s.trim(), "service {s:?}");
    }
    assert!(
        a.services.windows(2).all(|w| w[0] < w[1]),
        "services not sorted and distinct"
    );
}

fuzz_target!(|data: &[u8]| {
    let [pick, header, body @ ..] = data else {
        return;
    };
    let all = compiled();
    let (platform, mapping) = &all[usize::from(*pick) % all.len()];
    let resource = SENTRY_RESOURCES[usize::from(*header) % SENTRY_RESOURCES.len()];
    let with: Vec<(&str, &str)> = resource
        .map(|r| ("Sentry-Hook-Resource", r))
        .into_iter()
        .collect();
    let headers: &[(&str, &str)] = &with;

    let Ok(sanitized) = Limits::default().parse(body) else {
        return;
    };
    let decoded = (platform.decode)(&headers, sanitized.value.clone());
    assert_eq!(
        decoded,
        (platform.decode)(&headers, sanitized.value),
        "decoding is not deterministic"
    );
    let Ok(Decoded::Alerts(docs)) = decoded else {
        return;
    };
    assert!(
        !docs.is_empty(),
        "{}: Decoded::Alerts with no alert",
        platform.id
    );
    let webhook = WebhookId::new(Timestamp::from_millis(1_700_000_000_000), 7);
    let policy = SeverityPolicy::default();
    for doc in docs {
        let first = NormalizedAlert::from_doc(platform, mapping, &policy, webhook, doc.clone());
        let second = NormalizedAlert::from_doc(platform, mapping, &policy, webhook, doc);
        assert_eq!(first, second, "mapping is not deterministic");
        if let Ok((alert, _)) = first {
            check_alert(&alert);
        }
    }
});
