//! Reorientation: gravity low-pass, rotation, shift detection, per sample.

use bump_dsp::{OrientParams, Reorienter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn reorient(c: &mut Criterion) {
    let trip = bump_benches::sim_trip(10.0, 100.0);
    let xyz: Vec<[f64; 3]> = trip.accel.iter().map(|a| [a.x, a.y, a.z]).collect();
    let mut g = c.benchmark_group("reorient");
    g.throughput(Throughput::Elements(xyz.len() as u64));
    g.bench_function("reorienter_100hz", |b| {
        b.iter(|| {
            let mut r = Reorienter::new(OrientParams::default(), 100.0).unwrap_or_else(|e| unreachable!("{e}"));
            black_box(r.run(black_box(&xyz)).vertical.len())
        });
    });
    g.finish();
}

criterion_group!(benches, reorient);
criterion_main!(benches);
