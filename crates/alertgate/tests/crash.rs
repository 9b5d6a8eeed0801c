//! A 2xx means durable, on both engines, and every committed incident's event gets out: run the
//! real binary on its embedded SQLite and then on PostgreSQL under sustained intake load, with a
//! destination subscribed to `incident.created`, SIGKILL it at random moments, restart it, and
//! check once the last start is left running that
//!
//! - every acknowledged alert and its incident are in the database, in the incident its reply
//!   named;
//! - nothing was stored twice: one alert and one incident per identity, occurrences between what
//!   was acknowledged and what was sent, one outbox message per incident;
//! - every restart took at most 2 s from spawning the process to `/readyz` answering 200;
//! - every incident in the database had its event delivered (at least once) to a receiver in this
//!   process that verifies each request's signature: none missing, none for an incident that was
//!   not stored, no bad signature; duplicates (a kill between the receiver's 200 and the
//!   recording of the attempt) are allowed, counted and printed.
//!
//! CI runs 10 kills per engine. A long run (the count is per engine):
//! `ALERTGATE_CRASH_KILLS=50 cargo test -p alertgate --test crash -- --nocapture`.
//! The PostgreSQL half needs `ALERTGATE_TEST_POSTGRES_URL` (a fresh database is made for the run,
//! see alertgate-testdb); without it it is skipped, or fails when `ALERTGATE_TEST_REQUIRE_ALL` is
//! set.

mod common;
#[path = "common/receiver.rs"]
mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use alertgate_testdb::TestDatabase;
use receiver::Receiver;

const ADMIN: &str = "agt_admin-token-for-the-crash-test-0123456789";
/// Identities that repeat: small enough that many requests deduplicate across crashes.
const IDENTITIES: u64 = 40;
/// One request in this many opens a new identity (and so a new incident and an event).
const FRESH_ONE_IN: u64 = 6;
const SENDERS: usize = 6;
const KILLS_PER_ENGINE: usize = 10;
const RESTART_LIMIT: Duration = Duration::from_secs(2);
/// How long the outbox may make no progress at the end before a missing event fails the test.
const OUTBOX_STALL: Duration = Duration::from_secs(30);

/// The engines' runs share two cores: one at a time, so neither's restarts pay for the other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Short leases and retries, so claims a kill left behind lapse within the test's time.
const CONFIG: &str = r#"
allow_insecure_destinations = true

[outbox]
poll_interval_ms = 100
lease_ms = 2000
request_timeout_ms = 1000
concurrency = 8

[outbox.retry]
initial_delay_ms = 200
max_delay_ms = 1000
max_attempts = 1000
jitter = 0.2
"#;

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

/// Where one engine's run keeps its files and which database it uses.
struct Setup {
    data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    database_url: Option<String>,
}

/// Start the binary and wait until it listens and `/readyz` answers 200; returns how long that
/// took from the spawn.
async fn start(setup: &Setup) -> (Server, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alertgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&setup.config)
        .env("ALERTGATE_DATA_DIR", &setup.data_dir)
        .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&setup.log)
                .unwrap(),
        );
    match &setup.database_url {
        Some(url) => cmd.env("ALERTGATE_DATABASE_URL", url),
        None => cmd.env_remove("ALERTGATE_DATABASE_URL"),
    };
    let log = setup.log.clone();
    let (child, base) = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("start alertgate");
        let base = common::listening_url(&mut child);
        (child, base)
    })
    .await
    .unwrap();
    let Some(base) = base else {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        panic!(
            "alertgate did not start; its log ends:\n{}",
            tail(&log, 3000)
        );
    };
    let server = Server { child, base };
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    loop {
        let ready = probe.get(format!("{}/readyz", server.base)).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "alertgate never became ready"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (server, started.elapsed())
}

fn tail(s: &str, n: usize) -> &str {
    let mut at = s.len().saturating_sub(n);
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[at..]
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

async fn get(client: &reqwest::Client, url: String) -> Value {
    let resp = client.get(&url).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 200, "GET {url}");
    resp.json().await.unwrap()
}

/// Every incident, newest first, following the keyset cursor.
async fn all_incidents(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before = String::new();
    loop {
        let page = get(client, format!("{base}/api/v1/incidents?limit=200{before}")).await;
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => before = format!("&before={c}"),
            None => return all,
        }
    }
}

