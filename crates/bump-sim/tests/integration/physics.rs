use bump_sim::{ObstacleKind, SimParams, SimTrip, Simulation, Wheel};

fn sim(seed: u64, minutes: f64, rate: Option<f64>) -> Simulation {
    Simulation::new(SimParams {
        seed,
        trip_minutes: minutes,
        sample_rate_hz: rate,
        shift_probability: 0.0,
        ..SimParams::default()
    })
    .unwrap()
}

/// The true vertical acceleration at the phone (up positive, gravity
/// removed), from the simulated mounting.
fn true_vertical(st: &SimTrip) -> Vec<(f64, f64)> {
    let u = st.info.up_in_device;
    let sign = if st.info.platform == "ios" { -1.0 } else { 1.0 };
    st.trip
        .accel
        .iter()
        .map(|a| (a.t, sign * (a.x * u[0] + a.y * u[1] + a.z * u[2]) - 9.80665))
        .collect()
}

/// The first excursion beyond `level` m/s² from the pass time on.
fn first_excursion(v: &[(f64, f64)], from: f64, to: f64, level: f64) -> Option<f64> {
    v.iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .map(|(_, a)| *a)
        .find(|a| a.abs() > level)
}

#[test]
fn potholes_go_down_first_and_humps_up_first() {
    let s = sim(11, 10.0, Some(100.0));
    let (mut down, mut up, mut holes, mut humps) = (0, 0, 0, 0);
    for i in 0..12 {
        let st = s.trip(i);
        let v = true_vertical(&st);
        for p in &st.passes {
            if p.wheel == Wheel::None || p.speed_mps < 3.0 {
                continue;
            }
            let end = p.t + p.length_m / p.speed_mps + 0.3;
            match p.kind {
                ObstacleKind::Pothole => {
                    if let Some(a) = first_excursion(&v, p.t - 0.05, end, 1.0) {
                        holes += 1;
                        down += usize::from(a < 0.0);
                    }
                }
                ObstacleKind::SpeedHump | ObstacleKind::SpeedTable => {
                    if let Some(a) = first_excursion(&v, p.t - 0.05, end, 0.8) {
                        humps += 1;
                        up += usize::from(a > 0.0);
                    }
                }
                _ => {}
            }
        }
    }
    assert!(holes >= 5 && humps >= 5, "too few passes: {holes} holes, {humps} humps");
    assert!(down * 10 >= holes * 8, "potholes down first: {down} of {holes}");
    assert!(up * 10 >= humps * 8, "humps up first: {up} of {humps}");
}

#[test]
fn gps_noise_has_the_configured_spread() {
    let s = sim(5, 20.0, Some(10.0));
    for i in 0..4 {
        let st = s.trip(i);
        let sigma = st.info.gps_sigma_m;
        let mut sq = Vec::new();
        for f in &st.trip.gps {
            if let Some(&(_, lat, lon)) = st.true_track.iter().find(|(t, _, _)| (t - f.t).abs() < 1e-2) {
                let d = bump_geo::distance_m(lat, lon, f.lat, f.lon);
                if d < 100.0 {
                    // Jumps aside.
                    sq.push(d * d);
                }
            }
        }
        // Two axes of spread sigma: E[d²] = 2 sigma².
        let rms_axis = (sq.iter().sum::<f64>() / sq.len() as f64 / 2.0).sqrt();
        assert!(
            (rms_axis / sigma - 1.0).abs() < 0.4,
            "trip {i}: configured {sigma:.1} m, measured {rms_axis:.1} m"
        );
    }
}

#[test]
fn same_seed_same_trip_and_different_seed_differs() {
    let a = sim(3, 2.0, None).trip(4);
    let b = sim(3, 2.0, None).trip(4);
    assert_eq!(a.trip, b.trip);
    assert_eq!(a.passes.len(), b.passes.len());
    let c = sim(4, 2.0, None).trip(4);
    assert_ne!(a.trip.accel, c.trip.accel);
}

#[test]
fn sample_rates_and_drops_are_as_configured() {
    for rate in [5.0, 50.0, 200.0] {
        let st = sim(9, 3.0, Some(rate)).trip(0);
        let span = st.trip.accel.last().unwrap().t - st.trip.accel[0].t;
        let got = st.trip.accel.len() as f64 / span;
        // 0.5 % of samples dropped, jitter averages out.
        assert!((got / rate - 0.995).abs() < 0.02, "{rate} Hz: {got}");
    }
}

#[test]
fn filled_potholes_are_smooth_road_to_trips_after_their_repair() {
    let params = SimParams {
        seed: 4,
        trip_minutes: 5.0,
        sample_rate_hz: Some(100.0),
        shift_probability: 0.0,
        ..SimParams::default()
    };
    let plain = Simulation::new(params.clone()).unwrap();
    let mut filled = Simulation::new(SimParams {
        repair_share: 1.0,
        ..params.clone()
    })
    .unwrap();
    filled.schedule_repairs(20);
    // Every pothole is filled between a quarter and three quarters of the
    // way through 20 trips a minute apart; nothing else is.
    let span = (params.start_epoch_s + 300.0)..=(params.start_epoch_s + 900.0);
    for o in &filled.city.obstacles {
        match o.repaired_at {
            Some(at) => assert!(o.kind == ObstacleKind::Pothole && span.contains(&at), "{o:?}"),
            None => assert_ne!(o.kind, ObstacleKind::Pothole, "{o:?}"),
        }
    }
    // The first trip set out before any repair: the same trip.
    let (a, b) = (plain.trip(0), filled.trip(0));
    assert_eq!(a.trip.accel, b.trip.accel);
    assert_eq!(a.passes, b.passes);
    // The last set out after every repair: its wheels meet no pothole, and
    // its phone feels a difference only if they met one before.
    let (a, b) = (plain.trip(19), filled.trip(19));
    assert_eq!(a.passes.len(), b.passes.len());
    let mut hit_one = false;
    for (pa, pb) in a.passes.iter().zip(&b.passes) {
        if pa.kind == ObstacleKind::Pothole {
            hit_one |= pa.wheel != Wheel::None;
            assert_eq!(pb.wheel, Wheel::None);
        } else {
            assert_eq!(pa, pb);
        }
    }
    assert_eq!(a.trip.accel != b.trip.accel, hit_one);
    // No share, no repair.
    let mut none = Simulation::new(params).unwrap();
    none.schedule_repairs(20);
    assert!(none.city.obstacles.iter().all(|o| o.repaired_at.is_none()));
}
