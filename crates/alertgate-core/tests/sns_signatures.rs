//! Amazon SNS signatures, offline: the genuine 2015 SNS notification with its genuine (expired)
//! certificate, and the corpus envelopes re-signed with a throw-away key for every message type
//! and both signature versions. Also the server-side flow the `AuthMethod::AwsSns` webhook uses.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alertgate_core::auth::{AuthError, AuthMethod, Secret};
use alertgate_core::sns::{
    self, Envelope, Kind, MessageType, SignatureVersion, SigningCertificate, SnsError,
};
use alertgate_core::Timestamp;
use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/aws_cloudwatch_sns/vectors")
}

fn load(name: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(vectors().join(name)).unwrap()).unwrap()
}

fn ms(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).unwrap()
}

/// `body` with the first occurrence of `from` replaced by `to`.
fn replace_once(body: &str, from: &str, to: &str) -> String {
    assert!(body.contains(from), "{from}");
    body.replacen(from, to, 1)
}

/// The base64 signature with one bit of its first decoded byte flipped.
fn flip_signature(b64: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut raw = engine.decode(b64).unwrap();
    raw[0] ^= 0x01;
    engine.encode(raw)
}

#[test]
fn the_real_2015_notification_verifies_with_the_real_certificate() {
    let v = load("real_aws_sigv1_2015.json");
    let body = v["body"].as_str().unwrap();
    let pem = v["signing_cert_pem"].as_str().unwrap().as_bytes();
    let env = Envelope::parse(body.as_bytes()).unwrap();
    assert_eq!(env.message_type, MessageType::Notification);
    assert_eq!(env.signature_version, SignatureVersion::V1);
    assert_eq!(
        env.string_to_sign(),
        v["canonical_string_to_sign"].as_str().unwrap()
    );
    assert_eq!(
        env.signing_cert_url().unwrap(),
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-d6d679a1d18e95c2f9ffcf11f4f9e198.pem"
    );
    assert_eq!(sns::verify_sns_signature(&env, pem), Ok(()));

    // The certificate's validity is reported for the server to judge: valid when the message
    // was signed, expired now.
    let cert = SigningCertificate::from_pem(pem).unwrap();
    assert_eq!(cert.not_before(), ms("2014-08-23T00:00:00Z"));
    assert_eq!(cert.not_after(), ms("2015-08-22T23:59:59Z"));
    assert!(cert.is_valid_at(env.timestamp().unwrap()));
    assert!(!cert.is_valid_at(ms("2025-01-01T00:00:00Z")));
    assert!(
        cert.subject().contains("CN=sns.amazonaws.com"),
        "{}",
        cert.subject()
    );
}

