//! Signature vectors: every vector in `tests/fixtures/pagerduty/vectors` and
//! `tests/fixtures/grafana/vectors` verifies through `AuthMethod::verify` with the platform's
//! default authentication exactly when it should; one flipped byte of body or signature fails;
//! and with two active secrets both verify while a third does not.

use std::fs;
use std::path::{Path, PathBuf};

use alertgate_core::auth::{hmac_sha256_hex, AuthError, AuthMethod, Secret};
use alertgate_core::platforms;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn default_auth(platform: &str) -> AuthMethod {
    (platforms::get(platform).unwrap().default_auth)()
}

fn secrets(s: &[&str]) -> Vec<Secret> {
    s.iter().map(|x| Secret::new(*x)).collect()
}

fn verify(
    auth: &AuthMethod,
    headers: &[(&str, &str)],
    body: &[u8],
    secrets: &[Secret],
) -> Result<(), AuthError> {
    auth.verify(&headers, body, secrets)
}

/// The same hex string with its last digit changed to another hex digit.
fn flip_last_hex_digit(s: &str) -> String {
    let mut out = s.to_string();
    let last = out.pop().unwrap();
    assert!(last.is_ascii_hexdigit(), "{s}");
    out.push(if last == '0' { '1' } else { '0' });
    out
}

fn flip_middle_byte(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    if out.is_empty() {
        out.push(b'x');
    } else {
        let i = out.len() / 2;
        out[i] ^= 0x01;
    }
    out
}

/// One PagerDuty vector: a secret, a body and the signature header sent with it.
struct PdVector {
    name: String,
    secret: String,
    body: String,
    header: String,
    valid: bool,
}

fn pagerduty_vectors() -> Vec<PdVector> {
    let dir = fixtures().join("pagerduty/vectors");
    let mut out = Vec::new();
    let real = read_json(&dir.join("aldaviva_real_deliveries.json"));
    for v in real["vectors"].as_array().unwrap() {
        out.push(PdVector {
            name: v["name"].as_str().unwrap().into(),
            secret: v["secret"].as_str().unwrap().into(),
            body: v["body"].as_str().unwrap().into(),
            header: v["signature_header"].as_str().unwrap().into(),
            valid: v["expected_valid"].as_bool().unwrap(),
        });
    }
    let official = read_json(&dir.join("go_pagerduty_official_test.json"));
    for c in official["cases"].as_array().unwrap() {
        out.push(PdVector {
            name: c["name"].as_str().unwrap().into(),
            secret: official["secret"].as_str().unwrap().into(),
            body: official["body"].as_str().unwrap().into(),
            header: c["signature_header"].as_str().unwrap().into(),
            valid: c["expected_valid"].as_bool().unwrap(),
        });
    }
    // Both files, every case: 6 real deliveries and 4 official/computed cases.
    assert_eq!(out.len(), 10);
    out
}

#[test]
fn every_pagerduty_vector_verifies_exactly_when_it_should() {
    let auth = default_auth("pagerduty");
    for v in pagerduty_vectors() {
        let h = [("X-PagerDuty-Signature", v.header.as_str())];
        let got = verify(&auth, &h, v.body.as_bytes(), &secrets(&[&v.secret]));
        assert_eq!(got.is_ok(), v.valid, "{}: {got:?}", v.name);
    }
}

#[test]
fn a_flipped_byte_of_body_or_signature_fails_every_valid_pagerduty_vector() {
    let auth = default_auth("pagerduty");
    for v in pagerduty_vectors().into_iter().filter(|v| v.valid) {
        let s = secrets(&[&v.secret]);
        // The last entry is the one that matches (also in the rotation case), so flipping it
        // leaves no valid signature.
        let last = v.header.rsplit(',').next().unwrap();
        let h = [("X-PagerDuty-Signature", last)];
        assert_eq!(
            verify(&auth, &h, v.body.as_bytes(), &s),
            Ok(()),
            "{}",
            v.name
        );

        let h = [("X-PagerDuty-Signature", v.header.as_str())];
        let body = flip_middle_byte(v.body.as_bytes());
        assert_eq!(
            verify(&auth, &h, &body, &s),
            Err(AuthError::Invalid),
            "{}",
            v.name
        );
        let flipped = flip_last_hex_digit(&v.header);
        let h = [("X-PagerDuty-Signature", flipped.as_str())];
        assert_eq!(
            verify(&auth, &h, v.body.as_bytes(), &s),
            Err(AuthError::Invalid),
            "{}",
            v.name
        );
    }
}

