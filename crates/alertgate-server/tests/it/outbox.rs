//! Investigation triggers and notifications over real HTTP, received by a separate Python process
//! that verifies every signature with the Standard Webhooks reference library from PyPI
//! (`tests/receivers/standard_webhooks_receiver.py`), never with alertgate's own code.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use alertgate_core::auth::Secret;
use alertgate_core::ids::{DestinationId, WorkspaceId};
use alertgate_core::outbox::{DestinationKind, EventType, RetrySchedule};
use alertgate_core::Timestamp;
use alertgate_server::config::OutboxConfig;
use alertgate_server::{Config, Runtime};
use alertgate_store::{Destination, Store};

use crate::helpers::*;

const RECEIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/receivers/standard_webhooks_receiver.py"
);

/// The Python receiver, stopped when dropped (and by itself if this process dies: it exits when
/// its standard input closes).
struct Receiver {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    async fn start() -> Receiver {
        tokio::task::spawn_blocking(|| {
            let check = Command::new("python3")
                .args(["-c", "import standardwebhooks"])
                .status();
            assert!(
                check.is_ok_and(|s| s.success()),
                "the outbox tests need python3 with the Standard Webhooks library: pip install standardwebhooks"
            );
            let mut child = Command::new("python3")
                .arg(RECEIVER)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the receiver");
            let stdout = child.stdout.take().expect("receiver stdout");
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            let port = line
                .trim()
                .strip_prefix("listening ")
                .unwrap_or_else(|| panic!("receiver said {line:?}"))
                .to_string();
            Receiver {
                child,
                base: format!("http://127.0.0.1:{port}"),
                client: reqwest::Client::new(),
            }
        })
        .await
        .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn control(&self, what: &str, body: Value) {
        let resp = self
            .client
            .post(self.url(&format!("/_control/{what}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    /// Accept signed requests on `path` (unsigned ones when `secret` is None).
    async fn endpoint(&self, path: &str, secret: Option<&str>) {
        self.control("endpoints", json!({"path": path, "secret": secret}))
            .await;
    }

    /// Answer `statuses` in order on `path`, then `default`.
    async fn script(&self, path: &str, statuses: &[u16], default: u16) {
        self.control(
            "script",
            json!({"path": path, "statuses": statuses, "default": default}),
        )
        .await;
    }

    /// (verified requests, rejected requests).
    async fn received(&self) -> (Vec<Value>, Vec<Value>) {
        let v: Value = self
            .client
            .get(self.url("/_control/received"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            v["verified"].as_array().unwrap().clone(),
            v["rejected"].as_array().unwrap().clone(),
        )
    }

    async fn at(&self, path: &str) -> Vec<Value> {
        let (verified, rejected) = self.received().await;
        assert!(rejected.is_empty(), "rejected: {rejected:?}");
        verified.into_iter().filter(|r| r["path"] == path).collect()
    }
}

/// Fast retries so the suite runs in seconds.
fn outbox_config(dir: &Path, allow_insecure: bool, max_attempts: u32) -> Config {
    Config {
        allow_insecure_destinations: allow_insecure,
        outbox: OutboxConfig {
            poll_interval_ms: 50,
            lease_ms: 4_000,
            request_timeout_ms: 3_000,
            concurrency: 8,
            retry: RetrySchedule {
                initial_delay_ms: 100,
                max_delay_ms: 400,
                max_attempts,
                jitter: 0.2,
            },
        },
        ..config(dir)
    }
}

async fn spawn_outbox(dir: tempfile::TempDir, config: Config) -> TestApp {
    let (database_url, db) = database_for(dir.path()).await;
    let config = Config {
        database_url,
        ..config
    };
    spawn_config(config, dir, Runtime::default(), db).await
}

async fn spawn_insecure() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = outbox_config(dir.path(), true, 8);
    spawn_outbox(dir, config).await
}

impl TestApp {
    async fn destination(&self, body: Value) -> Value {
        let resp = self
            .admin_json(Method::POST, "/api/v1/destinations", body)
            .await;
        assert_eq!(resp.status(), 201, "create destination");
        resp.json().await.unwrap()
    }

    async fn messages(&self, incident: &str) -> Vec<Value> {
        let resp = self
            .admin_get(&format!("/api/v1/incidents/{incident}/deliveries"))
            .await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["items"].as_array().unwrap().clone()
    }

    /// The incident's messages once `n` of them exist and none is still waiting.
    async fn settled(&self, incident: &str, n: usize) -> Vec<Value> {
        let mut last = Vec::new();
        for _ in 0..300 {
            last = self.messages(incident).await;
            let done = |m: &Value| m["status"] == "delivered" || m["status"] == "failed";
            if last.len() == n && last.iter().all(done) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{incident}: expected {n} settled deliveries, have {last:#?}");
    }
}

/// A request with `token` as the bearer credential (the admin token or a workspace API key).
async fn keyed(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if !body.is_null() {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn send_alert(app: &TestApp, hook: &Hook, body: Value) -> String {
    let (status, reply) = app.send(hook, &body).await;
    assert!(status == 200 || status == 201, "{status} {reply}");
    reply["incident_id"].as_str().unwrap().to_string()
}

fn find<'a>(messages: &'a [Value], purpose: &str, event: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["purpose"] == purpose && m["event_type"] == event)
        .unwrap_or_else(|| panic!("no {purpose} {event} in {messages:#?}"))
}

#[tokio::test]
async fn an_incident_at_or_above_the_minimum_severity_triggers_one_investigation_and_correlation_does_not_retrigger(
) {
    let rx = Receiver::start().await;
    let app = spawn_insecure().await;
    let rca = app
        .destination(json!({"kind": "investigation", "name": "RCA agent", "url": rx.url("/rca")}))
        .await;
    let notify = app
        .destination(
            json!({"kind": "webhook", "name": "team", "url": rx.url("/notify"),
                            "event_types": ["incident.created", "incident.updated"]}),
        )
        .await;
    rx.endpoint("/rca", rca["secret"].as_str()).await;
    rx.endpoint("/notify", notify["secret"].as_str()).await;
    let prod = app
        .create_webhook(
            json!({"name": "prod", "auto_trigger_rca": true, "rca_min_severity": "high",
                                "notify_workspace": true, "enable_correlation": true,
                                "correlation_window_minutes": 10}),
        )
        .await;
    let quiet = app
        .create_webhook(
            json!({"name": "quiet", "auto_trigger_rca": true, "rca_min_severity": "high"}),
        )
        .await;

    let incident = send_alert(
        &app,
        &prod,
        json!({"title": "db primary down", "severity": "critical", "service": "db",
               "source_url": "https://grafana.example.com/d/db", "runbook": "restart it"}),
    )
    .await;
    let below = send_alert(
        &app,
        &quiet,
        json!({"title": "disk at 80%", "severity": "medium"}),
    )
    .await;
    let joined = send_alert(
        &app,
        &prod,
        json!({"title": "api 5xx rising", "severity": "high", "service": "api"}),
    )
    .await;
    assert_eq!(joined, incident, "the second alert correlates");

    let messages = app.settled(&incident, 3).await;
    assert!(messages.iter().all(|m| m["status"] == "delivered"));
    let investigation = find(&messages, "investigation", "incident.created");
    assert_eq!(investigation["attempts"], 1);
    assert!(investigation["latency_ms"].as_i64().is_some());
    find(&messages, "notification", "incident.created");
    find(&messages, "notification", "incident.updated");
    assert!(
        app.messages(&below).await.is_empty(),
        "below the minimum severity: no investigation, and that webhook does not notify"
    );

    let requests = rx.at("/rca").await;
    assert_eq!(
        requests.len(),
        1,
        "exactly one investigation: {requests:#?}"
    );
    let req = &requests[0];
    assert_eq!(
        req["webhook_id"], investigation["id"],
        "the id is the message id"
    );
    let p = &req["payload"];
    assert_eq!(p["type"], "incident.created");
    assert_eq!(p["data"]["purpose"], "investigation");
    assert_eq!(p["data"]["incident"]["id"], incident.as_str());
    assert_eq!(p["data"]["incident"]["severity"], "critical");
    assert_eq!(p["data"]["services"], json!(["db"]));
    let alert = &p["data"]["alerts"][0];
    assert_eq!(alert["title"], "db primary down");
    assert_eq!(alert["decision"]["kind"], "created");
    assert_eq!(alert["payload"]["runbook"], "restart it", "the raw payload");
    assert_eq!(
        p["data"]["links"]["incident"],
        format!("{}/api/v1/incidents/{incident}", app.base)
    );
    assert_eq!(
        p["data"]["links"]["sources"],
        json!(["https://grafana.example.com/d/db"])
    );

    let notes = rx.at("/notify").await;
    let types: Vec<&str> = notes
        .iter()
        .map(|n| n["payload"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 2, "{notes:#?}");
    assert!(types.contains(&"incident.created") && types.contains(&"incident.updated"));
    let updated = notes
        .iter()
        .find(|n| n["payload"]["type"] == "incident.updated")
        .unwrap();
    let data = &updated["payload"]["data"];
    assert_eq!(data["changes"][0]["kind"], "alert_correlated");
    assert_eq!(data["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(data["alerts"][1]["decision"]["kind"], "correlated");
    assert_eq!(data["alerts"][1]["decision"]["by"], "time_window");
    assert!(notes
        .iter()
        .all(|n| n["payload"]["data"]["incident"]["id"] == incident.as_str()));

    // Acknowledging is not subscribed to: nothing new goes out, and nothing re-triggers.
    let resp = app
        .admin_json(
            Method::POST,
            &format!("/api/v1/incidents/{incident}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.messages(&incident).await.len(), 3);
}

#[tokio::test]
async fn a_receiver_answering_503_for_a_while_gets_the_event_once_it_recovers_and_every_attempt_is_recorded(
) {
    let rx = Receiver::start().await;
    let app = spawn_insecure().await;
    let rca = app
        .destination(json!({"kind": "investigation", "name": "rca", "url": rx.url("/rca")}))
        .await;
    rx.endpoint("/rca", rca["secret"].as_str()).await;
    rx.script("/rca", &[503, 503, 503], 200).await;
    let hook = app
        .create_webhook(json!({"name": "prod", "auto_trigger_rca": true}))
        .await;
    let incident = send_alert(
        &app,
        &hook,
        json!({"title": "queue stuck", "severity": "high"}),
    )
    .await;

    let messages = app.settled(&incident, 1).await;
    let m = &messages[0];
    assert_eq!(m["status"], "delivered", "{m:#}");
    assert_eq!(m["attempts"], 4);
    assert_eq!(m["last_status_code"], 200);
    assert!(m["last_error"].is_null());
    let history = m["history"].as_array().unwrap();
    let codes: Vec<i64> = history
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![503, 503, 503, 200]);
    assert_eq!(history[0]["error"], "HTTP 503: {\"received\": true}");
    let times: Vec<Timestamp> = history
        .iter()
        .map(|a| Timestamp::parse_rfc3339(a["at"].as_str().unwrap()).unwrap())
        .collect();
    for w in times.windows(2) {
        assert!(
            w[1].as_millis() - w[0].as_millis() >= 75,
            "backoff between attempts: {times:?}"
        );
    }

    let requests = rx.at("/rca").await;
    assert_eq!(requests.len(), 4);
    assert!(
        requests.iter().all(|r| r["webhook_id"] == m["id"]),
        "every attempt carries the same webhook-id"
    );
    assert_eq!(
        requests.iter().filter(|r| r["status"] == 200).count(),
        1,
        "delivered once"
    );

    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outbox = &ready["outbox"];
    assert_eq!(outbox["messages"]["pending"], 0, "{ready:#}");
    assert_eq!(outbox["since_start"]["worker_running"], true);
    assert_eq!(outbox["since_start"]["delivered_total"], 1);
    assert_eq!(outbox["since_start"]["attempt_failures_total"], 3);
    assert!(outbox["since_start"]["delivery_latency_ms_avg"]
        .as_u64()
        .is_some());
}

#[tokio::test]
async fn a_410_disables_the_destination_and_a_message_out_of_attempts_fails_until_retried_by_hand()
{
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = outbox_config(dir.path(), true, 3);
    let app = spawn_outbox(dir, config).await;
    let rca = app
        .destination(json!({"kind": "investigation", "name": "rca", "url": rx.url("/rca")}))
        .await;
    let gone = app
        .destination(json!({"kind": "webhook", "name": "old", "url": rx.url("/gone")}))
        .await;
    rx.endpoint("/rca", rca["secret"].as_str()).await;
    rx.endpoint("/gone", gone["secret"].as_str()).await;
    rx.script("/rca", &[], 500).await;
    rx.script("/gone", &[], 410).await;
    let hook = app
        .create_webhook(json!({"name": "prod", "auto_trigger_rca": true, "notify_workspace": true}))
        .await;
    let incident = send_alert(
        &app,
        &hook,
        json!({"title": "cache cold", "severity": "high"}),
    )
    .await;

    let messages = app.settled(&incident, 2).await;
    let to_gone = find(&messages, "notification", "incident.created");
    assert_eq!(to_gone["status"], "failed");
    assert_eq!(to_gone["attempts"], 1, "a 410 is not retried");
    assert_eq!(to_gone["last_status_code"], 410);
    let dest: Value = app
        .admin_get(&format!(
            "/api/v1/destinations/{}",
            gone["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dest["enabled"], false);
    assert!(dest["disabled_reason"].as_str().unwrap().contains("410"));

    let investigation = find(&messages, "investigation", "incident.created");
    assert_eq!(investigation["status"], "failed");
    assert_eq!(investigation["attempts"], 3, "the retry budget");
    assert_eq!(investigation["last_status_code"], 500);
    assert!(investigation["next_attempt_at"].is_null());

    // A person sends it again once the receiver is fixed.
    rx.script("/rca", &[], 200).await;
    let id = investigation["id"].as_str().unwrap();
    let resp = app
        .admin_json(
            Method::POST,
            &format!("/api/v1/incidents/{incident}/deliveries/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let mut delivered = Value::Null;
    for _ in 0..200 {
        delivered = app
            .messages(&incident)
            .await
            .into_iter()
            .find(|m| m["id"] == id)
            .unwrap();
        if delivered["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered["status"], "delivered", "{delivered:#}");
    assert_eq!(delivered["attempts"], 4);
    let requests = rx.at("/rca").await;
    assert_eq!(requests.len(), 4);
    assert!(requests.iter().all(|r| r["webhook_id"] == id));

    // The disabled destination cannot be retried, and new incidents skip it.
    let gone_id = to_gone["id"].as_str().unwrap();
    let resp = app
        .admin_json(
            Method::POST,
            &format!("/api/v1/incidents/{incident}/deliveries/{gone_id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 409);
    let next = send_alert(
        &app,
        &hook,
        json!({"title": "cache cold again", "severity": "high"}),
    )
    .await;
    let messages = app.settled(&next, 1).await;
    assert_eq!(messages[0]["purpose"], "investigation");
    assert_eq!(rx.at("/gone").await.len(), 1);

    let resp = app
        .admin_json(
            Method::POST,
            &format!(
                "/api/v1/incidents/{incident}/deliveries/msg_01ARZ3NDEKTSV4RRFFQ69G5FAV/retry"
            ),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn slack_channels_get_text_and_blocks_for_the_events_they_subscribe_to() {
    let rx = Receiver::start().await;
    let app = spawn_insecure().await;
    app.destination(
        json!({"kind": "slack", "name": "#incidents", "url": rx.url("/slack"),
                           "event_types": ["incident.created", "incident.resolved"]}),
    )
    .await;
    rx.endpoint("/slack", None).await;
    let hook = app
        .create_webhook(json!({"name": "prod", "notify_workspace": true}))
        .await;
    let incident = send_alert(
        &app,
        &hook,
        json!({"title": "checkout <slow>", "severity": "high", "service": "checkout"}),
    )
    .await;
    let resp = app
        .admin_json(
            Method::POST,
            &format!("/api/v1/incidents/{incident}/resolve"),
            json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let messages = app.settled(&incident, 2).await;
    assert!(messages.iter().all(|m| m["status"] == "delivered"));
    let posts = rx.at("/slack").await;
    assert_eq!(posts.len(), 2);
    let texts: Vec<&str> = posts
        .iter()
        .map(|p| p["payload"]["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("incident opened")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("incident resolved")),
        "{texts:?}"
    );
    assert!(
        texts.iter().all(|t| t.contains("checkout &lt;slow&gt;")),
        "{texts:?}"
    );
    assert!(posts.iter().all(|p| !p["signed"].as_bool().unwrap()));
    let blocks = posts[0]["payload"]["blocks"].as_array().unwrap();
    assert_eq!(blocks.last().unwrap()["type"], "context");
    assert!(blocks[0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains(&format!("{}/api/v1/incidents/{incident}", app.base)));
}

#[tokio::test]
async fn destinations_are_validated_on_save_and_their_secrets_are_shown_once() {
    let app = spawn_app().await; // without allow-insecure-destinations
    for url in [
        "http://rca.example.invalid/hook",
        "https://127.0.0.1:9443/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://user:pass@rca.example.invalid/hook",
    ] {
        let resp = app
            .admin_json(
                Method::POST,
                "/api/v1/destinations",
                json!({"kind": "investigation", "name": "rca", "url": url}),
            )
            .await;
        let got = (resp.status().as_u16(), resp.json().await.unwrap());
        assert_error(&got, 400, "validation_failed");
    }

    let created = app
        .destination(
            json!({"kind": "investigation", "name": "rca", "url": "https://rca.example.invalid/hook"}),
        )
        .await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["event_types"], json!(["incident.created"]));
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("dst_"));
    let shown: Value = app
        .admin_get(&format!("/api/v1/destinations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(shown.get("secret").is_none(), "shown once");
    assert_eq!(
        shown["secret_hint"],
        format!("…{}", &secret[secret.len() - 4..])
    );

    let second = app
        .admin_json(
            Method::POST,
            "/api/v1/destinations",
            json!({"kind": "investigation", "name": "another", "url": "https://b.example.invalid/x"}),
        )
        .await;
    assert_eq!(
        second.status(),
        409,
        "one investigation endpoint per workspace"
    );

    let rotated: Value = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/destinations/{id}"),
            json!({"rotate_secret": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(rotated["secret"], created["secret"]);
    let resp = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/destinations/{id}"),
            json!({"url": "http://rca.example.invalid/hook"}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let resp = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/destinations/{id}"),
            json!({"event_types": ["incident.resolved"]}),
        )
        .await;
    assert_eq!(
        resp.status(),
        400,
        "the investigation endpoint takes the trigger only"
    );

    let slack = app
        .destination(json!({"kind": "slack", "name": "#ops",
                            "url": "https://hooks.slack.example.invalid/services/T0/B0/abcdWXYZ"}))
        .await;
    assert!(slack.get("secret").is_none() || slack["secret"].is_null());
    assert_eq!(
        slack["url"], "https://hooks.slack.example.invalid/services/T0/B0/abcdWXYZ",
        "shown in the reply that set it"
    );
    assert_eq!(slack["event_types"].as_array().unwrap().len(), 4);
    let listed: Value = app
        .admin_get("/api/v1/destinations")
        .await
        .json()
        .await
        .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let slack_listed = items.iter().find(|d| d["kind"] == "slack").unwrap();
    assert_eq!(
        slack_listed["url"],
        "https://hooks.slack.example.invalid/…WXYZ"
    );

    for bad in [
        json!({"kind": "slack", "name": "x", "url": "https://hooks.example.invalid/a", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
        json!({"kind": "webhook", "name": "x", "url": "https://hooks.example.invalid/a", "event_types": []}),
        json!({"kind": "webhook", "name": "x", "url": "https://hooks.example.invalid/a", "event_types": ["incident.deleted"]}),
        json!({"kind": "webhook", "name": "x", "url": "https://hooks.example.invalid/a", "secret": "not-a-secret"}),
        json!({"kind": "pager", "name": "x", "url": "https://hooks.example.invalid/a"}),
        json!({"kind": "webhook", "name": "", "url": "https://hooks.example.invalid/a"}),
    ] {
        let resp = app
            .admin_json(Method::POST, "/api/v1/destinations", bad.clone())
            .await;
        assert_eq!(resp.status(), 400, "{bad}");
    }

    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/destinations/{id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        app.admin_get(&format!("/api/v1/destinations/{id}"))
            .await
            .status(),
        404
    );
    let anonymous = app
        .client
        .get(app.url("/api/v1/destinations"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn webhooks_keep_their_automation_settings() {
    let app = spawn_app().await;
    let plain = app.generic_webhook().await;
    assert_eq!(plain.body["auto_trigger_rca"], false);
    assert_eq!(plain.body["rca_min_severity"], "medium");
    assert_eq!(plain.body["notify_workspace"], false);
    let hook = app
        .create_webhook(
            json!({"name": "rca", "auto_trigger_rca": true, "rca_min_severity": "high"}),
        )
        .await;
    assert_eq!(hook.body["auto_trigger_rca"], true);
    assert_eq!(hook.body["rca_min_severity"], "high");
    let patched: Value = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/webhooks/{}", hook.id),
            json!({"rca_min_severity": "critical", "notify_workspace": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["rca_min_severity"], "critical");
    assert_eq!(patched["notify_workspace"], true);
    assert_eq!(patched["auto_trigger_rca"], true);
    let resp = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/webhooks/{}", hook.id),
            json!({"rca_min_severity": "urgent"}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let resp = app
        .admin_json(
            Method::POST,
            "/api/v1/webhooks",
            json!({"name": "x", "rca_min_severity": "urgent"}),
        )
        .await;
    assert_eq!(resp.status(), 400);
}

/// A destination written straight to the store, past the API's checks.
async fn insert_destination(
    store: &dyn Store,
    workspace: WorkspaceId,
    kind: DestinationKind,
    url: String,
    secret: &str,
) -> DestinationId {
    let now = Timestamp::from_millis(1);
    let d = Destination {
        id: DestinationId::new(now, rand::random()),
        workspace_id: workspace,
        kind,
        name: format!("{kind:?}"),
        url,
        secret: Some(Secret::new(secret)),
        event_types: EventType::ALL.to_vec(),
        enabled: true,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    store.create_destination(&d).await.unwrap();
    d.id
}

const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test]
async fn without_allow_insecure_the_client_refuses_private_addresses_at_delivery_time() {
    let rx = Receiver::start().await;
    rx.endpoint("/rca", Some(TEST_SECRET)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = outbox_config(dir.path(), false, 1);
    let app = spawn_outbox(dir, config).await;
    let store = app.server.as_ref().unwrap().state.store.clone();
    let port = rx.base.rsplit(':').next().unwrap().to_string();
    insert_destination(
        store.as_ref(),
        WorkspaceId::DEFAULT,
        DestinationKind::Investigation,
        format!("https://127.0.0.1:{port}/rca"),
        TEST_SECRET,
    )
    .await;
    insert_destination(
        store.as_ref(),
        WorkspaceId::DEFAULT,
        DestinationKind::Webhook,
        format!("http://127.0.0.1:{port}/rca"),
        TEST_SECRET,
    )
    .await;
    let hook = app
        .create_webhook(json!({"name": "prod", "auto_trigger_rca": true, "notify_workspace": true}))
        .await;
    let incident = send_alert(&app, &hook, json!({"title": "db down", "severity": "high"})).await;
    let messages = app.settled(&incident, 2).await;
    for m in &messages {
        assert_eq!(m["status"], "failed");
        assert!(m["last_status_code"].is_null(), "never sent: {m:#}");
    }
    let private = find(&messages, "investigation", "incident.created");
    assert!(
        private["last_error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1 is not a public address"),
        "{private:#}"
    );
    let plain = find(&messages, "notification", "incident.created");
    assert!(
        plain["last_error"].as_str().unwrap().contains("https"),
        "{plain:#}"
    );
    let (verified, rejected) = rx.received().await;
    assert!(verified.is_empty() && rejected.is_empty());
}

/// Runs a real server in this test binary as a separate process, for the SIGKILL test below.
/// It does nothing unless started by that test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of pending_events_survive_a_sigkill…"]
async fn child_server() {
    let (Ok(dir), Ok(addr_file)) = (
        std::env::var("ALERTGATE_IT_CHILD_DIR"),
        std::env::var("ALERTGATE_IT_CHILD_ADDR"),
    ) else {
        return;
    };
    // On PostgreSQL, the parent test created the database and left its URL in the directory.
    let (database_url, _) = database_for(Path::new(&dir)).await;
    let config = Config {
        database_url,
        ..outbox_config(Path::new(&dir), true, 1_000)
    };
    let store = alertgate_server::open_store(&config).await.unwrap();
    let server = alertgate_server::start(config, store, Runtime::default())
        .await
        .unwrap();
    let tmp = format!("{addr_file}.tmp");
    std::fs::write(&tmp, server.addr.to_string()).unwrap();
    std::fs::rename(&tmp, &addr_file).unwrap();
    // Serve until killed; exit if the parent test goes away.
    tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    })
    .await
    .unwrap();
    std::process::exit(0);
}

struct ChildServer(Child);

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_events_survive_a_sigkill_and_are_delivered_after_a_restart_to_their_own_workspace_only(
) {
    let rx = Receiver::start().await;
    for path in ["/default/rca", "/default/notify", "/other/notify"] {
        rx.script(path, &[], 503).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr_file = dir.path().join("addr");
    // Created here, so that it outlives the child and the restarted server.
    let (database_url, db) = database_for(dir.path()).await;
    let mut child = ChildServer(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "outbox::child_server",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ALERTGATE_IT_CHILD_DIR", dir.path())
            .env("ALERTGATE_IT_CHILD_ADDR", &addr_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut addr = None;
    for _ in 0..600 {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            addr = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = format!("http://{}", addr.expect("the child server started"));
    let child_app = TestApp::remote(base.clone(), database_url, db);

    // The default workspace, through the child's API.
    let rca = child_app
        .destination(json!({"kind": "investigation", "name": "rca", "url": rx.url("/default/rca")}))
        .await;
    let notify = child_app
        .destination(json!({"kind": "webhook", "name": "team", "url": rx.url("/default/notify")}))
        .await;
    rx.endpoint("/default/rca", rca["secret"].as_str()).await;
    rx.endpoint("/default/notify", notify["secret"].as_str())
        .await;
    let hook = child_app
        .create_webhook(json!({"name": "prod", "auto_trigger_rca": true, "notify_workspace": true}))
        .await;

    // Another workspace, with its own admin key, webhook and notification channel.
    let (status, ws) = keyed(
        &child_app,
        Method::POST,
        "/api/v1/workspaces",
        ADMIN,
        json!({"name": "other team"}),
    )
    .await;
    assert_eq!(status, 201, "{ws}");
    let other = ws["id"].as_str().unwrap().to_string();
    let (status, key) = keyed(
        &child_app,
        Method::POST,
        &format!("/api/v1/workspaces/{other}/api-keys"),
        ADMIN,
        json!({"name": "ops", "role": "admin"}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let other_key = key["key"].as_str().unwrap().to_string();
    let (status, other_notify) = keyed(
        &child_app,
        Method::POST,
        "/api/v1/destinations",
        &other_key,
        json!({"kind": "webhook", "name": "theirs", "url": rx.url("/other/notify")}),
    )
    .await;
    assert_eq!(status, 201, "{other_notify}");
    rx.endpoint("/other/notify", other_notify["secret"].as_str())
        .await;
    let (status, w) = keyed(
        &child_app,
        Method::POST,
        "/api/v1/webhooks",
        &other_key,
        json!({"name": "theirs", "auto_trigger_rca": true, "notify_workspace": true}),
    )
    .await;
    assert_eq!(status, 201, "{w}");
    let other_hook = Hook {
        id: w["id"].as_str().unwrap().to_string(),
        url: w["intake_url"].as_str().unwrap().to_string(),
        secret: w["secret"].as_str().unwrap().to_string(),
        body: w,
    };

    let mut ours = Vec::new();
    for i in 0..3 {
        ours.push(
            send_alert(
                &child_app,
                &hook,
                json!({"title": format!("ours {i}"), "severity": "high"}),
            )
            .await,
        );
    }
    let mut theirs = Vec::new();
    for i in 0..2 {
        theirs.push(
            send_alert(
                &child_app,
                &other_hook,
                json!({"title": format!("theirs {i}"), "severity": "high"}),
            )
            .await,
        );
    }

    // Every message has been tried (and refused with 503) at least once: they are pending.
    let distinct = |reqs: &[Value]| {
        let mut ids: Vec<String> = reqs
            .iter()
            .map(|r| r["webhook_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    let mut tried = false;
    for _ in 0..400 {
        let (verified, rejected) = rx.received().await;
        assert!(rejected.is_empty(), "{rejected:?}");
        let on = |p: &str| -> Vec<Value> {
            verified
                .iter()
                .filter(|r| r["path"] == p)
                .cloned()
                .collect()
        };
        if distinct(&on("/default/rca")) == 3
            && distinct(&on("/default/notify")) == 3
            && distinct(&on("/other/notify")) == 2
        {
            tried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tried, "every message was attempted before the kill");
    for incident in &ours {
        let messages = child_app.messages(incident).await;
        assert_eq!(messages.len(), 2);
        assert!(messages.iter().all(|m| m["status"] != "delivered"));
    }

    // SIGKILL: no shutdown, no draining, claims left as they were.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    for path in ["/default/rca", "/default/notify", "/other/notify"] {
        rx.script(path, &[], 200).await;
    }

    let config = outbox_config(dir.path(), true, 1_000);
    let app = spawn_outbox(dir, config).await;
    for incident in &ours {
        let messages = app.settled(incident, 2).await;
        assert!(
            messages.iter().all(|m| m["status"] == "delivered"),
            "{messages:#?}"
        );
    }
    for incident in &theirs {
        let path = format!("/api/v1/incidents/{incident}/deliveries");
        let mut settled = false;
        for _ in 0..300 {
            let (status, body) = keyed(&app, Method::GET, &path, &other_key, Value::Null).await;
            assert_eq!(status, 200, "{body}");
            let items = body["items"].as_array().unwrap();
            if items.len() == 1 && items[0]["status"] == "delivered" {
                settled = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(settled, "{incident} delivered to its workspace's channel");
        assert_eq!(
            app.admin_get(&path).await.status(),
            404,
            "not visible from the default workspace"
        );
    }

    let (verified, rejected) = rx.received().await;
    assert!(rejected.is_empty(), "{rejected:?}");
    let incident_of = |r: &Value| {
        r["payload"]["data"]["incident"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for r in &verified {
        let inc = incident_of(r);
        if r["path"] == "/other/notify" {
            assert!(theirs.contains(&inc), "{inc} went to another workspace");
        } else {
            assert!(ours.contains(&inc), "{inc} went to another workspace");
        }
    }
    for (path, incidents) in [
        ("/default/rca", &ours),
        ("/default/notify", &ours),
        ("/other/notify", &theirs),
    ] {
        let ok: Vec<String> = verified
            .iter()
            .filter(|r| r["path"] == path && r["status"] == 200)
            .map(incident_of)
            .collect();
        let mut got = ok.clone();
        got.sort();
        let mut want = incidents.clone();
        want.sort();
        assert_eq!(got, want, "{path}: each delivered exactly once");
    }
}
