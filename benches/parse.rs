//! Parsing: the JSON upload and CSV/Parquet recordings.

use bump_core::{AccelUnit, TripBatch};
use bump_pipeline::mapping::preset;
use bump_replay::ParquetCodec;
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
    // The rest of the upload path's own work on a parsed batch: its
    // digest, over the content's binary form; and, for comparison, the
    // canonical JSON the digest used to be taken over.
    g.bench_function("batch_digest_3000_samples", |b| {
        b.iter(|| black_box(bump_serve::auth::batch_digest(black_box(batch))));
    });
    g.bench_function("batch_canonical_json_3000_samples", |b| {
        b.iter(|| black_box(serde_json::to_vec(black_box(batch)).map(|v| bump_serve::auth::digest(&v))));
    });
    g.finish();

    let dir = std::env::temp_dir().join(format!("streetbump-bench-{}", std::process::id()));
    let m = preset("streetbump").unwrap_or_else(|| unreachable!("built-in preset"));
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(trip.accel.len() as u64));
    let codecs = [
        ("", ParquetCodec::Zstd),
        ("_snappy", ParquetCodec::Snappy),
        ("_lz4", ParquetCodec::Lz4),
    ];
    for (i, (suffix, codec)) in codecs.into_iter().enumerate() {
        let sub = dir.join(format!("{i}"));
        bump_replay::write_recording(&sub, &trip, i == 0, Some(codec)).unwrap_or_else(|e| unreachable!("{e}"));
        for ext in ["csv", "parquet"] {
            let p = sub.join(format!("{}.{ext}", trip.trip_id));
            if !p.exists() {
                continue;
            }
            let name = if ext == "csv" {
                "recording_csv".to_owned()
            } else {
                format!("recording_parquet{suffix}")
            };
            g.bench_function(name, |b| {
                b.iter(|| black_box(bump_replay::read_trips(black_box(&p), &m).map(|t| t.len())));
            });
        }
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, parse);
criterion_main!(benches);
