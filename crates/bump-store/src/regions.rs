/*!
What the Kafka runtime keeps beyond the embedded one: evidence by H3
resolution-7 region (the key cluster workers share work by), the clusters
of each region as reviewers see them, and a durable queue of regions whose
clusters must be computed again.

A cluster worker writes a batch of evidence and marks the regions it
changes (and their neighbours, whose clusters may reach into them) dirty in
the same transaction, and only then lets Kafka forget the messages. Any
worker may then recompute a dirty region: under a per-region lock it reads
the region's version, the evidence of the region and its neighbours,
replaces the region's clusters and clears the mark if no newer change came
meanwhile. A worker killed at any moment leaves either the messages to be
delivered again (idempotent: evidence is replaced per trip and region) or a
dirty mark that the next worker clears.
*/

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::serve::stored_bump;
use crate::{Backend, Error, Store, StoredBump, in_list, lock_key, ts};

/// One trip's evidence in one region: the unit the detector sends and the
/// cluster worker replaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TripEvidence {
    /// Trip.
    pub trip_id: String,
    /// H3 resolution-7 cell.
    pub region: String,
    /// The trip's bumps in the region.
    pub bumps: Vec<StoredBump>,
    /// The trip's coverage in the region: (cell, first time).
    pub coverage: Vec<(String, f64)>,
    /// Whether the coverage counts as passes of clusters (false for a
    /// phone too slow to feel a defect: it only shows where it drove).
    #[serde(default = "yes")]
    pub passes: bool,
}

fn yes() -> bool {
    true
}

/// The evidence a region's clusters are computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionEvidence {
    /// Bumps of the region and its neighbours.
    pub bumps: Vec<StoredBump>,
    /// Coverage rows (trip, cell, first time) of the same.
    pub coverage: Vec<(String, String, f64)>,
}

