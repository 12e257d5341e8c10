use bump_core::{AccelFrame, Bump, Trip};
use bump_pipeline::{PipelineConfig, TripProcessor, preprocess};
use bump_sim::{ObstacleKind, SimParams, SimTrip, Simulation, Wheel};

fn sim(seed: u64, minutes: f64, rate: Option<f64>, shift: f64) -> Simulation {
    Simulation::new(SimParams {
        seed,
        trip_minutes: minutes,
        sample_rate_hz: rate,
        shift_probability: shift,
        ..SimParams::default()
    })
    .unwrap()
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    sab / (saa * sbb).sqrt()
}

/// The vertical recovered by reorientation matches the simulated mounting:
/// the recovered signal correlates with the true vertical acceleration.
#[test]
fn reorientation_recovers_the_mounting() {
    let s = sim(21, 4.0, Some(50.0), 0.0);
    let cfg = PipelineConfig::default();
    for i in 0..6 {
        let st: SimTrip = s.trip(i);
        let pre = preprocess(&st.trip, &cfg.preprocess).unwrap();
        assert_eq!(pre.report.shifts, 0, "trip {i}: no shift was simulated");
        let u = st.info.up_in_device;
        let sign = if st.info.platform == "ios" { -1.0 } else { 1.0 };
        // The resampled grid starts at the first sample: compare the first
        // segment sample by sample (linear resampling of a 50 Hz signal at
        // its own rate is close to the original).
        let seg = &pre.segments[0];
        let truth: Vec<f64> = (0..seg.vertical.len())
            .map(|k| {
                let t = seg.time(k);
                // Interpolate the truth as the resampler interpolates.
                let acc = &st.trip.accel;
                let j = acc.partition_point(|a| a.t < t).clamp(1, acc.len() - 1);
                let (a, b) = (acc[j - 1], acc[j]);
                let w = ((t - a.t) / (b.t - a.t)).clamp(0.0, 1.0);
                let va = a.x * u[0] + a.y * u[1] + a.z * u[2];
                let vb = b.x * u[0] + b.y * u[1] + b.z * u[2];
                sign * (va + w * (vb - va))
            })
            .collect();
        let skip = 250; // let the gravity filter settle
        let r = correlation(&seg.vertical[skip..], &truth[skip..]);
        assert!(r > 0.95, "trip {i} ({}): correlation {r:.3}", st.info.mount);
    }
}

/// A phone that moves mid-trip is noticed.
#[test]
fn shifts_are_detected() {
    let s = sim(8, 4.0, Some(50.0), 1.0);
    let (mut big, mut noticed) = (0, 0);
    for i in 0..12 {
        let st = s.trip(i);
        let (a, b) = (st.info.up_in_device, st.info.up_after_shift.unwrap());
        let angle = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2])
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees();
        // A phone turned by less than the threshold needs no reset: the
        // gravity filter follows it.
        if angle < 40.0 {
            continue;
        }
        big += 1;
        let pre = preprocess(&st.trip, &PipelineConfig::default().preprocess).unwrap();
        noticed += usize::from(pre.report.shifts >= 1);
    }
    assert!(big >= 3, "only {big} large shifts simulated");
    assert_eq!(noticed, big, "{noticed} of {big} large shifts noticed");
}

/// Potholes hit at speed are found, near where they are, at every rate.
#[test]
fn detects_potholes_across_rates() {
    // At 10 Hz and below a pothole's jolt (10-20 Hz wheel hop) is averaged
    // away; docs/algorithms.md says so. Measured 2026-11-27: 3 of 36 at
    // 10 Hz, 22 of 38 at 50 Hz, 26 of 36 at 200 Hz.
    for rate in [50.0, 200.0] {
        let s = sim(31, 10.0, Some(rate), 0.0);
        let mut proc = TripProcessor::new(PipelineConfig::default());
        let (mut hit, mut found) = (0, 0);
        for i in 0..10 {
            let st = s.trip(i);
            let out = proc.run(&st.trip).unwrap();
            for p in st
                .passes
                .iter()
                .filter(|p| p.kind == ObstacleKind::Pothole && p.wheel != Wheel::None && p.speed_mps > 5.0)
            {
                hit += 1;
                let until = p.t + (p.length_m + 2.7) / p.speed_mps + 1.0;
                found += usize::from(out.bumps.iter().any(|b| b.t >= p.t - 1.0 && b.t <= until));
            }
        }
        assert!(hit >= 10, "{rate} Hz: only {hit} pothole hits simulated");
        assert!(found * 10 >= hit * 5, "{rate} Hz: {found} of {hit} pothole hits found");
    }
}

