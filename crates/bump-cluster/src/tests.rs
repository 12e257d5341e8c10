use super::*;
use proptest::prelude::*;

const ORIGIN: (f64, f64) = (42.35, -71.08);

fn at(east_m: f64, north_m: f64) -> (f64, f64) {
    let (lat, lon) = bump_geo::destination(ORIGIN.0, ORIGIN.1, 90.0, east_m);
    bump_geo::destination(lat, lon, 0.0, north_m)
}

/// A small deterministic noise source for GPS error in tests.
fn noise(i: u64) -> f64 {
    let x = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
    x * 2.0 - 1.0
}

fn bump(trip: u32, k: u64, east: f64, north: f64, t: f64) -> BumpObs {
    let (lat, lon) = at(east, north);
    let trip_id = TripId::new(format!("t{trip}")).unwrap();
    BumpObs {
        bump_id: BumpId::new(&trip_id, t + k as f64 * 1e-3),
        trip_id,
        device_id: DeviceId::new(format!("d{trip}")).unwrap(),
        t,
        lat,
        lon,
        heading_deg: 90.0,
        peak_mps2: 4.0 + noise(k),
        up_first: false,
        speed_mps: 10.0,
        duration_s: 0.2,
        low_band_share: 0.4,
        window_probs: Vec::new(),
        support: false,
    }
}

/// A straight drive east along the street through x = -100..100 m.
fn drive(t0: f64) -> BTreeMap<CellIndex, f64> {
    drive_along(t0, 90.0)
}

#[test]
fn one_defect_with_gps_scatter_is_one_cluster() {
    let mut idx = ClusterIndex::new(ClusterParams::default());
    for trip in 0..8u32 {
        let k = u64::from(trip);
        idx.add_bump(bump(
            trip,
            k,
            5.0 * noise(k * 7 + 1),
            4.0 * noise(k * 13 + 2),
            1000.0 * f64::from(trip),
        ));
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive(1000.0 * f64::from(trip) - 10.0),
        );
    }
    let c = idx.clusters();
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!((c[0].hits, c[0].trips, c[0].passes), (8, 8, 8));
    assert_eq!(c[0].status, Status::Likely);
    let (lat, lon) = at(0.0, 0.0);
    assert!(bump_geo::distance_m(lat, lon, c[0].lat, c[0].lon) < 4.0);
}

#[test]
fn two_defects_25_m_apart_stay_apart() {
    let mut idx = ClusterIndex::new(ClusterParams::default());
    for trip in 0..6u32 {
        let k = u64::from(trip);
        idx.add_bump(bump(
            trip,
            2 * k,
            2.0 * noise(k + 3),
            2.0 * noise(k + 5),
            1000.0 * f64::from(trip),
        ));
        idx.add_bump(bump(
            trip,
            2 * k + 1,
            25.0 + 2.0 * noise(k + 7),
            2.0 * noise(k + 9),
            1000.0 * f64::from(trip) + 2.5,
        ));
    }
    let c = idx.clusters();
    assert_eq!(c.len(), 2, "{c:#?}");
    assert!(c.iter().all(|c| c.trips == 6));
}

#[test]
fn passes_without_hits_lower_confidence_and_a_repair_fades() {
    let params = ClusterParams::default();
    let mut idx = ClusterIndex::new(params);
    for trip in 0..4u32 {
        idx.add_bump(bump(trip, u64::from(trip), 0.0, 0.0, 1000.0 * f64::from(trip)));
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive(1000.0 * f64::from(trip) - 10.0),
        );
    }
    let before = idx.clusters()[0].confidence;
    assert_eq!(idx.clusters()[0].status, Status::Likely);
    // Later trips pass the same spot and feel nothing: repaired.
    for trip in 10..30u32 {
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive(100_000.0 + 1000.0 * f64::from(trip)),
        );
    }
    let c = &idx.clusters()[0];
    assert!(c.confidence < before, "{} !< {before}", c.confidence);
    assert_eq!(c.passes, 24);
    assert_eq!(c.misses_since_last_hit, 20);
    assert_eq!(c.status, Status::ProbablyFixed);
}

/// A defect at the origin: of `before` passes, those whose number is a
/// multiple of `every` hit it; then `after` passes miss it.
fn hit_then_missed(before: u32, every: u32, after: u32) -> Cluster {
    let mut idx = ClusterIndex::new(ClusterParams::default());
    for trip in 0..before + after {
        let t = 1000.0 * f64::from(trip);
        if trip < before && trip % every == 0 {
            idx.add_bump(bump(trip, u64::from(trip), 0.0, 0.0, t));
        }
        idx.add_coverage(&TripId::new(format!("t{trip}")).unwrap(), &drive(t - 10.0));
    }
    idx.clusters().remove(0)
}

