/*!
Writing bumps as `bumps.csv` and `bumps.parquet`.

Both files hold the same columns in the same order (see
`docs/formats.md`); missing values (a heading while standing, a band above
Nyquist) are nulls, never NaN, so every tool reads them alike. Rows are in
the order given; the replay sorts them by trip and time first, so output
is byte-identical for identical input.
*/

use std::path::Path;

use bump_core::Bump;
use polars::prelude::*;

/// Column names of the bump tables, in order.
pub const BUMP_COLUMNS: [&str; 21] = [
    "bump_id",
    "trip_id",
    "device_id",
    "t",
    "lat",
    "lon",
    "speed_mps",
    "heading_deg",
    "peak_mps2",
    "p2p_mps2",
    "duration_s",
    "energy_m2ps3",
    "first",
    "band_0_5_2_hz",
    "band_2_5_hz",
    "band_5_10_hz",
    "band_10_20_hz",
    "band_20_50_hz",
    "score",
    "sample_rate_hz",
    "detector",
];

/// Why output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {reason}")]
pub struct WriteError {
    /// The file.
    pub path: String,
    /// What failed.
    pub reason: String,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The bumps as a polars frame with [`BUMP_COLUMNS`].
///
/// # Errors
/// A polars error if columns disagree in length (they cannot).
pub fn bumps_frame(bumps: &[Bump]) -> PolarsResult<DataFrame> {
    let f = |get: fn(&Bump) -> f64| -> Vec<Option<f64>> { bumps.iter().map(|b| finite(get(b))).collect() };
    let s = |get: fn(&Bump) -> String| -> Vec<String> { bumps.iter().map(get).collect() };
    let cols: Vec<Column> = vec![
        Column::new("bump_id".into(), s(|b| b.bump_id.to_string())),
        Column::new("trip_id".into(), s(|b| b.trip_id.to_string())),
        Column::new("device_id".into(), s(|b| b.device_id.to_string())),
        Column::new("t".into(), f(|b| b.t)),
        Column::new("lat".into(), f(|b| b.lat)),
        Column::new("lon".into(), f(|b| b.lon)),
        Column::new("speed_mps".into(), f(|b| b.speed_mps)),
        Column::new("heading_deg".into(), f(|b| b.heading_deg)),
        Column::new("peak_mps2".into(), f(|b| b.peak_mps2)),
        Column::new("p2p_mps2".into(), f(|b| b.p2p_mps2)),
        Column::new("duration_s".into(), f(|b| b.duration_s)),
        Column::new("energy_m2ps3".into(), f(|b| b.energy_m2ps3)),
        Column::new("first".into(), s(|b| b.first.as_str().to_owned())),
        Column::new("band_0_5_2_hz".into(), f(|b| b.band_energy[0])),
        Column::new("band_2_5_hz".into(), f(|b| b.band_energy[1])),
        Column::new("band_5_10_hz".into(), f(|b| b.band_energy[2])),
        Column::new("band_10_20_hz".into(), f(|b| b.band_energy[3])),
        Column::new("band_20_50_hz".into(), f(|b| b.band_energy[4])),
        Column::new("score".into(), f(|b| b.score)),
        Column::new("sample_rate_hz".into(), f(|b| b.sample_rate_hz)),
        Column::new("detector".into(), s(|_| DETECTOR_VERSION.to_owned())),
    ];
    DataFrame::new_infer_height(cols)
}

/// Names the detector that produced a row, so results of different
/// versions are never mixed up silently.
pub const DETECTOR_VERSION: &str = "speed-threshold/1";

/// Writes `bumps.csv` and `bumps.parquet` into `dir`.
///
/// # Errors
/// [`WriteError`] naming the file.
pub fn write_bumps(dir: &Path, bumps: &[Bump]) -> Result<(), WriteError> {
    let err = |p: &Path, e: &dyn std::fmt::Display| WriteError {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
    let mut df = bumps_frame(bumps).map_err(|e| err(dir, &e))?;
    let csv = dir.join("bumps.csv");
    let mut file = std::fs::File::create(&csv).map_err(|e| err(&csv, &e))?;
    CsvWriter::new(&mut file)
        .include_header(true)
        .finish(&mut df)
        .map_err(|e| err(&csv, &e))?;
    let pq = dir.join("bumps.parquet");
    let file = std::fs::File::create(&pq).map_err(|e| err(&pq, &e))?;
    ParquetWriter::new(file).finish(&mut df).map_err(|e| err(&pq, &e))?;
    Ok(())
}

/// A trip as a recording table in the `streetbump` preset's columns: one
/// row per accelerometer reading, GPS columns repeating the latest fix
/// (empty before the first), as phone loggers write them.
///
/// # Errors
/// A polars error if columns disagree in length (they cannot).
pub fn recording_frame(trip: &bump_core::Trip) -> PolarsResult<DataFrame> {
    let n = trip.accel.len();
    let mut lat = Vec::with_capacity(n);
    let mut lon = Vec::with_capacity(n);
    let mut speed = Vec::with_capacity(n);
    let mut acc = Vec::with_capacity(n);
    let mut heading = Vec::with_capacity(n);
    let mut fixes = trip.gps.iter().peekable();
    let mut cur: Option<&bump_core::GpsFix> = None;
    for a in &trip.accel {
        while let Some(f) = fixes.peek() {
            if f.t <= a.t {
                cur = fixes.next();
            } else {
                break;
            }
        }
        lat.push(cur.map(|f| f.lat));
        lon.push(cur.map(|f| f.lon));
        speed.push(cur.and_then(|f| f.speed_mps));
        acc.push(cur.and_then(|f| f.accuracy_m));
        heading.push(cur.and_then(|f| f.heading_deg));
    }
    let col = |name: &str, get: fn(&bump_core::AccelSample) -> f64| -> Column {
        Column::new(name.into(), trip.accel.iter().map(get).collect::<Vec<f64>>())
    };
    DataFrame::new_infer_height(vec![
        col("t", |a| a.t),
        col("ax", |a| a.x),
        col("ay", |a| a.y),
        col("az", |a| a.z),
        Column::new("lat".into(), lat),
        Column::new("lon".into(), lon),
        Column::new("speed_mps".into(), speed),
        Column::new("accuracy_m".into(), acc),
        Column::new("heading_deg".into(), heading),
    ])
}

/// How Parquet recordings are compressed. Readers pay for the codec:
/// zstd (polars' default) makes the smallest files, snappy (pyarrow's and
/// Spark's default) and LZ4 decode several times faster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParquetCodec {
    /// zstd at its default level.
    #[default]
    Zstd,
    /// Snappy.
    Snappy,
    /// LZ4 (the raw block format of the Parquet specification).
    Lz4,
    /// No compression.
    Uncompressed,
}

impl ParquetCodec {
    fn polars(self) -> ParquetCompression {
        match self {
            Self::Zstd => ParquetCompression::Zstd(None),
            Self::Snappy => ParquetCompression::Snappy,
            Self::Lz4 => ParquetCompression::Lz4Raw,
            Self::Uncompressed => ParquetCompression::Uncompressed,
        }
    }
}

/// Writes a trip as `<dir>/<trip_id>.csv` and/or `.parquet` (compressed
/// with the codec given).
///
/// # Errors
/// [`WriteError`] naming the file.
pub fn write_recording(
    dir: &Path,
    trip: &bump_core::Trip,
    csv: bool,
    parquet: Option<ParquetCodec>,
) -> Result<(), WriteError> {
    let err = |p: &Path, e: &dyn std::fmt::Display| WriteError {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
    let mut df = recording_frame(trip).map_err(|e| err(dir, &e))?;
    if csv {
        let p = dir.join(format!("{}.csv", trip.trip_id));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).map_err(|e| err(&p, &e))?);
        CsvWriter::new(&mut f)
            .include_header(true)
            .finish(&mut df)
            .map_err(|e| err(&p, &e))?;
    }
    if let Some(codec) = parquet {
        let p = dir.join(format!("{}.parquet", trip.trip_id));
        let f = std::fs::File::create(&p).map_err(|e| err(&p, &e))?;
        ParquetWriter::new(f)
            .with_compression(codec.polars())
            .finish(&mut df)
            .map_err(|e| err(&p, &e))?;
    }
    Ok(())
}

