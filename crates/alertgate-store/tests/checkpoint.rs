//! The embedded database's WAL under the background checkpointer: bounded while writes never
//! pause (when a `PASSIVE` checkpoint alone would never let it start over), and emptied once
//! they stop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use alertgate_core::correlation::CompiledCorrelation;
use alertgate_core::ids::{DeliveryId, WebhookId, WorkspaceId};
use alertgate_core::webhook::DedupWindow;
use alertgate_core::{AlertStatus, NormalizedAlert, Severity, Timestamp};
use alertgate_store::crypto::SecretCipher;
use alertgate_store::sqlite::{CheckpointSettings, Checkpoints, SqliteOptions, SqliteStore};
use alertgate_store::{ColumnForm, IngestItem, NewDelivery, Store, WebhookContext};

fn item(ctx: &WebhookContext, now: Timestamp, n: u64) -> IngestItem {
    IngestItem::new(
        ctx.clone(),
        NewDelivery {
            id: DeliveryId::generate(now, rand::random()),
            received_at: now,
            source_addr: None,
            method: "POST".into(),
            headers: Vec::new(),
            body: "x".repeat(500),
            error: None,
            extracted: None,
            warnings: Vec::new(),
            latency_us: 1,
        },
        vec![NormalizedAlert {
            title: format!("alert {n}"),
            description: Some("y".repeat(500)),
            severity: Severity::High,
            raw_severity: None,
            services: vec!["api".into()],
            status: AlertStatus::Firing,
            dedup_key: format!("key-{n}"),
            dedup_key_custom: true,
            source_url: None,
            payload: json!({"n": n}),
        }],
        ColumnForm::Packed,
    )
    .unwrap()
}

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_sustained_writes_and_is_emptied_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let wal = dir.path().join("alertgate.db-wal");
    let settings = CheckpointSettings {
        tick: Duration::from_millis(20),
        // About 0.8 MiB of frames.
        restart_frames: 200,
        idle_after: Duration::from_millis(300),
        max_wal_frames: 100_000,
    };
    let store = SqliteStore::open_with(
        &db,
        SecretCipher::new(&[3; 32]),
        SqliteOptions {
            checkpoints: Checkpoints::Background,
            checkpoint_settings: settings,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    let off = Arc::new(CompiledCorrelation::off());
    let ctx = WebhookContext {
        id: WebhookId::new(Timestamp::from_millis(0), 1),
        workspace_id: WorkspaceId::DEFAULT,
        platform: "generic",
        dedup_window: DedupWindow::DEFAULT,
        correlation: off.clone(),
        workspace_correlation: off,
    };
    // Commit back to back, with no pause in which a checkpoint could finish on its own, until
    // 16 MiB more are in the database file.
    let start_db = size(&db);
    let started = Instant::now();
    let (mut n, mut wal_max) = (0u64, 0u64);
    while size(&db) < start_db + 16 * 1024 * 1024 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "16 MiB not written in 2 minutes"
        );
        let now = Timestamp::from_millis(1_800_000_000_000 + n as i64);
        let batch = (n..n + 20).map(|i| item(&ctx, now, i)).collect();
        n += 20;
        store.ingest(batch, now).await.unwrap();
        wal_max = wal_max.max(size(&wal));
    }
    println!(
        "{n} alerts, database grew {} MiB, WAL at most {} KiB",
        (size(&db) - start_db) >> 20,
        wal_max >> 10
    );
    assert!(
        wal_max < 4 * 1024 * 1024,
        "the WAL grew to {wal_max} bytes while 16 MiB were written"
    );
    // Idle: the WAL is emptied.
    let idle = Instant::now();
    while size(&wal) > 0 {
        assert!(
            idle.elapsed() < Duration::from_secs(10),
            "the WAL was not emptied after writes stopped ({} bytes)",
            size(&wal)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Everything committed is there.
    let page = store
        .list_incidents(&alertgate_store::IncidentQuery {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items[0].title, format!("alert {}", n - 1));
}