#[test]
fn the_real_notification_fails_when_tampered_with() {
    let v = load("real_aws_sigv1_2015.json");
    let body = v["body"].as_str().unwrap();
    let pem = v["signing_cert_pem"].as_str().unwrap().as_bytes();
    // The upstream test's negative case.
    let tampered = replace_once(body, "\"test message\"", "\"TAMPERED MESSAGE\"");
    let env = Envelope::parse(tampered.as_bytes()).unwrap();
    assert_eq!(
        sns::verify_sns_signature(&env, pem),
        Err(SnsError::InvalidSignature)
    );
    // One changed character in each signed field.
    for (from, to) in [
        ("test message", "test messagf"),
        ("a890c547", "a890c548"),
        ("test subject", "test subjecu"),
        ("20:59:25.401Z", "20:59:25.402Z"),
        ("041977924901:foo", "041977924901:fop"),
    ] {
        let env = Envelope::parse(replace_once(body, from, to).as_bytes()).unwrap();
        assert_eq!(
            sns::verify_sns_signature(&env, pem),
            Err(SnsError::InvalidSignature),
            "{from}"
        );
    }
    // A flipped bit in the signature.
    let env = Envelope::parse(body.as_bytes()).unwrap();
    let flipped = Envelope {
        signature: flip_signature(&env.signature),
        ..env.clone()
    };
    assert_eq!(
        sns::verify_sns_signature(&flipped, pem),
        Err(SnsError::InvalidSignature)
    );
    // The same signature claimed as version 2 (SHA-256) does not verify.
    let v2 = Envelope {
        signature_version: SignatureVersion::V2,
        ..env.clone()
    };
    assert_eq!(
        sns::verify_sns_signature(&v2, pem),
        Err(SnsError::InvalidSignature)
    );
    // MessageAttributes are not signed: dropping them changes nothing.
    let without_attributes = Envelope::parse(
        serde_json::to_string(&{
            let mut b: Value = serde_json::from_str(body).unwrap();
            b.as_object_mut().unwrap().remove("MessageAttributes");
            b
        })
        .unwrap()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(sns::verify_sns_signature(&without_attributes, pem), Ok(()));
}

#[test]
fn self_signed_vectors_verify_for_every_type_and_both_versions() {
    let v = load("selfsigned_sigv1_sigv2.json");
    let pem = v["test_only_signing_cert_pem"].as_str().unwrap().as_bytes();
    let cert = SigningCertificate::from_pem(pem).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    let mut seen = Vec::new();
    for case in cases {
        let envelope = &case["envelope"];
        let body = serde_json::to_vec(envelope).unwrap();
        let env = Envelope::parse(&body).unwrap();
        let label = format!(
            "{} v{}",
            env.message_type.as_str(),
            case["SignatureVersion"].as_str().unwrap()
        );
        seen.push(label.clone());
        assert_eq!(
            env.string_to_sign(),
            case["canonical_string_to_sign"].as_str().unwrap(),
            "{label}"
        );
        assert_eq!(case["expected_valid"], true);
        assert_eq!(cert.verify(&env), Ok(()), "{label}");
        assert_eq!(sns::verify_sns_signature(&env, pem), Ok(()), "{label}");

        // One changed byte in the message fails, and so does one flipped signature bit.
        let mut tampered = envelope.clone();
        let message = tampered["Message"].as_str().unwrap().to_string();
        let mut bytes = message.into_bytes();
        bytes[0] ^= 0x01;
        tampered["Message"] = Value::String(String::from_utf8(bytes).unwrap());
        let env_t = Envelope::parse(&serde_json::to_vec(&tampered).unwrap()).unwrap();
        assert_eq!(
            cert.verify(&env_t),
            Err(SnsError::InvalidSignature),
            "{label}"
        );
        let env_s = Envelope {
            signature: flip_signature(&env.signature),
            ..env.clone()
        };
        assert_eq!(
            cert.verify(&env_s),
            Err(SnsError::InvalidSignature),
            "{label}"
        );
        // The other hash does not verify the same signature.
        let other = Envelope {
            signature_version: match env.signature_version {
                SignatureVersion::V1 => SignatureVersion::V2,
                SignatureVersion::V2 => SignatureVersion::V1,
            },
            ..env.clone()
        };
        assert_eq!(
            cert.verify(&other),
            Err(SnsError::InvalidSignature),
            "{label}"
        );
        // For confirmations the SubscribeURL and Token are signed too.
        if let Kind::Confirmation { token, .. } = &env.kind {
            let mut t = envelope.clone();
            t["Token"] = Value::String(format!("{token}0"));
            let env_t = Envelope::parse(&serde_json::to_vec(&t).unwrap()).unwrap();
            assert_eq!(
                cert.verify(&env_t),
                Err(SnsError::InvalidSignature),
                "{label}"
            );
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "Notification v1",
            "Notification v2",
            "SubscriptionConfirmation v1",
            "SubscriptionConfirmation v2",
            "UnsubscribeConfirmation v1",
            "UnsubscribeConfirmation v2",
        ]
    );
}

#[test]
fn a_different_key_does_not_verify() {
    let real = load("real_aws_sigv1_2015.json");
    let test = load("selfsigned_sigv1_sigv2.json");
    let env = Envelope::parse(real["body"].as_str().unwrap().as_bytes()).unwrap();
    let wrong_pem = test["test_only_signing_cert_pem"]
        .as_str()
        .unwrap()
        .as_bytes();
    assert_eq!(
        sns::verify_sns_signature(&env, wrong_pem),
        Err(SnsError::InvalidSignature)
    );
}

#[test]
fn certificates_that_are_not_rsa_certificates_are_refused() {
    for pem in [
        &b""[..],
        b"hello",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nno end",
        b"-----END CERTIFICATE----------BEGIN CERTIFICATE-----",
    ] {
        assert!(
            matches!(
                SigningCertificate::from_pem(pem),
                Err(SnsError::BadCertificate(_))
            ),
            "{}",
            String::from_utf8_lossy(pem)
        );
    }
    let test = load("selfsigned_sigv1_sigv2.json");
    // The private key is not a certificate.
    let key = test["test_only_private_key_pem"]
        .as_str()
        .unwrap()
        .as_bytes();
    assert!(SigningCertificate::from_pem(key).is_err());
    // Text around the block (a chain, comments) is fine: the first certificate is used.
    let cert = test["test_only_signing_cert_pem"].as_str().unwrap();
    let wrapped = format!("subject=whatever\n{cert}{cert}");
    assert!(SigningCertificate::from_pem(wrapped.as_bytes()).is_ok());
}

#[test]
fn envelopes_are_parsed_strictly() {
    let v = load("real_aws_sigv1_2015.json");
    let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut b = body.clone();
        f(b.as_object_mut().unwrap());
        Envelope::parse(&serde_json::to_vec(&b).unwrap())
    };
    assert!(matches!(
        with(&|b| {
            b.insert("Type".into(), "Other".into());
        }),
        Err(SnsError::UnknownType(_))
    ));
    assert!(matches!(
        with(&|b| {
            b.insert("SignatureVersion".into(), "3".into());
        }),
        Err(SnsError::UnsupportedVersion(_))
    ));
    assert!(matches!(
        with(&|b| {
            b.remove("Message");
        }),
        Err(SnsError::NotAnEnvelope(_))
    ));
    assert!(matches!(
        with(&|b| {
            b.insert("Type".into(), "SubscriptionConfirmation".into());
        }),
        Err(SnsError::NotAnEnvelope(_))
    ));
    // A repeated signed field is refused: there must be one value to verify.
    let dup = v["body"].as_str().unwrap().replacen(
        "\"Message\" :",
        "\"Message\" : \"x\", \"Message\" :",
        1,
    );
    assert!(matches!(
        Envelope::parse(dup.as_bytes()),
        Err(SnsError::NotAnEnvelope(_))
    ));
    // Raw message delivery (no envelope) is not an SNS envelope.
    assert!(Envelope::parse(br#"{"AlarmName":"x"}"#).is_err());
    assert!(Envelope::parse(b"\xff\xfe").is_err());
    // A Notification without Subject signs without it.
    let no_subject = with(&|b| {
        b.remove("Subject");
    })
    .unwrap();
    assert!(!no_subject.string_to_sign().contains("Subject"));
}

#[test]
fn the_corpus_certificate_urls_pass_and_lookalikes_fail() {
    for name in [
        "notification_alarm.json",
        "notification_alarm_2019_legacy_fields.json",
        "notification_insufficient_data.json",
        "subscription_confirmation.json",
        "unsubscribe_confirmation.json",
    ] {
        let path = vectors().join("..").join(name);
        let env = Envelope::parse(&fs::read(path).unwrap()).unwrap();
        assert!(env.signing_cert_url().is_ok(), "{name}");
        if let Kind::Confirmation { subscribe_url, .. } = &env.kind {
            assert_eq!(sns::validate_subscribe_url(subscribe_url), Ok(()), "{name}");
        }
    }
    for bad in [
        "http://sns.us-east-1.amazonaws.com/a.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/a.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/a.pem",
        "https://user@sns.us-east-1.amazonaws.com/a.pem",
        "https://sns.us-east-1.amazonaws.com:8443/a.pem",
        "https://sns.us-east-1.amazonaws.com/a.pem.txt",
        "https://sns.us-east-1.amazonaws.com/a.txt?x=.pem",
        "https://sns.us.amazonaws.com/a.pem",
        "https://sns.us_east.amazonaws.com/a.pem",
        "https://sns.us-east-1.amazonaws.com\\@evil.example/a.pem",
        "https://sns.us-east-1.amazonaws.com /a.pem",
        "https://sns.us-east-1.amazonaws.com./a.pem",
        "https://SNS.us-east-1.amazonaws.com/a.pem",
        "https://sns.us-east-1.amazonaws.co/a.pem",
        "https://[::1]/a.pem",
        "",
    ] {
        assert!(sns::validate_cert_url(bad).is_err(), "{bad}");
    }
    for good in [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
        "HTTPS://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
        "https://sns.us-gov-west-1.amazonaws.com:443/SimpleNotificationService-x.pem",
    ] {
        assert_eq!(sns::validate_cert_url(good), Ok(()), "{good}");
    }
    assert!(sns::validate_subscribe_url(
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
    )
    .is_ok());
    assert!(
        sns::validate_subscribe_url("https://evil.example/?Action=ConfirmSubscription").is_err()
    );
}

#[test]
fn freshness_and_topics_are_the_servers_choice_with_helpers() {
    let v = load("real_aws_sigv1_2015.json");
    let env = Envelope::parse(v["body"].as_str().unwrap().as_bytes()).unwrap();
    let signed = ms("2015-02-20T20:59:25.401Z");
    assert_eq!(env.timestamp(), Some(signed));
    assert_eq!(env.check_fresh(signed, sns::DEFAULT_MAX_AGE), Ok(()));
    assert_eq!(
        env.check_fresh(
            signed.saturating_add_millis(59 * 60 * 1000),
            sns::DEFAULT_MAX_AGE
        ),
        Ok(())
    );
    assert!(matches!(
        env.check_fresh(
            signed.saturating_add_millis(61 * 60 * 1000),
            sns::DEFAULT_MAX_AGE
        ),
        Err(SnsError::Stale { .. })
    ));
    assert!(matches!(
        env.check_fresh(
            signed.saturating_sub_millis(10 * 60 * 1000),
            Duration::from_secs(3600)
        ),
        Err(SnsError::Stale { .. })
    ));
    assert_eq!(env.check_topic(&[]), Ok(()));
    assert_eq!(
        env.check_topic(&["arn:aws:sns:us-east-1:041977924901:foo".into()]),
        Ok(())
    );
    assert!(matches!(
        env.check_topic(&["arn:aws:sns:us-east-1:041977924901:bar".into()]),
        Err(SnsError::TopicNotAllowed(_))
    ));
}

#[test]
fn the_aws_sns_auth_method_refuses_without_the_certificate_step() {
    let m = AuthMethod::AwsSns { topic_arns: vec![] };
    let h: &[(&str, &str)] = &[];
    assert_eq!(
        m.verify(&h, b"{}", &[Secret::new("x")]),
        Err(AuthError::NeedsCertificate)
    );
    assert!(!m.needs_secret());
    assert_eq!(m.kind(), "aws_sns");
    assert!(m.secret_headers().is_empty());
    // Serialized with its tag; the topic list is optional.
    let parsed: AuthMethod = serde_json::from_str(r#"{"type":"aws_sns"}"#).unwrap();
    assert_eq!(parsed, m);
    let pinned: AuthMethod = serde_json::from_str(
        r#"{"type":"aws_sns","topic_arns":["arn:aws:sns:eu-west-1:123456789012:alarms"]}"#,
    )
    .unwrap();
    assert_eq!(pinned.validate(), Ok(()));
    assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"type":"aws_sns"}"#);
    let bad = AuthMethod::AwsSns {
        topic_arns: vec!["arn:aws:sqs:eu-west-1:1:q".into()],
    };
    assert!(bad.validate().is_err());
    // Errors from the SNS steps become 401s without echoing anything.
    assert_eq!(
        AuthError::from(SnsError::InvalidSignature),
        AuthError::Invalid
    );
    assert!(matches!(
        AuthError::from(SnsError::UntrustedUrl {
            field: "SigningCertURL",
            url: "x".into()
        }),
        AuthError::Malformed { .. }
    ));
}

/// The whole server-side sequence for an `AwsSns` webhook, with the fetch replaced by the
/// vector's certificate, and the decode that follows.
#[test]
fn the_server_flow_end_to_end_on_a_signed_subscription_confirmation() {
    let v = load("selfsigned_sigv1_sigv2.json");
    let pem = v["test_only_signing_cert_pem"].as_str().unwrap();
    let case = &v["cases"][1];
    let raw = serde_json::to_vec(&case["envelope"]).unwrap();
    let topic_arns = vec!["arn:aws:sns:eu-west-1:1234567890:alerta-test".to_string()];

    let env = Envelope::parse(&raw).unwrap();
    env.check_topic(&topic_arns).unwrap();
    let url = env.signing_cert_url().unwrap();
    assert!(url.ends_with(".pem"));
    let fetched = pem.as_bytes(); // the server's fetch, cached by URL
    sns::verify_sns_signature(&env, fetched).unwrap();
    env.check_fresh(env.timestamp().unwrap(), sns::DEFAULT_MAX_AGE)
        .unwrap();

    let platform = alertgate_core::platforms::get("aws_cloudwatch").unwrap();
    let h: &[(&str, &str)] = &[];
    let decoded = (platform.decode)(&h, serde_json::from_slice(&raw).unwrap()).unwrap();
    assert_eq!(
        decoded,
        alertgate_core::platforms::Decoded::SubscriptionConfirmation {
            topic_arn: "arn:aws:sns:eu-west-1:1234567890:alerta-test".into(),
            subscribe_url: case["envelope"]["SubscribeURL"].as_str().unwrap().into(),
        }
    );
}

mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_input_makes_the_sns_checks_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            text in ".{0,80}",
            signature in "[A-Za-z0-9+/=]{0,400}",
            version in prop::sample::select(&["1", "2"][..]),
        ) {
            let _ = Envelope::parse(&bytes);
            let _ = sns::validate_cert_url(&text);
            let _ = sns::validate_subscribe_url(&text);
            let _ = SigningCertificate::from_pem(&bytes);
            let _ = sns::validate_topic_arns(std::slice::from_ref(&text));
            let pem = load("selfsigned_sigv1_sigv2.json")["test_only_signing_cert_pem"]
                .as_str()
                .unwrap()
                .to_string();
            let body = serde_json::json!({
                "Type": "Notification", "MessageId": text, "TopicArn": "t", "Message": text,
                "Timestamp": text, "SignatureVersion": version, "Signature": signature,
                "SigningCertURL": text,
            });
            let env = Envelope::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
            prop_assert!(sns::verify_sns_signature(&env, pem.as_bytes()).is_err());
            let _ = env.check_fresh(Timestamp::from_millis(0), sns::DEFAULT_MAX_AGE);
        }
    }
}