/// The clusters as a polars frame.
///
/// # Errors
/// A polars error if columns disagree in length (they cannot).
pub fn clusters_frame(
    clusters: &[bump_cluster::Cluster],
    known: &[Option<bump_cluster::KnownMatch>],
    classes: &[bump_cluster::Classified],
) -> PolarsResult<DataFrame> {
    let class = |i: usize| classes.get(i);
    let prob = |j: usize| -> Vec<Option<f64>> {
        (0..clusters.len())
            .map(|i| class(i).and_then(|c| finite(c.probabilities[j])))
            .collect()
    };
    use bump_cluster::Cluster;
    let k = |get: fn(&bump_cluster::KnownMatch) -> String| -> Vec<Option<String>> {
        (0..clusters.len())
            .map(|i| known.get(i).and_then(Option::as_ref).map(get))
            .collect()
    };
    let f = |get: fn(&Cluster) -> f64| -> Vec<Option<f64>> { clusters.iter().map(|c| finite(get(c))).collect() };
    let u = |get: fn(&Cluster) -> usize| -> Vec<u64> { clusters.iter().map(|c| get(c) as u64).collect() };
    DataFrame::new_infer_height(vec![
        Column::new(
            "cluster_id".into(),
            clusters.iter().map(|c| c.cluster_id.clone()).collect::<Vec<_>>(),
        ),
        Column::new("lat".into(), f(|c| c.lat)),
        Column::new("lon".into(), f(|c| c.lon)),
        Column::new(
            "h3_cell".into(),
            clusters.iter().map(|c| h3_cell(&c.cluster_id)).collect::<Vec<_>>(),
        ),
        Column::new(
            "status".into(),
            clusters
                .iter()
                .map(|c| c.status.as_str().to_owned())
                .collect::<Vec<_>>(),
        ),
        Column::new("confidence".into(), f(|c| c.confidence)),
        Column::new("hits".into(), u(|c| c.hits)),
        Column::new("distinct_trips".into(), u(|c| c.trips)),
        Column::new("support_trips".into(), u(|c| c.support_trips)),
        Column::new("devices".into(), u(|c| c.devices)),
        Column::new("passes".into(), u(|c| c.passes)),
        Column::new("hit_rate".into(), f(|c| c.hit_rate)),
        Column::new("magnitude_median_mps2".into(), f(|c| c.magnitude_median_mps2)),
        Column::new("magnitude_p90_mps2".into(), f(|c| c.magnitude_p90_mps2)),
        Column::new("first_seen".into(), f(|c| c.first_seen)),
        Column::new("last_seen".into(), f(|c| c.last_seen)),
        Column::new("heading_deg".into(), f(|c| c.heading_deg)),
        Column::new("up_first_share".into(), f(|c| c.up_first_share)),
        Column::new("misses_since_last_hit".into(), u(|c| c.misses_since_last_hit)),
        Column::new("one_way".into(), clusters.iter().map(|c| c.one_way).collect::<Vec<_>>()),
        Column::new("duration_median_s".into(), f(|c| c.signature.duration_median_s)),
        Column::new(
            "peak_per_speed_median_hz".into(),
            f(|c| c.signature.peak_per_speed_median_hz),
        ),
        Column::new("low_band_share_median".into(), f(|c| c.signature.low_band_share_median)),
        Column::new("speed_median_mps".into(), f(|c| c.signature.speed_median_mps)),
        Column::new("opposite_share".into(), f(|c| c.signature.opposite_share)),
        Column::new("dominance".into(), f(|c| c.signature.dominance)),
        Column::new("bumps_per_trip".into(), f(|c| c.signature.bumps_per_trip)),
        Column::new(
            "class".into(),
            (0..clusters.len())
                .map(|i| class(i).map_or_else(|| bump_cluster::UNKNOWN.to_owned(), |c| c.class.clone()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "class_probability".into(),
            (0..clusters.len())
                .map(|i| class(i).and_then(|c| finite(c.probability)))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "class_source".into(),
            (0..clusters.len())
                .map(|i| class(i).map_or("none", |c| c.source.as_str()).to_owned())
                .collect::<Vec<_>>(),
        ),
        Column::new("p_pothole".into(), prob(0)),
        Column::new("p_speed_hump".into(), prob(1)),
        Column::new("p_casting".into(), prob(2)),
        Column::new("p_rail_crossing".into(), prob(3)),
        Column::new("p_rough_road".into(), prob(4)),
        Column::new("known_asset_id".into(), k(|m| m.asset_id.clone())),
        Column::new("known_kind".into(), k(|m| m.kind.clone())),
        Column::new(
            "known_distance_m".into(),
            (0..clusters.len())
                .map(|i| known.get(i).and_then(Option::as_ref).map(|m| m.distance_m))
                .collect::<Vec<_>>(),
        ),
    ])
}

/// Writes `clusters.csv` and `clusters.parquet` into `dir`.
///
/// # Errors
/// [`WriteError`] naming the file.
pub fn write_clusters(
    dir: &Path,
    clusters: &[bump_cluster::Cluster],
    known: &[Option<bump_cluster::KnownMatch>],
    classes: &[bump_cluster::Classified],
) -> Result<(), WriteError> {
    let err = |p: &Path, e: &dyn std::fmt::Display| WriteError {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
    let mut df = clusters_frame(clusters, known, classes).map_err(|e| err(dir, &e))?;
    let csv = dir.join("clusters.csv");
    let mut file = std::fs::File::create(&csv).map_err(|e| err(&csv, &e))?;
    CsvWriter::new(&mut file)
        .include_header(true)
        .finish(&mut df)
        .map_err(|e| err(&csv, &e))?;
    let pq = dir.join("clusters.parquet");
    let file = std::fs::File::create(&pq).map_err(|e| err(&pq, &e))?;
    ParquetWriter::new(file).finish(&mut df).map_err(|e| err(&pq, &e))?;
    let gj = dir.join("clusters.geojson");
    let fc = clusters_geojson(clusters, known, classes);
    std::fs::write(&gj, serde_json::to_vec_pretty(&fc).map_err(|e| err(&gj, &e))?).map_err(|e| err(&gj, &e))?;
    Ok(())
}

/// The clusters as a GeoJSON FeatureCollection of points (for maps and
/// GIS tools); missing numbers are `null`.
#[must_use]
pub fn clusters_geojson(
    clusters: &[bump_cluster::Cluster],
    known: &[Option<bump_cluster::KnownMatch>],
    classes: &[bump_cluster::Classified],
) -> serde_json::Value {
    let num = |v: f64| finite(v).map_or(serde_json::Value::Null, serde_json::Value::from);
    let features: Vec<serde_json::Value> = clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cls = classes.get(i);
            let probs: serde_json::Map<String, serde_json::Value> = bump_cluster::CLASSES
                .iter()
                .enumerate()
                .map(|(j, n)| ((*n).to_owned(), cls.map_or(serde_json::Value::Null, |x| num(x.probabilities[j]))))
                .collect();
            let k = known.get(i).and_then(Option::as_ref);
            serde_json::json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
                "properties": {
                    "cluster_id": c.cluster_id,
                    "h3_cell": h3_cell(&c.cluster_id),
                    "class": cls.map_or(bump_cluster::UNKNOWN, |x| x.class.as_str()),
                    "class_probability": cls.map_or(serde_json::Value::Null, |x| num(x.probability)),
                    "class_source": cls.map_or("none", |x| x.source.as_str()),
                    "class_probabilities": probs,
                    "known_obstacle": k.map(|m| serde_json::json!({"asset_id": m.asset_id, "kind": m.kind, "distance_m": m.distance_m})),
                    "status": c.status.as_str(),
                    "confidence": num(c.confidence),
                    "hits": c.hits,
                    "distinct_trips": c.trips,
                    "support_trips": c.support_trips,
                    "devices": c.devices,
                    "passes": c.passes,
                    "hit_rate": num(c.hit_rate),
                    "magnitude_median_mps2": num(c.magnitude_median_mps2),
                    "magnitude_p90_mps2": num(c.magnitude_p90_mps2),
                    "first_seen": num(c.first_seen),
                    "last_seen": num(c.last_seen),
                    "heading_deg": num(c.heading_deg),
                    "one_way": c.one_way,
                }
            })
        })
        .collect();
    serde_json::json!({"type": "FeatureCollection", "features": features})
}

/// The H3 cell of a cluster: its mode, also for a cluster split off by
/// direction of travel.
fn h3_cell(cluster_id: &str) -> String {
    bump_cluster::cell_of_cluster_id(cluster_id).map_or_else(|| cluster_id.to_owned(), |c| c.to_string())
}
