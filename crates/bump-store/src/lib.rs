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

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use bump_filing::{Filing, FilingState, NewFiling, Outbox, StoreError};

/// The database file in the data directory.
pub const DB_FILE: &str = "streetbump.db";

/// Migrations: version, name, SQL. Append only; never edit a released one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "filings", include_str!("../migrations/0001_filings.sql")),
    (2, "serve", include_str!("../migrations/0002_serve.sql")),
    (3, "coverage_cell", include_str!("../migrations/0003_coverage_cell.sql")),
];

mod serve;
pub use serve::{BatchPut, StoredBump};

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
    /// The database failed.
    #[error("database {path}: {source}")]
    Db {
        /// File.
        path: PathBuf,
        /// sqlx error.
        source: sqlx::Error,
    },
    /// Written by a newer streetbump.
    #[error("database {path} has schema version {found}, newer than this program's {known}; upgrade streetbump")]
    TooNew {
        /// File.
        path: PathBuf,
        /// Version found.
        found: i64,
        /// Latest version known.
        known: i64,
    },
    /// A stored value could not be read.
    #[error("database {path}: {what}")]
    Corrupt {
        /// File.
        path: PathBuf,
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

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    /// One writer at a time inside the process: waiters queue here and
    /// start as soon as the lock is free, instead of sleeping in SQLite's
    /// busy handler (whose backoff reaches hundreds of milliseconds).
    write: std::sync::Arc<tokio::sync::Mutex<()>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating when needed) the store in `data_dir` and migrates it.
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
        let db = |source| Error::Db {
            path: path.clone(),
            source,
        };
        let opts = SqliteConnectOptions::from_str("sqlite:")
            .map_err(db)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(db)?;
        let store = Self {
            pool,
            path,
            write: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Begins a write transaction (`IMMEDIATE`), holding the writer lock.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<(tokio::sync::OwnedMutexGuard<()>, Transaction<'static, Sqlite>), sqlx::Error> {
        let guard = std::sync::Arc::clone(&self.write).lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok((guard, tx))
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn db(&self, source: sqlx::Error) -> Error {
        Error::Db {
            path: self.path.clone(),
            source,
        }
    }

    async fn migrate(&self) -> Result<(), Error> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get("v"))
            .map_err(|e| self.db(e))?;
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > known {
            return Err(Error::TooNew {
                path: self.path.clone(),
                found: current,
                known,
            });
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            let mut tx: Transaction<'_, Sqlite> =
                self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(|e| self.db(e))?;
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(|e| self.db(e))?;
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
                .bind(version)
                .bind(name)
                .bind(ts(Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db(e))?;
            tx.commit().await.map_err(|e| self.db(e))?;
        }
        Ok(())
    }

    /// The schema version.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn schema_version(&self) -> Result<i64, Error> {
        sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
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
        let (_w, mut tx) = self.begin_write().await.map_err(|e| self.db(e))?;
        sqlx::query("INSERT INTO reviews (cluster_id, action, value, actor, at, note) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&r.cluster_id)
            .bind(&r.action)
            .bind(&r.value)
            .bind(&r.actor)
            .bind(ts(r.at))
            .bind(&r.note)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db(e))?;
        sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)")
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
        let rows = sqlx::query(
            "SELECT cluster_id, action, value, actor, at, note FROM reviews r
             WHERE id = (SELECT MAX(id) FROM reviews s WHERE s.cluster_id = r.cluster_id) ORDER BY cluster_id",
        )
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
        sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)")
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
        let rows = sqlx::query("SELECT at, actor, action, subject, detail FROM audit ORDER BY id")
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
                path: self.path.clone(),
                what: format!("time {s:?}: {e}"),
            })
    }

    fn opt_time(&self, s: Option<String>) -> Result<Option<DateTime<Utc>>, Error> {
        s.map(|s| self.time(&s)).transpose()
    }

    fn filing(&self, r: &SqliteRow) -> Result<Filing, Error> {
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
                path: self.path.clone(),
                what: format!("attributes {attributes:?}: {e}"),
            })?,
            description: r.try_get("description").map_err(g)?,
            generation: u32::try_from(r.try_get::<i64, _>("generation").map_err(g)?).unwrap_or(1),
            reopens: r.try_get("reopens").map_err(g)?,
            state: FilingState::parse(&state).ok_or_else(|| Error::Corrupt {
                path: self.path.clone(),
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
        let row = sqlx::query("SELECT * FROM filings WHERE marker = ?")
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
        let (_w, mut tx) = self.begin_write().await.map_err(|e| store_error(self.db(e)))?;
        let done = sqlx::query(
            "INSERT INTO filings (marker, cluster_id, class, lat, lon, jurisdiction_id, service_code, attributes,
                                  description, generation, reopens, state, attempts, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'intent', 0, ?, ?) ON CONFLICT (marker) DO NOTHING",
        )
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
            sqlx::query(
                "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'filer', 'filing.intent', ?, ?)",
            )
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
        let rows = sqlx::query("SELECT * FROM filings ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_error(self.db(e)))?;
        rows.iter().map(|r| self.filing(r).map_err(store_error)).collect()
    }

    async fn update(&self, f: &Filing) -> Result<(), StoreError> {
        let (_w, mut tx) = self.begin_write().await.map_err(|e| store_error(self.db(e)))?;
        let before: Option<String> = sqlx::query("SELECT state FROM filings WHERE id = ?")
            .bind(f.id)
            .fetch_optional(&mut *tx)
            .await
            .and_then(|r| r.map(|r| r.try_get("state")).transpose())
            .map_err(|e| store_error(self.db(e)))?;
        let Some(before) = before else {
            return Err(StoreError(format!("no filing {}", f.id)));
        };
        sqlx::query(
            "UPDATE filings SET state = ?, service_request_id = ?, token = ?, attempts = ?, last_error = ?,
                    posted_at = ?, updated_at = ?, next_attempt_at = ?, closed_at = ?, status_notes = ?
             WHERE id = ?",
        )
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
            sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'filer', ?, ?, ?)")
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
