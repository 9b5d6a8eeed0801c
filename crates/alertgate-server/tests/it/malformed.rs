//! Bad input never hurts: a table of malformed requests sent over real HTTP (raw TCP where reqwest
//! cannot produce the request). Each gets its documented status with a JSON `{error, message}`,
//! leaves a delivery-log row when the webhook is known, and the server keeps serving.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// The test server's time allowed to receive a body: short, so the stalled client is quick.
const REQUEST_TIMEOUT_MS: u64 = 600;
/// Authentication failures are charged per address; a minute passes on the manual clock before
/// each one so the per-address limit stays out of the way.
const FAILURE_WINDOW_MS: i64 = 60_000;

const OK: &[u8] = br#"{"title":"disk full","severity":"high"}"#;

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Generic,
    PagerDuty,
    Sns,
    /// No webhook: the row cannot be attributed.
    Unknown,
}

/// Builds a raw request from the intake path and the secret.
type BuildRaw = Box<dyn Fn(&str, &str) -> Vec<u8> + Send>;

enum Req {
    /// Through reqwest, to the target's intake URL (or `path` when set).
    Http {
        method: reqwest::Method,
        path: Option<String>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        bearer: bool,
    },
    /// Raw bytes on a fresh connection, built from the target's intake path and secret.
    Raw(BuildRaw),
    /// Headers and part of the body, then nothing: the server must answer on its own.
    Stall { declared: usize, sent: Vec<u8> },
}

struct Case {
    name: String,
    target: Target,
    req: Req,
    status: u16,
    /// The JSON error code; `None` for an accepted request (2xx).
    code: Option<&'static str>,
}

fn post(
    target: Target,
    name: &str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name: name.into(),
        target,
        req: Req::Http {
            method: reqwest::Method::POST,
            path: None,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            bearer: true,
        },
        status,
        code: Some(code),
    }
}

fn post_with(
    target: Target,
    name: &str,
    body: impl Into<Vec<u8>>,
    headers: &[(&str, &str)],
    bearer: bool,
    status: u16,
    code: Option<&'static str>,
) -> Case {
    Case {
        name: name.into(),
        target,
        req: Req::Http {
            method: reqwest::Method::POST,
            path: None,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
            bearer,
        },
        status,
        code,
    }
}

/// An accepted request; the shared small alert gets the case's name as its title, so that it
/// opens its own incident.
fn accepted(name: &str, body: impl Into<Vec<u8>>, headers: &[(&str, &str)]) -> Case {
    let mut body = body.into();
    if body == OK {
        body = json!({"title": name, "severity": "high"})
            .to_string()
            .into_bytes();
    }
    post_with(Target::Generic, name, body, headers, true, 201, None)
}

fn nested(depth: usize) -> String {
    // `depth` levels of objects in total, the alert's own object included.
    let mut s = String::from("1");
    for _ in 1..depth {
        s = format!("{{\"x\":{s}}}");
    }
    format!("{{\"title\":\"nested {depth}\",\"deep\":{s}}}")
}

/// A valid alert padded with a string field to exactly `len` bytes.
fn alert_of_len(len: usize, title: &str) -> Vec<u8> {
    let head = format!("{{\"title\":\"{title}\",\"pad\":\"");
    let tail = "\"}";
    let pad = len - head.len() - tail.len();
    format!("{head}{}{tail}", "a".repeat(pad)).into_bytes()
}

fn raw(f: impl Fn(&str, &str) -> Vec<u8> + Send + 'static) -> Req {
    Req::Raw(Box::new(f))
}

fn raw_case(target: Target, name: &str, req: Req, status: u16, code: &'static str) -> Case {
    Case {
        name: name.into(),
        target,
        req,
        status,
        code: Some(code),
    }
}

fn method(target: Target, m: reqwest::Method, status: u16, code: &'static str) -> Case {
    Case {
        name: format!("{m} on an intake URL"),
        target,
        req: Req::Http {
            method: m,
            path: None,
            headers: vec![],
            body: Vec::new(),
            bearer: true,
        },
        status,
        code: Some(code),
    }
}

