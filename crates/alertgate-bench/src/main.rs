//! `alertgate-bench`: what `bench/run.sh` drives.
//!
//! - `baseline`: the bare HTTP server alertgate is compared with: it reads the body, parses it as
//!   JSON and answers 200 — no authentication, no storage. With `--durable FILE` it also makes
//!   each body durable before answering, the least any durable intake must do: one row per body in
//!   an SQLite table without indexes (WAL, `synchronous = FULL`), group-committed by one writer
//!   thread that takes everything waiting. Its rate is this machine's ceiling for durable intake.
//! - `load`: an HTTP load generator. Closed loop (`--connections` workers, each sending the next
//!   request when the last was answered) for peak throughput, or open loop (`--rate` requests per
//!   second on a fixed schedule, latency measured from the scheduled time so a slow server cannot
//!   hide its queueing) for latency at a given load. Bodies come from a template in which
//!   `{{n}}` is replaced by a request counter (distinct alerts) — without it every body is the
//!   same (repeats). Optional HMAC signing per request. Prints one JSON line of results.
//! - `seed`: fills a fresh embedded database with N incidents through the store's own group-commit
//!   ingest (the production write path minus HTTP), for the "with 1,000,000 incidents" runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The bare baseline server.
    Baseline {
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: String,
        /// Make every body durable in this SQLite file before answering.
        #[arg(long)]
        durable: Option<std::path::PathBuf>,
    },
    /// Drive load at a URL.
    Load(LoadArgs),
    /// Seed an embedded database with incidents.
    Seed(SeedArgs),
}

#[derive(clap::Args, Clone)]
struct LoadArgs {
    #[arg(long)]
    url: String,
    /// File with the body template (`{{n}}` = request number).
    #[arg(long)]
    body: std::path::PathBuf,
    /// Extra header, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Sign each body with HMAC-SHA256 under this secret…
    #[arg(long)]
    hmac_secret: Option<String>,
    /// …into this header…
    #[arg(long, default_value = "X-PagerDuty-Signature")]
    hmac_header: String,
    /// …after this prefix.
    #[arg(long, default_value = "v1=")]
    hmac_prefix: String,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Open loop: this many requests per second, on a fixed schedule.
    #[arg(long)]
    rate: Option<f64>,
    /// First request number (so runs do not repeat each other's alerts).
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Also write one line per request here: when it was (to be) sent, in Unix milliseconds, its
    /// latency in milliseconds and its status (0 = no answer).
    #[arg(long)]
    samples: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct SeedArgs {
    /// The data directory of the alertgate to seed (it must not be running).
    #[arg(long)]
    data_dir: std::path::PathBuf,
    #[arg(long, default_value_t = 1_000_000)]
    incidents: u64,
    /// Webhook id the incidents belong to (create the webhook first through the API).
    #[arg(long)]
    webhook: String,
    /// How long ago the incidents arrived (1 day by default: inside every retention period, so
    /// nothing seeded is purged while a benchmark runs).
    #[arg(long, default_value_t = 1.0)]
    days_ago: f64,
    /// Resolve each incident right after it opened (its alert is sent again as resolved), so
    /// the incidents are what resolved-incident retention deletes.
    #[arg(long)]
    resolved: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Baseline { listen, durable } => match durable {
            None => baseline(&listen).await,
            Some(path) => durable_baseline(&listen, &path).await,
        },
        Command::Load(args) => load(args).await,
        Command::Seed(args) => seed(args).await,
    }
}

async fn baseline(listen: &str) -> anyhow::Result<()> {
    async fn handle(body: Bytes) -> (axum::http::StatusCode, &'static str) {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => (axum::http::StatusCode::OK, "{\"ok\":true}"),
            Err(_) => (axum::http::StatusCode::BAD_REQUEST, "{\"ok\":false}"),
        }
    }
    let app = axum::Router::new().fallback(axum::routing::post(handle));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

type DurableJob = (Bytes, tokio::sync::oneshot::Sender<bool>);

async fn durable_baseline(listen: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
    )?;
    let (tx, rx) = std::sync::mpsc::channel::<DurableJob>();
    std::thread::spawn(move || {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter());
            let stored = (|| -> rusqlite::Result<()> {
                let t = conn.transaction()?;
                {
                    let mut insert = t.prepare_cached("INSERT INTO bodies (body) VALUES (?1)")?;
                    for (body, _) in &batch {
                        insert.execute([&body[..]])?;
                    }
                }
                t.commit()
            })()
            .is_ok();
            for (_, reply) in batch {
                let _ = reply.send(stored);
            }
        }
    });
    let handle = move |body: Bytes| {
        let tx = tx.clone();
        async move {
            if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
                return (axum::http::StatusCode::BAD_REQUEST, "{\"ok\":false}");
            }
            let (reply, stored) = tokio::sync::oneshot::channel();
            if tx.send((body, reply)).is_err() || stored.await != Ok(true) {
                return (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "{\"ok\":false}",
                );
            }
            (axum::http::StatusCode::OK, "{\"ok\":true}")
        }
    };
    let app = axum::Router::new().fallback(axum::routing::post(handle));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "durable baseline listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

