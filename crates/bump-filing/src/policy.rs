/*!
The filing policy: which cluster becomes which service request, where.

A pure decision over a cluster, the registry, reviewers' decisions and the
filings made so far. A cluster is filed when its class is one the city files
(and its municipality has a service code for), its confidence and distinct
trips reach the thresholds, it is not a known obstacle, no reviewer dismissed
it, it lies inside a municipality with an endpoint, and it is not already
filed. "The same defect" is the same cluster id or a filing of the same class
within `same_defect_m`, since a cluster's mode cell can move by a cell or two
as evidence grows. A defect whose request was closed is filed again (naming
the old request) only when bumps recur after the close.
*/

use chrono::{DateTime, TimeZone, Utc};

use bump_cluster::{Classified, Cluster, KnownMatch};
use bump_pipeline::config::FilingConfig;

use crate::outbox::{Filing, FilingState, NewFiling};
use crate::registry::Registry;

/// What the policy needs to know of one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Cluster id.
    pub cluster_id: String,
    /// Position, degrees.
    pub lat: f64,
    /// Position, degrees.
    pub lon: f64,
    /// Class.
    pub class: String,
    /// Probability of the class.
    pub class_probability: f64,
    /// Cluster confidence.
    pub confidence: f64,
    /// Bumps.
    pub hits: usize,
    /// Distinct trips with a hit.
    pub trips: usize,
    /// Distinct devices with a hit.
    pub devices: usize,
    /// Distinct trips that passed.
    pub passes: usize,
    /// Median peak, m/s².
    pub magnitude_median_mps2: f64,
    /// p90 peak, m/s².
    pub magnitude_p90_mps2: f64,
    /// First bump, UTC s.
    pub first_seen: f64,
    /// Last bump, UTC s.
    pub last_seen: f64,
    /// The known obstacle it matched, if any.
    pub known: Option<KnownMatch>,
    /// A reviewer confirmed it: filed whatever its confidence and trips.
    pub confirmed: bool,
    /// A reviewer marked it fixed at this time (UTC s).
    pub fixed_at: Option<f64>,
}

impl Candidate {
    /// From the clustering and classification outputs.
    #[must_use]
    pub fn new(c: &Cluster, class: &Classified, known: Option<&KnownMatch>) -> Self {
        Self {
            cluster_id: c.cluster_id.clone(),
            lat: c.lat,
            lon: c.lon,
            class: class.class.clone(),
            class_probability: class.probability,
            confidence: c.confidence,
            hits: c.hits,
            trips: c.trips,
            devices: c.devices,
            passes: c.passes,
            magnitude_median_mps2: c.magnitude_median_mps2,
            magnitude_p90_mps2: c.magnitude_p90_mps2,
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            known: known.cloned(),
            confirmed: false,
            fixed_at: None,
        }
    }
}

/// Why a cluster is not filed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Skip {
    /// The class is not among those filed.
    ClassNotFiled,
    /// Confidence below the threshold.
    LowConfidence,
    /// Too few distinct trips.
    TooFewTrips,
    /// A known obstacle of the city's inventory.
    KnownObstacle,
    /// A reviewer dismissed it.
    Dismissed,
    /// Outside every municipality: kept and shown, not filed.
    OutsideJurisdictions,
    /// The municipality has no endpoint.
    NoEndpoint {
        /// Municipality.
        jurisdiction_id: String,
    },
    /// The municipality has no service code for the class.
    NoServiceCode {
        /// Municipality.
        jurisdiction_id: String,
    },
    /// Already filed (or being filed).
    AlreadyFiled {
        /// The filing's marker.
        marker: String,
    },
    /// A reviewer marked it fixed and no bump came after.
    MarkedFixed,
    /// Its request was closed and no bump came after.
    Fixed {
        /// The closed filing's marker.
        marker: String,
    },
}

/// The policy's answer for one cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// File this.
    File(NewFiling),
    /// Do not.
    Skip(Skip),
}

