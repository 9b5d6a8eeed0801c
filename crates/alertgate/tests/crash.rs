//! A 2xx means durable: run the real binary on its embedded SQLite under sustained intake load,
//! SIGKILL it at random moments, restart it, and check after the last restart that every
//! acknowledged alert and its incident are in the database, that nothing was stored twice, and
//! that every restart took at most 2 s.
//!
//! CI runs a short version (6 kills). The full run is
//! `ALERTGATE_CRASH_KILLS=25 cargo test -p alertgate --test crash -- --nocapture`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ADMIN: &str = "agt_admin-token-for-the-crash-test-0123456789";
/// Distinct alert identities: small enough that many requests deduplicate across crashes.
const IDENTITIES: u64 = 40;
const SENDERS: usize = 6;

struct Server {
    child: Child,
    base: String,
}

/// Start the binary and wait for its listening line; returns how long that took.
fn start(dir: &std::path::Path) -> (Server, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ALERTGATE_DATA_DIR", dir)
        .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertgate");
    let base = common::listening_url(&mut child).expect("the server printed its address");
    let took = started.elapsed();
    (Server { child, base }, took)
}

/// A small deterministic generator: the run is reproducible from its printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What a 2xx said.
#[derive(Debug, Clone)]
struct Ack {
    identity: u64,
    incident_id: String,
    alert_id: String,
}

