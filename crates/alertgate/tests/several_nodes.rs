//! Three real `alertgate serve` processes on one PostgreSQL database, as behind a load balancer:
//! alerts spread over all three make exactly the incidents and counts one node would make, and
//! a node killed with SIGKILL in the middle of the load loses no alert it acknowledged.
//! PostgreSQL only (see alertgate-testdb for the environment variables).

mod common;

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
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("alertgate.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_alertgate"))
            .args(["serve", "--listen", "127.0.0.1:0"])
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
    let resp = c
        .post(format!("{}/api/v1/webhooks", node.base))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let hook: Value = resp.json().await.unwrap();
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
    let mut all = Vec::new();
    let mut before = String::new();
    loop {
        let page: Value = c
            .get(format!("{}/api/v1/incidents?limit=200{before}", node.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => before = format!("&before={c}"),
            None => return all,
        }
    }
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