/// Seconds to a UTC date-time.
#[must_use]
pub fn utc(t: f64) -> DateTime<Utc> {
    #[allow(clippy::cast_possible_truncation, reason = "whole seconds of a finite time")]
    let secs = t.floor() as i64;
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// Decides for one cluster.
#[must_use]
pub fn decide(
    c: &Candidate,
    cfg: &FilingConfig,
    registry: &Registry,
    dismissed: &dyn Fn(&str) -> bool,
    filings: &[Filing],
) -> Decision {
    if !cfg.classes.contains(&c.class) {
        return Decision::Skip(Skip::ClassNotFiled);
    }
    if c.known.is_some() {
        return Decision::Skip(Skip::KnownObstacle);
    }
    if dismissed(&c.cluster_id) {
        return Decision::Skip(Skip::Dismissed);
    }
    if let Some(t) = c.fixed_at
        && c.last_seen <= t + cfg.reopen_grace_s
    {
        return Decision::Skip(Skip::MarkedFixed);
    }
    if c.trips < cfg.min_trips && !c.confirmed {
        return Decision::Skip(Skip::TooFewTrips);
    }
    // NaN confidence is never enough.
    if (c.confidence.is_nan() || c.confidence < cfg.min_confidence) && !c.confirmed {
        return Decision::Skip(Skip::LowConfidence);
    }
    let Some(j) = registry.locate(c.lat, c.lon) else {
        return Decision::Skip(Skip::OutsideJurisdictions);
    };
    if j.endpoint.is_none() {
        return Decision::Skip(Skip::NoEndpoint {
            jurisdiction_id: j.jurisdiction_id.clone(),
        });
    }
    let Some(code) = j.service_codes.get(&c.class) else {
        return Decision::Skip(Skip::NoServiceCode {
            jurisdiction_id: j.jurisdiction_id.clone(),
        });
    };
    // The latest filing of the same defect decides.
    let same: Vec<&Filing> = filings
        .iter()
        .filter(|f| {
            f.cluster_id == c.cluster_id
                || (f.class == c.class && bump_geo::distance_m(f.lat, f.lon, c.lat, c.lon) <= cfg.same_defect_m)
        })
        .collect();
    let mut generation = 1;
    let mut reopens = None;
    if let Some(last) = same.iter().max_by_key(|f| (f.generation, f.id)) {
        generation = last.generation + 1;
        match last.state {
            FilingState::Closed => {
                let closed = last.closed_at.unwrap_or(last.updated_at);
                let recur = utc(c.last_seen) > closed + chrono::TimeDelta::seconds(cfg.reopen_grace_s as i64);
                if !recur {
                    return Decision::Skip(Skip::Fixed {
                        marker: last.marker.clone(),
                    });
                }
                reopens = Some(last.service_request_id.clone().unwrap_or_else(|| last.marker.clone()));
            }
            // A filing the server refused stays refused until an operator
            // acts on it; filing again would be refused the same way.
            _ => {
                return Decision::Skip(Skip::AlreadyFiled {
                    marker: last.marker.clone(),
                });
            }
        }
    }
    let marker = format!("sb-{}-{}", c.cluster_id, generation);
    Decision::File(NewFiling {
        marker: marker.clone(),
        cluster_id: c.cluster_id.clone(),
        class: c.class.clone(),
        lat: c.lat,
        lon: c.lon,
        jurisdiction_id: j.jurisdiction_id.clone(),
        service_code: code.clone(),
        attributes: j.attributes.get(&c.class).cloned().unwrap_or_default(),
        description: description(c, cfg, &marker, reopens.as_deref()),
        generation,
        reopens,
    })
}

fn class_phrase(class: &str) -> &str {
    match class {
        "pothole" => "Likely pothole",
        "casting" => "Likely sunk casting or manhole",
        "speed_hump" => "Speed hump or table",
        "rail_crossing" => "Rail crossing",
        "rough_road" => "Rough road surface",
        other => other,
    }
}

/// The request's description: the evidence, a link back and the marker
/// that lets a crashed filer find its own request again.
#[must_use]
pub fn description(c: &Candidate, cfg: &FilingConfig, marker: &str, reopens: Option<&str>) -> String {
    let mut d = format!(
        "{} detected by streetbump from drivers' phone accelerometers.\n\
         Evidence: {} hits from {} distinct trips ({} devices); {} trips passed (hit rate {:.2}); confidence {:.2}.\n\
         Median peak vertical acceleration {:.1} m/s2 (90th percentile {:.1} m/s2).\n\
         First seen {}, last seen {}.\n",
        class_phrase(&c.class),
        c.hits,
        c.trips,
        c.devices,
        c.passes,
        if c.passes > 0 {
            c.trips as f64 / c.passes as f64
        } else {
            0.0
        },
        c.confidence,
        c.magnitude_median_mps2,
        c.magnitude_p90_mps2,
        bump_open311::model::w3_datetime(utc(c.first_seen)),
        bump_open311::model::w3_datetime(utc(c.last_seen)),
    );
    if let Some(old) = reopens {
        d.push_str(&format!(
            "Reopens request {old}, which was closed, as bumps recur at the same place.\n"
        ));
    }
    d.push_str(&format!("Cluster: {}{}\n", cfg.link_base_url, c.cluster_id));
    d.push_str(&format!("Ref: {marker}"));
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Filing;

    fn registry() -> Registry {
        let text = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[-71.2,42.0],[-71.1,42.0],[-71.1,42.1],[-71.2,42.1],[-71.2,42.0]]]},
           "properties":{"name":"West","jurisdiction_id":"west.example","endpoint":"http://127.0.0.1:1/v2/","api_key_env":"K","service_codes":{"pothole":"REQPOTHL"}}},
          {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[-71.1,42.0],[-71.0,42.0],[-71.0,42.1],[-71.1,42.1],[-71.1,42.0]]]},
           "properties":{"name":"East","jurisdiction_id":"east.example"}}]}"#;
        Registry::from_geojson(text, "r").expect("registry")
    }

    fn pothole() -> Candidate {
        Candidate {
            cluster_id: "8d2a306638a9a3f".into(),
            lat: 42.05,
            lon: -71.15,
            class: "pothole".into(),
            class_probability: 0.9,
            confidence: 0.95,
            hits: 7,
            trips: 5,
            devices: 4,
            passes: 9,
            magnitude_median_mps2: 6.2,
            magnitude_p90_mps2: 8.1,
            first_seen: 1_700_000_000.0,
            last_seen: 1_700_090_000.0,
            known: None,
            confirmed: false,
            fixed_at: None,
        }
    }

    fn no_one(_: &str) -> bool {
        false
    }

    fn filed(nf: &NewFiling, state: FilingState, closed_at: Option<DateTime<Utc>>) -> Filing {
        let mut f = Filing::from_new(1, nf, utc(1_700_100_000.0));
        f.state = state;
        f.service_request_id = Some("SR-1".into());
        f.closed_at = closed_at;
        f
    }

    #[test]
    fn files_a_likely_pothole_once() {
        let cfg = FilingConfig::default();
        let r = registry();
        let Decision::File(nf) = decide(&pothole(), &cfg, &r, &no_one, &[]) else {
            panic!("should file")
        };
        assert_eq!(nf.jurisdiction_id, "west.example");
        assert_eq!(nf.service_code, "REQPOTHL");
        assert_eq!(nf.marker, "sb-8d2a306638a9a3f-1");
        assert!(
            nf.description
                .contains("7 hits from 5 distinct trips (4 devices); 9 trips passed")
        );
        assert!(nf.description.ends_with("Ref: sb-8d2a306638a9a3f-1"));
        assert!(
            nf.description
                .contains("http://127.0.0.1:8080/clusters/8d2a306638a9a3f")
        );
        let f = filed(&nf, FilingState::Filed, None);
        assert!(matches!(
            decide(&pothole(), &cfg, &r, &no_one, std::slice::from_ref(&f)),
            Decision::Skip(Skip::AlreadyFiled { .. })
        ));
        // The same defect seen as a neighbouring cell is still the same defect.
        let mut moved = pothole();
        moved.cluster_id = "8d2a306638a9a7f".into();
        moved.lat += 0.00005;
        assert!(matches!(
            decide(&moved, &cfg, &r, &no_one, &[f]),
            Decision::Skip(Skip::AlreadyFiled { .. })
        ));
    }

    #[test]
    fn each_rule_can_say_no() {
        let cfg = FilingConfig::default();
        let r = registry();
        let check = |c: Candidate, want: fn(&Skip) -> bool| match decide(&c, &cfg, &r, &no_one, &[]) {
            Decision::Skip(s) => assert!(want(&s), "{s:?}"),
            Decision::File(_) => panic!("filed {c:?}"),
        };
        check(
            Candidate {
                class: "speed_hump".into(),
                ..pothole()
            },
            |s| *s == Skip::ClassNotFiled,
        );
        check(
            Candidate {
                confidence: 0.5,
                ..pothole()
            },
            |s| *s == Skip::LowConfidence,
        );
        check(
            Candidate {
                confidence: f64::NAN,
                ..pothole()
            },
            |s| *s == Skip::LowConfidence,
        );
        check(Candidate { trips: 2, ..pothole() }, |s| *s == Skip::TooFewTrips);
        check(
            Candidate {
                fixed_at: Some(pothole().last_seen),
                ..pothole()
            },
            |s| *s == Skip::MarkedFixed,
        );
        // A reviewer's confirmation overrides the evidence thresholds.
        assert!(matches!(
            decide(
                &Candidate {
                    trips: 1,
                    confidence: 0.1,
                    confirmed: true,
                    ..pothole()
                },
                &cfg,
                &r,
                &no_one,
                &[]
            ),
            Decision::File(_)
        ));
        check(
            Candidate {
                known: Some(KnownMatch {
                    asset_id: "a".into(),
                    kind: "pothole".into(),
                    distance_m: 3.0,
                }),
                ..pothole()
            },
            |s| *s == Skip::KnownObstacle,
        );
        check(Candidate { lat: 43.0, ..pothole() }, |s| {
            *s == Skip::OutsideJurisdictions
        });
        check(
            Candidate {
                lon: -71.05,
                ..pothole()
            },
            |s| matches!(s, Skip::NoEndpoint { .. }),
        );
        let dismissed = |id: &str| id == "8d2a306638a9a3f";
        assert_eq!(
            decide(&pothole(), &cfg, &r, &dismissed, &[]),
            Decision::Skip(Skip::Dismissed)
        );
        let cfg2 = FilingConfig {
            classes: vec!["pothole".into(), "casting".into()],
            ..FilingConfig::default()
        };
        assert!(matches!(
            decide(
                &Candidate {
                    class: "casting".into(),
                    ..pothole()
                },
                &cfg2,
                &r,
                &no_one,
                &[]
            ),
            Decision::Skip(Skip::NoServiceCode { .. })
        ));
    }

    #[test]
    fn a_closed_request_reopens_only_when_bumps_recur() {
        let cfg = FilingConfig::default();
        let r = registry();
        let Decision::File(nf) = decide(&pothole(), &cfg, &r, &no_one, &[]) else {
            panic!("file")
        };
        let after = filed(&nf, FilingState::Closed, Some(utc(pothole().last_seen + 10.0)));
        assert!(matches!(
            decide(&pothole(), &cfg, &r, &no_one, &[after]),
            Decision::Skip(Skip::Fixed { .. })
        ));
        let before = filed(&nf, FilingState::Closed, Some(utc(pothole().last_seen - 7200.0)));
        let Decision::File(again) = decide(&pothole(), &cfg, &r, &no_one, &[before]) else {
            panic!("reopen")
        };
        assert_eq!(again.generation, 2);
        assert_eq!(again.reopens.as_deref(), Some("SR-1"));
        assert!(again.description.contains("Reopens request SR-1"));
        assert_eq!(again.marker, "sb-8d2a306638a9a3f-2");
    }
}
