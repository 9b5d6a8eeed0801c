//! Amazon SNS signing certificates: the PEM/X.509/RSA parser that reads what the server fetched.
//!
//! Byte 0 chooses the form of the rest: as it is (a PEM document, possibly with text around
//! it), or DER wrapped into a PEM block here, so mutations reach the X.509 decoder directly.
//!
//! Invariants: no panic; a parsed certificate is valid over its own period (and at both ends),
//! and checking a signature with it never panics.
#![no_main]

use std::sync::OnceLock;

use alertgate_core::sns::{Envelope, SigningCertificate};
use libfuzzer_sys::fuzz_target;

const VECTORS: &str =
    include_str!("../../tests/fixtures/aws_cloudwatch_sns/vectors/selfsigned_sigv1_sigv2.json");

fn envelopes() -> &'static [Envelope] {
    static ALL: OnceLock<Vec<Envelope>> = OnceLock::new();
    ALL.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Envelope::parse(c["envelope"].to_string().as_bytes()).unwrap())
            .collect()
    })
}

fn pem(der: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    for (i, chunk) in der.chunks(3).enumerate() {
        if i > 0 && i % 16 == 0 {
            out.push(b'\n');
        }
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for j in 0..4 {
            out.push(if j <= chunk.len() {
                A[(n >> (18 - 6 * j) & 63) as usize]
            } else {
                b'='
            });
        }
    }
    out.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        pem(rest)
    };
    let Ok(cert) = SigningCertificate::from_pem(&input) else {
        return;
    };
    if cert.not_before() <= cert.not_after() {
        assert!(cert.is_valid_at(cert.not_before()));
        assert!(cert.is_valid_at(cert.not_after()));
    } else {
        assert!(!cert.is_valid_at(cert.not_before()));
    }
    let _ = cert.subject();
    for e in envelopes() {
        let _ = cert.verify(e);
    }
});
