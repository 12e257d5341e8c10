/*!
Reading a city's inventory of known obstacles (GeoJSON points or CSV), and
labelled obstacle positions for training: the same format.
*/

use std::path::Path;

use crate::eval::{col_f64, col_str, read_csv};
use crate::read::ReadError;

/// The features of a GeoJSON FeatureCollection file.
///
/// # Errors
/// [`ReadError`] when the file cannot be read or is not a collection.
pub(crate) fn read_features(path: &Path) -> Result<Vec<serde_json::Value>, ReadError> {
    let text = std::fs::read(path).map_err(|e| ReadError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| ReadError::Table {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    match v.get_mut("features").map(serde_json::Value::take) {
        Some(serde_json::Value::Array(features)) => Ok(features),
        _ => Err(ReadError::Table {
            path: path.to_path_buf(),
            reason: "not a GeoJSON FeatureCollection (no \"features\" array)".into(),
        }),
    }
}

/// Reads a city's inventory of known obstacles: GeoJSON points (properties
/// `asset_id` or `id`, and `kind`) or CSV (`asset_id, kind, lat, lon`).
///
/// # Errors
/// [`ReadError`] naming the file and what is wrong.
pub fn read_inventory(path: &Path) -> Result<Vec<bump_cluster::KnownObstacle>, ReadError> {
    let is_csv = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        let df = read_csv(path)?;
        let ids = col_str(&df, path, "asset_id")?;
        let kinds = col_str(&df, path, "kind")?;
        let (lat, lon) = (col_f64(&df, path, "lat")?, col_f64(&df, path, "lon")?);
        return Ok(ids
            .into_iter()
            .zip(kinds)
            .zip(lat.into_iter().zip(lon))
            .filter(|(_, (a, b))| bump_geo::is_valid_position(*a, *b))
            .map(|((asset_id, kind), (lat, lon))| bump_cluster::KnownObstacle {
                asset_id,
                kind,
                lat,
                lon,
            })
            .collect());
    }
    let features = read_features(path)?;
    let mut out = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let bad = |why: &str| ReadError::Row {
            path: path.to_path_buf(),
            row: i + 1,
            reason: why.to_owned(),
        };
        if f["geometry"]["type"].as_str() != Some("Point") {
            return Err(bad("feature is not a Point"));
        }
        let c = &f["geometry"]["coordinates"];
        let (Some(lon), Some(lat)) = (c[0].as_f64(), c[1].as_f64()) else {
            return Err(bad("coordinates are not [lon, lat] numbers"));
        };
        if !bump_geo::is_valid_position(lat, lon) {
            return Err(bad("coordinates out of range"));
        }
        let p = &f["properties"];
        let asset_id = p["asset_id"]
            .as_str()
            .or_else(|| p["id"].as_str())
            .map_or_else(|| format!("feature-{}", i + 1), str::to_owned);
        let kind = p["kind"]
            .as_str()
            .ok_or_else(|| bad("properties.kind is missing"))?
            .to_owned();
        out.push(bump_cluster::KnownObstacle {
            asset_id,
            kind,
            lat,
            lon,
        });
    }
    Ok(out)
}
