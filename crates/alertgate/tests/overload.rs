//! Twice the sustainable rate against the real binary: measure what the server sustains (closed
//! loop), then offer twice that in an open loop (requests leave on schedule whether or not earlier
//! ones were answered) and check that
//!
//! - what it cannot take is shed with 503 `overloaded` and `Retry-After`, and nothing else fails;
//! - the accepted requests' p99 latency stays bounded: ≤ 2.5 s in the server's own histogram,
//!   ≤ 10 s as the client sees it (see [`P99_BOUND`], [`CLIENT_P99_BOUND`]); goodput is printed;
//! - the server's resident memory (`VmRSS` in `/proc/<pid>/status`) stays under 200 MB;
//! - once the load drops, every request succeeds again, without a restart.
//!
//! What bounds the accepted requests' latency is the bound on requests in flight: by Little's law
//! they wait about `max_concurrent_requests / throughput`. The shipped 1,024 is about 0.1 s at a
//! release build's ~10,000 req/s on two cores; a debug build (what `cargo test` runs) sustains
//! some hundreds per second, so the test runs the server with [`IN_FLIGHT`] = 64, the same wait
//! at its speed. The numbers are printed:
//! `cargo test -p alertgate --test overload -- --nocapture`. The in-process variant with a writer
//! queue of one is `alertgate-server`'s `it overload`.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ADMIN: &str = "agt_admin-token-for-the-overload-test-0123456789";
/// `max_concurrent_requests` for this run (see the module docs).
const IN_FLIGHT: usize = 64;
/// Connections of the closed loop that measures the sustainable rate.
const CALIBRATION_CONNECTIONS: usize = 64;
const CALIBRATION: Duration = Duration::from_secs(2);
/// Long enough that a queue without a bound would show: its wait would grow to several seconds.
const OVERLOAD: Duration = Duration::from_secs(6);
/// Requests the open loop keeps in flight at most; past it a request is not sent (and counted).
/// Each request in flight holds a connection, so the cap stays under the server's default
/// `max_connections` (4,096): past that the server stops accepting by design and connections wait
/// in the listen queue, which is the connection limit's behaviour, not the request shedding this
/// test is about.
const CLIENT_IN_FLIGHT_CAP: u64 = 3_000;
/// Accepted requests' p99 in the server's own histogram (from the handler's start to its
/// answer: body, checks, the writer's queue and commit), as a bucket bound. On a quiet machine it
/// is 0.1–0.5 s; generous, because the test's two cores may be shared with builds.
const P99_BOUND: Duration = Duration::from_millis(2_500);
/// The same as the client sees it: a backstop against stalls. It adds connecting and both
/// processes' scheduling on two cores shared with the load generator (and, on a developer's
/// machine, with builds). Should the kernel's listen queue overflow, SYN retransmissions (1 s,
/// then 3 s) would add to the tail: the machine's listen-queue overflow count is printed with the
/// latencies (0 since the server's queue holds 4,096 and the client stays under
/// `max_connections`; a run that let the client reach 6,000 connections saw 22,437 and a max of
/// 15 s).
const CLIENT_P99_BOUND: Duration = Duration::from_secs(10);
const RSS_BOUND_KB: u64 = 200 * 1024;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The process's resident set size in kB.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The kernel's count of connections dropped because a listen queue was full (machine-wide):
/// each costs the client a SYN retransmission, 1 s and then 3 s later.
fn listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    let [names, values] = lines.as_slice() else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// One request's outcome: status (None: no answer), Retry-After present, `error` code, latency.
struct Outcome {
    status: Option<u16>,
    retry_after: bool,
    error: String,
    latency: Duration,
}

async fn send(client: &reqwest::Client, url: &str, secret: &str, n: u64) -> Outcome {
    let started = Instant::now();
    let reply = client
        .post(url)
        .bearer_auth(secret)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"title": "overload {n}", "severity": "high", "service": "overload-test"}}"#
        ))
        .send()
        .await;
    let resp = match reply {
        Ok(resp) => resp,
        // Why there was no answer: the client's timeout, connecting, a reset.
        Err(e) => {
            return Outcome {
                status: None,
                retry_after: false,
                error: alertgate_server::outbox::describe(&e.without_url()),
                latency: started.elapsed(),
            }
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key("retry-after");
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    Outcome {
        status: Some(status),
        retry_after,
        error: body["error"].as_str().unwrap_or_default().to_string(),
        latency: started.elapsed(),
    }
}

/// The server's own intake latency histogram (`le` in seconds, cumulative count), from `/metrics`.
async fn server_latency(client: &reqwest::Client, base: &str) -> Vec<(f64, u64)> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("alertgate_intake_latency_seconds_bucket{")?;
            let (labels, count) = rest.split_once("} ")?;
            let le = labels.split("le=\"").nth(1)?.trim_end_matches('"');
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect()
}

