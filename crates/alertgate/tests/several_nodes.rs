//! Three real `alertgate serve` processes on one PostgreSQL database, as behind a load balancer:
//! alerts spread over all three make exactly the incidents and counts one node would make, and
//! a node killed with SIGKILL in the middle of the load loses no alert it acknowledged, and the
//! outbox messages a killed node had claimed are delivered by the node that survives once their
//! lease lapses. PostgreSQL only (see alertgate-testdb for the environment variables).

mod common;
#[path = "common/receiver.rs"]
mod receiver;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use alertgate_testdb::TestDatabase;

const ADMIN: &str = "agt_admin-token-for-the-several-nodes-test";
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct Node {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(database_url: &str) -> Node {
        Node::start_with(database_url, "")
    }

    /// A node with `config` as its TOML configuration file.
    fn start_with(database_url: &str, config: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("alertgate.log")).unwrap();
        let config_path = dir.path().join("alertgate.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_alertgate"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .env("ALERTGATE_DATA_DIR", dir.path())
            .env("ALERTGATE_DATABASE_URL", database_url)
            .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
            .env("ALERTGATE_SECRET_KEY", SECRET_KEY)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start alertgate");
        // The listening line tells the port: no sleeping for readiness.
        let base = common::listening_url(&mut child)
            .unwrap_or_else(|| panic!("the node started: see {}", dir.path().display()));
        Node {
            child,
            base,
            _dir: dir,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three nodes started at once on a fresh database (so they also race to migrate it).
async fn three_nodes(test: &str) -> Option<(Vec<Node>, TestDatabase)> {
    let admin = alertgate_testdb::postgres_url_or_skip(test)?;
    let db = TestDatabase::create(&admin).await;
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || Node::start(&url))
        })
        .collect();
    let nodes = starts.into_iter().map(|s| s.join().unwrap()).collect();
    Some((nodes, db))
}

struct Hook {
    path: String,
    secret: String,
}

async fn create_webhook(c: &reqwest::Client, node: &Node, body: Value) -> Hook {
    let hook = common::admin_post(c, &node.base, ADMIN, "/api/v1/webhooks", body).await;
    let url = hook["intake_url"].as_str().unwrap();
    Hook {
        path: format!("/webhook/{}", url.split_once("/webhook/").unwrap().1),
        secret: hook["secret"].as_str().unwrap().to_string(),
    }
}