#[test]
fn the_run_that_means_fixed_depends_on_how_often_the_defect_was_hit() {
    // Hit by every pass: three misses in a row are already telling.
    let c = hit_then_missed(8, 1, 3);
    assert_eq!((c.trips, c.passes, c.misses_since_last_hit), (8, 11, 3));
    assert_eq!(c.status, Status::ProbablyFixed, "{c:?}");
    // Fewer than `fixed_after_misses` never are.
    assert_eq!(hit_then_missed(8, 1, 2).status, Status::Likely);
    // Hit by every other pass: three misses happen to a defect still
    // there, seven in a row rarely.
    let c = hit_then_missed(16, 2, 3);
    assert_eq!((c.trips, c.misses_since_last_hit), (8, 4));
    assert_eq!(c.status, Status::Likely, "{c:?}");
    assert_eq!(hit_then_missed(16, 2, 7).status, Status::ProbablyFixed);
}

#[test]
fn run_probability_is_the_beta_binomial_predictive() {
    assert!((run_probability(3.0, 2.0, 0.0) - 1.0).abs() < 1e-12);
    // Beta(1, 1): E[(1 - p)^k] = 1 / (k + 1).
    for k in 1..6 {
        let want = 1.0 / f64::from(k + 1);
        assert!((run_probability(1.0, 1.0, f64::from(k)) - want).abs() < 1e-9);
    }
    // Beta(2, 1): E[(1 - p)^k] = 2 / ((k + 1)(k + 2)).
    let want = 2.0 / (4.0 * 5.0);
    assert!((run_probability(2.0, 1.0, 3.0) - want).abs() < 1e-9);
    // A sharp posterior is nearly (1 - p)^k.
    let sharp = run_probability(8_000.0, 2_000.0, 4.0);
    assert!((sharp - 0.2f64.powi(4)).abs() < 1e-5, "{sharp}");
}

proptest! {
    /// More misses in a row are less likely, and less likely still for a
    /// defect with more hits behind it.
    #[test]
    fn run_probability_falls_with_the_run_and_the_hits(
        a in 1.0f64..200.0,
        b in 1.0f64..200.0,
        k in 0u32..40,
    ) {
        let p = run_probability(a, b, f64::from(k));
        prop_assert!((0.0..=1.0).contains(&p));
        prop_assert!(run_probability(a, b, f64::from(k + 1)) <= p + 1e-12);
        prop_assert!(run_probability(a + 1.0, b, f64::from(k)) <= p + 1e-12);
    }
}

/// A straight drive through the origin along `bearing` (degrees), from
/// 100 m before it to 100 m after.
fn drive_along(t0: f64, bearing: f64) -> BTreeMap<CellIndex, f64> {
    let track: Vec<TrackSample> = (0..=20)
        .map(|i| {
            let d = -100.0 + 10.0 * f64::from(i);
            let (lat, lon) = at(d * bearing.to_radians().sin(), d * bearing.to_radians().cos());
            TrackSample {
                t: t0 + f64::from(i),
                lat,
                lon,
                speed_mps: 10.0,
            }
        })
        .collect();
    coverage_cells(&track, 2.0, ClusterParams::default().coverage_step_m)
}

#[test]
fn a_one_lane_defect_is_not_missed_by_the_other_lane_or_the_cross_street() {
    let mut idx = ClusterIndex::new(ClusterParams::default());
    // Four trips eastbound hit it.
    for trip in 0..4u32 {
        idx.add_bump(bump(trip, u64::from(trip), 0.0, 0.0, 1000.0 * f64::from(trip) + 10.0));
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive_along(1000.0 * f64::from(trip), 90.0),
        );
    }
    // Ten westbound trips and ten on the cross street feel nothing.
    for trip in 10..20u32 {
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive_along(1000.0 * f64::from(trip), 270.0),
        );
    }
    for trip in 20..30u32 {
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive_along(1000.0 * f64::from(trip), 0.0),
        );
    }
    let c = &idx.clusters()[0];
    assert!(c.one_way);
    assert_eq!((c.trips, c.passes), (4, 4), "only eastbound trips passed it");
    assert_eq!(c.status, Status::Likely);
    // Four eastbound trips that feel nothing do count.
    for trip in 30..34u32 {
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive_along(1000.0 * f64::from(trip), 90.0),
        );
    }
    assert_eq!(idx.clusters()[0].passes, 8);
    // With the rule off, every trip near it passed.
    let mut all = idx.clone();
    all.params.pass_heading_tol_deg = 180.0;
    assert_eq!(all.clusters()[0].passes, 28);
}