/// The smallest bucket bound under which `p` of the requests recorded between `before` and
/// `after` fell, and how many were recorded.
fn bucket_percentile(before: &[(f64, u64)], after: &[(f64, u64)], p: f64) -> (f64, u64) {
    let at = |h: &[(f64, u64)], le: f64| h.iter().find(|b| b.0 == le).map_or(0, |b| b.1);
    let total = at(after, f64::INFINITY) - at(before, f64::INFINITY);
    let bound = after
        .iter()
        .find(|(le, n)| (n - at(before, *le)) as f64 >= p * total as f64)
        .map_or(f64::INFINITY, |b| b.0);
    (bound, total)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_twice_the_sustainable_rate_excess_is_shed_latency_and_memory_stay_bounded_and_it_recovers(
) {
    assert!(
        CLIENT_IN_FLIGHT_CAP
            < alertgate_server::serve::ConnectionLimits::default().max_connections as u64,
        "the client's connections stay under the server's max_connections"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-concurrent-requests",
        ])
        .arg(IN_FLIGHT.to_string())
        .env("ALERTGATE_DATA_DIR", dir.path())
        .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertgate");
    let base = common::listening_url(&mut child).expect("the server printed its address");
    let server = Server { child, base };
    let pid = server.child.id();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let hook = common::admin_post(
        &client,
        &server.base,
        ADMIN,
        "/api/v1/webhooks",
        json!({"name": "overload", "rate_limit_per_hour": 0}),
    )
    .await;
    let secret = Arc::new(hook["secret"].as_str().unwrap().to_string());
    let url = Arc::new(hook["intake_url"].as_str().unwrap().to_string());
    let counter = Arc::new(AtomicU64::new(0));

    // Memory, sampled throughout.
    let sampling = Arc::new(AtomicBool::new(true));
    let max_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, max_rss) = (sampling.clone(), max_rss.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                if let Some(kb) = rss_kb(pid) {
                    max_rss.fetch_max(kb, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    // 1. The sustainable rate: a closed loop that keeps the writer's batches full.
    let started = Instant::now();
    let mut loops = Vec::new();
    for _ in 0..CALIBRATION_CONNECTIONS {
        let (client, url, secret, counter) =
            (client.clone(), url.clone(), secret.clone(), counter.clone());
        loops.push(tokio::spawn(async move {
            let mut ok = 0u64;
            while started.elapsed() < CALIBRATION {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let o = send(&client, &url, &secret, n).await;
                assert_eq!(o.status, Some(201), "calibration: {}", o.error);
                ok += 1;
            }
            ok
        }));
    }
    let mut calibrated = 0;
    for l in loops {
        calibrated += l.await.unwrap();
    }
    let sustainable = calibrated as f64 / started.elapsed().as_secs_f64();
    let rss_after_calibration = rss_kb(pid).unwrap_or(0);

    // 2. Twice that, open loop: each request leaves on its schedule.
    let histogram_before = server_latency(&client, &server.base).await;
    let overflows_before = listen_overflows();
    let rate = 2.0 * sustainable;
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let in_flight = Arc::new(AtomicU64::new(0));
    let mut not_sent = 0u64;
    let mut sent = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    while started.elapsed() < OVERLOAD {
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            sent += 1;
            if in_flight.load(Ordering::Relaxed) >= CLIENT_IN_FLIGHT_CAP {
                not_sent += 1;
                continue;
            }
            in_flight.fetch_add(1, Ordering::Relaxed);
            let (client, url, secret, counter, outcomes, in_flight) = (
                client.clone(),
                url.clone(),
                secret.clone(),
                counter.clone(),
                outcomes.clone(),
                in_flight.clone(),
            );
            tasks.spawn(async move {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let o = send(&client, &url, &secret, n).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
                outcomes.lock().unwrap().push(o);
            });
        }
        // Reap what finished, then wait for the next tick.
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let offered_for = started.elapsed();
    while tasks.join_next().await.is_some() {}
    let drained = started.elapsed();
    let histogram_after = server_latency(&client, &server.base).await;
    let overflows = listen_overflows().saturating_sub(overflows_before);
    let (server_p99, server_recorded) =
        bucket_percentile(&histogram_before, &histogram_after, 0.99);
    let rss_after_overload = rss_kb(pid).unwrap_or(0);

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let mut accepted: Vec<Duration> = Vec::new();
    let (mut shed, mut shed_without_retry_after) = (0u64, 0u64);
    let mut unexpected: Vec<String> = Vec::new();
    let mut unanswered: std::collections::BTreeMap<&str, u64> = Default::default();
    let mut shed_latency: Vec<Duration> = Vec::new();
    for o in &outcomes {
        match o.status {
            Some(201) => accepted.push(o.latency),
            Some(503) if o.error == "overloaded" => {
                shed += 1;
                shed_latency.push(o.latency);
                shed_without_retry_after += u64::from(!o.retry_after);
            }
            Some(s) => unexpected.push(format!("{s} {}", o.error)),
            None => *unanswered.entry(o.error.as_str()).or_default() += 1,
        }
    }
    let no_answer: u64 = unanswered.values().sum();
    accepted.sort();
    shed_latency.sort();
    let p50 = percentile(&accepted, 0.50);
    let p99 = percentile(&accepted, 0.99);
    let max = accepted.last().copied().unwrap_or_default();
    let goodput = accepted.len() as f64 / drained.as_secs_f64();
    let offered = (sent - not_sent) as f64 / offered_for.as_secs_f64();

    // 3. The load drops: every request succeeds again, on the same process.
    let recovery_started = Instant::now();
    let mut recovery = Vec::new();
    for _ in 0..8 {
        let (client, url, secret, counter) =
            (client.clone(), url.clone(), secret.clone(), counter.clone());
        recovery.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..50 {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let o = send(&client, &url, &secret, n).await;
                statuses.push((o.status, o.latency));
            }
            statuses
        }));
    }
    let mut recovered = Vec::new();
    for r in recovery {
        recovered.extend(r.await.unwrap());
    }
    let recovery_took = recovery_started.elapsed();
    let recovered_ok = recovered.iter().filter(|(s, _)| *s == Some(201)).count();
    let mut recovery_latency: Vec<Duration> = recovered.iter().map(|(_, l)| *l).collect();
    recovery_latency.sort();

    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let max_rss_kb = max_rss.load(Ordering::Relaxed);

    println!(
        "overload (max_concurrent_requests {IN_FLIGHT}): sustainable {sustainable:.0} req/s (closed loop, {CALIBRATION_CONNECTIONS} connections, \
         {calibrated} in {CALIBRATION:?}); offered {offered:.0} req/s open loop for {offered_for:.1?} \
         ({} requests, {not_sent} held back by the client's cap of {CLIENT_IN_FLIGHT_CAP} in flight)"
        , sent - not_sent
    );
    println!(
        "overload: {} accepted (goodput {goodput:.0} req/s), {shed} shed with 503 + Retry-After \
         (p99 {:?}), {} other statuses, {no_answer} without an answer {unanswered:?}; accepted latency as the client saw it p50 {p50:?}, \
         p99 {p99:?}, max {max:?}, in the server's handler p99 <= {server_p99} s ({server_recorded} \
         recorded; {overflows} listen-queue overflows on the machine meanwhile); server RSS max {:.1} MB (after calibration {:.1} MB, after the \
         overload {:.1} MB); recovery: {recovered_ok}/{} succeeded in {recovery_took:?} (p99 {:?})",
        accepted.len(),
        percentile(&shed_latency, 0.99),
        unexpected.len(),
        max_rss_kb as f64 / 1024.0,
        rss_after_calibration as f64 / 1024.0,
        rss_after_overload as f64 / 1024.0,
        recovered.len(),
        percentile(&recovery_latency, 0.99),
    );

    assert!(
        offered >= 1.5 * sustainable,
        "the client offered only {offered:.0} req/s against a sustainable {sustainable:.0}"
    );
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    assert_eq!(no_answer, 0, "every request was answered: {unanswered:?}");
    assert!(shed > 0, "twice the sustainable rate is shed in part");
    assert_eq!(shed_without_retry_after, 0, "every 503 carries Retry-After");
    assert!(!accepted.is_empty());
    assert_eq!(
        server_recorded,
        accepted.len() as u64,
        "the server's histogram holds the accepted requests"
    );
    assert!(
        server_p99 <= P99_BOUND.as_secs_f64(),
        "accepted p99 in the server above {P99_BOUND:?} (bucket {server_p99} s)"
    );
    assert!(
        p99 <= CLIENT_P99_BOUND,
        "accepted p99 as the client saw it {p99:?} > {CLIENT_P99_BOUND:?}"
    );
    assert!(max_rss_kb > 0, "RSS was sampled");
    assert!(
        max_rss_kb < RSS_BOUND_KB,
        "server RSS {max_rss_kb} kB >= {RSS_BOUND_KB} kB"
    );
    assert_eq!(
        recovered_ok,
        recovered.len(),
        "after the load drops every request succeeds: {:?}",
        recovered
            .iter()
            .filter(|(s, _)| *s != Some(201))
            .take(5)
            .collect::<Vec<_>>()
    );
    drop(server);
}