/// Post `body` to `hook` on `base`: `Some((status, reply))`, or `None` when the node is gone.
async fn post(c: &reqwest::Client, base: &str, hook: &Hook, body: Value) -> Option<(u16, Value)> {
    let resp = c
        .post(format!("{base}{}", hook.path))
        .bearer_auth(&hook.secret)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn incidents(c: &reqwest::Client, node: &Node) -> Vec<Value> {
    common::admin_list(c, &node.base, ADMIN, "/api/v1/incidents?limit=200").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_make_exactly_the_incidents_and_counts_one_node_would() {
    let Some((nodes, _db)) = three_nodes("three_nodes_agree").await else {
        return;
    };
    let c = reqwest::Client::new();
    let same = Arc::new(
        create_webhook(
            &c,
            &nodes[0],
            json!({"name": "same", "rate_limit_per_hour": 0}),
        )
        .await,
    );
    let related = Arc::new(
        create_webhook(
            &c,
            &nodes[1],
            json!({"name": "related", "rate_limit_per_hour": 0,
                   "enable_correlation": true, "correlation_window_minutes": 5}),
        )
        .await,
    );
    let mut tasks = Vec::new();
    for i in 0..90 {
        let (c, base) = (c.clone(), nodes[i % 3].base.clone());
        let (hook, body) = if i % 3 == 0 {
            (
                related.clone(),
                json!({"title": format!("symptom {i}"), "severity": "high"}),
            )
        } else {
            (
                same.clone(),
                json!({"title": "database down", "severity": "critical"}),
            )
        };
        tasks.push(tokio::spawn(async move {
            (i % 3 == 0, post(&c, &base, &hook, body).await.unwrap())
        }));
    }
    let (mut same_counts, mut same_created, mut related_created) = (Vec::new(), 0, 0);
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (is_related, (status, body)) = t.await.unwrap();
        assert!(status == 200 || status == 201, "{status} {body}");
        ids.insert(body["incident_id"].as_str().unwrap().to_string());
        if is_related {
            related_created += usize::from(status == 201);
        } else {
            same_created += usize::from(status == 201);
            same_counts.push(body["occurrence_count"].as_i64().unwrap());
        }
    }
    same_counts.sort();
    assert_eq!(
        same_counts,
        (1..=60).collect::<Vec<_>>(),
        "every repeat counted once"
    );
    assert_eq!((same_created, related_created), (1, 1));
    assert_eq!(ids.len(), 2);
    let all = incidents(&c, &nodes[2]).await;
    assert_eq!(all.len(), 2, "one incident per webhook");
    let by_title = |t: &str| all.iter().find(|i| i["title"] == t).cloned();
    let dup = by_title("database down").unwrap();
    assert_eq!(
        (
            dup["occurrence_count"].as_i64(),
            dup["alert_count"].as_i64()
        ),
        (Some(60), Some(1))
    );
    let corr = all.iter().find(|i| i["title"] != "database down").unwrap();
    assert_eq!(corr["alert_count"], 30);
    assert_eq!(corr["correlated_alert_count"], 29);
    assert_eq!(corr["occurrence_count"], 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_load_loses_no_alert_it_acknowledged() {
    let Some((mut nodes, _db)) = three_nodes("node_killed_mid_load").await else {
        return;
    };
    let c = reqwest::Client::new();
    let hook = Arc::new(
        create_webhook(
            &c,
            &nodes[0],
            json!({"name": "load", "rate_limit_per_hour": 0}),
        )
        .await,
    );
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let (c, base, hook, done) = (
            c.clone(),
            bases[i % 3].clone(),
            hook.clone(),
            done_tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Spread over time so the kill lands in the middle of the load.
            tokio::time::sleep(Duration::from_millis((i as u64) * 5)).await;
            let title = format!("alert {i}");
            let got = post(&c, &base, &hook, json!({ "title": title })).await;
            let _ = done.send(());
            (title, got)
        }));
    }
    drop(done_tx);
    for _ in 0..100 {
        done_rx.recv().await;
    }
    nodes[1].child.kill().unwrap(); // SIGKILL
    nodes[1].child.wait().unwrap();
    let mut acknowledged = std::collections::HashMap::new();
    let mut lost_to_the_kill = 0;
    for t in tasks {
        match t.await.unwrap() {
            (title, Some((201, body))) => {
                acknowledged.insert(title, body["incident_id"].as_str().unwrap().to_string());
            }
            (_, None) => lost_to_the_kill += 1,
            (title, Some((status, body))) => panic!("{title}: {status} {body}"),
        }
    }
    assert!(lost_to_the_kill > 0, "the kill happened mid-load");
    assert!(
        acknowledged.len() >= 200 - 1,
        "the other nodes kept taking alerts"
    );
    let stored = incidents(&c, &nodes[0]).await;
    let stored: std::collections::HashMap<String, String> = stored
        .iter()
        .map(|i| {
            (
                i["title"].as_str().unwrap().to_string(),
                i["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (title, id) in &acknowledged {
        assert_eq!(
            stored.get(title),
            Some(id),
            "{title} was acknowledged, so it is stored"
        );
    }
    assert!(stored.len() >= acknowledged.len());
    assert!(stored.len() <= 300, "nothing stored twice");
}

/// The node that survives delivers what a killed node had claimed, once the claims' lease lapses,
/// and not before: node A claims two messages and is stuck delivering them (the destination never
/// answers) with more waiting behind them; node B starts, delivers the waiting ones and leaves A's
/// claims alone; A is SIGKILLed; B delivers the claimed two after their lease expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_nodes_claimed_outbox_messages_are_delivered_by_the_survivor_after_the_lease() {
    let Some(admin) = alertgate_testdb::postgres_url_or_skip("outbox claims of a killed node")
    else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    // A lease longer than the destination timeout (which the server requires), and both longer
    // than the test needs to kill A: until the kill, A's requests are simply still on the wire.
    const LEASE_MS: i64 = 10_000;
    let config = format!(
        "allow_insecure_destinations = true\n\
         [outbox]\npoll_interval_ms = 100\nlease_ms = {LEASE_MS}\nrequest_timeout_ms = 8000\n\
         concurrency = 2\n\
         [outbox.retry]\ninitial_delay_ms = 200\nmax_delay_ms = 1000\nmax_attempts = 50\n"
    );
    let start = |config: &str| {
        let (url, config) = (db.url.clone(), config.to_string());
        async move {
            tokio::task::spawn_blocking(move || Node::start_with(&url, &config))
                .await
                .unwrap()
        }
    };
    let mut a = start(&config).await;
    let c = reqwest::Client::new();
    let events = receiver::Receiver::start().await;
    let destination = common::admin_post(
        &c,
        &a.base,
        ADMIN,
        "/api/v1/destinations",
        json!({"kind": "webhook", "name": "events", "url": events.url,
               "event_types": ["incident.created"]}),
    )
    .await;
    events.set_secret(destination["secret"].as_str().unwrap());
    events.hold(2);
    let hook = create_webhook(
        &c,
        &a,
        json!({"name": "events", "rate_limit_per_hour": 0, "notify_workspace": true}),
    )
    .await;
    let mut incidents = Vec::new();
    for i in 0..6 {
        let (status, body) = post(&c, &a.base, &hook, json!({"title": format!("event {i}")}))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
        incidents.push(body["incident_id"].as_str().unwrap().to_string());
    }
    let messages = |base: String| {
        let (c, incidents) = (c.clone(), incidents.clone());
        async move {
            let mut all = Vec::new();
            for id in &incidents {
                let page: Value = c
                    .get(format!("{base}/api/v1/incidents/{id}/deliveries"))
                    .bearer_auth(ADMIN)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let items = page["items"].as_array().unwrap();
                assert_eq!(items.len(), 1, "{id}: one event per incident");
                all.push(items[0].clone());
            }
            all
        }
    };
    let count = |ms: &[Value], status: &str| ms.iter().filter(|m| m["status"] == status).count();

    // A claims two (its concurrency) and waits on the destination; four wait behind them.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let held = loop {
        let held: Vec<String> = events
            .received()
            .iter()
            .filter(|r| !r.answered)
            .map(|r| r.webhook_id.clone())
            .collect();
        if held.len() == 2 {
            break held;
        }
        assert!(std::time::Instant::now() < deadline, "A never sent its two");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let before = messages(a.base.clone()).await;
    assert_eq!(
        (count(&before, "delivering"), count(&before, "pending")),
        (2, 4),
        "{before:#?}"
    );

    // B starts and delivers the four waiting messages, but not A's two while A's lease holds.
    let b = start(&config).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answered = events.received().iter().filter(|r| r.answered).count();
        if answered == 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B never delivered the waiting four"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_kill = messages(b.base.clone()).await;
    let claimed: Vec<&Value> = at_kill
        .iter()
        .filter(|m| m["status"] == "delivering")
        .collect();
    assert_eq!(claimed.len(), 2, "A still holds its claims: {at_kill:#?}");
    let mut leases = std::collections::HashMap::new();
    for m in &claimed {
        let id = m["id"].as_str().unwrap();
        assert!(held.iter().any(|h| h == id), "{id} is one A sent");
        assert_eq!(m["attempts"], 1, "{m}");
        leases.insert(
            id.to_string(),
            m["lease_expires_at"].as_str().unwrap().to_string(),
        );
    }
    assert_eq!(count(&at_kill, "delivered"), 4);
    assert_eq!(
        events.received().len(),
        6,
        "nothing was sent twice while A lived"
    );

    a.child.kill().unwrap(); // SIGKILL, with its two requests still unanswered
    a.child.wait().unwrap();
    let killed_at = std::time::Instant::now();

    // B takes them once the lease lapses.
    let deadline = killed_at + Duration::from_millis(LEASE_MS as u64) + Duration::from_secs(20);
    let after = loop {
        let after = messages(b.base.clone()).await;
        if count(&after, "delivered") == 6 {
            break after;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B did not deliver A's claimed messages: {after:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = killed_at.elapsed();
    let received = events.received();
    for (id, lease) in &leases {
        let m = after.iter().find(|m| m["id"] == id.as_str()).unwrap();
        assert_eq!(m["attempts"], 2, "A's attempt and B's: {m}");
        let delivered_at = m["delivered_at"].as_str().unwrap();
        let parse = |t: &str| alertgate_core::Timestamp::parse_rfc3339(t).unwrap();
        assert!(
            parse(delivered_at) >= parse(lease),
            "{id} was delivered at {delivered_at}, before A's lease expired at {lease}"
        );
        let answered = received
            .iter()
            .filter(|r| r.webhook_id == *id && r.answered)
            .count();
        assert_eq!(answered, 1, "{id} answered once, by B's attempt");
    }
    for m in &after {
        let id = m["id"].as_str().unwrap();
        assert!(
            received.iter().any(|r| r.webhook_id == id && r.answered),
            "{id} reached the destination"
        );
    }
    assert!(events.rejected().is_empty(), "{:?}", events.rejected());
    println!(
        "outbox after a SIGKILL: A held 2 claimed messages (4 more waited and went to B while A \
         lived); B delivered A's two {took:?} after the kill (lease {LEASE_MS} ms from A's claim)"
    );
    drop(b);
}
