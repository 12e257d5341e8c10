/*!
The embedded durable store: one SQLite database in the data directory.

- WAL journal with `synchronous = FULL`: a call that returned has reached
  the disk, so an acknowledged change survives `kill -9` and power loss.
- Versioned migrations embedded in the binary ([`MIGRATIONS`]), applied in
  order at open inside a transaction each, recorded in `schema_migrations`;
  a database written by a newer version is refused rather than damaged.
- [`Store`] implements [`bump_filing::Outbox`] (the filing outbox), keeps
  reviewers' decisions and an audit log of who did what.

Times are stored as RFC 3339 text in UTC, which sorts as time does.
Write transactions begin `IMMEDIATE`: a transaction that reads and then
writes would otherwise fail with "database is locked" instead of waiting
for the busy timeout when another connection writes.
*/

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Connection, Row, Transaction};

use bump_filing::{Filing, FilingState, NewFiling, Outbox, StoreError};

/// The database file in the data directory.
pub const DB_FILE: &str = "streetbump.db";

/// Migrations: version, name, SQLite text, PostgreSQL text. Append only;
/// never edit a released one.
pub const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "filings",
        include_str!("../migrations/sqlite/0001_filings.sql"),
        include_str!("../migrations/postgres/0001_filings.sql"),
    ),
    (
        2,
        "serve",
        include_str!("../migrations/sqlite/0002_serve.sql"),
        include_str!("../migrations/postgres/0002_serve.sql"),
    ),
    (
        3,
        "coverage_cell",
        include_str!("../migrations/sqlite/0003_coverage_cell.sql"),
        include_str!("../migrations/postgres/0003_coverage_cell.sql"),
    ),
    (
        4,
        "regions",
        include_str!("../migrations/sqlite/0004_regions.sql"),
        include_str!("../migrations/postgres/0004_regions.sql"),
    ),
    (
        5,
        "coverage_blocks",
        include_str!("../migrations/sqlite/0005_coverage_blocks.sql"),
        include_str!("../migrations/postgres/0005_coverage_blocks.sql"),
    ),
    (
        6,
        "batch_bodies",
        include_str!("../migrations/sqlite/0006_batch_bodies.sql"),
        include_str!("../migrations/postgres/0006_batch_bodies.sql"),
    ),
    (
        7,
        "coverage_passes",
        include_str!("../migrations/sqlite/0007_coverage_passes.sql"),
        include_str!("../migrations/postgres/0007_coverage_passes.sql"),
    ),
];

/// A query text written with `?` placeholders, numbered `$1, $2, …` once
/// per call site: both SQLite and PostgreSQL read numbered placeholders,
/// so one text serves both.
macro_rules! q {
    ($s:literal) => {{
        static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        S.get_or_init(|| $crate::numbered($s)).as_str()
    }};
}

mod coverage;
mod regions;
mod serve;
pub use regions::{RegionEvidence, TripEvidence};
pub use serve::{BatchPut, NewBatch, StoredBump};

/// `?` placeholders numbered `$1, $2, …`.
#[must_use]
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A query being built, its arguments bound as it goes.
pub(crate) type AnyQuery<'a> = sqlx::query::Query<'a, Any, sqlx::any::AnyArguments<'a>>;

impl Store {
    /// Inserts `rows`, `per_statement` a statement: `head VALUES (…), …
    /// tail` with `cols` columns, `bind` binding one row's values in order
    /// (values from outside the rows are bound owned). Few statements keep
    /// a transaction, and so the writer uploads wait for, short.
    pub(crate) async fn insert_many<T>(
        &self,
        tx: &mut Transaction<'static, Any>,
        (head, cols, tail): (&str, usize, &str),
        per_statement: usize,
        rows: &[T],
        bind: impl for<'a> Fn(AnyQuery<'a>, &'a T) -> AnyQuery<'a>,
    ) -> Result<(), Error> {
        for chunk in rows.chunks(per_statement.max(1)) {
            let sql = values_sql(head, chunk.len(), cols, tail);
            let mut query = sqlx::query(&sql);
            for r in chunk {
                query = bind(query, r);
            }
            query.execute(&mut **tx).await.map_err(|e| self.db(e))?;
        }
        Ok(())
    }
}

