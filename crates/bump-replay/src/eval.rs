/*!
Scoring a replay's bumps against ground-truth positions, per trip.

Truth comes as a folder of CSV files, one per trip, each with latitude and
longitude columns (`Latitude`/`Longitude` or `lat`/`lon`). A file's trip is
its name without extension and without a `(bumps)` suffix, which is how
the Lublin surveys name theirs. Trips present in the results but without a
truth file are left out (their precision cannot be judged).
*/

use std::collections::BTreeMap;
use std::path::Path;

use bump_geo::{PointScore, score_points};
use polars::prelude::*;
use serde::Serialize;

use crate::read::ReadError;

/// Per-trip and summed scores.
#[derive(Debug, Clone, Serialize)]
pub struct PointEval {
    /// Matching radius, m.
    pub radius_m: f64,
    /// The rule, in words, as printed with the table.
    pub rule: String,
    /// Scores by trip.
    pub per_trip: BTreeMap<String, PointScore>,
    /// Sum over trips.
    pub total: PointScore,
}

fn latlon(df: &DataFrame, path: &Path) -> Result<Vec<Option<(f64, f64)>>, ReadError> {
    let pick = |names: &[&str]| -> Result<Vec<Option<f64>>, ReadError> {
        let name = names
            .iter()
            .find(|n| df.column(n).is_ok())
            .ok_or_else(|| ReadError::MissingColumn {
                path: path.to_path_buf(),
                column: names.join(" or "),
                role: "truth position",
                available: df
                    .get_column_names()
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let c = df
            .column(name)
            .and_then(|c| c.cast(&DataType::Float64))
            .map_err(|e| ReadError::Table {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let ca = c.f64().map_err(|e| ReadError::Table {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(ca.iter().collect())
    };
    let lat = pick(&["Latitude", "latitude", "lat"])?;
    let lon = pick(&["Longitude", "longitude", "lon"])?;
    Ok(lat
        .into_iter()
        .zip(lon)
        .map(|(a, b)| Some((a?, b?)).filter(|(a, b)| bump_geo::is_valid_position(*a, *b)))
        .collect())
}

fn read_csv(path: &Path) -> Result<DataFrame, ReadError> {
    CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(SerReader::finish)
        .map_err(|e| ReadError::Table {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Reads a truth folder: trip id → positions.
///
/// # Errors
/// [`ReadError`] for an unreadable folder or file.
pub fn read_truth_points(dir: &Path) -> Result<BTreeMap<String, Vec<(f64, f64)>>, ReadError> {
    let mut out = BTreeMap::new();
    for path in crate::read::trip_files(dir)? {
        if path.extension().and_then(|e| e.to_str()) != Some("csv") {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let trip = stem.strip_suffix("(bumps)").unwrap_or(stem);
        let trip = bump_core::TripId::from_file_stem(trip).to_string();
        out.insert(trip, latlon(&read_csv(&path)?, &path)?.into_iter().flatten().collect());
    }
    Ok(out)
}

/// Scores the bumps of a replay (`bumps.csv` in `results`) against `truth`.
///
/// # Errors
/// [`ReadError`] when either side cannot be read.
pub fn eval_points(truth: &Path, results: &Path, radius_m: f64) -> Result<PointEval, ReadError> {
    let truth = read_truth_points(truth)?;
    let bumps_path = results.join("bumps.csv");
    let df = read_csv(&bumps_path)?;
    let trips: Vec<Option<String>> = {
        let c = df.column("trip_id").map_err(|e| ReadError::Table {
            path: bumps_path.clone(),
            reason: e.to_string(),
        })?;
        let c = c.cast(&DataType::String).map_err(|e| ReadError::Table {
            path: bumps_path.clone(),
            reason: e.to_string(),
        })?;
        c.str()
            .map_err(|e| ReadError::Table {
                path: bumps_path.clone(),
                reason: e.to_string(),
            })?
            .iter()
            .map(|s| s.map(str::to_owned))
            .collect()
    };
    let pos = latlon(&df, &bumps_path)?;
    let mut by_trip: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    // Rows are in trip, time order (the replay writes them so).
    for (t, p) in trips.into_iter().zip(pos) {
        if let (Some(t), Some(p)) = (t, p) {
            by_trip.entry(t).or_default().push(p);
        }
    }
    let mut per_trip = BTreeMap::new();
    let mut total = PointScore::default();
    for (trip, gt) in &truth {
        let det = by_trip.get(trip).map_or(&[][..], Vec::as_slice);
        let s = score_points(det, gt, radius_m);
        total = total.add(s);
        per_trip.insert(trip.clone(), s);
    }
    Ok(PointEval {
        radius_m,
        rule: format!(
            "detections within {radius_m} m of an earlier one are merged; a merged detection is a true positive \
             when a truth point lies within {radius_m} m; a truth point is found when a merged detection lies within {radius_m} m"
        ),
        per_trip,
        total,
    })
}
