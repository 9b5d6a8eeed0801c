//! A destination for outbox events that runs in the test process and outlives the servers the
//! test kills: a real HTTP server on loopback that checks every request's Standard Webhooks
//! signature itself (HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` with the
//! base64-decoded `whsec_` key, computed here with the `hmac` crate, not with alertgate's signing
//! code) and records what it accepted.
//!
//! It can hold the first `hold` requests without ever answering them (as a destination that hangs
//! would), and answers the others 200 after a small random delay, so that a kill can land while a
//! delivery is on the wire.

// Each test binary that includes this module uses its own part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// A request the receiver verified.
#[derive(Debug, Clone)]
pub struct Received {
    /// The message id: the same on every attempt of one message.
    pub webhook_id: String,
    pub event_type: String,
    pub incident_id: String,
    /// Answered 200 (false: held, never answered).
    pub answered: bool,
}

#[derive(Default)]
struct Inner {
    /// The destination's signing key (the bytes behind `whsec_`).
    key: Option<Vec<u8>>,
    /// How many more requests to hold unanswered.
    hold: usize,
    /// The longest random delay before answering.
    max_delay_ms: u64,
    received: Vec<Received>,
    rejected: Vec<String>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl Receiver {
    /// Listen on a loopback port; events are expected at `{url}`.
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/events"),
            inner,
            task: Arc::new(task),
        }
    }

    /// Accept requests signed with `secret` (`whsec_…`, as the API returned it).
    pub fn set_secret(&self, secret: &str) {
        let key = base64::engine::general_purpose::STANDARD
            .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
            .expect("base64 after whsec_");
        self.inner.lock().unwrap().key = Some(key);
    }

    /// Hold the next `n` requests without answering them.
    pub fn hold(&self, n: usize) {
        self.inner.lock().unwrap().hold = n;
    }

    /// Answer each request after a random delay of up to `ms`.
    pub fn delay_up_to(&self, ms: u64) {
        self.inner.lock().unwrap().max_delay_ms = ms;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Why requests were refused (bad or missing signatures, unknown paths).
    pub fn rejected(&self) -> Vec<String> {
        self.inner.lock().unwrap().rejected.clone()
    }
}

/// A cheap random delay without another dependency.
fn random_below(max: u64) -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    if max == 0 {
        return 0;
    }
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % (max + 1)
}

fn verify(key: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("no {name} header"))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| format!("bad timestamp {timestamp}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if (now - ts).abs() > 300 {
        return Err(format!(
            "timestamp {ts} is more than 5 minutes from now ({now})"
        ));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    for sig in signatures.split(' ') {
        let Some(b64) = sig.strip_prefix("v1,") else {
            continue;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        if mac.clone().verify_slice(&raw).is_ok() {
            return Ok(());
        }
    }
    Err(format!("no valid v1 signature for message {id}"))
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (key, delay, hold) = {
        let mut i = inner.lock().unwrap();
        let hold = i.hold > 0;
        if hold {
            i.hold -= 1;
        }
        (i.key.clone(), random_below(i.max_delay_ms), hold)
    };
    let refuse = |why: String| {
        inner.lock().unwrap().rejected.push(why);
        StatusCode::UNAUTHORIZED
    };
    if uri.path() != "/events" {
        return refuse(format!("unknown path {}", uri.path()));
    }
    let Some(key) = key else {
        return refuse("a request before the secret was set".into());
    };
    if let Err(why) = verify(&key, &headers, &body) {
        return refuse(why);
    }
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut received = Received {
        webhook_id: headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        event_type: payload["type"].as_str().unwrap_or_default().to_string(),
        incident_id: payload["data"]["incident"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        answered: !hold,
    };
    if hold {
        inner.lock().unwrap().received.push(received.clone());
        // Never answered: the sender's request stays on the wire until it gives up or dies.
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_millis(delay)).await;
    received.answered = true;
    inner.lock().unwrap().received.push(received);
    StatusCode::OK
}