struct Template {
    parts: Vec<String>,
}

impl Template {
    fn new(text: &str) -> Self {
        Self {
            parts: text.split("{{n}}").map(str::to_string).collect(),
        }
    }

    fn render(&self, n: u64) -> Vec<u8> {
        let mut out = String::with_capacity(self.parts.iter().map(String::len).sum::<usize>() + 20);
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push_str(&n.to_string());
            }
            out.push_str(p);
        }
        out.into_bytes()
    }
}

struct Shared {
    args: LoadArgs,
    template: Template,
    headers: Vec<(String, String)>,
    counter: AtomicU64,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Shared {
    async fn send(&self) -> Result<u16, String> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let body = self.template.render(n);
        let mut req =
            hyper::Request::post(&self.args.url).header("content-type", "application/json");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(secret) = &self.args.hmac_secret {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
                .map_err(|e| e.to_string())?;
            mac.update(&body);
            let sig = hex::encode(mac.finalize().into_bytes());
            req = req.header(
                self.args.hmac_header.as_str(),
                format!("{}{sig}", self.args.hmac_prefix),
            );
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        resp.into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(status)
    }
}

#[derive(Default)]
struct Tally {
    hist: Option<hdrhistogram::Histogram<u64>>,
    statuses: std::collections::BTreeMap<u16, u64>,
    errors: u64,
    /// (sent at, Unix ms; latency, µs; status or 0), when `--samples` asked for them.
    samples: Option<Vec<(u64, u64, u16)>>,
}

impl Tally {
    fn new(samples: bool) -> Self {
        Self {
            hist: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).ok(),
            samples: samples.then(Vec::new),
            ..Default::default()
        }
    }

    fn record(&mut self, sent: SystemTime, latency: Duration, result: Result<u16, String>) {
        if let Some(samples) = &mut self.samples {
            let at = sent.duration_since(UNIX_EPOCH).unwrap_or_default();
            let status = *result.as_ref().unwrap_or(&0);
            samples.push((at.as_millis() as u64, latency.as_micros() as u64, status));
        }
        match result {
            Ok(s) => *self.statuses.entry(s).or_default() += 1,
            Err(_) => self.errors += 1,
        }
        if let Some(h) = &mut self.hist {
            let _ = h.record((latency.as_micros() as u64).max(1));
        }
    }

