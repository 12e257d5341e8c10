/*!
Coverage: which cells each trip passed through, and when.

A 20-minute drive passes about 1,750 resolution-13 cells. Stored one row
per cell, committing a trip wrote 1,750 rows into three B-trees while every
upload waited for the writer. They are stored instead in blocks: one row
per trip and resolution-9 parent cell (about 0.1 km², some 40 cells of a
drive through it), the cells packed in a blob. A trip is then about 90
rows (keyed by trip, region and block, so that evidence the Kafka runtime
keys by region is replaced by region), and the queries the store answers
still find their rows by key:

- a cluster's passes read the blocks of its cells' parents;
- a region's evidence (the Kafka runtime) reads the blocks by region, the
  resolution-7 parent, kept in its own indexed column.

A block's blob is a sequence of 16-byte entries, sorted by cell: the H3
index as a little-endian `u64`, then the first time the trip was in the
cell as a little-endian `f64` (UTC seconds).
*/

use std::collections::BTreeMap;

use h3o::{CellIndex, Resolution};
use sqlx::{Any, Row, Transaction};

use crate::{Error, Store};

/// The resolution of a block's key.
pub(crate) const BLOCK_RESOLUTION: Resolution = Resolution::Nine;

/// The resolution of a block's region (the Kafka runtime's key).
pub(crate) const REGION_RESOLUTION: Resolution = Resolution::Seven;

const ENTRY: usize = 16;

/// The migration that created the blocks; the program moves the old
/// table's rows into them right after it.
pub(crate) const BLOCKS_MIGRATION: i64 = 5;

