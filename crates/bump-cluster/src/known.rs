/*!
Labelling clusters with the city's inventory of known obstacles.

A cluster within `max_distance_m` of a known speed hump, rail crossing or
casting is that obstacle (the nearest one), whatever its signature: the
city already knows about it, so it must never be filed as a pothole.
The distance is reported, so a reviewer sees how sure the match is
(inventories place assets to a few metres; phones to 3–10 m).
*/

use serde::{Deserialize, Serialize};

use crate::Cluster;

/// One entry of a city's inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownObstacle {
    /// The city's id for it.
    pub asset_id: String,
    /// What it is (`speed_hump`, `rail_crossing`, `casting`, ...).
    pub kind: String,
    /// Degrees.
    pub lat: f64,
    /// Degrees.
    pub lon: f64,
}

/// The match of a cluster to the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownMatch {
    /// The asset.
    pub asset_id: String,
    /// Its kind.
    pub kind: String,
    /// Distance from the cluster's position, m.
    #[serde(deserialize_with = "crate::de_f64")]
    pub distance_m: f64,
}

/// The nearest known obstacle within `max_distance_m` of each cluster
/// (ties broken by asset id, so the result is deterministic).
#[must_use]
pub fn match_known(clusters: &[Cluster], known: &[KnownObstacle], max_distance_m: f64) -> Vec<Option<KnownMatch>> {
    clusters
        .iter()
        .map(|c| {
            known
                .iter()
                .map(|k| (bump_geo::distance_m(c.lat, c.lon, k.lat, k.lon), k))
                .filter(|(d, _)| *d <= max_distance_m)
                .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.asset_id.cmp(&b.1.asset_id)))
                .map(|(d, k)| KnownMatch {
                    asset_id: k.asset_id.clone(),
                    kind: k.kind.clone(),
                    distance_m: d,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterIndex, ClusterParams};

    #[test]
    fn nearest_within_reach() {
        let mut c = ClusterIndex::new(ClusterParams::default()).clusters();
        assert!(c.is_empty());
        let template = Cluster {
            cluster_id: "x".into(),
            lat: 42.35,
            lon: -71.08,
            hits: 3,
            trips: 3,
            support_trips: 0,
            devices: 3,
            passes: 3,
            hit_rate: 1.0,
            magnitude_median_mps2: 4.0,
            magnitude_p90_mps2: 5.0,
            first_seen: 0.0,
            last_seen: 1.0,
            heading_deg: 90.0,
            up_first_share: 1.0,
            misses_since_last_hit: 0,
            one_way: false,
            window_votes: Vec::new(),
            confidence: 0.9,
            status: crate::Status::Likely,
            signature: crate::Signature {
                up_first_share: 1.0,
                duration_median_s: 0.5,
                peak_per_speed_median_hz: 0.5,
                low_band_share_median: 0.5,
                speed_median_mps: 5.0,
                opposite_share: 0.0,
                dominance: 1.0,
                bumps_per_trip: 1.0,
            },
            bump_ids: vec![],
        };
        c.push(template.clone());
        let (la, lo) = bump_geo::destination(42.35, -71.08, 0.0, 6.0);
        let (fa, fo) = bump_geo::destination(42.35, -71.08, 0.0, 40.0);
        let known = vec![
            KnownObstacle {
                asset_id: "far".into(),
                kind: "casting".into(),
                lat: fa,
                lon: fo,
            },
            KnownObstacle {
                asset_id: "hump-1".into(),
                kind: "speed_hump".into(),
                lat: la,
                lon: lo,
            },
        ];
        let m = match_known(&c, &known, 15.0);
        let got = m[0].as_ref().unwrap();
        assert_eq!(got.asset_id, "hump-1");
        assert!((got.distance_m - 6.0).abs() < 0.01);
        assert!(match_known(&c, &known[..1], 15.0)[0].is_none());
    }
}
