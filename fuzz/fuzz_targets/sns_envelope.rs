//! Amazon SNS: the envelope parser, the string it signs, the URL and topic checks, freshness, and
//! RSA verification against a certificate (the repository's self-signed test certificate).
//!
//! Invariants: no panic; the string to sign ends with the message type; a certificate URL that
//! passes is `https` on an SNS host and also passes as a subscribe URL; an empty allow-list
//! admits any topic and a one-topic list admits exactly that topic; a message is fresh at its own
//! timestamp and stale two hours later; an envelope that verifies stops verifying when its
//! message changes. The raw input is also tried as a URL, a host and a topic ARN.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use alertgate_core::sns::{
    is_sns_host, validate_cert_url, validate_subscribe_url, validate_topic_arns, Envelope,
    SigningCertificate, DEFAULT_MAX_AGE,
};
use libfuzzer_sys::fuzz_target;

const VECTORS: &str =
    include_str!("../../tests/fixtures/aws_cloudwatch_sns/vectors/selfsigned_sigv1_sigv2.json");

fn certificate() -> &'static SigningCertificate {
    static CERT: OnceLock<SigningCertificate> = OnceLock::new();
    CERT.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let pem = v["test_only_signing_cert_pem"].as_str().unwrap();
        SigningCertificate::from_pem(pem.as_bytes()).unwrap()
    })
}

fn urls(s: &str) {
    let cert_ok = validate_cert_url(s).is_ok();
    let subscribe_ok = validate_subscribe_url(s).is_ok();
    if cert_ok {
        assert!(
            subscribe_ok,
            "a certificate URL that is not a subscribe URL: {s:?}"
        );
        assert!(s
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://")));
    }
    if subscribe_ok {
        assert!(s.bytes().all(|b| b.is_ascii_graphic()));
    }
    if is_sns_host(s) {
        assert!(
            s.starts_with("sns.")
                && (s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn"))
        );
    }
    let _ = validate_topic_arns(&[s.to_string()]);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        urls(s);
    }
    let Ok(envelope) = Envelope::parse(data) else {
        return;
    };
    let signed = envelope.string_to_sign();
    assert!(signed.ends_with(&format!("Type\n{}\n", envelope.message_type.as_str())));
    assert!(signed.starts_with("Message\n"));
    urls(&envelope.signing_cert_url);
    if let Ok(url) = envelope.signing_cert_url() {
        assert!(validate_cert_url(url).is_ok());
    }
    assert!(envelope.check_topic(&[]).is_ok());
    assert!(envelope
        .check_topic(std::slice::from_ref(&envelope.topic_arn))
        .is_ok());
    let other = format!("{}x", envelope.topic_arn);
    assert!(envelope.check_topic(&[other]).is_err());

    if let Some(at) = envelope.timestamp() {
        assert!(envelope.check_fresh(at, DEFAULT_MAX_AGE).is_ok());
        let later = at.saturating_add_millis(2 * 3_600_000);
        if later.as_millis() - at.as_millis() > 3_600_000 {
            assert!(envelope.check_fresh(later, DEFAULT_MAX_AGE).is_err());
        }
        let _ = envelope.check_fresh(at, Duration::MAX);
    } else {
        assert!(envelope
            .check_fresh(alertgate_core::Timestamp::from_millis(0), DEFAULT_MAX_AGE)
            .is_err());
    }

    if certificate().verify(&envelope).is_ok() {
        let mut changed = envelope.clone();
        changed.message.push(' ');
        assert!(
            certificate().verify(&changed).is_err(),
            "a changed message still verifies"
        );
    }
});