fn path(name: &str, p: &str, status: u16, code: &'static str) -> Case {
    Case {
        name: name.into(),
        target: Target::Unknown,
        req: Req::Http {
            method: reqwest::Method::POST,
            path: Some(p.into()),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"title\":\"x\"}".to_vec(),
            bearer: false,
        },
        status,
        code: Some(code),
    }
}

fn signature(name: &str, value: &str) -> Case {
    post_with(
        Target::PagerDuty,
        name,
        r#"{"event":{"event_type":"incident.triggered"}}"#,
        &[
            ("content-type", "application/json"),
            ("x-pagerduty-signature", value),
        ],
        false,
        401,
        Some("invalid_credentials"),
    )
}

fn cases() -> Vec<Case> {
    use reqwest::Method as M;
    use Target::*;
    let ok = OK;
    let mut c = vec![
        // Not JSON.
        post(
            Generic,
            "truncated JSON",
            r#"{"title": "x""#,
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "trailing garbage",
            r#"{"title":"x"} trailing"#,
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "single quotes",
            "{'title':'x'}",
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "unquoted key",
            "{title:\"x\"}",
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "trailing comma",
            r#"{"title":"x",}"#,
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "NaN literal",
            r#"{"title":"x","v":NaN}"#,
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "lone surrogate escape",
            r#"{"title":"\ud800"}"#,
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "XML",
            "<alert><title>x</title></alert>",
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "form-encoded",
            "title=x&severity=high",
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "two documents",
            r#"{"title":"a"}{"title":"b"}"#,
            400,
            "invalid_json",
        ),
        // Not UTF-8.
        post(
            Generic,
            "invalid UTF-8 byte",
            b"{\"title\":\"\xff\"}".to_vec(),
            400,
            "invalid_utf8",
        ),
        post(
            Generic,
            "overlong UTF-8",
            b"{\"title\":\"\xc0\xaf\"}".to_vec(),
            400,
            "invalid_utf8",
        ),
        post(
            Generic,
            "truncated UTF-8 sequence",
            b"{\"title\":\"\xe2\x82\"}".to_vec(),
            400,
            "invalid_utf8",
        ),
        // UTF-16 of ASCII is valid UTF-8 (with NULs) but not JSON.
        post(
            Generic,
            "UTF-16 body",
            "{\"title\":\"x\"}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<_>>(),
            400,
            "invalid_json",
        ),
        post(
            Generic,
            "UTF-16 with a byte-order mark",
            [0xff, 0xfe, b'{', 0, b'}', 0].to_vec(),
            400,
            "invalid_utf8",
        ),
        // Empty.
        post(Generic, "empty body", "", 400, "empty_body"),
        // Nesting.
        post(
            Generic,
            "nesting 11 deep",
            nested(11),
            400,
            "nesting_too_deep",
        ),
        post(
            Generic,
            "arrays nested 11 deep",
            format!(
                "{{\"title\":\"a\",\"v\":{}1{}}}",
                "[".repeat(10),
                "]".repeat(10)
            ),
            400,
            "nesting_too_deep",
        ),
        post(
            Generic,
            "nesting 10 000 deep",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            400,
            "nesting_too_deep",
        ),
        // Size.
        post(
            Generic,
            "100 KB + 1 bytes",
            alert_of_len(100 * 1024 + 1, "big"),
            413,
            "payload_too_large",
        ),
        post(
            Generic,
            "1 MB",
            alert_of_len(1024 * 1024, "bigger"),
            413,
            "payload_too_large",
        ),
        // Valid JSON the mapping cannot use.
        post(
            Generic,
            "no title",
            r#"{"severity":"high"}"#,
            422,
            "title_not_found",
        ),
        post(Generic, "empty object", "{}", 422, "title_not_found"),
        post(Generic, "JSON null", "null", 422, "unsupported_payload"),
        post(
            Generic,
            "bare string",
            r#""just a string""#,
            422,
            "unsupported_payload",
        ),
        post(Generic, "bare number", "42", 422, "unsupported_payload"),
        post(Generic, "empty array", "[]", 422, "unsupported_payload"),
        // Credentials.
        post_with(
            Generic,
            "no credentials",
            ok.to_vec(),
            &[("content-type", "application/json")],
            false,
            401,
            Some("missing_credentials"),
        ),
        post_with(
            Generic,
            "wrong bearer",
            ok.to_vec(),
            &[("authorization", "Bearer not-the-secret")],
            false,
            401,
            Some("invalid_credentials"),
        ),
        post_with(
            Generic,
            "bearer of 8 KB",
            ok.to_vec(),
            &[("authorization", &format!("Bearer {}", "k".repeat(8192)))],
            false,
            401,
            Some("invalid_credentials"),
        ),
        signature("signature header empty", ""),
        signature("signature of 1 hex digit", "v1=a"),
        signature(
            "signature of 63 hex digits",
            &format!("v1={}", "a".repeat(63)),
        ),
        signature(
            "signature of 65 hex digits",
            &format!("v1={}", "a".repeat(65)),
        ),
        signature(
            "signature of 4 000 hex digits",
            &format!("v1={}", "ab".repeat(2000)),
        ),
        signature("signature not hex", &format!("v1={}", "zz".repeat(32))),
        raw_case(
            PagerDuty,
            "signature with non-ASCII bytes",
            raw(|p, _| {
                let mut b = format!("POST {p} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\nconnection: close\r\nx-pagerduty-signature: v1=").into_bytes();
                b.extend_from_slice("é€".as_bytes());
                b.extend_from_slice(b"\r\n\r\n{}");
                b
            }),
            401,
            "invalid_credentials",
        ),
        // Methods.
        method(Generic, M::GET, 405, "method_not_allowed"),
        method(Generic, M::PUT, 405, "method_not_allowed"),
        method(Generic, M::PATCH, 405, "method_not_allowed"),
        method(Generic, M::DELETE, 405, "method_not_allowed"),
        method(Unknown, M::OPTIONS, 405, "method_not_allowed"),
        // Tokens.
        path(
            "token with encoded traversal",
            "/webhook/..%2F..%2Fapi%2Fv1%2Fwebhooks/trigger",
            404,
            "webhook_not_found",
        ),
        path(
            "token of dots",
            "/webhook/..%2e/trigger",
            404,
            "webhook_not_found",
        ),
        path(
            "non-ASCII token",
            "/webhook/%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9/trigger",
            404,
            "webhook_not_found",
        ),
        path(
            "token with a NUL",
            "/webhook/abcdefghijklmnop%00qrstuvwxyz/trigger",
            404,
            "webhook_not_found",
        ),
        path(
            "token of 4 000 characters",
            &format!("/webhook/{}/trigger", "A".repeat(4000)),
            404,
            "webhook_not_found",
        ),
        path(
            "well-formed unknown token",
            "/webhook/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/trigger",
            404,
            "webhook_not_found",
        ),
        path("empty token", "/webhook//trigger", 404, "webhook_not_found"),
        // Content types: the body decides, not the label (SNS labels JSON text/plain).
        accepted("no Content-Type", ok.to_vec(), &[]),
        accepted(
            "text/plain JSON",
            ok.to_vec(),
            &[("content-type", "text/plain; charset=UTF-8")],
        ),
        accepted(
            "Content-Type of XML on JSON",
            ok.to_vec(),
            &[("content-type", "application/xml")],
        ),
        accepted(
            "garbage Content-Type",
            ok.to_vec(),
            &[("content-type", "nonsense;;;=")],
        ),
        post_with(
            Sns,
            "SNS text/plain with a forged signature",
            r#"{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:123456789012:t","Message":"{}","Timestamp":"2027-01-15T08:00:00.000Z","SignatureVersion":"1","Signature":"AAAA","SigningCertURL":"https://certificates.example.com/c.pem"}"#,
            &[
                ("content-type", "text/plain; charset=UTF-8"),
                ("x-amz-sns-message-type", "Notification"),
            ],
            false,
            401,
            Some("invalid_credentials"),
        ),
        post_with(
            Sns,
            "SNS text/plain that is not JSON",
            "Type=Notification",
            &[("content-type", "text/plain; charset=UTF-8")],
            false,
            401,
            Some("invalid_credentials"),
        ),
        // Soft limits: truncated and reported, still accepted.
        accepted(
            "a 10 001-character string",
            format!("{{\"title\":\"long\",\"d\":\"{}\"}}", "é".repeat(10_001)),
            &[],
        ),
        accepted(
            "a 101-item array",
            format!(
                "{{\"title\":\"many\",\"v\":[{}]}}",
                vec!["1"; 101].join(",")
            ),
            &[],
        ),
        accepted("exactly 100 KB", alert_of_len(100 * 1024, "edge"), &[]),
        accepted("nesting exactly 10 deep", nested(10), &[]),
        // Headers.
        accepted(
            "duplicated Content-Type",
            ok.to_vec(),
            &[
                ("content-type", "application/json"),
                ("content-type", "text/plain"),
            ],
        ),
        accepted(
            "a 16 KB header",
            ok.to_vec(),
            &[("x-padding", &"p".repeat(16 * 1024))],
        ),
        accepted("a hundred small headers", ok.to_vec(), &[]),
        // Raw HTTP that reqwest would not send.
        raw_case(
            Generic,
            "duplicated Authorization, wrong one first",
            raw(|p, s| {
                format!("POST {p} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\nauthorization: Bearer {s}\r\ncontent-type: application/json\r\ncontent-length: 13\r\nconnection: close\r\n\r\n{{\"title\":\"d\"}}").into_bytes()
            }),
            401,
            "invalid_credentials",
        ),
        raw_case(
            Generic,
            "truncated chunked body",
            raw(|p, s| {
                format!("POST {p} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {s}\r\ntransfer-encoding: chunked\r\n\r\n40\r\n{{\"title\":\"cut").into_bytes()
            }),
            400,
            "invalid_json",
        ),
        raw_case(
            Generic,
            "invalid chunk size",
            raw(|p, s| {
                format!("POST {p} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {s}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n").into_bytes()
            }),
            400,
            "invalid_json",
        ),
        raw_case(
            Generic,
            "Content-Length larger than the body, then EOF",
            raw(|p, s| {
                format!("POST {p} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {s}\r\ncontent-length: 500\r\n\r\n{{\"title\":\"short\"}}").into_bytes()
            }),
            400,
            "invalid_json",
        ),
        raw_case(
            Generic,
            "a body that stalls mid-way",
            Req::Stall {
                declared: 200,
                sent: b"{\"title\":\"slow".to_vec(),
            },
            408,
            "request_timeout",
        ),
        raw_case(
            Generic,
            "a chunked body over 100 KB",
            raw(|p, s| {
                let chunk = "a".repeat(60 * 1024);
                format!("POST {p} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {s}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len(), chunk.len()).into_bytes()
            }),
            413,
            "payload_too_large",
        ),
        raw_case(
            Unknown,
            "traversal in the request line",
            raw(|_, _| {
                b"POST /webhook/../../api/v1/webhooks HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}".to_vec()
            }),
            404,
            "not_found",
        ),
    ];
    // The hundred headers.
    if let Some(Case {
        req: Req::Http { headers, .. },
        ..
    }) = c.iter_mut().find(|c| c.name == "a hundred small headers")
    {
        for i in 0..90 {
            headers.push((format!("x-h{i}"), format!("v{i}")));
        }
    }
    c
}

/// Send raw bytes on a new connection and read the reply until EOF (bounded in time). A request
/// without `connection: close` is cut short on purpose: the write side is closed after it.
async fn send_raw_bytes(addr: &str, bytes: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    if !String::from_utf8_lossy(bytes).contains("connection: close") {
        s.shutdown().await.unwrap();
    }
    read_reply(&mut s).await
}

async fn read_reply(s: &mut TcpStream) -> (u16, Value) {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the connection in time");
    parse_reply(&buf)
}

fn parse_reply(buf: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(buf);
    let Some(status) = text.split(' ').nth(1).and_then(|s| s.parse().ok()) else {
        // No reply at all: reported as status 0 with what came back.
        return (0, Value::String(text.chars().take(200).collect()));
    };
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn log_len(app: &TestApp, hook: &Hook) -> usize {
    app.deliveries(hook).await.len()
}

#[tokio::test]
async fn every_malformed_request_gets_its_documented_status_a_log_row_and_the_server_keeps_serving()
{
    let clock = manual_clock();
    let app = spawn_configured(alertgate_server::Runtime::with_clock(clock.clone()), |c| {
        c.request_timeout_ms = REQUEST_TIMEOUT_MS
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let generic = app
        .create_webhook(json!({"name": "generic", "rate_limit_per_hour": 0}))
        .await;
    let pagerduty = app
        .create_webhook(json!({"platform": "pagerduty", "name": "pd", "secret": "a-pagerduty-secret-of-some-length"}))
        .await;
    let sns = app
        .create_webhook(json!({"platform": "aws_cloudwatch", "name": "sns"}))
        .await;
    let cases = cases();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases {
        let hook = match case.target {
            Target::Generic | Target::Unknown => &generic,
            Target::PagerDuty => &pagerduty,
            Target::Sns => &sns,
        };
        let intake_path = hook.url.trim_start_matches(&app.base).to_string();
        if case.status == 401 {
            clock.advance_millis(FAILURE_WINDOW_MS);
        }
        let rows_before = log_len(&app, hook).await;
        let got = match &case.req {
            Req::Http {
                method,
                path,
                headers,
                body,
                bearer,
            } => {
                let url = path.as_ref().map_or(hook.url.clone(), |p| app.url(p));
                let mut req = app.client.request(method.clone(), url).body(body.clone());
                for (k, v) in headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                if *bearer {
                    req = req.bearer_auth(&hook.secret);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                (status, resp.json().await.unwrap_or(Value::Null))
            }
            Req::Raw(build) => send_raw_bytes(&addr, &build(&intake_path, &hook.secret)).await,
            Req::Stall { declared, sent } => {
                let mut s = TcpStream::connect(&addr).await.unwrap();
                let head = format!(
                    "POST {intake_path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-length: {declared}\r\n\r\n",
                    hook.secret
                );
                s.write_all(head.as_bytes()).await.unwrap();
                s.write_all(sent).await.unwrap();
                let t = Instant::now();
                // The connection stays open on our side: the server must answer and close it.
                let got = read_reply(&mut s).await;
                let waited = t.elapsed();
                assert!(
                    waited >= Duration::from_millis(REQUEST_TIMEOUT_MS / 2)
                        && waited < Duration::from_millis(REQUEST_TIMEOUT_MS * 10),
                    "{}: answered after {waited:?}",
                    case.name
                );
                got
            }
        };
        let mut wrong = Vec::new();
        if got.0 != case.status {
            wrong.push(format!("status {} instead of {}", got.0, case.status));
        }
        match case.code {
            Some(code) => {
                if got.1["error"] != code || got.1["message"].as_str().is_none_or(|m| m.is_empty())
                {
                    wrong.push(format!("body {} instead of error {code}", got.1));
                }
            }
            None => {
                if !got.1["incident_id"].is_string() {
                    wrong.push(format!("body {} has no incident", got.1));
                }
            }
        }
        if case.target != Target::Unknown {
            let log = app.deliveries(hook).await;
            if log.len() != rows_before + 1 {
                wrong.push(format!("{} delivery rows added", log.len() - rows_before));
            } else if log[0]["status_code"] != case.status
                || case.code.is_some_and(|code| log[0]["outcome"] != code)
            {
                wrong.push(format!(
                    "row says {} {}",
                    log[0]["status_code"], log[0]["outcome"]
                ));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {}", case.name, wrong.join("; ")));
        }
        checked += 1;
        let health = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200, "still serving after {}", case.name);
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!(
        "{checked} malformed-request cases in {:?}",
        started.elapsed()
    );
    // Headers beyond hyper's buffer (about 400 KB) are refused by the HTTP layer itself, before
    // any route: 431 without a body, and the connection is closed.
    let huge = format!(
        "POST /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n",
        "h".repeat(1024 * 1024)
    );
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let _ = s.write_all(huge.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert_eq!(parse_reply(&buf).0, 431);
    // And a normal alert still goes through end to end.
    let (status, reply) = app.send(&generic, &seed_alert()).await;
    assert_eq!(status, 201, "{reply}");
    assert!(started.elapsed() < Duration::from_secs(30));
}