#[test]
fn a_defect_hit_both_ways_counts_both_lanes_but_not_the_cross_street() {
    let mut idx = ClusterIndex::new(ClusterParams::default());
    for trip in 0..4u32 {
        let mut b = bump(trip, u64::from(trip), 0.0, 0.0, 1000.0 * f64::from(trip) + 10.0);
        let way = if trip % 2 == 0 { 90.0 } else { 270.0 };
        b.heading_deg = way;
        idx.add_bump(b);
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive_along(1000.0 * f64::from(trip), way),
        );
    }
    for (trip, way) in (10..14u32).map(|t| (t, 270.0)).chain((20..24u32).map(|t| (t, 180.0))) {
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive_along(1000.0 * f64::from(trip), way),
        );
    }
    let c = &idx.clusters()[0];
    assert!(!c.one_way);
    assert_eq!(c.passes, 8, "both lanes, not the cross street");
}

/// Trips `trips` drive along `way`; those in `hitting` feel a bump at the
/// origin.
fn traffic(idx: &mut ClusterIndex, trips: std::ops::Range<u32>, hitting: usize, way: f64) {
    for (i, trip) in trips.enumerate() {
        let t0 = 1000.0 * f64::from(trip);
        if i < hitting {
            let k = u64::from(trip);
            let mut b = bump(trip, k, 3.0 * noise(k * 7 + 1), 3.0 * noise(k * 13 + 2), t0 + 10.0);
            b.heading_deg = way;
            idx.add_bump(b);
        }
        idx.add_coverage(&TripId::new(format!("t{trip}")).unwrap(), &drive_along(t0, way));
    }
}

#[test]
fn a_one_lane_defect_sheds_the_other_lane_s_bumps() {
    let mut idx = ClusterIndex::new(ClusterParams {
        split_confidence: 0.95,
        ..ClusterParams::default()
    });
    // Eastbound: 6 of 8 trips hit the hole. Westbound: 2 of 12 feel
    // something at the same spot (a rough patch, a mount rattling).
    traffic(&mut idx, 0..8, 6, 90.0);
    traffic(&mut idx, 100..112, 2, 270.0);
    let c = idx.clusters();
    assert_eq!(c.len(), 2, "{c:#?}");
    let (main, other) = (&c[0], &c[1]);
    assert_eq!((main.trips, main.passes), (6, 8));
    assert!(main.one_way);
    assert!(main.signature.opposite_share.abs() < 1e-12);
    assert_eq!((other.trips, other.passes), (2, 12));
    assert_eq!(other.cluster_id, format!("{}{OTHER_LANE_SUFFIX}", main.cluster_id));
    assert_eq!(
        cell_of_cluster_id(&other.cluster_id),
        cell_of_cluster_id(&main.cluster_id)
    );
    assert!(cell_of_cluster_id(&main.cluster_id).is_some());
    // Every bump is in exactly one of them.
    assert_eq!(main.bump_ids.len() + other.bump_ids.len(), 8);
    // With the split off, one two-way cluster holds both lanes.
    let mut whole = idx.clone();
    whole.params.split_confidence = 1.0;
    let w = whole.clusters();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].trips, w[0].passes, w[0].one_way), (8, 20, false));
}

#[test]
fn a_defect_hit_as_often_both_ways_stays_whole() {
    let mut idx = ClusterIndex::new(ClusterParams {
        split_confidence: 0.95,
        ..ClusterParams::default()
    });
    // A sunk casting on the centre line: 4 of 6 trips feel it each way.
    traffic(&mut idx, 0..6, 4, 90.0);
    traffic(&mut idx, 100..106, 4, 270.0);
    let c = idx.clusters();
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!((c[0].trips, c[0].passes, c[0].one_way), (8, 12, false));
    // Four each way: the heading lies on the street's axis (the plain mean
    // of the headings cancels out), and half the bumps go against it.
    let h = c[0].heading_deg;
    assert!((h - 90.0).abs() < 1e-6 || (h - 270.0).abs() < 1e-6, "{h}");
    assert!((c[0].signature.opposite_share - 0.5).abs() < 1e-12);
}

#[test]
fn probability_that_one_beta_exceeds_another() {
    // Equal distributions: one half.
    assert!((prob_greater(3.0, 5.0, 3.0, 5.0) - 0.5).abs() < 1e-3);
    // Beta(2, 1) against uniform: ∫ 2t · t dt = 2/3.
    assert!((prob_greater(2.0, 1.0, 1.0, 1.0) - 2.0 / 3.0).abs() < 1e-3);
    // The two orders add up to one.
    let (a, b) = (prob_greater(7.0, 3.0, 2.0, 9.0), prob_greater(2.0, 9.0, 7.0, 3.0));
    assert!((a + b - 1.0).abs() < 1e-3 && a > 0.99, "{a} {b}");
}

