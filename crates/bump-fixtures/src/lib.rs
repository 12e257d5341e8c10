/*!
Named loaders for test data. Tests and benches reach `fixtures/` and the
optional shared recordings only through these functions, so paths live in
one place.

The shared recordings (real drives by other people) are never committed to
the project; every loader for them returns `None` when they are absent so
that tests can skip with a message.
*/

use std::path::{Path, PathBuf};

/// The workspace root.
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `fixtures/` under the workspace root.
#[must_use]
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("fixtures")
}

/// A file or folder under `fixtures/`.
#[must_use]
pub fn fixture(rel: &str) -> PathBuf {
    fixtures_dir().join(rel)
}

/// The shared recordings folder, from `STREETBUMP_SHARED_DATA` or the
/// `shared/data` folder beside the workspace, when it exists.
#[must_use]
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("STREETBUMP_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"));
    dir.is_dir().then_some(dir)
}

/// A sub-folder of the shared recordings, when present.
#[must_use]
pub fn shared(rel: &str) -> Option<PathBuf> {
    shared_data().map(|d| d.join(rel)).filter(|p| p.exists())
}

/// The shared Open311 reference folder (spec-shaped payloads, real servers'
/// fixtures, quirks), from `STREETBUMP_SHARED_OPEN311` or the `shared/open311`
/// folder beside the workspace, when it exists.
#[must_use]
pub fn shared_open311() -> Option<PathBuf> {
    let dir = std::env::var_os("STREETBUMP_SHARED_OPEN311")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/open311"));
    dir.is_dir().then_some(dir)
}

/// Whether the real services (Kafka broker, PostgreSQL) are required: set
/// by `.ci/run` once `scripts/start-services.sh` started them, so that a
/// test that cannot reach them fails instead of skipping.
#[must_use]
pub fn services_required() -> bool {
    std::env::var("STREETBUMP_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn service(var: &str, what: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                !services_required(),
                "{test}: {var} is not set but STREETBUMP_REQUIRE_SERVICES=1"
            );
            eprintln!("skipped {test}: no {what} ({var} unset; `eval \"$(scripts/start-services.sh)\"` starts one)");
            None
        }
    }
}

/// The Kafka bootstrap address of the test broker, or `None` (with a
/// message) to skip.
#[must_use]
pub fn kafka_bootstrap(test: &str) -> Option<String> {
    service("STREETBUMP_TEST_KAFKA", "Kafka broker", test)
}

/// A fresh, empty PostgreSQL database on the test server (named after the
/// test and the process), as a URL; `None` (with a message) to skip.
///
/// # Panics
///
/// When the server is configured but cannot create the database.
pub async fn fresh_postgres(test: &str) -> Option<String> {
    use sqlx::Connection;
    let url = service("STREETBUMP_TEST_PG_URL", "PostgreSQL", test)?;
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("t_{clean}_{}_{n}_{nanos}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{test}: cannot connect to {url}: {e}"));
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{test}: cannot create database {name}: {e}"));
    let _ = conn.close().await;
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}
