/*!
What `streetbump serve` keeps: devices, reviewers and sessions; batches
from acceptance until (and a retention period after) processing; trips;
the evidence (bumps and coverage); the clusters computed from it; obstacles
reviewers added to the inventory.

A trip's evidence and the marks that its batches were processed are written
in one transaction, and a trip is reprocessed from scratch when a batch
arrives late: so evidence is never counted twice and never lost, whatever
moment the process is killed at.
*/

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Error, Store, ts};

/// What storing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchPut {
    /// New; stored.
    Inserted,
    /// The same batch (same key, same bytes) was already stored.
    Duplicate,
    /// The key was stored with different content.
    Conflict,
}

/// A batch to store with [`Store::put_batches`].
#[derive(Debug, Clone, Copy)]
pub struct NewBatch<'a> {
    /// The Kafka partition it came on (None in the embedded runtime).
    pub part: Option<i32>,
    /// Trip.
    pub trip_id: &'a str,
    /// Sequence number in the trip.
    pub seq: u32,
    /// Device.
    pub device_id: &'a str,
    /// Whether it is the trip's last.
    pub is_final: bool,
    /// The upload as received.
    pub body: &'a [u8],
    /// Digest of `body`, telling a retry from a conflicting batch.
    pub digest: &'a str,
}

/// A stored bump: the JSON of what clustering needs, and of its trace.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredBump {
    /// Bump id (text).
    pub bump_id: String,
    /// Trip.
    pub trip_id: String,
    /// UTC seconds.
    pub t: f64,
    /// JSON.
    pub obs: String,
    /// JSON, when kept.
    pub trace: Option<String>,
}

impl StoredBump {
    /// Whether `obs` is a support jolt's (its JSON says `"support":true`,
    /// as `bump_cluster::BumpObs` writes it only for one): evidence for
    /// clustering, not a bump to count.
    #[must_use]
    pub fn is_support(&self) -> bool {
        self.obs.contains("\"support\":true")
    }
}