#[test]
fn dominance_weighs_a_cluster_against_its_strongest_neighbour() {
    let mut idx = ClusterIndex::new(ClusterParams::default());
    // Six trips hit a hole at x = 0, two hit something 25 m on, four hit
    // something 150 m on (beyond the seven rings of the surround).
    for trip in 0..6u32 {
        let t = 1000.0 * f64::from(trip);
        idx.add_bump(bump(trip, u64::from(trip), 0.0, 0.0, t));
        if trip < 2 {
            idx.add_bump(bump(trip, 100 + u64::from(trip), 25.0, 0.0, t + 2.5));
        }
        if trip < 4 {
            idx.add_bump(bump(trip, 200 + u64::from(trip), 150.0, 0.0, t + 15.0));
        }
    }
    let c = idx.clusters();
    assert_eq!(c.len(), 3, "{c:#?}");
    let by_trips = |n: usize| c.iter().find(|c| c.trips == n).expect("cluster");
    assert!((by_trips(6).signature.dominance - 0.75).abs() < 1e-12);
    assert!((by_trips(2).signature.dominance - 0.25).abs() < 1e-12);
    assert!((by_trips(4).signature.dominance - 1.0).abs() < 1e-12, "alone");
    let f = by_trips(6).signature.features(0.5);
    assert_eq!(f.len(), Signature::NAMES.len());
    let at = |name: &str| Signature::NAMES.iter().position(|n| *n == name).expect("feature");
    assert!((f[at("dominance")] - 0.75).abs() < 1e-12);
    // One bump per trip: ln 1.
    assert!(f[at("ln_bumps_per_trip")].abs() < 1e-12);
}

#[test]
fn two_trips_are_not_enough() {
    let mut idx = ClusterIndex::new(ClusterParams::default());
    for trip in 0..2u32 {
        idx.add_bump(bump(trip, u64::from(trip), 0.0, 0.0, f64::from(trip)));
    }
    assert_eq!(idx.clusters()[0].status, Status::Insufficient);
}

fn jolt(trip: u32, east: f64, north: f64, t: f64) -> BumpObs {
    BumpObs {
        support: true,
        peak_mps2: 2.5,
        ..bump(trip, 900 + u64::from(trip), east, north, t)
    }
}

/// Two trips' bumps and a drive of every trip past the spot.
fn two_trip_defect(params: ClusterParams, trips: u32) -> ClusterIndex {
    let mut idx = ClusterIndex::new(params);
    for trip in 0..trips {
        idx.add_coverage(
            &TripId::new(format!("t{trip}")).unwrap(),
            &drive(f64::from(trip) * 100.0),
        );
    }
    for trip in 0..2u32 {
        idx.add_bump(bump(trip, u64::from(trip), 0.0, 1.0, f64::from(trip) * 100.0 + 10.0));
    }
    idx
}

#[test]
fn support_jolts_complete_a_defect_that_bumps_found() {
    let mut idx = two_trip_defect(ClusterParams::default(), 4);
    assert_eq!(idx.clusters()[0].status, Status::Insufficient);
    // Trip 2 felt it under the threshold, 4 m off; trip 0 felt it twice.
    idx.add_bump(jolt(2, 3.0, -2.0, 210.0));
    idx.add_bump(jolt(0, 1.0, 0.0, 11.0));
    let c = idx.clusters();
    assert_eq!(c.len(), 1, "support seeds no cluster of its own");
    assert_eq!((c[0].trips, c[0].support_trips, c[0].hits), (3, 1, 2));
    assert_eq!(c[0].bump_ids.len(), 2, "support jolts are not the cluster's bumps");
    assert!((c[0].signature.bumps_per_trip - 1.0).abs() < 1e-12);
    assert_eq!(c[0].passes, 4);
    assert!((c[0].hit_rate - 0.75).abs() < 1e-12);
    assert!((c[0].last_seen - 210.0).abs() < 1e-9, "a support jolt is a sighting");
    assert_ne!(c[0].status, Status::Insufficient);
}

#[test]
fn support_jolts_far_off_across_or_alone_count_for_nothing() {
    let mut idx = two_trip_defect(ClusterParams::default(), 6);
    let before = format!("{:?}", idx.clusters());
    // 15 m along the street: beyond support_radius_m.
    idx.add_bump(jolt(2, 15.0, 0.0, 210.0));
    // On the cross street, heading north.
    let mut cross = jolt(3, 0.0, 2.0, 310.0);
    cross.heading_deg = 0.0;
    idx.add_bump(cross);
    assert_eq!(format!("{:?}", idx.clusters()), before);
    // A defect one trip's bumps found gains nothing, and jolts alone make
    // no cluster.
    let mut lone = ClusterIndex::new(ClusterParams::default());
    lone.add_bump(bump(0, 0, 0.0, 0.0, 10.0));
    for trip in 1..5u32 {
        lone.add_bump(jolt(trip, 1.0, 0.0, f64::from(trip) * 100.0));
        lone.add_bump(jolt(trip, 60.0, 0.0, f64::from(trip) * 100.0 + 6.0));
    }
    let c = lone.clusters();
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].trips, c[0].support_trips), (1, 0));
    // Off, support jolts count for nothing at all.
    let mut off = two_trip_defect(
        ClusterParams {
            support_radius_m: 0.0,
            ..ClusterParams::default()
        },
        4,
    );
    let mut on = two_trip_defect(ClusterParams::default(), 4);
    for idx in [&mut off, &mut on] {
        idx.add_bump(jolt(2, 3.0, -2.0, 210.0));
    }
    assert_eq!(off.clusters()[0].trips, 2);
    assert_eq!(on.clusters()[0].trips, 3);
}

