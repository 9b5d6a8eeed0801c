//! For tests only: which engines a suite runs on, and a fresh PostgreSQL database per test.
//!
//! - `ALERTGATE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test` runs the suites that
//!   work on any engine (the HTTP integration suite) on PostgreSQL instead of SQLite.
//! - `ALERTGATE_TEST_POSTGRES_URL` (or, failing it, `ALERTGATE_TEST_DATABASE_URL`) is the server
//!   for the tests that always need PostgreSQL: the PostgreSQL half of the conformance suite and
//!   the several-nodes tests. Without either they say they are skipped — unless
//!   `ALERTGATE_TEST_REQUIRE_ALL` is set (CI), where they fail: nothing is skipped silently.
//!
//! The database in the URL is only used to create and drop others: every test gets a database of
//! its own (`agtest_<unix seconds>_<random>`), dropped when the test's [`TestDatabase`] is
//! dropped. Databases left by a killed run are dropped by the next run once they are an hour old.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::NoTls;

pub const ENGINE_VAR: &str = "ALERTGATE_TEST_DATABASE_URL";
pub const URL_VAR: &str = "ALERTGATE_TEST_POSTGRES_URL";
const PREFIX: &str = "agtest_";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|u| !u.trim().is_empty())
}

/// The engine for engine-independent suites: `Some(postgres URL)`, or `None` for SQLite.
pub fn engine_url() -> Option<String> {
    var(ENGINE_VAR)
}

/// The PostgreSQL server for tests that need one, if one is configured.
pub fn postgres_url() -> Option<String> {
    var(URL_VAR).or_else(engine_url)
}

/// The PostgreSQL server to test against, or `None` after saying the test is skipped. Panics when
/// every suite is required (CI) and none is configured.
pub fn postgres_url_or_skip(test: &str) -> Option<String> {
    match postgres_url() {
        Some(url) => Some(url),
        None if std::env::var_os("ALERTGATE_TEST_REQUIRE_ALL").is_some() => {
            panic!("{test} needs PostgreSQL: set {URL_VAR} (ALERTGATE_TEST_REQUIRE_ALL is set)")
        }
        None => {
            eprintln!("skipped {test}: set {URL_VAR} to run it against PostgreSQL");
            None
        }
    }
}

/// `url` naming database `db` instead of its own.
pub fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, query) = match rest.find(['/', '?']) {
        Some(i) => {
            let (a, tail) = rest.split_at(i);
            let q = tail.find('?').map_or("", |j| &tail[j..]);
            (a, q)
        }
        None => (rest, ""),
    };
    format!("{scheme}://{authority}/{db}{query}")
}

/// A database of one test's own, dropped with this value.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    pub name: String,
    admin_url: String,
}

static SWEPT: AtomicBool = AtomicBool::new(false);

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server at {URL_VAR}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl TestDatabase {
    /// Create a fresh, empty database on the server `admin_url` points at.
    pub async fn create(admin_url: &str) -> TestDatabase {
        let client = admin(admin_url).await;
        if !SWEPT.swap(true, Ordering::SeqCst) {
            sweep_stale(&client).await;
        }
        let name = format!("{PREFIX}{}_{:016x}", unix_secs(), rand::random::<u64>());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        TestDatabase {
            url: with_database(admin_url, &name),
            name,
            admin_url: admin_url.to_string(),
        }
    }
}

/// Drop test databases older than an hour (left by runs that were killed).
async fn sweep_stale(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'agtest\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    let now = unix_secs();
    for row in rows {
        let name: String = row.get(0);
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|t| t + 3600 < now) {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside a runtime that cannot block: use a thread with its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin_url, NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = dropped.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