/// One block's cells as stored.
fn encode(cells: &[(CellIndex, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cells.len() * ENTRY);
    for (c, t) in cells {
        out.extend_from_slice(&u64::from(*c).to_le_bytes());
        out.extend_from_slice(&t.to_le_bytes());
    }
    out
}

/// A stored block's cells; `Err` says what is wrong with it.
fn decode(blob: &[u8]) -> Result<Vec<(CellIndex, f64)>, String> {
    if !blob.len().is_multiple_of(ENTRY) {
        return Err(format!("{} bytes, not a multiple of {ENTRY}", blob.len()));
    }
    blob.chunks_exact(ENTRY)
        .map(|e| {
            let (c, t) = e.split_at(8);
            let c = u64::from_le_bytes(c.try_into().unwrap_or_default());
            let t = f64::from_le_bytes(t.try_into().unwrap_or_default());
            CellIndex::try_from(c)
                .map(|c| (c, t))
                .map_err(|e| format!("cell {c:#x}: {e}"))
        })
        .collect()
}

/// Cells grouped by block, sorted, each cell once (its earliest time).
fn blocks(cells: impl IntoIterator<Item = (CellIndex, f64)>) -> BTreeMap<CellIndex, Vec<(CellIndex, f64)>> {
    let mut first: BTreeMap<CellIndex, f64> = BTreeMap::new();
    for (c, t) in cells {
        first.entry(c).and_modify(|e| *e = e.min(t)).or_insert(t);
    }
    let mut out: BTreeMap<CellIndex, Vec<(CellIndex, f64)>> = BTreeMap::new();
    for (c, t) in first {
        out.entry(c.parent(BLOCK_RESOLUTION).unwrap_or(c))
            .or_default()
            .push((c, t));
    }
    out
}

impl Store {
    /// Inserts (or replaces) a trip's coverage: (cell, first time), cells
    /// as H3 text. The region column is `region` when the caller keys
    /// evidence by region (the Kafka runtime), else each block's parent.
    /// `passes`: whether clustering counts it as passes (a phone fast
    /// enough to feel a defect), see [`Store::pass_coverage_by_trip`].
    pub(crate) async fn insert_coverage(
        &self,
        tx: &mut Transaction<'static, Any>,
        trip_id: &str,
        coverage: &[(String, f64)],
        region: Option<&str>,
        passes: bool,
    ) -> Result<(), Error> {
        let mut cells = Vec::with_capacity(coverage.len());
        for (c, t) in coverage {
            let cell = c.parse::<CellIndex>().map_err(|e| Error::Invalid {
                location: self.location().to_owned(),
                what: format!("trip {trip_id}: coverage cell {c:?}: {e}"),
            })?;
            cells.push((cell, *t));
        }
        let blocks: Vec<(String, String, Vec<u8>)> = blocks(cells)
            .into_iter()
            .map(|(block, cells)| {
                let region = region.map_or_else(
                    || block.parent(REGION_RESOLUTION).unwrap_or(block).to_string(),
                    str::to_owned,
                );
                (block.to_string(), region, encode(&cells))
            })
            .collect();
        // The column keeps its default (1) unless the trip gives no passes,
        // so the insert also runs where the stores migrate to blocks,
        // before the column exists.
        let (insert, n) = if passes {
            ("INSERT INTO coverage_blocks (trip_id, block, region, cells)", 4)
        } else {
            ("INSERT INTO coverage_blocks (trip_id, block, region, cells, passes)", 5)
        };
        self.insert_many(
            tx,
            (
                insert,
                n,
                "ON CONFLICT (trip_id, region, block) DO UPDATE SET cells = excluded.cells",
            ),
            100,
            &blocks,
            |q, (block, region, cells)| {
                let q = q.bind(trip_id.to_owned()).bind(block).bind(region).bind(cells);
                if passes { q } else { q.bind(0_i64) }
            },
        )
        .await
    }

    /// Moves the row-per-cell coverage of a store written before
    /// [`BLOCKS_MIGRATION`] into blocks, a trip at a time, and drops the
    /// old table; inside the migration's transaction.
    pub(crate) async fn move_coverage_to_blocks(&self, tx: &mut Transaction<'static, Any>) -> Result<(), Error> {
        let trips: Vec<String> = sqlx::query(q!("SELECT DISTINCT trip_id FROM coverage ORDER BY trip_id"))
            .fetch_all(&mut **tx)
            .await
            .map_err(|e| self.db(e))?
            .iter()
            .map(|r| r.try_get("trip_id"))
            .collect::<Result<_, _>>()
            .map_err(|e| self.db(e))?;
        for trip in &trips {
            let rows = sqlx::query(q!("SELECT cell, t FROM coverage WHERE trip_id = ?"))
                .bind(trip)
                .fetch_all(&mut **tx)
                .await
                .map_err(|e| self.db(e))?;
            let cells: Vec<(String, f64)> = rows
                .iter()
                .map(|r| Ok((r.try_get("cell")?, r.try_get("t")?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(|e| self.db(e))?;
            self.insert_coverage(tx, trip, &cells, None, true).await?;
        }
        sqlx::raw_sql("DROP TABLE coverage")
            .execute(&mut **tx)
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// A block row's cells, or what is wrong with it.
    fn block_cells(&self, r: &sqlx::any::AnyRow, trip: &str) -> Result<Vec<(CellIndex, f64)>, Error> {
        let block: String = r.try_get("block").map_err(|e| self.db(e))?;
        let blob: Vec<u8> = r.try_get("cells").map_err(|e| self.db(e))?;
        decode(&blob).map_err(|what| Error::Corrupt {
            location: self.location().to_owned(),
            what: format!("coverage of trip {trip} in block {block}: {what}"),
        })
    }

    /// Rows (trip, block, cells) as coverage rows (trip, cell, first time),
    /// keeping the cells `keep` accepts.
    pub(crate) fn unpack_coverage(
        &self,
        rows: &[sqlx::any::AnyRow],
        keep: impl Fn(CellIndex) -> bool,
    ) -> Result<Vec<(String, String, f64)>, Error> {
        let mut out = Vec::new();
        for r in rows {
            let trip: String = r.try_get("trip_id").map_err(|e| self.db(e))?;
            let cells = self.block_cells(r, &trip)?;
            out.extend(
                cells
                    .into_iter()
                    .filter(|(c, _)| keep(*c))
                    .map(|(c, t)| (trip.clone(), c.to_string(), t)),
            );
        }
        Ok(out)
    }

    /// Every trip's coverage: trip → cell → first time, decoded straight
    /// from the blocks (no text per cell): where trips drove.
    ///
    /// # Errors
    ///
    /// [`Error::Db`]; [`Error::Corrupt`] for a block that cannot be read.
    pub async fn coverage_by_trip(&self) -> Result<BTreeMap<String, BTreeMap<CellIndex, f64>>, Error> {
        self.coverage_where(q!("SELECT trip_id, block, cells FROM coverage_blocks"))
            .await
    }

    /// The coverage that counts as passes of clusters (trips of phones
    /// fast enough to feel a defect), as [`Store::coverage_by_trip`]: what
    /// the cluster index loads.
    ///
    /// # Errors
    ///
    /// [`Error::Db`]; [`Error::Corrupt`] for a block that cannot be read.
    pub async fn pass_coverage_by_trip(&self) -> Result<BTreeMap<String, BTreeMap<CellIndex, f64>>, Error> {
        self.coverage_where(q!(
            "SELECT trip_id, block, cells FROM coverage_blocks WHERE passes <> 0"
        ))
        .await
    }

    async fn coverage_where(&self, sql: &str) -> Result<BTreeMap<String, BTreeMap<CellIndex, f64>>, Error> {
        let rows = sqlx::query(sql).fetch_all(&self.pool).await.map_err(|e| self.db(e))?;
        let mut out: BTreeMap<String, BTreeMap<CellIndex, f64>> = BTreeMap::new();
        for r in &rows {
            let trip: String = r.try_get("trip_id").map_err(|e| self.db(e))?;
            let cells = self.block_cells(r, &trip)?;
            let map = out.entry(trip).or_default();
            for (c, t) in cells {
                map.entry(c).and_modify(|e| *e = e.min(t)).or_insert(t);
            }
        }
        Ok(out)
    }

    /// Every coverage row: (trip, cell, first time), by trip and cell.
    ///
    /// # Errors
    ///
    /// [`Error::Db`]; [`Error::Corrupt`] for a block that cannot be read.
    pub async fn coverage(&self) -> Result<Vec<(String, String, f64)>, Error> {
        let mut out: Vec<(String, String, f64)> = self
            .coverage_by_trip()
            .await?
            .into_iter()
            .flat_map(|(trip, cells)| cells.into_iter().map(move |(c, t)| (trip.clone(), c.to_string(), t)))
            .collect();
        sort_rows(&mut out);
        Ok(out)
    }

    /// Coverage rows (trip, cell, first time) in these cells (H3 text;
    /// text that is not a cell matches nothing).
    ///
    /// # Errors
    ///
    /// [`Error::Db`]; [`Error::Corrupt`] for a block that cannot be read.
    pub async fn coverage_in(&self, cells: &[String]) -> Result<Vec<(String, String, f64)>, Error> {
        let wanted: std::collections::BTreeSet<CellIndex> = cells.iter().filter_map(|c| c.parse().ok()).collect();
        let parents: std::collections::BTreeSet<String> = wanted
            .iter()
            .filter_map(|c| c.parent(BLOCK_RESOLUTION))
            .map(|c| c.to_string())
            .collect();
        let parents: Vec<String> = parents.into_iter().collect();
        let rows = self
            .rows_in(
                "SELECT trip_id, block, cells FROM coverage_blocks WHERE block",
                "",
                &parents,
            )
            .await?;
        let mut out = self.unpack_coverage(&rows, |c| wanted.contains(&c))?;
        sort_rows(&mut out);
        Ok(out)
    }
}

/// By trip, then cell: the order the row-per-cell table gave.
pub(crate) fn sort_rows(rows: &mut [(String, String, f64)]) {
    rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(lat: f64, lon: f64) -> CellIndex {
        h3o::LatLng::new(lat, lon).expect("valid").to_cell(Resolution::Thirteen)
    }

    #[test]
    fn a_block_decodes_to_what_was_encoded() {
        let cells = vec![(cell(42.36, -71.06), 1.7e9), (cell(42.361, -71.06), 1.7e9 + 0.25)];
        assert_eq!(decode(&encode(&cells)), Ok(cells));
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        let blob = encode(&[(cell(42.36, -71.06), 1.0)]);
        let err = decode(&blob[..15]).expect_err("truncated");
        assert!(err.contains("15 bytes"), "{err}");
        let mut bad = blob.clone();
        bad[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&bad).expect_err("not a cell").starts_with("cell 0x"));
    }

    proptest::proptest! {
        /// Any bytes decode to cells or to an error naming the fault, never
        /// a panic; whatever decodes encodes back to the same bytes.
        #[test]
        fn any_blob_decodes_or_is_refused(blob in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            match decode(&blob) {
                Ok(cells) => proptest::prop_assert_eq!(encode(&cells), blob),
                Err(why) => proptest::prop_assert!(why.contains("bytes") || why.starts_with("cell 0x"), "{}", why),
            }
        }

        /// Real cells with any times come back exactly.
        #[test]
        fn cells_round_trip(points in proptest::collection::vec((-80.0f64..80.0, -179.0f64..179.0, -1e10f64..1e10), 0..50)) {
            let cells: Vec<(CellIndex, f64)> = points
                .iter()
                .map(|(lat, lon, t)| (h3o::LatLng::new(*lat, *lon).expect("valid").to_cell(Resolution::Thirteen), *t))
                .collect();
            proptest::prop_assert_eq!(decode(&encode(&cells)), Ok(cells));
        }
    }

    #[test]
    fn cells_group_by_parent_and_keep_their_first_time() {
        let a = cell(42.36, -71.06);
        let far = cell(42.40, -71.10);
        let g = blocks([(a, 5.0), (far, 1.0), (a, 3.0)]);
        assert_eq!(g.len(), 2);
        let block = a.parent(BLOCK_RESOLUTION).expect("coarser");
        assert_eq!(g[&block], vec![(a, 3.0)]);
        assert!(
            g.values()
                .flatten()
                .all(|(c, _)| g.keys().any(|b| c.parent(BLOCK_RESOLUTION) == Some(*b)))
        );
    }
}