    fn merge(&mut self, other: Tally) {
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.errors += other.errors;
        if let (Some(a), Some(b)) = (&mut self.samples, other.samples) {
            a.extend(b);
        }
        if let (Some(a), Some(b)) = (&mut self.hist, &other.hist) {
            let _ = a.add(b);
        }
    }
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(&args.body).with_context(|| format!("{}", args.body.display()))?;
    let headers = args
        .headers
        .iter()
        .filter_map(|h| {
            h.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.connections * 2)
        .build_http();
    let shared = Arc::new(Shared {
        template: Template::new(&text),
        headers,
        counter: AtomicU64::new(args.start),
        client,
        args: args.clone(),
    });
    let duration = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let sampling = args.samples.is_some();
    // Wall-clock time of `started`, for the samples.
    let epoch = SystemTime::now();
    let mut total = Tally::new(sampling);
    match args.rate {
        None => {
            let mut workers = Vec::new();
            for _ in 0..args.connections {
                let shared = shared.clone();
                workers.push(tokio::spawn(async move {
                    let mut t = Tally::new(sampling);
                    while started.elapsed() < duration {
                        let t0 = Instant::now();
                        let r = shared.send().await;
                        t.record(epoch + t0.duration_since(started), t0.elapsed(), r);
                    }
                    t
                }));
            }
            for w in workers {
                total.merge(w.await?);
            }
        }
        Some(rate) => {
            let interval = Duration::from_secs_f64(1.0 / rate);
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let mut i: u64 = 0;
            loop {
                let scheduled = started + interval.mul_f64(i as f64);
                if scheduled.duration_since(started) >= duration {
                    break;
                }
                tokio::time::sleep_until(scheduled.into()).await;
                let (shared, tx) = (shared.clone(), tx.clone());
                tokio::spawn(async move {
                    let r = shared.send().await;
                    // From the scheduled time: queueing in the server counts.
                    let _ = tx.send((scheduled, scheduled.elapsed(), r));
                });
                i += 1;
            }
            drop(tx);
            while let Some((at, lat, r)) = rx.recv().await {
                total.record(epoch + at.duration_since(started), lat, r);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let (Some(path), Some(samples)) = (&args.samples, &mut total.samples) {
        samples.sort_unstable();
        let mut out = String::with_capacity(samples.len() * 24);
        for (at, us, status) in samples.iter() {
            out.push_str(&format!("{at} {:.3} {status}\n", *us as f64 / 1000.0));
        }
        std::fs::write(path, out).with_context(|| format!("{}", path.display()))?;
    }
    let n: u64 = total.statuses.values().sum::<u64>() + total.errors;
    let ok: u64 = total
        .statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, v)| v)
        .sum();
    let q = |p: f64| {
        total
            .hist
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(p) as f64 / 1000.0)
    };
    let out = serde_json::json!({
        "requests": n, "ok": ok, "errors": total.errors,
        "statuses": total.statuses.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect::<serde_json::Map<_, _>>(),
        "seconds": elapsed, "rps": n as f64 / elapsed, "ok_rps": ok as f64 / elapsed,
        "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1.0),
    });
    println!("{out}");
    Ok(())
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    use alertgate_core::correlation::CompiledCorrelation;
    use alertgate_core::ids::{DeliveryId, WebhookId, WorkspaceId};
    use alertgate_core::webhook::DedupWindow;
    use alertgate_core::{AlertStatus, NormalizedAlert, Severity, Timestamp};
    use alertgate_store::{IngestItem, NewDelivery, Store, WebhookContext};

    let key =
        std::fs::read_to_string(args.data_dir.join("secret.key")).context("reading secret.key")?;
    let cipher =
        alertgate_store::crypto::SecretCipher::from_base64(&key).map_err(|e| anyhow::anyhow!(e))?;
    let store =
        alertgate_store::sqlite::SqliteStore::open(&args.data_dir.join("alertgate.db"), cipher)?;
    let webhook: WebhookId = args.webhook.parse()?;
    let off = Arc::new(CompiledCorrelation::off());
    let ctx = WebhookContext {
        id: webhook,
        workspace_id: WorkspaceId::DEFAULT,
        platform: "generic",
        dedup_window: DedupWindow::DEFAULT,
        correlation: off.clone(),
        workspace_correlation: off,
    };
    // About 1 KB, like the load's generic alert: text that compresses as a real description does.
    let body = serde_json::json!({
        "title": "High CPU on a seeded host",
        "description": format!("CPU usage exceeded 90% for 5 minutes. {}", pad_text(700)),
        "severity": "high",
        "service": "seed",
    });
    let body_text = body.to_string();
    let started = Instant::now();
    let batch = 5_000u64;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let base = now_ms - (args.days_ago * 86_400_000.0) as i64;
    let mut done = 0u64;
    while done < args.incidents {
        let now = Timestamp::from_millis(base + done as i64);
        let end = (done + batch).min(args.incidents);
        let item = |i: u64, status: AlertStatus| {
            IngestItem::new(
                ctx.clone(),
                NewDelivery {
                    id: DeliveryId::generate(now, rand::random()),
                    received_at: now,
                    source_addr: Some("127.0.0.1".into()),
                    method: "POST".into(),
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: body_text.clone(),
                    error: None,
                    extracted: None,
                    warnings: Vec::new(),
                    latency_us: 100,
                },
                vec![NormalizedAlert {
                    title: format!("seeded alert {i}"),
                    description: Some("seeded for benchmarks".into()),
                    severity: Severity::High,
                    raw_severity: None,
                    services: vec!["seed".into()],
                    status,
                    dedup_key: format!("seed-{i}"),
                    dedup_key_custom: true,
                    source_url: None,
                    payload: body.clone(),
                }],
                store.column_form(),
            )
        };
        // Each incident opened, then (with --resolved) resolved by its source.
        let statuses: &[AlertStatus] = if args.resolved {
            &[AlertStatus::Firing, AlertStatus::Resolved]
        } else {
            &[AlertStatus::Firing]
        };
        for &status in statuses {
            let items = (done..end)
                .map(|i| item(i, status))
                .collect::<Result<_, _>>()?;
            store.ingest(items, now).await?;
        }
        done = end;
    }
    println!(
        "{}",
        serde_json::json!({"seeded": done, "seconds": started.elapsed().as_secs_f64()})
    );
    Ok(())
}

/// `len` characters of alert-like text (the words of bench/run.py's PAD, in the same order).
fn pad_text(len: usize) -> String {
    const WORDS: &[&str] = &[
        "cpu",
        "memory",
        "disk",
        "latency",
        "p99",
        "timeout",
        "upstream",
        "pod",
        "node",
        "restart",
        "queue",
        "backlog",
        "error",
        "rate",
        "replica",
        "lag",
        "checkout",
        "api",
        "gateway",
        "503",
        "retry",
        "budget",
        "exceeded",
        "threshold",
        "for",
        "5m",
        "on",
        "eu-west-1",
        "runbook",
        "https://runbooks.example.com/",
        "owner",
        "team-payments",
        "since",
        "deploy",
        "v2.41.7",
        "canary",
    ];
    let n = WORDS.len() as u64;
    let mut text = (0..110u64)
        .map(|i| WORDS[((i * 7919 + i * i * 104_729) % n) as usize])
        .collect::<Vec<_>>()
        .join(" ");
    text.truncate(len);
    text
}