/// `head VALUES ($1, …), (…) tail` for `rows` rows of `cols` columns.
pub(crate) fn values_sql(head: &str, rows: usize, cols: usize, tail: &str) -> String {
    let mut s = String::with_capacity(head.len() + tail.len() + rows * cols * 6);
    s.push_str(head);
    s.push_str(" VALUES ");
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            n += 1;
            s.push('$');
            s.push_str(&n.to_string());
        }
        s.push(')');
    }
    s.push(' ');
    s.push_str(tail);
    s
}

/// `($1, $2, …)` for an `IN` list of `n` values starting at `$first`.
pub(crate) fn in_list(first: usize, n: usize) -> String {
    let items: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("({})", items.join(", "))
}

/// Which database holds the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file in the data directory: the embedded default.
    Sqlite,
    /// A PostgreSQL server shared by the processes of the Kafka runtime.
    Postgres,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// Directory.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The database URL is not one this program can use.
    #[error("database URL {url}: {why}")]
    Url {
        /// The URL, password removed.
        url: String,
        /// Why.
        why: String,
    },
    /// The database failed.
    #[error("database {location}: {source}")]
    Db {
        /// File or URL (password removed).
        location: String,
        /// sqlx error.
        source: sqlx::Error,
    },
    /// Written by a newer streetbump.
    #[error("database {location} has schema version {found}, newer than this program's {known}; upgrade streetbump")]
    TooNew {
        /// File or URL.
        location: String,
        /// Version found.
        found: i64,
        /// Latest version known.
        known: i64,
    },
    /// A value was refused before it was stored.
    #[error("database {location}: refused {what}")]
    Invalid {
        /// File or URL.
        location: String,
        /// What, and why.
        what: String,
    },
    /// A stored value could not be read.
    #[error("database {location}: {what}")]
    Corrupt {
        /// File or URL.
        location: String,
        /// What.
        what: String,
    },
}

/// A reviewer's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Cluster id.
    pub cluster_id: String,
    /// `confirm`, `dismiss`, `reclassify`, `known` or `fixed`.
    pub action: String,
    /// New class, for `reclassify`.
    pub value: Option<String>,
    /// Who.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub note: Option<String>,
}

/// The store: SQLite (embedded) or PostgreSQL (shared), one interface.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// One writer at a time inside the process (SQLite only): waiters queue
    /// here and start as soon as the lock is free, instead of sleeping in
    /// SQLite's busy handler (whose backoff reaches hundreds of
    /// milliseconds). PostgreSQL takes concurrent writers itself.
    write: Arc<tokio::sync::Mutex<()>>,
    /// How long write transactions took, by operation.
    writes: Arc<std::sync::Mutex<BTreeMap<&'static str, WriteTime>>>,
    location: String,
}

/// How long one kind of write transaction took, from holding the writer
/// (SQLite) or beginning (PostgreSQL) to the commit's return. On SQLite
/// every other write waits meanwhile, so this is what bounds an upload's
/// acknowledgement.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriteTime {
    /// Transactions.
    pub count: u64,
    /// Their total, seconds.
    pub seconds: f64,
    /// The longest, seconds.
    pub max_seconds: f64,
}

/// Held for a write transaction's life: the writer lock (SQLite) and the
/// clock that [`Store::write_times`] reports.
pub(crate) struct WriteHold {
    _lock: Option<tokio::sync::OwnedMutexGuard<()>>,
    op: &'static str,
    started: std::time::Instant,
    writes: Arc<std::sync::Mutex<BTreeMap<&'static str, WriteTime>>>,
}

impl Drop for WriteHold {
    fn drop(&mut self) {
        let s = self.started.elapsed().as_secs_f64();
        if let Ok(mut m) = self.writes.lock() {
            let w = m.entry(self.op).or_default();
            w.count += 1;
            w.seconds += s;
            w.max_seconds = w.max_seconds.max(s);
        }
    }
}

