//! `alertgate backup PATH` copies the embedded database while the server runs, and the README's
//! restore steps bring that state back.

mod common;

use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

const ADMIN: &str = "agt_admin-token-for-the-backup-test-0123456789";

/// `alertgate serve` on `dir`, any free port.
fn serve(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alertgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("ALERTGATE_DATA_DIR", dir)
        .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn");
    cmd
}

fn start(dir: &std::path::Path) -> (Child, String) {
    let mut child = serve(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertgate");
    let base = common::listening_url(&mut child).expect("the server printed its address");
    (child, base)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A new generic webhook: its intake URL and secret.
async fn webhook(c: &reqwest::Client, base: &str, name: &str) -> (String, String) {
    let hook = common::admin_post(
        c,
        base,
        ADMIN,
        "/api/v1/webhooks",
        json!({"name": name, "rate_limit_per_hour": 0}),
    )
    .await;
    let field = |k: &str| hook[k].as_str().unwrap().to_string();
    (field("intake_url"), field("secret"))
}

async fn send(c: &reqwest::Client, url: &str, secret: &str, title: &str) -> Value {
    let r = c
        .post(url)
        .bearer_auth(secret)
        .json(&json!({"title": title}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

async fn titles(c: &reqwest::Client, base: &str) -> Vec<String> {
    let v: Value = c
        .get(format!("{base}/api/v1/incidents?limit=200"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut t: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

#[tokio::test]
async fn an_online_backup_restores_the_state_it_was_taken_at() {
    let live = tempfile::tempdir().unwrap();
    let (server, base) = start(live.path());
    let c = reqwest::Client::new();
    let (url, secret) = webhook(&c, &base, "backed up").await;
    let (url, secret) = (url.as_str(), secret.as_str());
    for i in 0..20 {
        send(&c, url, secret, &format!("before {i:02}")).await;
    }

    // While the server runs and takes alerts.
    let copy = live.path().join("backup.db");
    let out = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["backup", "--data-dir"])
        .arg(live.path())
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    send(&c, url, secret, "after the backup").await;
    let again = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["backup", "--data-dir"])
        .arg(live.path())
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
    stop(server);

    // Restore as the README says: the copy becomes alertgate.db, the key comes along.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&copy, restored.path().join("alertgate.db")).unwrap();
    std::fs::copy(
        live.path().join("secret.key"),
        restored.path().join("secret.key"),
    )
    .unwrap();
    let (server, base) = start(restored.path());
    let expected: Vec<String> = (0..20).map(|i| format!("before {i:02}")).collect();
    assert_eq!(
        titles(&c, &base).await,
        expected,
        "exactly the state at backup time"
    );
    // The webhook, its URL and its (encrypted) secret came back too.
    let url = url.replacen(url.split("/webhook/").next().unwrap(), &base, 1);
    let r = send(&c, &url, secret, "before 00").await;
    assert_eq!(r["status"], "deduplicated");
    stop(server);
}

/// One process at a time serves an embedded database (the README's backup section says why): a
/// second server on the same data directory stops at start and says so; the first one is not
/// disturbed.
#[tokio::test]
async fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = start(dir.path());
    let mut second = serve(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run a second alertgate");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while second.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("the second server started and kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "the second server exited with success"
    );
    assert!(
        stderr.contains("in use by another alertgate process"),
        "{stderr}"
    );
    let c = reqwest::Client::new();
    let (url, secret) = webhook(&c, &base, "still served").await;
    send(&c, &url, &secret, "first").await;
    let again = send(&c, &url, &secret, "first").await;
    assert_eq!(again["status"], "deduplicated");
    stop(server);
    // Released when the first one stopped.
    let (server, _) = start(dir.path());
    stop(server);
}