/// Eight trips drive east past a spot; `pieces` lists, per piece, its
/// position along the street and the trips (and their ways) that hit it.
fn split_defect(params: ClusterParams, pieces: &[(f64, &[(u32, f64)])]) -> Vec<Cluster> {
    let mut idx = ClusterIndex::new(params);
    for trip in 0..8u32 {
        let t0 = f64::from(trip) * 100.0;
        idx.add_coverage(&TripId::new(format!("t{trip}")).unwrap(), &drive(t0));
    }
    for (p, (east, hits)) in pieces.iter().enumerate() {
        for (trip, way) in *hits {
            let mut b = bump(
                *trip,
                10 * p as u64,
                *east,
                1.0,
                f64::from(*trip) * 100.0 + 10.0 + p as f64,
            );
            b.heading_deg = *way;
            idx.add_bump(b);
        }
    }
    idx.clusters()
}

#[test]
fn a_defect_split_by_gps_error_rejoins() {
    let on = ClusterParams {
        rejoin_radius_m: 25.0,
        ..ClusterParams::default()
    };
    let east: &[(u32, f64)] = &[(0, 90.0), (1, 90.0), (2, 90.0)];
    let more: &[(u32, f64)] = &[(3, 90.0), (4, 90.0)];
    // Two pieces 22 m apart, beyond `merge_k`: apart by default.
    let pieces = [(-11.0, east), (11.0, more)];
    let off = split_defect(ClusterParams::default(), &pieces);
    assert_eq!(off.len(), 2, "{off:?}");
    let c = split_defect(on, &pieces);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!((c[0].trips, c[0].hits), (5, 5));
    assert_eq!(c[0].cluster_id, off[0].cluster_id, "the stronger piece's id");
    assert_eq!(c[0].passes, 8);
    // A trip in both pieces: two things, not one split.
    let shared: &[(u32, f64)] = &[(2, 90.0), (4, 90.0)];
    assert_eq!(split_defect(on, &[(-11.0, east), (11.0, shared)]).len(), 2);
    // Hit both ways (rough pavement, a casting on the centre line): not
    // a one-lane defect, never rejoined.
    let both: &[(u32, f64)] = &[(0, 90.0), (1, 270.0), (2, 90.0)];
    assert_eq!(split_defect(on, &[(-11.0, both), (11.0, more)]).len(), 2);
    // The other way, or beyond the radius: apart.
    let west: &[(u32, f64)] = &[(3, 270.0), (4, 270.0)];
    assert_eq!(split_defect(on, &[(-11.0, east), (11.0, west)]).len(), 2);
    assert_eq!(split_defect(on, &[(-15.0, east), (15.0, more)]).len(), 2);
}

#[test]
fn duplicates_and_bad_positions_are_ignored() {
    let mut idx = ClusterIndex::new(ClusterParams::default());
    let b = bump(1, 1, 0.0, 0.0, 5.0);
    assert!(idx.add_bump(b.clone()));
    assert!(!idx.add_bump(b.clone()));
    let mut bad = bump(2, 2, 0.0, 0.0, 6.0);
    bad.lat = f64::NAN;
    assert!(!idx.add_bump(bad));
    assert_eq!(idx.len(), 1);
    let cov = drive(0.0);
    let id = TripId::new("t1").unwrap();
    idx.add_coverage(&id, &cov);
    idx.add_coverage(&id, &cov);
    assert_eq!(idx.clusters()[0].passes, 1);
}

#[test]
fn beta_survival_function() {
    // Beta(1, 1) is uniform.
    assert!((beta_sf(0.25, 1.0, 1.0) - 0.75).abs() < 1e-6);
    // Beta(2, 1) has CDF x².
    assert!((beta_sf(0.5, 2.0, 1.0) - 0.75).abs() < 1e-6);
    // More hits, more confidence; more misses, less.
    assert!(beta_sf(0.25, 9.0, 2.0) > beta_sf(0.25, 3.0, 2.0));
    assert!(beta_sf(0.25, 3.0, 12.0) < beta_sf(0.25, 3.0, 2.0));
}