impl Store {
    /// Replaces the evidence of each (trip, region) given and marks the
    /// `dirty` regions for recomputation, in one transaction.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn put_evidence(&self, items: &[TripEvidence], dirty: &[String]) -> Result<(), Error> {
        let (_w, mut tx) = self.begin_write("put_evidence").await.map_err(|e| self.db(e))?;
        for it in items {
            for sql in [
                q!("DELETE FROM bumps WHERE trip_id = ? AND region = ?"),
                q!("DELETE FROM coverage_blocks WHERE trip_id = ? AND region = ?"),
            ] {
                sqlx::query(sql)
                    .bind(&it.trip_id)
                    .bind(&it.region)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db(e))?;
            }
            self.insert_bumps(&mut tx, &it.bumps, Some(&it.region)).await?;
            self.insert_coverage(&mut tx, &it.trip_id, &it.coverage, Some(&it.region), it.passes)
                .await?;
        }
        let mut dirty = dirty.to_vec();
        // A fixed order: two workers marking overlapping sets cannot
        // deadlock on the rows.
        dirty.sort();
        dirty.dedup();
        for region in &dirty {
            sqlx::query(q!("INSERT INTO dirty_regions (region, version) VALUES (?, 1)
                 ON CONFLICT (region) DO UPDATE SET version = dirty_regions.version + 1"))
            .bind(region)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db(e))?;
        }
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// Marks a trip and its batches processed (evidence sent), noting the
    /// regions it touched; batches that arrived after `started` keep the
    /// trip pending.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn mark_trip_processed(
        &self,
        trip_id: &str,
        bumps: usize,
        regions: &[String],
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let regions_json = serde_json::to_string(regions).unwrap_or_else(|_| "[]".into());
        let (_w, mut tx) = self.begin_write("mark_trip_processed").await.map_err(|e| self.db(e))?;
        // The regions are kept even while the trip stays pending: a later
        // run must clear the evidence it left in every one of them.
        sqlx::query(q!("UPDATE trips SET regions = ? WHERE trip_id = ?"))
            .bind(&regions_json)
            .bind(trip_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db(e))?;
        self.mark_processed_in(&mut tx, trip_id, bumps, started, now).await?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// The regions a trip's previous evidence touched.
    ///
    /// # Errors
    ///
    /// [`Error`].
    pub async fn trip_regions(&self, trip_id: &str) -> Result<Vec<String>, Error> {
        let json: Option<String> = sqlx::query(q!("SELECT regions FROM trips WHERE trip_id = ?"))
            .bind(trip_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db(e))?
            .map(|r| r.try_get::<Option<String>, _>("regions"))
            .transpose()
            .map_err(|e| self.db(e))?
            .flatten();
        match json {
            None => Ok(Vec::new()),
            Some(j) => serde_json::from_str(&j).map_err(|e| Error::Corrupt {
                location: self.location().to_owned(),
                what: format!("regions of trip {trip_id}: {e}"),
            }),
        }
    }

    /// [`Store::ready_trips`] among the trips whose batches came on these
    /// Kafka partitions.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn ready_trips_in(
        &self,
        parts: &[i32],
        now: DateTime<Utc>,
        timeout_s: f64,
    ) -> Result<Vec<String>, Error> {
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        #[allow(clippy::cast_possible_truncation, reason = "a timeout in whole milliseconds")]
        let cutoff = now - chrono::TimeDelta::milliseconds((timeout_s * 1000.0) as i64);
        let sql = format!(
            "SELECT t.trip_id FROM trips t
             WHERE t.processed_at IS NULL AND t.part IN {} AND (
                 t.last_batch_at <= $1
                 OR (t.final_seq IS NOT NULL
                     AND (SELECT COUNT(*) FROM batches b WHERE b.trip_id = t.trip_id) = t.final_seq + 1))
             ORDER BY t.last_batch_at, t.trip_id",
            in_list(2, parts.len())
        );
        let mut query = sqlx::query(&sql).bind(ts(cutoff));
        for p in parts {
            query = query.bind(i64::from(*p));
        }
        let rows = query.fetch_all(&self.pool).await.map_err(|e| self.db(e))?;
        rows.iter()
            .map(|r| r.try_get("trip_id"))
            .collect::<Result<_, _>>()
            .map_err(|e| self.db(e))
    }

    /// Regions waiting for their clusters to be computed again.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn dirty_regions(&self) -> Result<Vec<String>, Error> {
        let rows = sqlx::query(q!("SELECT region FROM dirty_regions ORDER BY region"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|r| r.try_get("region"))
            .collect::<Result<_, _>>()
            .map_err(|e| self.db(e))
    }

    /// Recomputes one region's clusters: under the region's lock, reads the
    /// evidence of `halo` (the region and its neighbours), lets `compute`
    /// turn it into (cluster id, view JSON) rows, replaces the region's
    /// clusters with them and clears the region's dirty mark unless a newer
    /// change came meanwhile. Returns whether the mark was cleared.
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn recompute_region<F>(&self, region: &str, halo: &[String], compute: F) -> Result<bool, Error>
    where
        F: FnOnce(RegionEvidence) -> Vec<(String, String)>,
    {
        let (_w, mut tx) = self.begin_write("recompute_region").await.map_err(|e| self.db(e))?;
        if self.backend() == Backend::Postgres {
            sqlx::query(q!("SELECT pg_advisory_xact_lock(?)"))
                .bind(lock_key(&format!("region:{region}")))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db(e))?;
        }
        let version: Option<i64> = sqlx::query(q!("SELECT version FROM dirty_regions WHERE region = ?"))
            .bind(region)
            .fetch_optional(&mut *tx)
            .await
            .and_then(|r| r.map(|r| r.try_get("version")).transpose())
            .map_err(|e| self.db(e))?;
        let mut ev = RegionEvidence::default();
        for chunk in halo.chunks(200) {
            let sql = format!(
                "SELECT bump_id, trip_id, t, obs, trace FROM bumps WHERE region IN {} ORDER BY bump_id",
                in_list(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for r in chunk {
                query = query.bind(r);
            }
            for row in query.fetch_all(&mut *tx).await.map_err(|e| self.db(e))? {
                ev.bumps.push(stored_bump(&row).map_err(|e| self.db(e))?);
            }
            let sql = format!(
                "SELECT trip_id, block, cells FROM coverage_blocks WHERE region IN {} AND passes <> 0 ORDER BY trip_id, block",
                in_list(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for r in chunk {
                query = query.bind(r);
            }
            let rows = query.fetch_all(&mut *tx).await.map_err(|e| self.db(e))?;
            ev.coverage.extend(self.unpack_coverage(&rows, |_| true)?);
        }
        crate::coverage::sort_rows(&mut ev.coverage);
        let rows = compute(ev);
        sqlx::query(q!("DELETE FROM region_clusters WHERE region = ?"))
            .bind(region)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db(e))?;
        self.insert_many(
            &mut tx,
            ("INSERT INTO region_clusters (region, cluster_id, view)", 3, ""),
            200,
            &rows,
            |q, (id, view)| q.bind(region.to_owned()).bind(id).bind(view),
        )
        .await?;
        let cleared = match version {
            Some(v) => {
                sqlx::query(q!("DELETE FROM dirty_regions WHERE region = ? AND version <= ?"))
                    .bind(region)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.db(e))?
                    .rows_affected()
                    == 1
            }
            None => true,
        };
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(cleared)
    }

    /// Every region's clusters: (region, cluster id, view JSON).
    ///
    /// # Errors
    ///
    /// [`Error::Db`].
    pub async fn region_clusters(&self) -> Result<Vec<(String, String, String)>, Error> {
        let rows = sqlx::query(q!(
            "SELECT region, cluster_id, view FROM region_clusters ORDER BY region, cluster_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|r| Ok((r.try_get("region")?, r.try_get("cluster_id")?, r.try_get("view")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.db(e))
    }
}
