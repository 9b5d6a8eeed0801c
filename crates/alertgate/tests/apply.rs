//! Configuration as code against a real server: `alertgate apply`, `--dry-run`, `--prune`,
//! `check-config` and `serve --apply`, all run as the real binary.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const ADMIN: &str = "agt_admin-token-for-the-apply-test-0123456789";
const SECRET_VAR: &str = "APPLY_TEST_PROD_SECRET";
const SECRET: &str = "prod-secret-declared-in-env-0001";

/// A webhook with most of its settings, a second one on another platform, a destination and the
/// workspace's correlation rules.
const DECLARATIONS: &str = r#"
[correlation]
enable_correlation = true
correlation_window_minutes = 10

[correlation.correlation_rules]
min_match_weight = 0.6

[[correlation.correlation_rules.rules]]
name = "Same service"
priority = 1
weight = 0.8
conditions = { field = "services", operator = "intersects", value = [] }

[[webhook]]
name = "prod"
platform = "prometheus"
description = "Production Alertmanager"
secret_env = "APPLY_TEST_PROD_SECRET"
default_severity = "high"
dedup_window_hours = 12
enable_correlation = true
correlation_window_minutes = 15
auto_trigger_rca = true
rca_min_severity = "high"
notify_workspace = true

[webhook.severity_mapping]
page = "critical"

[webhook.field_mapping]
services = "$.commonLabels.service"

[[webhook]]
name = "grafana"
platform = "grafana"

[[destination]]
kind = "webhook"
name = "ops"
url = "http://127.0.0.1:9/hook"
event_types = ["incident.resolved", "incident.created"]
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

fn serve(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-insecure-destinations",
        ])
        .args(extra)
        .env("ALERTGATE_DATA_DIR", data_dir)
        .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertgate");
    let base = common::listening_url(&mut child).expect("the server printed its address");
    Server { child, base }
}

fn cli(server: &Server, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(args)
        .env("ALERTGATE_URL", &server.base)
        .env("ALERTGATE_TOKEN", ADMIN)
        .env_remove("ALERTGATE_WEBHOOK_SECRET")
        .env_remove(SECRET_VAR)
        .envs(env.iter().copied())
        .output()
        .expect("run alertgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}: {}{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    o
}

fn json(o: Output) -> Value {
    serde_json::from_slice(&ok(o).stdout).unwrap()
}

/// A workspace with its own server and a declarations file.
struct Setup {
    server: Server,
    _dir: tempfile::TempDir,
    file: String,
}

impl Setup {
    fn new(declarations: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(&dir.path().join("data"), &[], &[]);
        let setup = Setup {
            file: dir.path().join("alertgate.toml").display().to_string(),
            server,
            _dir: dir,
        };
        setup.write(declarations);
        setup
    }

    fn write(&self, declarations: &str) {
        std::fs::write(&self.file, declarations).unwrap();
    }

    fn run(&self, args: &[&str], secret: &str) -> Output {
        cli(&self.server, args, &[(SECRET_VAR, secret)])
    }

    fn apply(&self, flags: &[&str]) -> Value {
        let mut args = vec!["apply", &self.file, "-o", "json"];
        args.extend_from_slice(flags);
        json(self.run(&args, SECRET))
    }

    fn webhook(&self, name: &str) -> Value {
        json(self.run(&["webhook", "show", name, "-o", "json"], SECRET))
    }

    fn webhook_names(&self) -> Vec<String> {
        let list = json(self.run(&["webhook", "list", "-o", "json"], SECRET));
        let mut names: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }
}

#[test]
fn applying_the_same_file_twice_changes_nothing_the_second_time() {
    let s = Setup::new(DECLARATIONS);
    let first = s.apply(&[]);
    assert_eq!(first["summary"]["create"], 3, "{first}");
    assert_eq!(
        first["summary"]["update"], 1,
        "the workspace's correlation rules: {first}"
    );

    let second = s.apply(&[]);
    assert_eq!(second["summary"]["create"], 0, "{second}");
    assert_eq!(second["summary"]["update"], 0, "{second}");
    assert_eq!(second["summary"]["unchanged"], 4, "{second}");

    let text = stdout(&ok(s.run(&["apply", &s.file], SECRET)));
    assert!(text.contains("= webhook `prod`"), "{text}");
    assert!(text.contains("Nothing to do"), "{text}");

    let prod = s.webhook("prod");
    assert_eq!(
        prod["rate_limit_per_hour"], 100,
        "a key left out is the default"
    );
    assert_eq!(prod["dedup_window_hours"], 12);
    assert_eq!(prod["default_severity"], "high");
    assert_eq!(prod["severity_mapping"]["page"], "critical");
    assert_eq!(prod["field_mapping"]["services"], "$.commonLabels.service");
    assert_eq!(prod["correlation_window_minutes"], 15);
    assert_eq!(prod["auto_trigger_rca"], true);
    assert_eq!(s.webhook_names(), ["grafana", "prod"]);
}

#[test]
fn a_changed_field_is_shown_by_dry_run_then_applied_and_the_intake_url_stays() {
    let s = Setup::new(DECLARATIONS);
    s.apply(&[]);
    let before = s.webhook("prod");

    s.write(&DECLARATIONS.replace(
        "dedup_window_hours = 12",
        "dedup_window_hours = 12\nrate_limit_per_hour = 600",
    ));
    let dry = ok(s.run(&["apply", &s.file, "--dry-run"], SECRET));
    let text = stdout(&dry);
    assert!(text.contains("~ webhook `prod`"), "{text}");
    assert!(text.contains("rate_limit_per_hour: 100 -> 600"), "{text}");
    assert!(text.contains("= webhook `grafana`"), "{text}");
    assert!(text.contains("Nothing was changed"), "{text}");
    assert_eq!(
        s.webhook("prod")["rate_limit_per_hour"],
        100,
        "a dry run changes nothing"
    );

    let applied = s.apply(&[]);
    assert_eq!(applied["summary"]["update"], 1, "{applied}");
    let after = s.webhook("prod");
    assert_eq!(after["rate_limit_per_hour"], 600);
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["intake_url"], before["intake_url"]);
    assert_eq!(
        after["secret_hint"], before["secret_hint"],
        "the secret was not set again"
    );
    assert_eq!(after["active_secrets"], 1);

    // Removing the line goes back to the default.
    s.write(DECLARATIONS);
    let reverted = s.apply(&[]);
    assert_eq!(reverted["summary"]["update"], 1, "{reverted}");
    assert_eq!(s.webhook("prod")["rate_limit_per_hour"], 100);
}

