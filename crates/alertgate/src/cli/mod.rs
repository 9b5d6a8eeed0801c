//! The admin commands: they speak to a running server's management API (`ALERTGATE_URL`,
//! `ALERTGATE_TOKEN`) and print tables for people or JSON (`--output json`) for scripts.
//!
//! Exit codes: 0 success; 1 the server refused or failed the request (or a test delivery was not
//! accepted); 2 a usage or local input error (bad file, missing token); 3 the server could not be
//! reached.

pub mod apply;
pub mod client;
pub mod send_test;
pub mod table;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use client::{segment, ApiClient};
use table::Table;

/// An error that ends the command, with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    pub fn api(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: format!("server answered {status} {code}: {}", message.into()),
        }
    }

    pub fn unreachable(base: &str, e: &reqwest::Error) -> Self {
        let cause = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        Self {
            code: 3,
            message: format!("could not reach alertgate at {base}: {cause}"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Where the server is and how to authenticate, shared by every admin command.
#[derive(Args, Clone)]
pub struct Connection {
    /// Base URL of the running server.
    #[arg(
        long,
        env = "ALERTGATE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// API token (admin token or a workspace API key).
    #[arg(long, env = "ALERTGATE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table", global = true)]
    pub output: Output,
}

impl Connection {
    fn client(&self) -> Result<ApiClient, CliError> {
        ApiClient::new(&self.url, self.token.clone())
    }
}

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Create a webhook; prints its intake URL, its secret (shown only this once) and what to
    /// configure on the platform's side.
    Create {
        /// Platform id (see `alertgate platforms`), e.g. prometheus, grafana, datadog.
        #[arg(long, default_value = "generic")]
        platform: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Requests per hour (0 = unlimited).
        #[arg(long)]
        rate_limit: Option<i64>,
    },
    /// List the workspace's webhooks.
    List,
    /// Show one webhook (by id or name).
    Show { webhook: String },
    /// Delete a webhook (by id or name).
    Delete { webhook: String },
    /// Make a new secret current; the previous one stays valid unless --revoke-previous.
    RotateSecret {
        webhook: String,
        #[arg(long)]
        revoke_previous: bool,
    },
}

#[derive(Subcommand)]
pub enum IncidentCommand {
    /// List incidents, newest first.
    List {
        /// open, acknowledged or resolved.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show an incident with its alerts and timeline.
    Show { incident: String },
    /// Acknowledge an incident.
    Ack { incident: String },
    /// Resolve an incident.
    Resolve { incident: String },
}

/// Print `value` as JSON (for scripts) or through `human`.
fn emit(output: Output, value: &Value, human: impl FnOnce(&Value)) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        ),
        Output::Table => human(value),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(s).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// A webhook's id, from its id or its name.
pub async fn resolve_webhook(c: &ApiClient, webhook: &str) -> Result<Value, CliError> {
    if webhook.starts_with("whk_") {
        return c
            .get(&format!("/api/v1/webhooks/{}", segment(webhook)))
            .await;
    }
    let list = c.get("/api/v1/webhooks").await?;
    let matches: Vec<&Value> = list["items"]
        .as_array()
        .map(|items| items.iter().filter(|w| w["name"] == webhook).collect())
        .unwrap_or_default();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError {
            code: 1,
            message: format!("no webhook with id or name `{webhook}`"),
        }),
        _ => Err(CliError::usage(format!(
            "several webhooks are named `{webhook}`; use the id"
        ))),
    }
}

/// The platform's setup text with this webhook's URL and secret filled in.
pub fn setup_snippet(platform: &str, intake_url: &str, secret: Option<&str>) -> Option<String> {
    let p = alertgate_core::platforms::get(platform)?;
    let mut text = p.setup.replace("<intake URL>", intake_url);
    if let Some(secret) = secret {
        text = text.replace("<secret>", secret);
    }
    Some(text)
}

fn print_webhook(w: &Value) {
    let mut t = Table::new(["field", "value"]);
    for key in [
        "id",
        "name",
        "platform",
        "enabled",
        "intake_url",
        "secret_hint",
        "active_secrets",
        "default_severity",
        "dedup_window_hours",
        "rate_limit_per_hour",
        "created_at",
    ] {
        t.row([key.to_string(), s(&w[key])]);
    }
    t.row(["auth".to_string(), s(&w["auth"]["type"])]);
    t.print();
}

fn print_revealed(w: &Value, verb: &str) {
    let url = s(&w["intake_url"]);
    let secret = w["secret"].as_str();
    println!("{verb} webhook {} ({})", s(&w["id"]), s(&w["name"]));
    println!();
    println!("Intake URL:  {url}");
    match secret {
        Some(secret) => {
            println!("Secret:      {secret}");
            println!("             (shown only this once; store it now)");
        }
        None => println!("Secret:      none (this platform's authentication needs no secret)"),
    }
    println!("Auth:        {}", s(&w["auth"]["type"]));
    if let Some(setup) = setup_snippet(&s(&w["platform"]), &url, secret) {
        println!();
        println!("Setup on the {} side:", s(&w["platform"]));
        println!();
        for line in setup.lines() {
            println!("    {line}");
        }
    }
}

