//! The admin CLI against a real server: both are the real binary, run as child processes.

mod common;

use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const ADMIN: &str = "agt_admin-token-for-the-cli-test-0123456789";

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ALERTGATE_DATA_DIR", dir.path())
        .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertgate");
    let base = common::listening_url(&mut child).expect("the server printed its address");
    Server {
        child,
        base,
        _dir: dir,
    }
}

fn cli(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(args)
        .env("ALERTGATE_URL", &server.base)
        .env("ALERTGATE_TOKEN", ADMIN)
        .env_remove("ALERTGATE_WEBHOOK_SECRET")
        .output()
        .expect("run alertgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "exit {:?}: {}{}",
        o.status.code(),
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_prometheus_webhook_is_created_tested_and_its_incident_handled_from_the_command_line() {
    let server = start();
    let created = cli(
        &server,
        &[
            "webhook",
            "create",
            "--platform",
            "prometheus",
            "--name",
            "prod",
        ],
    );
    assert!(created.status.success());
    let text = stdout(&created);
    assert!(text.contains("Intake URL:  http://"), "{text}");
    assert!(text.contains("webhook_configs:"), "{text}");
    assert!(
        !text.contains("<intake URL>") && !text.contains("<secret>"),
        "{text}"
    );

    let list = json(&cli(&server, &["webhook", "list", "-o", "json"]));
    let hook = &list["items"][0];
    assert_eq!(hook["name"], "prod");
    let url = hook["intake_url"].as_str().unwrap();
    assert!(
        text.contains(&format!("- url: {url}")),
        "the snippet is filled in: {text}"
    );
    let secret = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Secret:"))
        .unwrap()
        .trim()
        .to_string();
    assert!(text.contains(&format!("credentials: {secret}")));

    // Without the secret the CLI refuses before sending anything.
    let refused = cli(&server, &["send-test", "prod"]);
    assert_eq!(refused.status.code(), Some(2));

    let sent = json(&cli(
        &server,
        &["send-test", "prod", "--secret", &secret, "-o", "json"],
    ));
    assert!(sent["http_status"].as_u64().unwrap() < 300, "{sent}");
    let incident = sent["response"]["incident_id"]
        .as_str()
        .unwrap()
        .to_string();

    let wrong = cli(
        &server,
        &["send-test", "prod", "--secret", "not-the-secret"],
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stdout(&wrong).contains("401"), "{}", stdout(&wrong));

    let incidents = json(&cli(&server, &["incidents", "list", "-o", "json"]));
    assert_eq!(incidents["items"][0]["id"], incident.as_str());
    let table = stdout(&cli(&server, &["incidents", "list"]));
    assert!(
        table.starts_with("ID") && table.contains(&incident),
        "{table}"
    );

    let acked = json(&cli(
        &server,
        &["incidents", "ack", &incident, "-o", "json"],
    ));
    assert_eq!(acked["status"], "acknowledged");
    let resolved = json(&cli(
        &server,
        &["incidents", "resolve", &incident, "-o", "json"],
    ));
    assert_eq!(resolved["status"], "resolved");
    let shown = json(&cli(
        &server,
        &["incidents", "show", &incident, "-o", "json"],
    ));
    assert_eq!(shown["status"], "resolved");

    // Rotation keeps the previous secret valid; the new one works too.
    let rotated = json(&cli(
        &server,
        &["webhook", "rotate-secret", "prod", "-o", "json"],
    ));
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    for s in [new_secret, secret.as_str()] {
        let out = json(&cli(
            &server,
            &["send-test", "prod", "--secret", s, "-o", "json"],
        ));
        assert!(out["http_status"].as_u64().unwrap() < 300, "{out}");
    }

    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), b"not json").unwrap();
    let bad = cli(
        &server,
        &["send-test", "prod", "--secret", new_secret, "--payload"],
    );
    assert_eq!(bad.status.code(), Some(2), "--payload needs a value");
    let bad = cli(
        &server,
        &[
            "send-test",
            "prod",
            "--secret",
            new_secret,
            "--payload",
            payload.path().to_str().unwrap(),
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stdout(&bad).contains("400"), "{}", stdout(&bad));

    let shown = stdout(&cli(&server, &["webhook", "show", "prod"]));
    assert!(shown.contains("prometheus") && !shown.contains(new_secret));
    assert!(cli(&server, &["webhook", "delete", "prod"])
        .status
        .success());
    let list = json(&cli(&server, &["webhook", "list", "-o", "json"]));
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        cli(&server, &["webhook", "show", "prod"]).status.code(),
        Some(1)
    );
}

#[test]
fn errors_have_distinct_exit_codes() {
    let server = start();
    let denied = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["webhook", "list"])
        .env("ALERTGATE_URL", &server.base)
        .env("ALERTGATE_TOKEN", "agt_wrong")
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"));

    let missing = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["webhook", "list"])
        .env("ALERTGATE_URL", &server.base)
        .env_remove("ALERTGATE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));

    // Port 9 (discard) on loopback: nothing listens there.
    let unreachable = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args([
            "incidents",
            "list",
            "--url",
            "http://127.0.0.1:9",
            "--token",
            ADMIN,
        ])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(3));
}

#[test]
fn check_config_accepts_a_valid_file_and_names_what_is_wrong_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "listen = \"127.0.0.1:9000\"\n[writer]\nmax_batch = 64\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["check-config", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:9000\"\nwritter = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["check-config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("writter"));
}