#[test]
fn a_secret_from_an_environment_variable_authenticates_intake_and_changes_only_when_it_does() {
    let s = Setup::new(DECLARATIONS);
    s.apply(&[]);
    let sent = json(s.run(
        &["send-test", "prod", "--secret", SECRET, "-o", "json"],
        SECRET,
    ));
    assert!(sent["http_status"].as_u64().unwrap() < 300, "{sent}");
    let wrong = s.run(
        &["send-test", "prod", "--secret", "not-the-declared-one"],
        SECRET,
    );
    assert_eq!(wrong.status.code(), Some(1));

    let rotated = "prod-secret-declared-in-env-0002";
    let dry = ok(s.run(&["apply", &s.file, "--dry-run"], rotated));
    let text = stdout(&dry);
    assert!(
        text.contains(
            "secret: (secret) -> (secret) from the environment variable APPLY_TEST_PROD_SECRET"
        ),
        "{text}"
    );
    assert!(!text.contains(rotated) && !text.contains(SECRET), "{text}");

    let applied = json(s.run(&["apply", &s.file, "-o", "json"], rotated));
    assert_eq!(applied["summary"]["update"], 1, "{applied}");
    let sent = json(s.run(
        &["send-test", "prod", "--secret", rotated, "-o", "json"],
        rotated,
    ));
    assert!(sent["http_status"].as_u64().unwrap() < 300, "{sent}");
    assert_eq!(
        s.webhook("prod")["active_secrets"],
        2,
        "the previous secret stays valid for the switch-over"
    );

    let again = json(s.run(&["apply", &s.file, "-o", "json"], rotated));
    assert_eq!(again["summary"]["update"], 0, "{again}");
}

#[test]
fn an_inline_secret_is_refused_and_nothing_is_changed() {
    let inline = DECLARATIONS.replace(
        "secret_env = \"APPLY_TEST_PROD_SECRET\"",
        "secret = \"inline-secret-value-123\"",
    );
    let s = Setup::new(&inline);
    for args in [
        vec!["apply", s.file.as_str()],
        vec!["apply", s.file.as_str(), "--dry-run"],
        vec!["apply", "--check", s.file.as_str()],
        vec!["check-config", s.file.as_str()],
    ] {
        let refused = s.run(&args, SECRET);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            stdout(&refused)
        );
        let err = stderr(&refused);
        assert!(
            err.contains("webhook `prod`") && err.contains("secret_env"),
            "{err}"
        );
        assert!(
            !err.contains("inline-secret-value"),
            "the secret is not echoed: {err}"
        );
    }
    assert!(s.webhook_names().is_empty());

    // A referenced variable that is not set is refused too, by name.
    s.write(DECLARATIONS);
    let unset = cli(&s.server, &["apply", &s.file], &[]);
    assert_eq!(unset.status.code(), Some(2));
    assert!(
        stderr(&unset).contains("APPLY_TEST_PROD_SECRET is not set"),
        "{}",
        stderr(&unset)
    );
    assert!(s.webhook_names().is_empty());
}