#[derive(Default)]
struct Tally {
    acks: Vec<Ack>,
    sent: u64,
    failed: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_alert_survives_sigkill_and_nothing_is_stored_twice() {
    let kills: usize = std::env::var("ALERTGATE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("crash test: {kills} kills, seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let (mut server, first_start) = start(dir.path());
    let hook: Value = client
        .post(format!("{}/api/v1/webhooks", server.base))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "crash", "rate_limit_per_hour": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = hook["secret"].as_str().unwrap().to_string();
    let intake_path = hook["intake_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&server.base)
        .to_string();

    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut restarts = vec![first_start];
    for round in 0..kills {
        let base = server.base.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut senders = Vec::new();
        for s in 0..SENDERS {
            let (client, tally, stop) = (client.clone(), tally.clone(), stop.clone());
            let url = format!("{base}{intake_path}");
            let secret = secret.clone();
            let mut local = Rng(seed ^ ((round * SENDERS + s) as u64 + 1).wrapping_mul(0x9E37));
            senders.push(tokio::spawn(async move {
                // Bounded: at most 2 000 requests per sender per round.
                for _ in 0..2_000 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let identity = local.next() % IDENTITIES;
                    let body = json!({"title": format!("crash identity {identity}"), "severity": "high",
                        "service": "crash-test", "dedup_key": format!("id-{identity}")});
                    let reply = client.post(&url).bearer_auth(&secret).json(&body).send().await;
                    {
                        let mut t = tally.lock().unwrap();
                        t.sent += 1;
                        t.failed += u64::from(reply.is_err());
                    }
                    let Ok(resp) = reply else {
                        break; // the server is gone; this round is over for us
                    };
                    let status = resp.status();
                    let body: Value = resp.json().await.unwrap_or(Value::Null);
                    // A 2xx whose body was cut off by the kill cannot be checked: counted as not.
                    if status.is_success() && body["alert_id"].is_string() {
                        tally.lock().unwrap().acks.push(Ack {
                            identity,
                            incident_id: body["incident_id"].as_str().unwrap_or_default().into(),
                            alert_id: body["alert_id"].as_str().unwrap_or_default().into(),
                        });
                    } else {
                        tally.lock().unwrap().failed += 1;
                    }
                }
            }));
        }
        // Kill at a random moment under load.
        tokio::time::sleep(Duration::from_millis(150 + rng.next() % 450)).await;
        server.child.kill().unwrap(); // SIGKILL on Unix
        server.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in senders {
            let _ = s.await;
        }
        let (next, took) = start(dir.path());
        restarts.push(took);
        server = next;
    }

    // Verify against the database, through the API of the last start.
    let t = std::mem::take(&mut *tally.lock().unwrap());
    let by_incident: BTreeMap<&str, Vec<&Ack>> = t.acks.iter().fold(BTreeMap::new(), |mut m, a| {
        m.entry(a.incident_id.as_str()).or_default().push(a);
        m
    });
    let mut stored_alerts: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let mut incidents_by_identity: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let incidents: Value = client
        .get(format!("{}/api/v1/incidents?limit=500", server.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = incidents["items"].as_array().cloned().unwrap_or_default();
    for inc in &listed {
        let id = inc["id"].as_str().unwrap();
        let detail: Value = client
            .get(format!("{}/api/v1/incidents/{id}", server.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for alert in detail["alerts"].as_array().unwrap() {
            let alert_id = alert["id"].as_str().unwrap().to_string();
            let key = alert["dedup_key"].as_str().unwrap_or_default().to_string();
            let previous = stored_alerts.insert(
                alert_id.clone(),
                (
                    id.to_string(),
                    alert["occurrence_count"].as_i64().unwrap_or(0),
                ),
            );
            assert!(previous.is_none(), "alert {alert_id} is in two incidents");
            incidents_by_identity
                .entry(key)
                .or_default()
                .insert(id.to_string());
        }
    }
    // Every acknowledged alert is there, in the incident its reply named.
    for ack in &t.acks {
        let stored = stored_alerts.get(&ack.alert_id);
        assert!(stored.is_some(), "acknowledged alert {ack:?} was lost");
        assert_eq!(
            stored.map(|s| s.0.as_str()),
            Some(ack.incident_id.as_str()),
            "alert {} moved incidents",
            ack.alert_id
        );
    }
    // Nothing stored twice: one alert (and one incident) per identity, and its occurrences add
    // up to at least what was acknowledged and at most what was sent.
    let identities_seen: BTreeSet<u64> = t.acks.iter().map(|a| a.identity).collect();
    for (key, incs) in &incidents_by_identity {
        assert_eq!(incs.len(), 1, "{key} is in {} incidents", incs.len());
    }
    assert_eq!(
        incidents_by_identity.len(),
        stored_alerts.len(),
        "one alert per identity"
    );
    assert!(stored_alerts.len() >= identities_seen.len());
    let occurrences: i64 = stored_alerts.values().map(|s| s.1).sum();
    assert!(
        occurrences >= t.acks.len() as i64,
        "{occurrences} occurrences < {} acknowledged",
        t.acks.len()
    );
    assert!(
        occurrences <= t.sent as i64,
        "{occurrences} occurrences > {} sent",
        t.sent
    );
    let acked_per_alert: BTreeMap<&str, i64> = t.acks.iter().fold(BTreeMap::new(), |mut m, a| {
        *m.entry(a.alert_id.as_str()).or_default() += 1;
        m
    });
    for (alert, acked) in &acked_per_alert {
        let stored = stored_alerts.get(*alert).map_or(0, |s| s.1);
        assert!(
            stored >= *acked,
            "alert {alert}: {stored} stored < {acked} acknowledged"
        );
    }
    let slowest = restarts.iter().max().copied().unwrap_or_default();
    println!(
        "crash test: {kills} SIGKILLs, {} requests sent, {} acknowledged (2xx), {} not (error or cut off), \
         {} incidents, {} alerts, {occurrences} occurrences stored ({} committed but unacknowledged); \
         restarts: slowest {slowest:?}, mean {:?}",
        t.sent,
        t.acks.len(),
        t.failed,
        by_incident.len(),
        stored_alerts.len(),
        occurrences - t.acks.len() as i64,
        restarts.iter().sum::<Duration>() / restarts.len() as u32,
    );
    assert!(
        !t.acks.is_empty(),
        "the load produced acknowledged requests"
    );
    assert!(
        slowest <= Duration::from_secs(2),
        "a restart took {slowest:?}"
    );
    let _ = server.child.kill();
    let _ = server.child.wait();
}