/// Held while a named lock is: another process asking for the same name
/// waits (PostgreSQL: a session advisory lock on a connection this guard
/// owns, released when it is dropped or the process dies).
#[derive(Debug)]
pub struct Exclusive {
    _local: tokio::sync::OwnedMutexGuard<()>,
    conn: Option<PoolConnection<Any>>,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        // Closing the connection releases the advisory lock; returning it
        // to the pool would keep the lock held by an idle connection.
        if let Some(mut c) = self.conn.take() {
            c.close_on_drop();
        }
    }
}

/// Stable 63-bit key of a lock name (FNV-1a), the same in every process.
fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::try_from(h >> 1).unwrap_or(0)
}

/// The URL with any password replaced.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens (creating when needed) the embedded SQLite store in
    /// `data_dir` and migrates it.
    ///
    /// # Errors
    ///
    /// [`Error`] when the directory or database cannot be created or opened,
    /// or the schema is newer than this program.
    pub async fn open(data_dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|source| Error::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        // Percent-encoded so that `?`, `#` or `%` in a directory name stay
        // part of the file name.
        let mut enc = String::new();
        for ch in path.to_string_lossy().chars() {
            match ch {
                '%' | '?' | '#' | ' ' => enc.push_str(&format!("%{:02X}", u32::from(ch))),
                c => enc.push(c),
            }
        }
        Self::connect_url(&format!("sqlite://{enc}?mode=rwc"), path.display().to_string()).await
    }

    /// Connects to the store a URL names: `postgres://…` (the shared store
    /// of the Kafka runtime) or `sqlite://FILE`; migrates it.
    ///
    /// # Errors
    ///
    /// [`Error`] when the URL is of another kind, the server cannot be
    /// reached, or the schema is newer than this program.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_url(url, redact(url)).await
    }

    async fn connect_url(url: &str, location: String) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(Error::Url {
                url: location,
                why: "expected postgres://… or sqlite://…".into(),
            });
        };
        let db = |source| Error::Db {
            location: location.clone(),
            source,
        };
        let opts = AnyConnectOptions::from_str(url).map_err(db)?;
        let pool = match backend {
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL with synchronous=FULL: a call that returned has
                        // reached the disk.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = FULL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 10000",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await
                .map_err(db)?,
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(std::time::Duration::from_secs(30))
                .connect_with(opts)
                .await
                .map_err(db)?,
        };
        let store = Self {
            pool,
            backend,
            write: Arc::new(tokio::sync::Mutex::new(())),
            writes: Arc::default(),
            location,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The file or URL (password removed).
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Begins a write transaction, `op` naming it in [`Store::write_times`].
    /// SQLite: `IMMEDIATE`, holding the writer lock, because a transaction
    /// that reads and then writes would otherwise fail with "database is
    /// locked" instead of waiting.
    pub(crate) async fn begin_write(
        &self,
        op: &'static str,
    ) -> Result<(WriteHold, Transaction<'static, Any>), sqlx::Error> {
        let lock = match self.backend {
            Backend::Sqlite => Some(Arc::clone(&self.write).lock_owned().await),
            Backend::Postgres => None,
        };
        let hold = WriteHold {
            _lock: lock,
            op,
            started: std::time::Instant::now(),
            writes: Arc::clone(&self.writes),
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok((hold, tx))
    }

    /// How long write transactions took so far in this process, by
    /// operation (`put_batches`, `commit_trip`, `save_clusters`, …).
    #[must_use]
    pub fn write_times(&self) -> BTreeMap<&'static str, WriteTime> {
        self.writes.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Takes the lock `name` for as long as the guard lives: inside this
    /// process always, and across processes on PostgreSQL (one filer round
    /// at a time however many filer processes run).
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn exclusive(&self, name: &str) -> Result<Exclusive, Error> {
        let local = Arc::clone(&self.write_named()).lock_owned().await;
        let conn = match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let mut c = self.pool.acquire().await.map_err(|e| self.db(e))?;
                sqlx::query(q!("SELECT pg_advisory_lock(?)"))
                    .bind(lock_key(name))
                    .execute(&mut *c)
                    .await
                    .map_err(|e| self.db(e))?;
                Some(c)
            }
        };
        Ok(Exclusive { _local: local, conn })
    }

    fn write_named(&self) -> Arc<tokio::sync::Mutex<()>> {
        static NAMED: std::sync::OnceLock<Arc<tokio::sync::Mutex<()>>> = std::sync::OnceLock::new();
        Arc::clone(NAMED.get_or_init(|| Arc::new(tokio::sync::Mutex::new(()))))
    }

    pub(crate) fn db(&self, source: sqlx::Error) -> Error {
        Error::Db {
            location: self.location.clone(),
            source,
        }
    }

    async fn migrate(&self) -> Result<(), Error> {
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        let create = match self.backend {
            Backend::Sqlite => {
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            }
            Backend::Postgres => {
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            }
        };
        // One transaction for all pending migrations; on PostgreSQL an
        // advisory lock makes processes starting together migrate once.
        let (_w, mut tx) = self.begin_write("migrate").await.map_err(|e| self.db(e))?;
        if self.backend == Backend::Postgres {
            sqlx::query(q!("SELECT pg_advisory_xact_lock(?)"))
                .bind(lock_key("streetbump.migrate"))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db(e))?;
        }
        sqlx::raw_sql(create).execute(&mut *tx).await.map_err(|e| self.db(e))?;
        let current: i64 = sqlx::query(q!("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations"))
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get("v"))
            .map_err(|e| self.db(e))?;
        if current > known {
            return Err(Error::TooNew {
                location: self.location.clone(),
                found: current,
                known,
            });
        }
        for (version, name, sqlite, postgres) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            let sql = match self.backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(|e| self.db(e))?;
            sqlx::query(q!(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
            ))
            .bind(version)
            .bind(*name)
            .bind(ts(Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db(e))?;
            if *version == coverage::BLOCKS_MIGRATION {
                self.move_coverage_to_blocks(&mut tx).await?;
            }
        }
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Checks the database answers.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn ping(&self) -> Result<(), Error> {
        let mut c = self.pool.acquire().await.map_err(|e| self.db(e))?;
        c.ping().await.map_err(|e| self.db(e))
    }

    /// The schema version.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn schema_version(&self) -> Result<i64, Error> {
        sqlx::query(q!("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations"))
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get("v"))
            .map_err(|e| self.db(e))
    }

    /// Records a reviewer's decision, and the same in the audit log, in
    /// one transaction.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn add_review(&self, r: &Review) -> Result<(), Error> {
        let (_w, mut tx) = self.begin_write("add_review").await.map_err(|e| self.db(e))?;
        sqlx::query(q!(
            "INSERT INTO reviews (cluster_id, action, value, actor, at, note) VALUES (?, ?, ?, ?, ?, ?)"
        ))
        .bind(&r.cluster_id)
        .bind(&r.action)
        .bind(&r.value)
        .bind(&r.actor)
        .bind(ts(r.at))
        .bind(&r.note)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.db(e))?;
        sqlx::query(q!(
            "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)"
        ))
        .bind(ts(r.at))
        .bind(&r.actor)
        .bind(format!("review.{}", r.action))
        .bind(&r.cluster_id)
        .bind(r.value.as_ref().or(r.note.as_ref()))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// The latest decision per cluster.
    ///
    /// # Errors
    ///
    /// [`Error`].
    pub async fn latest_reviews(&self) -> Result<Vec<Review>, Error> {
        let rows = sqlx::query(q!(
            "SELECT cluster_id, action, value, actor, at, note FROM reviews r
             WHERE id = (SELECT MAX(id) FROM reviews s WHERE s.cluster_id = r.cluster_id) ORDER BY cluster_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|r| {
                Ok(Review {
                    cluster_id: r.try_get("cluster_id").map_err(|e| self.db(e))?,
                    action: r.try_get("action").map_err(|e| self.db(e))?,
                    value: r.try_get("value").map_err(|e| self.db(e))?,
                    actor: r.try_get("actor").map_err(|e| self.db(e))?,
                    at: self.time(r.try_get::<String, _>("at").map_err(|e| self.db(e))?.as_str())?,
                    note: r.try_get("note").map_err(|e| self.db(e))?,
                })
            })
            .collect()
    }

    /// Appends to the audit log.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn audit(&self, actor: &str, action: &str, subject: &str, detail: Option<&str>) -> Result<(), Error> {
        sqlx::query(q!(
            "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)"
        ))
        .bind(ts(Utc::now()))
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(detail)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.db(e))
    }

    /// The audit log, oldest first: (at, actor, action, subject, detail).
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn audit_log(&self) -> Result<Vec<(String, String, String, String, Option<String>)>, Error> {
        let rows = sqlx::query(q!("SELECT at, actor, action, subject, detail FROM audit ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("at")?,
                    r.try_get("actor")?,
                    r.try_get("action")?,
                    r.try_get("subject")?,
                    r.try_get("detail")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }

    pub(crate) fn time(&self, s: &str) -> Result<DateTime<Utc>, Error> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| Error::Corrupt {
                location: self.location.clone(),
                what: format!("time {s:?}: {e}"),
            })
    }

    fn opt_time(&self, s: Option<String>) -> Result<Option<DateTime<Utc>>, Error> {
        s.map(|s| self.time(&s)).transpose()
    }

    fn filing(&self, r: &AnyRow) -> Result<Filing, Error> {
        let g = |e| self.db(e);
        let state: String = r.try_get("state").map_err(g)?;
        let attributes: String = r.try_get("attributes").map_err(g)?;
        Ok(Filing {
            id: r.try_get("id").map_err(g)?,
            marker: r.try_get("marker").map_err(g)?,
            cluster_id: r.try_get("cluster_id").map_err(g)?,
            class: r.try_get("class").map_err(g)?,
            lat: r.try_get("lat").map_err(g)?,
            lon: r.try_get("lon").map_err(g)?,
            jurisdiction_id: r.try_get("jurisdiction_id").map_err(g)?,
            service_code: r.try_get("service_code").map_err(g)?,
            attributes: serde_json::from_str(&attributes).map_err(|e| Error::Corrupt {
                location: self.location.clone(),
                what: format!("attributes {attributes:?}: {e}"),
            })?,
            description: r.try_get("description").map_err(g)?,
            generation: u32::try_from(r.try_get::<i64, _>("generation").map_err(g)?).unwrap_or(1),
            reopens: r.try_get("reopens").map_err(g)?,
            state: FilingState::parse(&state).ok_or_else(|| Error::Corrupt {
                location: self.location.clone(),
                what: format!("filing state {state:?}"),
            })?,
            service_request_id: r.try_get("service_request_id").map_err(g)?,
            token: r.try_get("token").map_err(g)?,
            attempts: u32::try_from(r.try_get::<i64, _>("attempts").map_err(g)?).unwrap_or(0),
            last_error: r.try_get("last_error").map_err(g)?,
            created_at: self.time(&r.try_get::<String, _>("created_at").map_err(g)?)?,
            posted_at: self.opt_time(r.try_get("posted_at").map_err(g)?)?,
            updated_at: self.time(&r.try_get::<String, _>("updated_at").map_err(g)?)?,
            next_attempt_at: self.opt_time(r.try_get("next_attempt_at").map_err(g)?)?,
            closed_at: self.opt_time(r.try_get("closed_at").map_err(g)?)?,
            status_notes: r.try_get("status_notes").map_err(g)?,
        })
    }

    async fn get_filing(&self, marker: &str) -> Result<Option<Filing>, Error> {
        let row = sqlx::query(q!("SELECT * FROM filings WHERE marker = ?"))
            .bind(marker)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        row.map(|r| self.filing(&r)).transpose()
    }
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn store_error(e: Error) -> StoreError {
    StoreError(e.to_string())
}

