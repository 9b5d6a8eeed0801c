//! Secrets never leave: run the real binary with debug logging, use every kind of credential
//! (right and wrong), then grep every log line and every byte of the database for them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const ADMIN: &str = "agt_admin-token-for-the-leak-test-0123456789";

struct Server {
    child: Child,
    base: String,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
}

fn start(dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("ALERTGATE_DATA_DIR", dir)
        .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start alertgate");
    let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut l = sink.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    // The listening line on stdout tells the port: no sleeping for readiness.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut base = String::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        logs.lock().unwrap().push_str(&line);
        if let Some(addr) = line.trim().strip_prefix("alertgate listening on ") {
            base = addr.to_string();
            break;
        }
        line.clear();
    }
    assert!(!base.is_empty(), "the server printed its address");
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&line);
        }
    });
    Server { child, base, logs }
}

#[tokio::test]
async fn no_secret_appears_in_any_log_line_or_stored_byte() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let c = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.base);

    let hook: Value = c
        .post(url("/api/v1/webhooks"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "leak test", "rate_limit_per_hour": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = hook["secret"].as_str().unwrap().to_string();
    let intake = hook["intake_url"].as_str().unwrap().to_string();
    let signed: Value = c
        .post(url("/api/v1/webhooks"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "signed", "platform": "pagerduty", "secret": "pd-subscription-secret-42"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key: Value = c
        .post(url(
            "/api/v1/workspaces/wks_00000000000000000000000000/api-keys",
        ))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "ops", "role": "admin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_key = key["key"].as_str().unwrap().to_string();

    // Outbox destinations: a signing secret, and a Slack URL, which is itself a credential.
    // `.invalid` never resolves, so the deliveries fail (and are logged) without leaving the host.
    let mut destination_secrets = Vec::new();
    for body in [
        json!({"kind": "investigation", "name": "rca", "url": "https://rca.example.invalid/hook"}),
        json!({"kind": "slack", "name": "#ops",
               "url": "https://hooks.slack.example.invalid/services/T0/B0/slack-url-token-that-must-not-leak"}),
    ] {
        let d: Value = c
            .post(url("/api/v1/destinations"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(s) = d["secret"].as_str() {
            destination_secrets.push(s.to_string());
        }
    }
    assert_eq!(destination_secrets.len(), 1);
    let automated: Value = c
        .post(url("/api/v1/webhooks"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "automated", "auto_trigger_rca": true, "notify_workspace": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let automated_secret = automated["secret"].as_str().unwrap().to_string();
    let r = c
        .post(automated["intake_url"].as_str().unwrap())
        .bearer_auth(&automated_secret)
        .json(&json!({"title": "outbox leak test", "severity": "critical"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let incident = r.json::<Value>().await.unwrap()["incident_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut attempted = false;
    for _ in 0..100 {
        let m: Value = c
            .get(url(&format!("/api/v1/incidents/{incident}/deliveries")))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = m["items"].as_array().unwrap();
        if items.len() == 2 && items.iter().all(|i| i["attempts"].as_u64() >= Some(1)) {
            attempted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(attempted, "both destinations were tried");

    let alert = json!({"title": "disk full", "service": "db"});
    for auth in [secret.as_str(), "whsec_wrong-guess-that-must-not-be-logged"] {
        c.post(&intake)
            .bearer_auth(auth)
            .json(&alert)
            .send()
            .await
            .unwrap();
    }
    c.post(&intake)
        .bearer_auth(&secret)
        .header("Cookie", "session=cookie-value-that-must-not-be-logged")
        .header("X-Api-Key", "x-api-key-value-that-must-not-be-logged")
        .body("{not json")
        .send()
        .await
        .unwrap();
    c.post(signed["intake_url"].as_str().unwrap())
        .header(
            "X-PagerDuty-Signature",
            "v1=00000000000000000000000000000000000000000000000000000000000000ff",
        )
        .body(r#"{"event":{"event_type":"incident.triggered"}}"#)
        .send()
        .await
        .unwrap();
    c.get(url("/api/v1/incidents"))
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap();
    c.get(url("/api/v1/incidents"))
        .bearer_auth("agk_wrong-key-that-must-not-be-logged")
        .send()
        .await
        .unwrap();
    let session = c
        .post(url("/api/v1/sessions"))
        .json(&json!({"api_key": api_key}))
        .send()
        .await
        .unwrap();
    let cookie = session.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session_token = cookie.split_once('=').unwrap().1.to_string();
    let csrf = session.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    c.get(url("/api/v1/webhooks"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();

    // Stop gracefully so every log line is written.
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    let mut child = server.child;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    std::thread::sleep(Duration::from_millis(50)); // let the log readers drain the pipes
    let logs = server.logs.lock().unwrap().clone();
    assert!(
        logs.contains("delivery refused"),
        "debug logs were captured: {} bytes",
        logs.len()
    );

    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("alertgate.db")
        {
            stored.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(stored.len() > 10_000, "the database was read");
    let secrets = [
        destination_secrets[0].as_str(),
        "slack-url-token-that-must-not-leak",
        automated_secret.as_str(),
        secret.as_str(),
        "pd-subscription-secret-42",
        api_key.as_str(),
        ADMIN,
        session_token.as_str(),
        csrf.as_str(),
        "whsec_wrong-guess-that-must-not-be-logged",
        "cookie-value-that-must-not-be-logged",
        "x-api-key-value-that-must-not-be-logged",
        "agk_wrong-key-that-must-not-be-logged",
    ];
    for s in secrets {
        assert!(!logs.contains(s), "a log line contains the secret {s}");
        assert!(
            !stored.windows(s.len()).any(|w| w == s.as_bytes()),
            "the database contains the secret {s}"
        );
    }
}
