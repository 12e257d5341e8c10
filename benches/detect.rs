//! The detection core: band-pass, background, threshold, merging and
//! features, per sample of preprocessed vertical acceleration.

use bump_dsp::{Cascade, DetectParams, Detector, GainCascade};
use bump_pipeline::{PipelineConfig, preprocess};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// One pass of a band-pass over a signal, in place.
type FilterRun<'a> = Box<dyn Fn(&mut [f64]) + 'a>;

fn detect(c: &mut Criterion) {
    let trip = bump_benches::sim_trip(20.0, 100.0);
    let pre = preprocess(&trip, &PipelineConfig::default().preprocess).unwrap_or_else(|e| unreachable!("{e}"));
    let seg = pre
        .segments
        .iter()
        .max_by_key(|s| s.vertical.len())
        .unwrap_or_else(|| unreachable!("a 20 min trip has segments"));
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(seg.vertical.len() as u64));
    let mut det = Detector::new(DetectParams::default(), seg.fs).unwrap_or_else(|e| unreachable!("{e}"));
    let mut events = Vec::new();
    g.bench_function("detector_100hz", |b| {
        b.iter(|| {
            events.clear();
            det.run(black_box(&seg.vertical), black_box(&seg.speed_mps), &mut events);
            black_box(events.len())
        });
    });
    // The same without support jolts: the cost of their second scan.
    let mut bare = Detector::new(
        DetectParams {
            support_ratio: 0.0,
            ..DetectParams::default()
        },
        seg.fs,
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    g.bench_function("detector_100hz_without_support", |b| {
        b.iter(|| {
            events.clear();
            bare.run(black_box(&seg.vertical), black_box(&seg.speed_mps), &mut events);
            black_box(events.len())
        });
    });
    // The band-pass alone, as the detector designs it, as a cascade and
    // with the sections' gains gathered (what the detector runs); each
    // pass starts from a settled state on a fresh copy of the segment.
    let p = DetectParams::default();
    let bandpass = Cascade::butter_highpass(2, p.highpass_hz, seg.fs)
        .and_then(|h| Ok(h.then(Cascade::butter_lowpass(4, p.lowpass_hz, seg.fs)?)))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let gathered = GainCascade::new(&bandpass).unwrap_or_else(|| unreachable!("a Butterworth band-pass"));
    let mut buf = seg.vertical.clone();
    let filters: [(&str, FilterRun<'_>); 2] = [
        (
            "bandpass_100hz",
            Box::new(|xs: &mut [f64]| {
                let mut f = bandpass.clone();
                f.settle(xs[0]);
                f.apply(xs);
            }),
        ),
        (
            "bandpass_gathered_100hz",
            Box::new(|xs: &mut [f64]| {
                let mut f = gathered.clone();
                f.settle(xs[0]);
                f.apply(xs);
            }),
        ),
    ];
    for (name, run) in &filters {
        g.bench_function(*name, |b| {
            b.iter(|| {
                buf.copy_from_slice(&seg.vertical);
                run(black_box(&mut buf));
                black_box(buf[buf.len() - 1])
            });
        });
    }
    g.finish();
    let mut g = c.benchmark_group("preprocess");
    g.throughput(Throughput::Elements(trip.accel.len() as u64));
    let cfg = PipelineConfig::default();
    g.bench_function("preprocess_and_detect_100hz", |b| {
        let mut proc = bump_pipeline::TripProcessor::new(cfg.clone());
        b.iter(|| black_box(proc.run(black_box(&trip)).map(|o| o.bumps.len())));
    });
    g.finish();
}

criterion_group!(benches, detect);
criterion_main!(benches);