#[test]
fn only_prune_deletes_what_the_file_does_not_declare() {
    let s = Setup::new(DECLARATIONS);
    s.apply(&[]);
    ok(s.run(
        &[
            "webhook",
            "create",
            "--platform",
            "generic",
            "--name",
            "manual",
        ],
        SECRET,
    ));

    let kept = s.apply(&[]);
    assert_eq!(kept["summary"]["unmanaged"], 1, "{kept}");
    assert_eq!(kept["summary"]["delete"], 0, "{kept}");
    assert_eq!(s.webhook_names(), ["grafana", "manual", "prod"]);

    let dry = stdout(&ok(
        s.run(&["apply", &s.file, "--prune", "--dry-run"], SECRET)
    ));
    assert!(dry.contains("- webhook `manual`"), "{dry}");
    assert!(
        dry.contains("0 to create, 0 to update, 4 unchanged, 1 to delete"),
        "{dry}"
    );
    assert_eq!(s.webhook_names(), ["grafana", "manual", "prod"]);

    let pruned = s.apply(&["--prune"]);
    assert_eq!(pruned["summary"]["delete"], 1, "{pruned}");
    assert_eq!(s.webhook_names(), ["grafana", "prod"]);

    // Dropping a declaration deletes it only with --prune as well.
    let without_grafana = DECLARATIONS.replace(
        "[[webhook]]\nname = \"grafana\"\nplatform = \"grafana\"\n",
        "",
    );
    s.write(&without_grafana);
    s.apply(&[]);
    assert_eq!(s.webhook_names(), ["grafana", "prod"]);
    s.apply(&["--prune"]);
    assert_eq!(s.webhook_names(), ["prod"]);
}

#[test]
fn check_config_validates_a_declarations_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("declarations.toml");
    std::fs::write(&file, DECLARATIONS).unwrap();
    let checked = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["check-config", file.to_str().unwrap()])
        .env(SECRET_VAR, SECRET)
        .output()
        .unwrap();
    let text = stdout(&ok(checked));
    assert!(
        text.contains("declarations: 2 webhook(s), 1 destination(s)"),
        "{text}"
    );

    std::fs::write(
        &file,
        DECLARATIONS.replace("dedup_window_hours = 12", "dedup_window_hours = 500"),
    )
    .unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["check-config", file.to_str().unwrap()])
        .env(SECRET_VAR, SECRET)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("dedup_window_hours must be between 1 and 168"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn serve_apply_declares_at_start_and_a_webhook_keeps_its_intake_url_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("alertgate.toml");
    std::fs::write(&file, DECLARATIONS).unwrap();
    let file = file.display().to_string();
    let env = [(SECRET_VAR, SECRET)];

    let args = ["--apply", file.as_str()];
    let server = serve(&data, &args, &env);
    let first = json(cli(
        &server,
        &["webhook", "show", "prod", "-o", "json"],
        &[],
    ));
    drop(server);

    let server = serve(&data, &args, &env);
    let list = json(cli(&server, &["webhook", "list", "-o", "json"], &[]));
    let prods: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["name"] == "prod")
        .collect();
    assert_eq!(prods.len(), 1, "{list}");
    // The port changes between these starts (port 0); the path is what identifies the webhook.
    let path = |w: &Value| {
        let url = w["intake_url"].as_str().unwrap().to_string();
        url[url.find("/webhook/").unwrap()..].to_string()
    };
    assert_eq!(path(prods[0]), path(&first));
    assert_eq!(prods[0]["id"], first["id"]);
    assert_eq!(
        prods[0]["active_secrets"], 1,
        "the secret was not set again"
    );
    let sent = json(cli(
        &server,
        &["send-test", "prod", "--secret", SECRET, "-o", "json"],
        &[],
    ));
    assert!(sent["http_status"].as_u64().unwrap() < 300, "{sent}");
    drop(server);

    // A file that cannot be applied stops the start.
    let broken = Command::new(env!("CARGO_BIN_EXE_alertgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--apply", &file])
        .env("ALERTGATE_DATA_DIR", &data)
        .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
        .env_remove(SECRET_VAR)
        .output()
        .unwrap();
    assert!(!broken.status.success());
    assert!(
        stderr(&broken).contains("APPLY_TEST_PROD_SECRET is not set"),
        "{}",
        stderr(&broken)
    );
}

#[test]
fn a_refusal_by_the_server_stops_applying_and_says_which_object() {
    let s = Setup::new(&format!(
        "{DECLARATIONS}\n[[destination]]\nkind = \"webhook\"\nname = \"bad\"\nurl = \"ftp://127.0.0.1/x\"\n"
    ));
    let refused = s.run(&["apply", &s.file], SECRET);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("creating destination `bad`"),
        "{}",
        stderr(&refused)
    );
    assert!(
        stdout(&refused).contains("Applying stopped at the first error"),
        "{}",
        stdout(&refused)
    );
    assert!(
        s.webhook_names().is_empty(),
        "webhooks come after destinations"
    );
}
