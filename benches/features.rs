//! Per-bump spectral features: the Hann-windowed FFT band energies
//! (`bump_dsp::BandEnergy`) the detector computes around every peak, on
//! the windows around the peaks it finds in simulated trips.

use bump_core::BAND_EDGES_HZ;
use bump_dsp::{BandEnergy, DetectParams, Detector};
use bump_pipeline::{PipelineConfig, preprocess};
use bump_sim::{SimParams, Simulation};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Simulated trips (seed 99, 10 minutes each) the peaks come from.
const TRIPS: u64 = 8;

/// The band-passed windows the detector takes around each peak of
/// `TRIPS` simulated trips at `rate_hz`, and the window length.
fn windows(rate_hz: f64) -> (Vec<Vec<f64>>, usize) {
    let sim = Simulation::new(SimParams {
        seed: 99,
        trip_minutes: 10.0,
        sample_rate_hz: Some(rate_hz),
        ..SimParams::default()
    })
    .unwrap_or_else(|e| unreachable!("fixed parameters are valid: {e}"));
    let params = DetectParams::default();
    let cfg = PipelineConfig::default();
    let mut out = Vec::new();
    let mut win = 0;
    let mut events = Vec::new();
    for i in 0..TRIPS {
        let pre = preprocess(&sim.trip(i).trip, &cfg.preprocess).unwrap_or_else(|e| unreachable!("{e}"));
        for seg in &pre.segments {
            let mut det = Detector::new(params, seg.fs).unwrap_or_else(|e| unreachable!("{e}"));
            // The same window the detector uses (see `Detector::new`).
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "positive and small"
            )]
            let w = (params.feature_window_s * seg.fs).round().max(4.0) as usize;
            win = w;
            events.clear();
            det.run(&seg.vertical, &seg.speed_mps, &mut events);
            let y = det.filtered();
            for e in &events {
                let from = e.peak.saturating_sub(w / 2);
                out.push(y[from..(from + w).min(y.len())].to_vec());
            }
        }
    }
    assert!(!out.is_empty(), "simulated trips have bumps");
    (out, win)
}

fn features(c: &mut Criterion) {
    let mut g = c.benchmark_group("features");
    for rate in [50.0, 100.0] {
        let (windows, win) = windows(rate);
        let mut bands = BandEnergy::new(win);
        let mut out = [0.0; 5];
        g.throughput(Throughput::Elements(windows.len() as u64));
        g.bench_function(format!("band_energy_{rate}hz"), |b| {
            b.iter(|| {
                let mut acc = 0.0;
                for w in &windows {
                    bands.bands(black_box(w), rate, &BAND_EDGES_HZ, &mut out);
                    acc += out[1];
                }
                black_box(acc)
            });
        });
    }
    g.finish();
}

criterion_group!(benches, features);
criterion_main!(benches);