/// A trip processed again: removing it and adding its new evidence gives
/// the clusters a fresh index of the final evidence gives.
#[test]
fn a_trip_replaced_in_place_equals_a_fresh_index() {
    let evidence = |trip: u32, shift: f64| {
        let bumps: Vec<BumpObs> = [0.0, 40.0]
            .iter()
            .enumerate()
            .map(|(j, x)| {
                let k = u64::from(trip) * 3 + j as u64;
                BumpObs {
                    // Odd trips felt the second spot under the threshold.
                    support: j == 1 && trip % 2 == 1,
                    ..bump(
                        trip,
                        k,
                        x + shift + 5.0 * noise(k),
                        3.0 * noise(k + 1),
                        1000.0 * f64::from(trip) + x / 10.0,
                    )
                }
            })
            .collect();
        (bumps, drive(1000.0 * f64::from(trip) - 10.0 + shift))
    };
    let id = |trip: u32| TripId::new(format!("t{trip}")).unwrap();
    let mut live = ClusterIndex::new(ClusterParams::default());
    for trip in 0..8 {
        let (bumps, cov) = evidence(trip, 0.0);
        bumps.into_iter().for_each(|b| {
            live.add_bump(b);
        });
        live.add_coverage(&id(trip), &cov);
    }
    // Trip 3 again, its bumps 60 m further on; trip 9 never held.
    assert!(live.remove_trip(&id(3)));
    assert!(!live.remove_trip(&id(9)));
    assert_eq!(live.len(), 14, "trip 3's two bumps are gone");
    let (bumps3, cov3) = evidence(3, 60.0);
    bumps3.iter().for_each(|b| {
        live.add_bump(b.clone());
    });
    live.add_coverage(&id(3), &cov3);

    let mut fresh = ClusterIndex::new(ClusterParams::default());
    for trip in 0..8 {
        let (bumps, cov) = if trip == 3 {
            (bumps3.clone(), cov3.clone())
        } else {
            evidence(trip, 0.0)
        };
        bumps.into_iter().for_each(|b| {
            fresh.add_bump(b);
        });
        fresh.add_coverage(&id(trip), &cov);
    }
    assert_eq!(live.len(), fresh.len());
    assert_eq!(format!("{:?}", live.clusters()), format!("{:?}", fresh.clusters()));
    // Removing it again and adding nothing equals never having had it.
    assert!(live.remove_trip(&id(3)));
    assert!(!live.remove_trip(&id(3)), "nothing of it is left");
    let mut without = ClusterIndex::new(ClusterParams::default());
    for trip in (0..8).filter(|t| *t != 3) {
        let (bumps, cov) = evidence(trip, 0.0);
        bumps.into_iter().for_each(|b| {
            without.add_bump(b);
        });
        without.add_coverage(&id(trip), &cov);
    }
    assert_eq!(format!("{:?}", live.clusters()), format!("{:?}", without.clusters()));
}