/// Earth-frame data skips reorientation; gravity is found either way.
#[test]
fn earth_frame_and_gravity_auto() {
    let st = sim(2, 2.0, Some(20.0), 0.0).trip(0);
    let u = st.info.up_in_device;
    let mut earth: Trip = st.trip.clone();
    earth.frame = AccelFrame::Earth {
        vertical: bump_core::Axis::Z,
        up_positive: true,
    };
    earth.gravity_included = None;
    for a in &mut earth.accel {
        let v = a.x * u[0] + a.y * u[1] + a.z * u[2];
        (a.x, a.y, a.z) = (0.0, 0.0, v);
    }
    let pre = preprocess(&earth, &PipelineConfig::default().preprocess).unwrap();
    assert!(pre.report.gravity_included);
    assert_eq!(pre.report.gravity_mps2, 0.0, "no reorientation in an earth frame");
}

/// A phone slower than `cluster.min_pass_rate_hz` (20 Hz by default)
/// gives its bumps and its coverage, but no passes; at or above it,
/// passes too.
#[test]
fn slow_phones_give_hits_but_no_passes() {
    let s = sim(31, 4.0, Some(10.0), 0.0);
    let st = s.trip(0);
    let mut every = PipelineConfig::default();
    every.cluster.min_pass_rate_hz = 0.0;
    let plain = TripProcessor::new(every).run(&st.trip).unwrap();
    assert!(plain.gives_passes, "at 0 every trip passes");
    let slow = TripProcessor::new(PipelineConfig::default()).run(&st.trip).unwrap();
    assert!(!slow.gives_passes, "10 Hz is too slow by default");
    assert_eq!(slow.coverage, plain.coverage, "where it drove is kept");
    assert!(!slow.coverage.is_empty());
    assert_eq!(slow.bumps, plain.bumps, "hits are kept");
    let mut cfg = PipelineConfig::default();
    cfg.cluster.min_pass_rate_hz = 40.0;
    let fast = sim(31, 4.0, Some(50.0), 0.0).trip(0);
    assert!(TripProcessor::new(cfg.clone()).run(&fast.trip).unwrap().gives_passes);
    assert!(!TripProcessor::new(cfg).run(&st.trip).unwrap().gives_passes);
}

/// With a window model configured, every bump carries its window's vote
/// over the five cluster classes, and no support jolt does; without one,
/// nothing does.
#[test]
fn a_window_model_votes_for_every_bump() {
    let s = sim(31, 6.0, Some(50.0), 0.0);
    let st = (0..10)
        .map(|i| s.trip(i))
        .find(|st| {
            !TripProcessor::new(PipelineConfig::default())
                .run(&st.trip)
                .unwrap()
                .bumps
                .is_empty()
        })
        .expect("a trip with bumps");
    let plain = TripProcessor::new(PipelineConfig::default()).run(&st.trip).unwrap();
    assert!(plain.bumps.iter().all(|b| b.window_probs.is_empty()));
    let mut cfg = PipelineConfig::default();
    cfg.classify.window_model = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/window.json").to_owned();
    cfg.load_models().unwrap();
    let voted = TripProcessor::new(cfg).run(&st.trip).unwrap();
    assert_eq!(voted.bumps.len(), plain.bumps.len());
    assert!(voted.bumps.iter().any(Bump::is_support), "the trip has support jolts");
    for b in &voted.bumps {
        if b.is_support() {
            assert!(b.window_probs.is_empty());
            continue;
        }
        assert_eq!(b.window_probs.len(), 5);
        assert!((b.window_probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    let mut bad = PipelineConfig::default();
    bad.classify.window_model = "no/such/model.json".to_owned();
    let e = bad.load_models().unwrap_err().to_string();
    assert!(e.contains("no/such/model.json"), "{e}");
}