/// One engine's run: kills, restarts, then the checks. Panics on any lost or doubled write.
async fn run(engine: &str, database_url: Option<String>) {
    let kills: usize = std::env::var("ALERTGATE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(KILLS_PER_ENGINE);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("crash test [{engine}]: {kills} kills, seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertgate.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let setup = Setup {
        data_dir: dir.path().join("data"),
        config,
        log: dir.path().join("alertgate.log"),
        database_url,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let events = Receiver::start().await;
    events.delay_up_to(30);

    let (mut server, first_start) = start(&setup).await;
    let destination = common::admin_post(
        &client,
        &server.base,
        ADMIN,
        "/api/v1/destinations",
        json!({"kind": "webhook", "name": "crash-events", "url": events.url,
               "event_types": ["incident.created"]}),
    )
    .await;
    events.set_secret(destination["secret"].as_str().unwrap());
    let hook = common::admin_post(
        &client,
        &server.base,
        ADMIN,
        "/api/v1/webhooks",
        json!({"name": "crash", "rate_limit_per_hour": 0, "notify_workspace": true}),
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    let intake_path = hook["intake_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(&server.base)
        .to_string();

    let tally = Arc::new(Mutex::new(Tally::default()));
    let fresh = Arc::new(AtomicU64::new(IDENTITIES));
    let mut restarts = vec![first_start];
    for round in 0..kills {
        let base = server.base.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for s in 0..SENDERS {
            let (client, tally, stop, fresh) =
                (client.clone(), tally.clone(), stop.clone(), fresh.clone());
            let url = format!("{base}{intake_path}");
            let secret = secret.clone();
            let mut local = Rng(seed ^ ((round * SENDERS + s) as u64 + 1).wrapping_mul(0x9E37));
            senders.push(tokio::spawn(async move {
                // Bounded: at most 2 000 requests per sender per round.
                for _ in 0..2_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let identity = if local.next().is_multiple_of(FRESH_ONE_IN) {
                        fresh.fetch_add(1, Ordering::Relaxed)
                    } else {
                        local.next() % IDENTITIES
                    };
                    let body = json!({"title": format!("crash identity {identity}"), "severity": "high",
                        "service": "crash-test", "dedup_key": format!("id-{identity}")});
                    let reply = client.post(&url).bearer_auth(&secret).json(&body).send().await;
                    tally.lock().unwrap().sent += 1;
                    let Ok(resp) = reply else {
                        tally.lock().unwrap().failed += 1;
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
        // Kill at a random moment under load (and, often, with deliveries on the wire).
        tokio::time::sleep(Duration::from_millis(150 + rng.next() % 450)).await;
        server.child.kill().unwrap(); // SIGKILL on Unix
        server.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            let _ = s.await;
        }
        let (next, took) = start(&setup).await;
        restarts.push(took);
        server = next;
    }
    let last_start = Instant::now();
    let t = std::mem::take(&mut *tally.lock().unwrap());

    // What the database holds, through the API of the last start.
    let listed = all_incidents(&client, &server.base).await;
    let mut stored_alerts: BTreeMap<String, (String, i64)> = BTreeMap::new();
    let mut alerts_by_identity: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut incidents_by_identity: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut duplicates = 0usize;
    for inc in &listed {
        let id = inc["id"].as_str().unwrap();
        let detail = get(&client, format!("{}/api/v1/incidents/{id}", server.base)).await;
        for alert in detail["alerts"].as_array().unwrap() {
            let alert_id = alert["id"].as_str().unwrap().to_string();
            let key = alert["dedup_key"].as_str().unwrap_or_default().to_string();
            let occurrences = alert["occurrence_count"].as_i64().unwrap_or(0);
            if stored_alerts
                .insert(alert_id.clone(), (id.to_string(), occurrences))
                .is_some()
            {
                eprintln!("[{engine}] alert {alert_id} is in two incidents");
                duplicates += 1;
            }
            alerts_by_identity
                .entry(key.clone())
                .or_default()
                .insert(alert_id);
            incidents_by_identity
                .entry(key)
                .or_default()
                .insert(id.to_string());
        }
    }
    // No correlation: one alert and one incident per identity.
    for (key, alerts) in &alerts_by_identity {
        let incidents = &incidents_by_identity[key];
        if alerts.len() > 1 || incidents.len() > 1 {
            eprintln!("[{engine}] {key}: alerts {alerts:?} in incidents {incidents:?}");
            duplicates += alerts.len() - 1 + incidents.len() - 1;
        }
    }

    // Every acknowledged alert is there, in the incident its reply named.
    let mut verified = 0usize;
    for ack in &t.acks {
        match stored_alerts.get(&ack.alert_id) {
            Some((incident, _)) if *incident == ack.incident_id => verified += 1,
            Some((incident, _)) => eprintln!("{ack:?} is stored in {incident}"),
            None => eprintln!("acknowledged alert {ack:?} was lost"),
        }
    }
    let identities_acked: BTreeSet<u64> = t.acks.iter().map(|a| a.identity).collect();
    let occurrences: i64 = stored_alerts.values().map(|s| s.1).sum();
    let acked_per_alert: BTreeMap<&str, i64> = t.acks.iter().fold(BTreeMap::new(), |mut m, a| {
        *m.entry(a.alert_id.as_str()).or_default() += 1;
        m
    });
    let undercounted: Vec<_> = acked_per_alert
        .iter()
        .filter(|(alert, acked)| stored_alerts.get(**alert).map_or(0, |s| s.1) < **acked)
        .collect();

    // The outbox: every stored incident's event reaches the receiver once the last start runs.
    let incident_ids: BTreeSet<String> = listed
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let waited = Instant::now();
    let (mut progress_at, mut last_count) = (Instant::now(), 0usize);
    let received = loop {
        let received = events.received();
        let answered: BTreeSet<&str> = received
            .iter()
            .filter(|r| r.answered)
            .map(|r| r.incident_id.as_str())
            .collect();
        let missing = incident_ids
            .iter()
            .filter(|i| !answered.contains(i.as_str()))
            .count();
        if missing == 0 {
            break received;
        }
        if received.len() != last_count {
            (progress_at, last_count) = (Instant::now(), received.len());
        }
        assert!(
            progress_at.elapsed() < OUTBOX_STALL,
            "[{engine}] {missing} of {} incidents never had their event delivered",
            incident_ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let outbox_done = last_start.elapsed();
    // The last attempts are recorded just after the receiver answered them.
    loop {
        let ready = get(&client, format!("{}/readyz", server.base)).await;
        let m = &ready["outbox"]["messages"];
        if m["pending"] == 0 && m["delivering"] == 0 {
            break;
        }
        assert!(
            waited.elapsed() < OUTBOX_STALL * 2,
            "[{engine}] messages still waiting: {m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut receipts: BTreeMap<&str, Vec<&receiver::Received>> = BTreeMap::new();
    for r in received.iter().filter(|r| r.answered) {
        receipts.entry(r.webhook_id.as_str()).or_default().push(r);
    }
    let mut messages = 0usize;
    for id in &incident_ids {
        let page = get(
            &client,
            format!("{}/api/v1/incidents/{id}/deliveries", server.base),
        )
        .await;
        let items = page["items"].as_array().unwrap();
        if items.len() != 1 {
            eprintln!("[{engine}] {id} has {} outbox messages", items.len());
            duplicates += items.len().saturating_sub(1);
        }
        for m in items {
            messages += 1;
            let msg = m["id"].as_str().unwrap();
            assert_eq!(m["status"], "delivered", "[{engine}] {m}");
            let got = receipts.get(msg).map(Vec::as_slice).unwrap_or_default();
            assert!(
                !got.is_empty() && got.iter().all(|r| r.incident_id == *id),
                "[{engine}] message {msg} of {id}: the receiver has {got:?}"
            );
            assert!(got.iter().all(|r| r.event_type == "incident.created"));
        }
    }
    let phantom: Vec<_> = received
        .iter()
        .filter(|r| !incident_ids.contains(&r.incident_id))
        .collect();
    let delivered = receipts.len();
    let duplicate_deliveries: usize = receipts.values().map(|r| r.len() - 1).sum();

    let slowest = restarts.iter().max().copied().unwrap_or_default();
    println!(
        "crash test [{engine}]: {kills} SIGKILLs; {} requests sent, {} acknowledged (2xx), {verified} verified, \
         {} not acknowledged (error or cut off); {} incidents, {} alerts, {occurrences} occurrences \
         ({} committed but not acknowledged); {duplicates} stored twice; restarts to ready: max {slowest:?}, \
         mean {:?}; outbox: {messages} events, {delivered} delivered, {duplicate_deliveries} duplicate \
         deliveries, 0 missing, {} rejected, {} for unknown incidents, all in {outbox_done:?} after \
         the last start",
        t.sent,
        t.acks.len(),
        t.failed,
        listed.len(),
        stored_alerts.len(),
        occurrences - t.acks.len() as i64,
        restarts.iter().sum::<Duration>() / restarts.len() as u32,
        events.rejected().len(),
        phantom.len(),
    );
    assert!(
        !t.acks.is_empty(),
        "the load produced acknowledged requests"
    );
    assert_eq!(
        verified,
        t.acks.len(),
        "[{engine}] acknowledged alerts lost"
    );
    assert_eq!(duplicates, 0, "[{engine}] something was stored twice");
    assert!(stored_alerts.len() >= identities_acked.len());
    assert!(
        occurrences >= t.acks.len() as i64,
        "[{engine}] {occurrences} occurrences < {} acknowledged",
        t.acks.len()
    );
    assert!(
        occurrences <= t.sent as i64,
        "[{engine}] {occurrences} occurrences > {} sent",
        t.sent
    );
    assert!(
        undercounted.is_empty(),
        "[{engine}] alerts with fewer occurrences than acknowledgements: {undercounted:?}"
    );
    assert_eq!(
        messages,
        incident_ids.len(),
        "[{engine}] one event per incident"
    );
    assert!(
        events.rejected().is_empty(),
        "[{engine}] the receiver refused: {:?}",
        events.rejected()
    );
    assert!(
        phantom.is_empty(),
        "[{engine}] events for incidents that are not stored: {phantom:?}"
    );
    assert!(
        slowest <= RESTART_LIMIT,
        "[{engine}] a restart took {slowest:?}"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_alert_and_event_across_sigkills() {
    let _one = ONE_AT_A_TIME.lock().await;
    run("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_acknowledged_alert_and_event_across_sigkills() {
    let Some(admin) = alertgate_testdb::postgres_url_or_skip("crash test on PostgreSQL") else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let db = TestDatabase::create(&admin).await;
    run("postgresql", Some(db.url.clone())).await;
    // The server is stopped by now; dropping `db` drops the database.
}