proptest! {
    // Replaying the same bumps and passes in any order gives the same
    // clusters.
    #[test]
    fn order_does_not_matter(seed in 0u64..1000, rot in 0usize..50) {
        let mut bumps = Vec::new();
        let mut covs = Vec::new();
        // A third of the trips go the other way, so that some spots split
        // by direction.
        for trip in 0..10u32 {
            let k = seed * 100 + u64::from(trip);
            let way = if trip % 3 == 0 { 270.0 } else { 90.0 };
            for (j, x) in [0.0, 30.0, 70.0].iter().enumerate() {
                if noise(k * 31 + j as u64) > -0.3 {
                    let mut b = bump(trip, k * 3 + j as u64, x + 6.0 * noise(k * 17 + j as u64), 4.0 * noise(k * 19 + j as u64), 1000.0 * f64::from(trip) + *x / 10.0);
                    b.heading_deg = way;
                    // Some are support jolts, which join clusters late.
                    b.support = noise(k * 37 + j as u64) > 0.4;
                    bumps.push(b);
                }
            }
            covs.push((TripId::new(format!("t{trip}")).unwrap(), drive_along(1000.0 * f64::from(trip) - 10.0, way)));
        }
        // With split pieces rejoined too.
        let rejoin = ClusterParams { rejoin_radius_m: 20.0, ..ClusterParams::default() };
        let build = |bumps: &[BumpObs], covs: &[(TripId, BTreeMap<CellIndex, f64>)]| {
            [ClusterParams::default(), rejoin].map(|p| {
                let mut idx = ClusterIndex::new(p);
                for b in bumps { idx.add_bump(b.clone()); }
                for (t, c) in covs { idx.add_coverage(t, c); }
                format!("{:?}", idx.clusters())
            })
        };
        let a = build(&bumps, &covs);
        let mut b2 = bumps.clone();
        b2.reverse();
        let k = rot % b2.len().max(1);
        b2.rotate_left(k);
        let mut c2 = covs.clone();
        let m = rot % c2.len();
        c2.rotate_left(m);
        prop_assert_eq!(a, build(&b2, &c2));
    }

    // Coverage outside `pass_cells` changes no cluster: adding only the
    // coverage inside them, after all bumps, gives the same clusters.
    #[test]
    fn coverage_beyond_pass_cells_changes_nothing(seed in 0u64..1000) {
        let mut full = ClusterIndex::new(ClusterParams::default());
        let mut part = ClusterIndex::new(ClusterParams::default());
        let mut covs = Vec::new();
        for trip in 0..12u32 {
            let k = seed * 100 + u64::from(trip);
            for (j, x) in [0.0, 40.0, 95.0].iter().enumerate() {
                if noise(k * 29 + j as u64) > 0.0 {
                    let b = bump(trip, k * 3 + j as u64, x + 6.0 * noise(k * 13 + j as u64), 4.0 * noise(k * 7 + j as u64), 1000.0 * f64::from(trip) + *x / 10.0);
                    full.add_bump(b.clone());
                    part.add_bump(b);
                }
            }
            // Some trips pass a few metres to the side, touching only the
            // outer rings of a cluster's disk.
            let side = 3.0 * f64::from(trip % 4) + 2.0 * noise(k * 5);
            let t0 = 1000.0 * f64::from(trip) - 10.0;
            let track: Vec<TrackSample> = (0..=20)
                .map(|i| {
                    let (lat, lon) = at(-100.0 + 10.0 * f64::from(i), side);
                    TrackSample { t: t0 + f64::from(i), lat, lon, speed_mps: 10.0 }
                })
                .collect();
            covs.push((TripId::new(format!("t{trip}")).unwrap(), coverage_cells(&track, 2.0, ClusterParams::default().coverage_step_m)));
        }
        let keep = part.pass_cells();
        let mut dropped = 0;
        for (t, c) in &covs {
            full.add_coverage(t, c);
            let inside: BTreeMap<CellIndex, f64> = c.iter().filter(|(cell, _)| keep.contains(cell)).map(|(c, t)| (*c, *t)).collect();
            dropped += c.len() - inside.len();
            part.add_coverage(t, &inside);
        }
        prop_assert!(full.is_empty() || dropped > 0, "the track reaches beyond the clusters");
        prop_assert_eq!(format!("{:?}", full.clusters()), format!("{:?}", part.clusters()));
    }
}

/// Cells of a straight track sampled every 0.2 m, with how many metres
/// of the line lie in each: the truth to check the coarser sampling against.
fn dense_cells(track: &[TrackSample]) -> BTreeMap<CellIndex, f64> {
    let mut out = BTreeMap::new();
    for w in track.windows(2) {
        let d = bump_geo::distance_m(w[0].lat, w[0].lon, w[1].lat, w[1].lon);
        let n = (d / 0.2).ceil() as usize;
        for k in 0..n {
            let f = k as f64 / n as f64;
            if let Some(c) = cell_of(
                w[0].lat + f * (w[1].lat - w[0].lat),
                w[0].lon + f * (w[1].lon - w[0].lon),
            ) {
                *out.entry(c).or_insert(0.0) += d / n as f64;
            }
        }
    }
    out
}

/// Coverage of straight tracks at eight bearings with `step_m`: a
/// connected chain of cells on or next to the line. Returns the most line,
/// m, that a missing cell had, and the share of the line in missing cells.
fn check_chain(step_m: f64, fix_every_m: f64) -> (f64, f64) {
    let (mut worst, mut missed, mut total): (f64, f64, f64) = (0.0, 0.0, 0.0);
    for bearing in [0.0, 17.0, 45.0, 63.0, 90.0, 128.0, 211.0, 300.0] {
        let track: Vec<TrackSample> = (0..=30)
            .map(|i| {
                let d = fix_every_m * f64::from(i);
                let (lat, lon) = at(d * f64::sin(bearing * 0.017_453_3), d * f64::cos(bearing * 0.017_453_3));
                TrackSample {
                    t: f64::from(i),
                    lat,
                    lon,
                    speed_mps: fix_every_m,
                }
            })
            .collect();
        let cov = coverage_cells(&track, 2.0, step_m);
        let dense = dense_cells(&track);
        // In time order, each cell touches the one before: no gaps.
        let mut by_time: Vec<(f64, CellIndex)> = cov.iter().map(|(c, t)| (*t, *c)).collect();
        by_time.sort_by(|a, b| a.0.total_cmp(&b.0).then(u64::from(a.1).cmp(&u64::from(b.1))));
        for w in by_time.windows(2) {
            assert!(
                w[0].1.is_neighbor_with(w[1].1).unwrap(),
                "{step_m} m, {bearing}°: a gap in the chain"
            );
        }
        // Every cell is on the line or next to it.
        for c in cov.keys() {
            assert!(dense.contains_key(c) || dense.keys().any(|d| d.is_neighbor_with(*c).unwrap()));
        }
        for (c, metres) in &dense {
            total += metres;
            if !cov.contains_key(c) {
                worst = worst.max(*metres);
                missed += metres;
            }
        }
        // Times rise along the track.
        let (first, last) = (
            cell_of(track[0].lat, track[0].lon).unwrap(),
            cell_of(track[30].lat, track[30].lon).unwrap(),
        );
        assert!(cov[&first] < cov[&last]);
    }
    (worst, missed / total)
}