impl Store {
    /// Registers a device by the hash of its token.
    ///
    /// # Errors
    ///
    /// [`Error::Db`], e.g. when the id exists.
    pub async fn add_device(&self, device_id: &str, name: &str, token_hash: &str) -> Result<(), Error> {
        sqlx::query(q!(
            "INSERT INTO devices (device_id, name, token_hash, created_at) VALUES (?, ?, ?, ?)"
        ))
        .bind(device_id)
        .bind(name)
        .bind(token_hash)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.db(e))
    }

    /// Gives a device a new token (the old one stops working).
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn rotate_device_token(&self, device_id: &str, token_hash: &str) -> Result<(), Error> {
        sqlx::query(q!(
            "UPDATE devices SET token_hash = ?, revoked_at = NULL WHERE device_id = ?"
        ))
        .bind(token_hash)
        .bind(device_id)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.db(e))
    }

    /// The device a token hash belongs to, unless revoked.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn device_by_token(&self, token_hash: &str) -> Result<Option<String>, Error> {
        sqlx::query(q!(
            "SELECT device_id FROM devices WHERE token_hash = ? AND revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .and_then(|r| r.map(|r| r.try_get("device_id")).transpose())
        .map_err(|e| self.db(e))
    }

    /// Adds or replaces a user.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn put_user(&self, username: &str, role: &str, password_hash: &str) -> Result<(), Error> {
        sqlx::query(q!(
            "INSERT INTO users (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (username) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash"
        ))
        .bind(username)
        .bind(role)
        .bind(password_hash)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.db(e))
    }

    /// A user's role and password hash.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn user(&self, username: &str) -> Result<Option<(String, String)>, Error> {
        let row = sqlx::query(q!("SELECT role, password_hash FROM users WHERE username = ?"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        row.map(|r| Ok((r.try_get("role")?, r.try_get("password_hash")?)))
            .transpose()
            .map_err(|e| self.db(e))
    }

    /// Records a session.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn add_session(&self, token_hash: &str, username: &str, expires_at: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query(q!(
            "INSERT INTO sessions (token_hash, username, expires_at) VALUES (?, ?, ?)"
        ))
        .bind(token_hash)
        .bind(username)
        .bind(ts(expires_at))
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.db(e))
    }

    /// The user and role of a live session.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<(String, String)>, Error> {
        let row = sqlx::query(q!(
            "SELECT s.username, u.role FROM sessions s JOIN users u ON u.username = s.username
             WHERE s.token_hash = ? AND s.expires_at > ?"
        ))
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        row.map(|r| Ok((r.try_get("username")?, r.try_get("role")?)))
            .transpose()
            .map_err(|e| self.db(e))
    }

    /// Ends a session.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), Error> {
        sqlx::query(q!("DELETE FROM sessions WHERE token_hash = ?"))
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| self.db(e))
    }

    /// Stores a batch durably (the caller acknowledges only after this
    /// returns) and notes its trip as to be (re)processed.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    #[allow(clippy::too_many_arguments, reason = "one row's columns")]
    pub async fn put_batch(
        &self,
        trip_id: &str,
        seq: u32,
        device_id: &str,
        is_final: bool,
        body: &[u8],
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<BatchPut, Error> {
        self.put_batch_in(None, trip_id, seq, device_id, is_final, body, digest, now)
            .await
    }

    /// [`Store::put_batch`] noting the Kafka partition the batch came on,
    /// so that whichever detector owns the partition finishes the trip.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    #[allow(clippy::too_many_arguments, reason = "one row's columns")]
    pub async fn put_batch_in(
        &self,
        part: Option<i32>,
        trip_id: &str,
        seq: u32,
        device_id: &str,
        is_final: bool,
        body: &[u8],
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<BatchPut, Error> {
        let batch = NewBatch {
            part,
            trip_id,
            seq,
            device_id,
            is_final,
            body,
            digest,
        };
        let mut put = self.put_batches(&[batch], now).await?;
        Ok(put.pop().unwrap_or(BatchPut::Duplicate))
    }

    /// Stores several batches in one transaction (a Kafka detector's fetch):
    /// one answer per batch, in order. A conflict does not stop the others.
    ///
    /// # Errors
    ///
    /// [`Error::Db`]; then nothing was stored.
    pub async fn put_batches(&self, batches: &[NewBatch<'_>], now: DateTime<Utc>) -> Result<Vec<BatchPut>, Error> {
        let (_w, mut tx) = self.begin_write("put_batches").await.map_err(|e| self.db(e))?;
        let mut answers = Vec::with_capacity(batches.len());
        for b in batches {
            answers.push(self.put_batch_tx(&mut tx, b, now).await?);
        }
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(answers)
    }

    async fn put_batch_tx(
        &self,
        tx: &mut Transaction<'static, Any>,
        b: &NewBatch<'_>,
        now: DateTime<Utc>,
    ) -> Result<BatchPut, Error> {
        // Insert-or-nothing first: two processes storing the same key at
        // once cannot both insert, and neither fails.
        let inserted = sqlx::query(q!(
            "INSERT INTO batches (trip_id, seq, device_id, digest, received_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (trip_id, seq) DO NOTHING"
        ))
        .bind(b.trip_id)
        .bind(i64::from(b.seq))
        .bind(b.device_id)
        .bind(b.digest)
        .bind(ts(now))
        .execute(&mut **tx)
        .await
        .map_err(|e| self.db(e))?
        .rows_affected();
        if inserted == 0 {
            let existing: String = sqlx::query(q!("SELECT digest FROM batches WHERE trip_id = ? AND seq = ?"))
                .bind(b.trip_id)
                .bind(i64::from(b.seq))
                .fetch_one(&mut **tx)
                .await
                .and_then(|r| r.try_get("digest"))
                .map_err(|e| self.db(e))?;
            return Ok(if existing == b.digest {
                BatchPut::Duplicate
            } else {
                BatchPut::Conflict
            });
        }
        sqlx::query(q!("INSERT INTO batch_bodies (trip_id, seq, body) VALUES (?, ?, ?)"))
            .bind(b.trip_id)
            .bind(i64::from(b.seq))
            .bind(b.body)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.db(e))?;
        sqlx::query(q!(
            "INSERT INTO trips (trip_id, device_id, final_seq, last_batch_at, part) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (trip_id) DO UPDATE SET
                final_seq = COALESCE(excluded.final_seq, trips.final_seq),
                last_batch_at = excluded.last_batch_at,
                part = COALESCE(excluded.part, trips.part),
                processed_at = NULL"
        ))
        .bind(b.trip_id)
        .bind(b.device_id)
        .bind(b.is_final.then_some(i64::from(b.seq)))
        .bind(ts(now))
        .bind(b.part.map(i64::from))
        .execute(&mut **tx)
        .await
        .map_err(|e| self.db(e))?;
        Ok(BatchPut::Inserted)
    }

    /// Batches not yet processed.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn pending_batches(&self) -> Result<usize, Error> {
        let n: i64 = sqlx::query(q!("SELECT COUNT(*) AS n FROM batches WHERE processed_at IS NULL"))
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(|e| self.db(e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Batches stored, processed or not (until retention deletes them).
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn stored_batches(&self) -> Result<usize, Error> {
        let n: i64 = sqlx::query(q!("SELECT COUNT(*) AS n FROM batches"))
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(|e| self.db(e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Trips ready to (re)process: complete (every batch up to the final
    /// one is in) or silent for `timeout_s`.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn ready_trips(&self, now: DateTime<Utc>, timeout_s: f64) -> Result<Vec<String>, Error> {
        #[allow(clippy::cast_possible_truncation, reason = "a timeout in whole milliseconds")]
        let cutoff = now - chrono::TimeDelta::milliseconds((timeout_s * 1000.0) as i64);
        let rows = sqlx::query(q!("SELECT t.trip_id FROM trips t
             WHERE t.processed_at IS NULL AND (
                 t.last_batch_at <= ?
                 OR (t.final_seq IS NOT NULL
                     AND (SELECT COUNT(*) FROM batches b WHERE b.trip_id = t.trip_id) = t.final_seq + 1))
             ORDER BY t.last_batch_at, t.trip_id"))
        .bind(ts(cutoff))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|r| r.try_get("trip_id"))
            .collect::<Result<_, _>>()
            .map_err(|e| self.db(e))
    }

    /// The digest of a stored batch.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn batch_digest(&self, trip_id: &str, seq: u32) -> Result<Option<String>, Error> {
        sqlx::query(q!("SELECT digest FROM batches WHERE trip_id = ? AND seq = ?"))
            .bind(trip_id)
            .bind(i64::from(seq))
            .fetch_optional(&self.pool)
            .await
            .and_then(|r| r.map(|r| r.try_get("digest")).transpose())
            .map_err(|e| self.db(e))
    }

    /// A trip's batches as received, by sequence number.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn trip_batches(&self, trip_id: &str) -> Result<Vec<Vec<u8>>, Error> {
        let rows = sqlx::query(q!("SELECT body FROM batch_bodies WHERE trip_id = ? ORDER BY seq"))
            .bind(trip_id)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|r| r.try_get("body"))
            .collect::<Result<_, _>>()
            .map_err(|e| self.db(e))
    }

    /// Replaces a trip's evidence and marks it and its batches processed,
    /// in one transaction. `passes`: whether its coverage counts as passes
    /// of clusters (see [`Store::pass_coverage_by_trip`]).
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn commit_trip(
        &self,
        trip_id: &str,
        bumps: &[StoredBump],
        coverage: &[(String, f64)],
        passes: bool,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (_w, mut tx) = self.begin_write("commit_trip").await.map_err(|e| self.db(e))?;
        for table in [
            q!("DELETE FROM bumps WHERE trip_id = ?"),
            q!("DELETE FROM coverage_blocks WHERE trip_id = ?"),
        ] {
            sqlx::query(table)
                .bind(trip_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db(e))?;
        }
        // Multi-row statements keep the transaction (and so the writer lock
        // uploads wait for) short: a 20-minute trip covers thousands of cells.
        self.insert_bumps(&mut tx, bumps, None).await?;
        self.insert_coverage(&mut tx, trip_id, coverage, None, passes).await?;
        let counted = bumps.iter().filter(|b| !b.is_support()).count();
        self.mark_processed_in(&mut tx, trip_id, counted, started, now).await?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Every stored bump.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn bumps(&self) -> Result<Vec<StoredBump>, Error> {
        let rows = sqlx::query(q!("SELECT bump_id, trip_id, t, obs, trace FROM bumps ORDER BY bump_id"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|r| {
                Ok(StoredBump {
                    bump_id: r.try_get("bump_id")?,
                    trip_id: r.try_get("trip_id")?,
                    t: r.try_get("t")?,
                    obs: r.try_get("obs")?,
                    trace: r.try_get("trace")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }

    /// Replaces the stored clusters.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn save_clusters(&self, clusters: &[(String, String)]) -> Result<(), Error> {
        let (_w, mut tx) = self.begin_write("save_clusters").await.map_err(|e| self.db(e))?;
        sqlx::query(q!("DELETE FROM clusters"))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db(e))?;
        // Many rows a statement: the writer every upload waits for is held
        // for this.
        self.insert_many(
            &mut tx,
            ("INSERT INTO clusters (cluster_id, body)", 2, ""),
            200,
            clusters,
            |q, (id, body)| q.bind(id).bind(body),
        )
        .await?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Adds an obstacle to the inventory (reviewers' "known obstacle").
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn add_known(&self, asset_id: &str, kind: &str, lat: f64, lon: f64, by: &str) -> Result<(), Error> {
        sqlx::query(q!(
            "INSERT INTO known_obstacles (asset_id, kind, lat, lon, added_by, added_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (asset_id) DO UPDATE SET kind = excluded.kind, lat = excluded.lat, lon = excluded.lon,
                    added_by = excluded.added_by, added_at = excluded.added_at"
        ))
        .bind(asset_id)
        .bind(kind)
        .bind(lat)
        .bind(lon)
        .bind(by)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| self.db(e))
    }

    /// Obstacles reviewers added: (asset id, kind, lat, lon).
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn known(&self) -> Result<Vec<(String, String, f64, f64)>, Error> {
        let rows = sqlx::query(q!(
            "SELECT asset_id, kind, lat, lon FROM known_obstacles ORDER BY asset_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("asset_id")?,
                    r.try_get("kind")?,
                    r.try_get("lat")?,
                    r.try_get("lon")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }

    /// Deletes raw batches processed before `before`; returns how many.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn delete_processed_batches(&self, before: DateTime<Utc>) -> Result<u64, Error> {
        sqlx::query(q!(
            "DELETE FROM batches WHERE processed_at IS NOT NULL AND processed_at < ?"
        ))
        .bind(ts(before))
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| self.db(e))
    }

    /// For every processed trip, milliseconds from its latest batch's
    /// arrival to its evidence being committed.
    ///
    /// # Errors
    ///
    /// [`Error`].
    pub async fn trip_latencies(&self) -> Result<Vec<f64>, Error> {
        let rows = sqlx::query(q!(
            "SELECT last_batch_at, processed_at FROM trips WHERE processed_at IS NOT NULL"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let a: String = r.try_get("last_batch_at").map_err(|e| self.db(e))?;
            let b: String = r.try_get("processed_at").map_err(|e| self.db(e))?;
            #[allow(clippy::cast_precision_loss, reason = "milliseconds of a run fit f64")]
            out.push((self.time(&b)? - self.time(&a)?).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
        Ok(out)
    }

    /// Rows of `head IN (values…) tail`, 500 values a statement.
    pub(crate) async fn rows_in(&self, head: &str, tail: &str, values: &[String]) -> Result<Vec<AnyRow>, Error> {
        let mut out = Vec::new();
        for chunk in values.chunks(500) {
            let sql = format!("{head} IN {} {tail}", crate::in_list(1, chunk.len()));
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v);
            }
            out.extend(query.fetch_all(&self.pool).await.map_err(|e| self.db(e))?);
        }
        Ok(out)
    }

    /// The stored bumps with these ids (a cluster's evidence), by id.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn bumps_with_ids(&self, ids: &[String]) -> Result<Vec<StoredBump>, Error> {
        let rows = self
            .rows_in(
                "SELECT bump_id, trip_id, t, obs, trace FROM bumps WHERE bump_id",
                "ORDER BY bump_id",
                ids,
            )
            .await?;
        rows.iter().map(|r| stored_bump(r).map_err(|e| self.db(e))).collect()
    }

    /// Marks a trip and its batches processed inside `tx`. Batches received
    /// after `started` stay pending, and so does the trip.
    pub(crate) async fn mark_processed_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        trip_id: &str,
        bumps: usize,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        sqlx::query(q!(
            "UPDATE batches SET processed_at = ? WHERE trip_id = ? AND received_at <= ?"
        ))
        .bind(ts(now))
        .bind(trip_id)
        .bind(ts(started))
        .execute(&mut **tx)
        .await
        .map_err(|e| self.db(e))?;
        sqlx::query(q!(
            "UPDATE trips SET processed_at = ?, bumps = ? WHERE trip_id = ? AND last_batch_at <= ?"
        ))
        .bind(ts(now))
        .bind(i64::try_from(bumps).unwrap_or(i64::MAX))
        .bind(trip_id)
        .bind(ts(started))
        .execute(&mut **tx)
        .await
        .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Inserts (or replaces) bumps, many rows a statement, with their
    /// region when known.
    pub(crate) async fn insert_bumps(
        &self,
        tx: &mut Transaction<'static, Any>,
        bumps: &[StoredBump],
        region: Option<&str>,
    ) -> Result<(), Error> {
        self.insert_many(
            tx,
            (
                "INSERT INTO bumps (bump_id, trip_id, t, obs, trace, region)",
                6,
                "ON CONFLICT (bump_id) DO UPDATE SET trip_id = excluded.trip_id, t = excluded.t,
                 obs = excluded.obs, trace = excluded.trace, region = excluded.region",
            ),
            150,
            bumps,
            |q, b| {
                q.bind(&b.bump_id)
                    .bind(&b.trip_id)
                    .bind(b.t)
                    .bind(&b.obs)
                    .bind(&b.trace)
                    .bind(region.map(str::to_owned))
            },
        )
        .await
    }
}

pub(crate) fn stored_bump(r: &AnyRow) -> Result<StoredBump, sqlx::Error> {
    Ok(StoredBump {
        bump_id: r.try_get("bump_id")?,
        trip_id: r.try_get("trip_id")?,
        t: r.try_get("t")?,
        obs: r.try_get("obs")?,
        trace: r.try_get("trace")?,
    })
}