pub async fn webhook(conn: &Connection, cmd: WebhookCommand) -> Result<(), CliError> {
    let c = conn.client()?;
    match cmd {
        WebhookCommand::Create {
            platform,
            name,
            description,
            rate_limit,
        } => {
            let mut body = json!({ "platform": platform, "name": name });
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            if let Some(r) = rate_limit {
                body["rate_limit_per_hour"] = json!(r);
            }
            let w = c.post("/api/v1/webhooks", &body).await?;
            emit(conn.output, &w, |w| print_revealed(w, "Created"));
        }
        WebhookCommand::List => {
            let list = c.get("/api/v1/webhooks").await?;
            emit(conn.output, &list, |list| {
                let mut t = Table::new(["ID", "NAME", "PLATFORM", "ENABLED", "AUTH", "INTAKE URL"]);
                for w in list["items"].as_array().into_iter().flatten() {
                    t.row([
                        s(&w["id"]),
                        s(&w["name"]),
                        s(&w["platform"]),
                        s(&w["enabled"]),
                        s(&w["auth"]["type"]),
                        s(&w["intake_url"]),
                    ]);
                }
                t.print();
            });
        }
        WebhookCommand::Show { webhook } => {
            let w = resolve_webhook(&c, &webhook).await?;
            emit(conn.output, &w, print_webhook);
        }
        WebhookCommand::Delete { webhook } => {
            let w = resolve_webhook(&c, &webhook).await?;
            let id = s(&w["id"]);
            c.delete(&format!("/api/v1/webhooks/{}", segment(&id)))
                .await?;
            emit(conn.output, &json!({ "deleted": id }), |_| {
                println!("Deleted webhook {id} ({})", s(&w["name"]))
            });
        }
        WebhookCommand::RotateSecret {
            webhook,
            revoke_previous,
        } => {
            let w = resolve_webhook(&c, &webhook).await?;
            let id = s(&w["id"]);
            let out = c
                .post(
                    &format!("/api/v1/webhooks/{}/rotate-secret", segment(&id)),
                    &json!({ "revoke_previous": revoke_previous }),
                )
                .await?;
            emit(conn.output, &out, |w| {
                print_revealed(w, "Rotated the secret of")
            });
        }
    }
    Ok(())
}

fn incident_row(i: &Value) -> [String; 6] {
    [
        s(&i["id"]),
        s(&i["status"]),
        s(&i["severity"]),
        s(&i["alert_count"]),
        s(&i["last_alert_at"]),
        s(&i["title"]).chars().take(60).collect(),
    ]
}

pub async fn incidents(conn: &Connection, cmd: IncidentCommand) -> Result<(), CliError> {
    let c = conn.client()?;
    match cmd {
        IncidentCommand::List { status, limit } => {
            let mut path = format!("/api/v1/incidents?limit={limit}");
            if let Some(st) = status {
                path.push_str(&format!("&status={}", segment(&st)));
            }
            let page = c.get(&path).await?;
            emit(conn.output, &page, |page| {
                let mut t =
                    Table::new(["ID", "STATUS", "SEVERITY", "ALERTS", "LAST ALERT", "TITLE"]);
                for i in page["items"].as_array().into_iter().flatten() {
                    t.row(incident_row(i));
                }
                t.print();
            });
        }
        IncidentCommand::Show { incident } => {
            let i = c
                .get(&format!("/api/v1/incidents/{}", segment(&incident)))
                .await?;
            emit(conn.output, &i, |i| {
                let mut t = Table::new(["field", "value"]);
                for key in [
                    "id",
                    "title",
                    "status",
                    "severity",
                    "platform",
                    "webhook_id",
                    "services",
                    "alert_count",
                    "occurrence_count",
                    "created_at",
                    "acknowledged_at",
                    "resolved_at",
                ] {
                    t.row([key.to_string(), s(&i[key])]);
                }
                t.print();
                println!();
                let mut alerts = Table::new(["ALERT", "STATUS", "SEVERITY", "DECISION", "TITLE"]);
                for a in i["alerts"].as_array().into_iter().flatten() {
                    alerts.row([
                        s(&a["id"]),
                        s(&a["status"]),
                        s(&a["severity"]),
                        s(&a["decision"]["kind"]),
                        s(&a["title"]).chars().take(60).collect(),
                    ]);
                }
                alerts.print();
            });
        }
        IncidentCommand::Ack { incident } => act(&c, conn, &incident, "acknowledge").await?,
        IncidentCommand::Resolve { incident } => act(&c, conn, &incident, "resolve").await?,
    }
    Ok(())
}

async fn act(
    c: &ApiClient,
    conn: &Connection,
    incident: &str,
    action: &str,
) -> Result<(), CliError> {
    let i = c
        .post(
            &format!("/api/v1/incidents/{}/{action}", segment(incident)),
            &json!({}),
        )
        .await?;
    emit(conn.output, &i, |i| {
        println!("Incident {} is {}", s(&i["id"]), s(&i["status"]))
    });
    Ok(())
}