impl Outbox for Store {
    async fn insert(&self, f: &NewFiling, now: DateTime<Utc>) -> Result<Option<Filing>, StoreError> {
        let attributes = serde_json::to_string(&f.attributes).map_err(|e| StoreError(e.to_string()))?;
        let (_w, mut tx) = self
            .begin_write("insert_filing")
            .await
            .map_err(|e| store_error(self.db(e)))?;
        let done = sqlx::query(q!(
            "INSERT INTO filings (marker, cluster_id, class, lat, lon, jurisdiction_id, service_code, attributes,
                                  description, generation, reopens, state, attempts, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'intent', 0, ?, ?) ON CONFLICT (marker) DO NOTHING"
        ))
        .bind(&f.marker)
        .bind(&f.cluster_id)
        .bind(&f.class)
        .bind(f.lat)
        .bind(f.lon)
        .bind(&f.jurisdiction_id)
        .bind(&f.service_code)
        .bind(attributes)
        .bind(&f.description)
        .bind(i64::from(f.generation))
        .bind(&f.reopens)
        .bind(ts(now))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| store_error(self.db(e)))?;
        if done.rows_affected() == 1 {
            sqlx::query(q!(
                "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'filer', 'filing.intent', ?, ?)"
            ))
            .bind(ts(now))
            .bind(&f.cluster_id)
            .bind(format!("{} {} {}", f.marker, f.jurisdiction_id, f.service_code))
            .execute(&mut *tx)
            .await
            .map_err(|e| store_error(self.db(e)))?;
        }
        tx.commit().await.map_err(|e| store_error(self.db(e)))?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_filing(&f.marker).await.map_err(store_error)
    }

    async fn filings(&self) -> Result<Vec<Filing>, StoreError> {
        let rows = sqlx::query(q!("SELECT * FROM filings ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_error(self.db(e)))?;
        rows.iter().map(|r| self.filing(r).map_err(store_error)).collect()
    }

    async fn update(&self, f: &Filing) -> Result<(), StoreError> {
        let (_w, mut tx) = self
            .begin_write("update_filing")
            .await
            .map_err(|e| store_error(self.db(e)))?;
        let before: Option<String> = sqlx::query(q!("SELECT state FROM filings WHERE id = ?"))
            .bind(f.id)
            .fetch_optional(&mut *tx)
            .await
            .and_then(|r| r.map(|r| r.try_get("state")).transpose())
            .map_err(|e| store_error(self.db(e)))?;
        let Some(before) = before else {
            return Err(StoreError(format!("no filing {}", f.id)));
        };
        sqlx::query(q!(
            "UPDATE filings SET state = ?, service_request_id = ?, token = ?, attempts = ?, last_error = ?,
                    posted_at = ?, updated_at = ?, next_attempt_at = ?, closed_at = ?, status_notes = ?
             WHERE id = ?"
        ))
        .bind(f.state.as_str())
        .bind(&f.service_request_id)
        .bind(&f.token)
        .bind(i64::from(f.attempts))
        .bind(&f.last_error)
        .bind(f.posted_at.map(ts))
        .bind(ts(f.updated_at))
        .bind(f.next_attempt_at.map(ts))
        .bind(f.closed_at.map(ts))
        .bind(&f.status_notes)
        .bind(f.id)
        .execute(&mut *tx)
        .await
        .map_err(|e| store_error(self.db(e)))?;
        if before != f.state.as_str() {
            sqlx::query(q!(
                "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'filer', ?, ?, ?)"
            ))
            .bind(ts(f.updated_at))
            .bind(format!("filing.{}", f.state.as_str()))
            .bind(&f.cluster_id)
            .bind(format!(
                "{} {}",
                f.marker,
                f.service_request_id.as_deref().or(f.token.as_deref()).unwrap_or("")
            ))
            .execute(&mut *tx)
            .await
            .map_err(|e| store_error(self.db(e)))?;
        }
        tx.commit().await.map_err(|e| store_error(self.db(e)))
    }

    async fn dismissed(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .latest_reviews()
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|r| r.action == "dismiss")
            .map(|r| r.cluster_id)
            .collect())
    }
}