#[test]
fn pagerduty_ignores_unknown_signature_versions_and_accepts_any_v1_entry() {
    let auth = default_auth("pagerduty");
    let v = pagerduty_vectors()
        .into_iter()
        .find(|v| v.name == "valid")
        .unwrap();
    let sig = v.header.strip_prefix("v1=").unwrap();
    let s = secrets(&[&v.secret]);
    for header in [
        format!("v2={sig}, v1={sig}"),
        format!("v1={}, v0=zz, v1={sig}", "ab".repeat(32)),
        format!("V1={sig}"),
    ] {
        let h = [("X-PagerDuty-Signature", header.as_str())];
        assert_eq!(verify(&auth, &h, v.body.as_bytes(), &s), Ok(()), "{header}");
    }
    let header = format!("v2={sig},v3={sig}");
    let h = [("X-PagerDuty-Signature", header.as_str())];
    assert!(verify(&auth, &h, v.body.as_bytes(), &s).is_err());
    let h: [(&str, &str); 0] = [];
    assert!(verify(&auth, &h, v.body.as_bytes(), &s).is_err());
}

#[test]
fn the_pagerduty_fixture_deliveries_carry_valid_signatures() {
    // The real deliveries (aldaviva) and the official example (go-pagerduty) were signed with
    // two different secrets; a webhook with both active accepts all of them.
    let auth = default_auth("pagerduty");
    let dir = fixtures().join("pagerduty/vectors");
    let real = read_json(&dir.join("aldaviva_real_deliveries.json"));
    let official = read_json(&dir.join("go_pagerduty_official_test.json"));
    let both = secrets(&[
        real["vectors"][0]["secret"].as_str().unwrap(),
        official["secret"].as_str().unwrap(),
    ]);
    let mut checked = 0;
    for entry in fs::read_dir(fixtures().join("pagerduty")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".headers.json") else {
            continue;
        };
        let headers = read_json(&path);
        let sig = headers["X-PagerDuty-Signature"].as_str().unwrap();
        let body = fs::read(path.with_file_name(format!("{stem}.json"))).unwrap();
        let h = [("X-PagerDuty-Signature", sig)];
        assert_eq!(verify(&auth, &h, &body, &both), Ok(()), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn with_two_active_secrets_both_verify_and_a_third_does_not() {
    let body = fs::read(fixtures().join("pagerduty/incident.triggered.json")).unwrap();
    let (a, b, c) = (
        "first-secret-aaaa",
        "second-secret-bbbb",
        "third-secret-cccc",
    );
    let active = secrets(&[a, b]);

    let pd = default_auth("pagerduty");
    for (secret, ok) in [(a, true), (b, true), (c, false)] {
        let header = format!("v1={}", hmac_sha256_hex(secret, None, &body));
        let h = [("X-PagerDuty-Signature", header.as_str())];
        assert_eq!(
            verify(&pd, &h, &body, &active).is_ok(),
            ok,
            "pagerduty {secret}"
        );
    }
    // PagerDuty's own rotation: it signs with old and new secret; either may be ours.
    let header = format!(
        "v1={},v1={}",
        hmac_sha256_hex(c, None, &body),
        hmac_sha256_hex(b, None, &body)
    );
    let h = [("X-PagerDuty-Signature", header.as_str())];
    assert_eq!(verify(&pd, &h, &body, &active), Ok(()));

    let grafana = default_auth("grafana");
    for (secret, ok) in [(a, true), (b, true), (c, false)] {
        let sig = hmac_sha256_hex(secret, None, &body);
        let h = [("X-Grafana-Alerting-Signature", sig.as_str())];
        assert_eq!(
            verify(&grafana, &h, &body, &active).is_ok(),
            ok,
            "grafana {secret}"
        );
    }
}

/// Grafana's default authentication with a timestamp header configured, as a user would.
fn grafana_with_timestamp() -> AuthMethod {
    match default_auth("grafana") {
        AuthMethod::HmacSha256 {
            header,
            prefix,
            encoding,
            multiple,
            ..
        } => AuthMethod::HmacSha256 {
            header,
            prefix,
            encoding,
            timestamp_header: Some("X-Grafana-Alerting-Timestamp".into()),
            multiple,
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_grafana_vector_verifies_and_a_flipped_byte_fails() {
    let dir = fixtures().join("grafana/vectors");
    let vectors = read_json(&dir.join("hmac_computed.json"));
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let s = secrets(&[c["secret"].as_str().unwrap()]);
        let body = match (c["body"].as_str(), c["body_file"].as_str()) {
            (Some(b), _) => b.as_bytes().to_vec(),
            (None, Some(file)) => fs::read(dir.join(file)).unwrap(),
            _ => panic!("{name}: no body"),
        };
        let sig = c["signature"].as_str().unwrap();
        let timestamp = c["timestamp"].as_str();
        let (auth, mut headers) = match timestamp {
            None => (default_auth("grafana"), vec![]),
            Some(ts) => (
                grafana_with_timestamp(),
                vec![("X-Grafana-Alerting-Timestamp", ts)],
            ),
        };
        headers.push(("X-Grafana-Alerting-Signature", sig));
        assert_eq!(verify(&auth, &headers, &body, &s), Ok(()), "{name}");

        assert_eq!(
            verify(&auth, &headers, &flip_middle_byte(&body), &s),
            Err(AuthError::Invalid),
            "{name}: body"
        );
        let flipped = flip_last_hex_digit(sig);
        let mut bad = headers.clone();
        if let Some(last) = bad.last_mut() {
            last.1 = &flipped;
        }
        assert_eq!(
            verify(&auth, &bad, &body, &s),
            Err(AuthError::Invalid),
            "{name}: signature"
        );
        if let Some(ts) = timestamp {
            // The timestamp is inside the MAC: another one fails, a missing one is refused.
            let other = format!("{ts}1");
            let mut moved = headers.clone();
            moved[0].1 = &other;
            assert_eq!(
                verify(&auth, &moved, &body, &s),
                Err(AuthError::Invalid),
                "{name}: timestamp"
            );
            assert!(verify(&auth, &headers[1..], &body, &s).is_err(), "{name}");
        }
    }
}

#[test]
fn the_signed_grafana_fixture_delivery_verifies() {
    // Secret and timestamp per SOURCES.md (computed by the corpus builder).
    let dir = fixtures().join("grafana");
    let body = fs::read(dir.join("RECONSTRUCTED_wire_firing_hmac_signed.json")).unwrap();
    let headers = read_json(&dir.join("RECONSTRUCTED_wire_firing_hmac_signed.headers.json"));
    let h: Vec<(&str, &str)> = headers
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    let s = secrets(&["example-grafana-hmac-secret"]);
    assert_eq!(verify(&grafana_with_timestamp(), &h, &body, &s), Ok(()));
    // Without the timestamp configured the MAC is over the body alone, so this one fails.
    assert_eq!(
        verify(&default_auth("grafana"), &h, &body, &s),
        Err(AuthError::Invalid)
    );
}

#[test]
fn the_default_authentication_of_each_platform_is_the_documented_one() {
    let kinds: Vec<(&str, &str)> = [
        "pagerduty",
        "opsgenie",
        "servicenow",
        "datadog",
        "grafana",
        "prometheus",
        "splunk",
    ]
    .iter()
    .map(|id| (*id, default_auth(id).kind()))
    .collect();
    assert_eq!(
        kinds,
        vec![
            ("pagerduty", "hmac_sha256"),
            ("opsgenie", "api_key"),
            ("servicenow", "basic"),
            ("datadog", "bearer"),
            ("grafana", "hmac_sha256"),
            ("prometheus", "bearer"),
            ("splunk", "none"),
        ]
    );
    let opsgenie = default_auth("opsgenie");
    let h = [("Authorization", "GenieKey k-12345678")];
    assert_eq!(
        verify(&opsgenie, &h, b"{}", &secrets(&["k-12345678"])),
        Ok(())
    );
    let servicenow = default_auth("servicenow");
    // servicenow:pw-12345678
    let h = [("Authorization", "Basic c2VydmljZW5vdzpwdy0xMjM0NTY3OA==")];
    assert_eq!(
        verify(&servicenow, &h, b"{}", &secrets(&["pw-12345678"])),
        Ok(())
    );
}