#[test]
fn coverage_is_a_connected_chain_of_the_line_s_cells() {
    // Fixes 9 to 31 m apart (1 Hz at 32 to 112 km/h). Under the spacing of
    // cells' centres (4 m, the default), every cell the line runs through
    // for a step or more is found; at 8 m, a cell the line crosses near a
    // corner shared by the cells before and after it can be missed (up to
    // 6.6 m of line here), a few per cent of the line.
    for fix_every_m in [9.0, 16.0, 24.0, 31.0] {
        let (worst, share) = check_chain(4.0, fix_every_m);
        assert!(
            worst < 4.0,
            "{fix_every_m}: a cell with {worst:.1} m of the line is missing"
        );
        assert!(share < 0.03, "{fix_every_m}: {share:.3} of the line in missing cells");
        let (_, share) = check_chain(8.0, fix_every_m);
        assert!(
            share < 0.08,
            "{fix_every_m}, 8 m steps: {share:.3} of the line in missing cells"
        );
    }
}

/// A wandering track from `origin`: fixes 0–45 m apart on drifting
/// bearings, some slow stretches and, when asked, an invalid fix.
fn wander(origin: (f64, f64), seed: u64, fixes: u32, invalid: bool) -> Vec<TrackSample> {
    let (mut lat, mut lon) = origin;
    let mut bearing = 360.0 * noise(seed).abs();
    (0..fixes)
        .map(|i| {
            let k = seed * 1000 + u64::from(i);
            if i > 0 {
                bearing += 40.0 * noise(k * 3);
                (lat, lon) = bump_geo::destination(lat, lon, bearing, 22.0 + 22.0 * noise(k * 5));
            }
            let bad = invalid && i == fixes / 2;
            TrackSample {
                t: f64::from(i),
                lat: if bad { f64::NAN } else { lat },
                lon,
                speed_mps: if noise(k * 7) > 0.85 { 1.0 } else { 12.0 },
            }
        })
        .collect()
}

proptest! {
    // Coverage restricted to the cells near some clusters is the full
    // coverage's entries for those cells, to the bit, whatever the step.
    #[test]
    fn coverage_near_cells_is_the_full_coverage_there(
        seed in 0u64..10_000,
        step_m in prop_oneof![Just(4.0), Just(8.0), 0.5f64..50.0],
        picks in proptest::collection::vec(0usize..10_000, 1..6),
        k in 0u32..4,
        origin in prop_oneof![Just(ORIGIN), Just((51.25, 22.57)), Just((-33.9, 151.2)), Just((64.1, -21.9))],
    ) {
        let track = wander(origin, seed, 60, seed % 7 == 0);
        let full = coverage_cells(&track, 2.0, step_m);
        prop_assume!(!full.is_empty());
        let cells: Vec<CellIndex> = full.keys().copied().collect();
        // Wanted: disks around some covered cells, as around clusters' modes.
        let wanted: HashSet<CellIndex> = picks
            .iter()
            .flat_map(|i| cells[i % cells.len()].grid_disk::<Vec<_>>(k))
            .collect();
        let near = NearCells::new(wanted.clone(), step_m);
        let restricted = coverage_cells_near(&track, 2.0, step_m, &near);
        let expected: BTreeMap<CellIndex, f64> = full.iter().filter(|(c, _)| wanted.contains(c)).map(|(c, t)| (*c, *t)).collect();
        prop_assert_eq!(restricted, expected);
    }
}

#[test]
fn coverage_near_no_cells_looks_nothing_up() {
    let track = wander(ORIGIN, 5, 40, false);
    let near = NearCells::new(HashSet::new(), 4.0);
    assert!(coverage_cells_near(&track, 2.0, 4.0, &near).is_empty());
    // Near the antimeridian every position counts as near, and the result
    // is still exact.
    let track = wander((10.0, 179.9999), 9, 40, false);
    let full = coverage_cells(&track, 2.0, 4.0);
    let wanted: HashSet<CellIndex> = full.keys().step_by(3).copied().collect();
    let near = NearCells::new(wanted.clone(), 4.0);
    assert!(near.everywhere);
    let restricted = coverage_cells_near(&track, 2.0, 4.0, &near);
    assert_eq!(restricted.len(), wanted.len());
    assert!(restricted.keys().all(|c| full[c] == restricted[c]));
}
