/*!
Message keys. Kafka keeps order only within a partition and picks the
partition from the key, so the key decides both what stays in order and how
work spreads over workers.

- **Batches** are keyed by trip id: every batch of one trip lands on one
  partition, in upload order, so a detect worker sees a trip's batches in
  sequence and can keep the trip's carry-over (filter state, the tail of the
  previous batch) while it owns the partition.
- **Evidence** is keyed by the H3 cell at resolution
  [`EVIDENCE_KEY_RESOLUTION`] (7, hexagons of about 5.2 km² with edges of
  about 1.4 km) that contains the bump. One defect's evidence from many
  trips lies within about 50 m; a cell this big holds all of it unless the
  defect sits within about 25 m of a cell border, which
  `evidence_key_keeps_a_defect_together` below measures at 4.2% of
  defects (over a grid of points across Paris). A city of 100 km² still spreads over some 20 such cells, and a
  large one over hundreds, enough for a dozen partitions. Resolution 6
  would split fewer defects (1.7%) but leave a small town on one or two
  partitions; resolution 8 would spread better but split 11%. The rare
  defect that straddles a border is seen by two cluster workers; that is
  correct because cluster state lives in the shared database and updates
  are idempotent, the key only makes it rare for two workers to touch the
  same cluster at once.
- **Clusters** are keyed by cluster id, so the compacted topic keeps each
  cluster's latest state.

Keys are text so they read as themselves in Kafka tooling.
*/

use bump_core::TripId;
use h3o::{LatLng, Resolution};

/// H3 resolution of the evidence key; see the module documentation.
pub const EVIDENCE_KEY_RESOLUTION: Resolution = Resolution::Seven;

/// Why a key could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyError {
    /// The coordinates are not finite or out of range.
    #[error("no evidence key for latitude {lat}, longitude {lon}: {reason}")]
    BadCoordinates {
        /// Latitude given, degrees.
        lat: f64,
        /// Longitude given, degrees.
        lon: f64,
        /// What h3o said.
        reason: String,
    },
}

/// The key of a trip's batches: the trip id.
///
/// # Examples
/// ```
/// let trip = bump_core::TripId::new("trip-42")?;
/// assert_eq!(bump_kafka::batch_key(&trip), b"trip-42");
/// # Ok::<(), bump_core::IdError>(())
/// ```
#[must_use]
pub fn batch_key(trip_id: &TripId) -> Vec<u8> {
    trip_id.as_str().as_bytes().to_vec()
}

/// The key of a bump's evidence: the resolution-7 H3 cell containing
/// (`lat`, `lon`) in degrees, as its 15-digit hexadecimal text.
///
/// # Examples
/// ```
/// let key = bump_kafka::evidence_key(42.3601, -71.0589)?;
/// assert_eq!(key, b"872a30660ffffff");
/// # Ok::<(), bump_kafka::KeyError>(())
/// ```
///
/// # Errors
/// [`KeyError::BadCoordinates`] when a coordinate is not finite.
pub fn evidence_key(lat: f64, lon: f64) -> Result<Vec<u8>, KeyError> {
    let ll = LatLng::new(lat, lon).map_err(|e| KeyError::BadCoordinates {
        lat,
        lon,
        reason: e.to_string(),
    })?;
    Ok(ll.to_cell(EVIDENCE_KEY_RESOLUTION).to_string().into_bytes())
}

/// The key of a cluster's state: its id.
#[must_use]
pub fn cluster_key(cluster_id: &str) -> Vec<u8> {
    cluster_id.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_key_is_the_trip_id() {
        let t = TripId::new("2026-05-01 device:7").unwrap();
        assert_eq!(batch_key(&t), b"2026-05-01 device:7".to_vec());
    }

    #[test]
    fn bad_coordinates_are_refused() {
        assert!(evidence_key(f64::NAN, 0.0).is_err());
        assert!(evidence_key(0.0, f64::INFINITY).is_err());
    }

    #[test]
    fn evidence_key_is_a_resolution_7_cell() {
        let key = String::from_utf8(evidence_key(52.52, 13.405).unwrap()).unwrap();
        let cell: h3o::CellIndex = key.parse().unwrap();
        assert_eq!(cell.resolution(), Resolution::Seven);
    }

    /// Share of defects whose evidence, scattered up to 50 m across, would
    /// be split over two keys: a grid of points over a city-sized box, each
    /// compared with points 25 m away in eight directions.
    fn split_share(res: Resolution) -> f64 {
        const M_PER_DEG_LAT: f64 = 111_320.0;
        let (lat0, lon0) = (48.80_f64, 2.25_f64);
        let (mut split, mut total) = (0_u32, 0_u32);
        for i in 0..60 {
            for j in 0..60 {
                let lat = lat0 + f64::from(i) * 0.0023;
                let lon = lon0 + f64::from(j) * 0.0031;
                let home = LatLng::new(lat, lon).unwrap().to_cell(res);
                let m_per_deg_lon = M_PER_DEG_LAT * lat.to_radians().cos();
                let crosses = (0..8).any(|k| {
                    let a = f64::from(k) * std::f64::consts::FRAC_PI_4;
                    let p = LatLng::new(
                        lat + 25.0 * a.sin() / M_PER_DEG_LAT,
                        lon + 25.0 * a.cos() / m_per_deg_lon,
                    )
                    .unwrap();
                    p.to_cell(res) != home
                });
                split += u32::from(crosses);
                total += 1;
            }
        }
        f64::from(split) / f64::from(total)
    }

    #[test]
    fn evidence_key_keeps_a_defect_together() {
        let s6 = split_share(Resolution::Six);
        let s7 = split_share(EVIDENCE_KEY_RESOLUTION);
        let s8 = split_share(Resolution::Eight);
        // Printed for docs/deployment.md (`cargo test -p bump-kafka -- --nocapture evidence_key_keeps`).
        println!("split share: res 6 {s6:.3}, res 7 {s7:.3}, res 8 {s8:.3}");
        assert!(s7 < 0.05, "{s7}");
        assert!(s6 < s7 && s7 < s8);
    }
}
