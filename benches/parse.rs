//! Parsing: the JSON upload and CSV/Parquet recordings.

use bump_core::{AccelUnit, TripBatch};
use bump_pipeline::mapping::preset;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn parse(c: &mut Criterion) {
    let trip = bump_benches::sim_trip(2.0, 50.0);
    let batch = &trip.to_batches(60.0, AccelUnit::MetersPerSecondSquared)[0];
    let json = serde_json::to_vec(batch).unwrap_or_else(|e| unreachable!("{e}"));
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("batch_json_3000_samples", |b| {
        b.iter(|| black_box(TripBatch::from_json(black_box(&json)).map(|b| b.len())));
    });
    g.finish();

    let dir = std::env::temp_dir().join(format!("streetbump-bench-{}", std::process::id()));
    bump_replay::write_recording(&dir, &trip, true, true).unwrap_or_else(|e| unreachable!("{e}"));
    let m = preset("streetbump").unwrap_or_else(|| unreachable!("built-in preset"));
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(trip.accel.len() as u64));
    for ext in ["csv", "parquet"] {
        let p = dir.join(format!("{}.{ext}", trip.trip_id));
        g.bench_function(format!("recording_{ext}"), |b| {
            b.iter(|| black_box(bump_replay::read_trips(black_box(&p), &m).map(|t| t.len())));
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, parse);
criterion_main!(benches);
