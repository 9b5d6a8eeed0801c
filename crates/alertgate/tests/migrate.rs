//! `alertgate migrate` prepares either engine's schema and exits, without a secret key.

use std::process::Command;

fn migrate(envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alertgate"));
    cmd.arg("migrate").env_remove("ALERTGATE_SECRET_KEY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run alertgate migrate")
}

#[test]
fn migrate_creates_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate(&[("ALERTGATE_DATA_DIR", dir.path().to_str().unwrap())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    assert!(dir.path().join("alertgate.db").exists());
    assert!(
        !dir.path().join("secret.key").exists(),
        "no key is needed to migrate"
    );
}

#[tokio::test]
async fn migrate_prepares_a_postgres_database_twice_without_harm() {
    let Some(admin) = alertgate_testdb::postgres_url_or_skip("migrate_postgres") else {
        return;
    };
    let db = alertgate_testdb::TestDatabase::create(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = migrate(&[
            ("ALERTGATE_DATA_DIR", dir.path().to_str().unwrap()),
            ("ALERTGATE_DATABASE_URL", &db.url),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let versions: i64 = client
        .query_one("SELECT COUNT(*) FROM alertgate_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, 1);
    let secret_checks: i64 = client
        .query_one("SELECT COUNT(*) FROM settings", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(secret_checks, 0, "migrate stores nothing but the schema");
}
