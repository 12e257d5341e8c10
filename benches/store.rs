//! The embedded store's writes on the upload path: storing one batch (the
//! acknowledgement waits for it), committing one trip's evidence and
//! replacing the clusters snapshot (both hold the writer every upload
//! waits for).

use std::hint::black_box;

use bump_store::{NewBatch, Store, StoredBump};
use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// One 20-minute 100 Hz trip's evidence as `streetbump serve` commits it:
/// about 1,750 resolution-13 cells and 38 bumps (measured on simulated trips).
fn evidence(trip: &str) -> (Vec<StoredBump>, Vec<(String, f64)>) {
    let obs = format!("{{\"features\":[{}]}}", vec!["0.123456789"; 40].join(","));
    let trace = Some(format!("[{}]", vec!["-0.0123"; 200].join(",")));
    let bumps = (0..38)
        .map(|i| StoredBump {
            bump_id: format!("{trip}:{i:06}"),
            trip_id: trip.to_owned(),
            t: 1.7e9 + f64::from(i),
            obs: obs.clone(),
            trace: trace.clone(),
        })
        .collect();
    // Along a 7 km straight road, a cell every 4 m, as a drive covers them.
    let coverage = (0..1_750)
        .map(|i| {
            let ll = h3o::LatLng::new(42.36 + f64::from(i) * 3.6e-5, -71.06).unwrap_or_else(|e| unreachable!("{e}"));
            (
                ll.to_cell(h3o::Resolution::Thirteen).to_string(),
                1.7e9 + f64::from(i) * 0.4,
            )
        })
        .collect();
    (bumps, coverage)
}

fn store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| unreachable!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
    let store = rt
        .block_on(Store::open(dir.path()))
        .unwrap_or_else(|e| unreachable!("{e}"));
    let mut g = c.benchmark_group("store");
    g.sample_size(20);

    let body = vec![b'x'; 40_000];
    let mut seq = 0u32;
    g.throughput(Throughput::Elements(1));
    g.bench_function("put_batch_40kB", |b| {
        b.iter(|| {
            seq += 1;
            let now = Utc::now();
            black_box(rt.block_on(store.put_batch("trip-put", seq, "dev", false, &body, "digest", now)))
        });
    });

    // Eight batches in one transaction, as uploads arriving together could
    // be committed: the cost per batch.
    g.throughput(Throughput::Elements(8));
    g.bench_function("put_batches_8x40kB", |b| {
        b.iter(|| {
            let seqs: Vec<u32> = (0..8).map(|k| seq + 1 + k).collect();
            seq += 8;
            let batches: Vec<NewBatch<'_>> = seqs
                .iter()
                .map(|&s| NewBatch {
                    part: None,
                    trip_id: "trip-put",
                    seq: s,
                    device_id: "dev",
                    is_final: false,
                    body: &body,
                    digest: "digest",
                })
                .collect();
            black_box(rt.block_on(store.put_batches(&batches, Utc::now())))
        });
    });
    g.throughput(Throughput::Elements(1));

    let (bumps, coverage) = evidence("trip-ev");
    // The trip's 120 batches of 1,000 samples, which the commit marks processed.
    for seq in 0..120 {
        rt.block_on(store.put_batch("trip-ev", seq, "dev", seq == 119, &body, "digest", Utc::now()))
            .unwrap_or_else(|e| unreachable!("{e}"));
    }
    g.throughput(Throughput::Elements(coverage.len() as u64));
    g.bench_function("commit_trip_1750_cells_38_bumps", |b| {
        b.iter(|| {
            let now = Utc::now();
            black_box(rt.block_on(store.commit_trip("trip-ev", &bumps, &coverage, true, now, now)))
        });
    });

    let body = format!("{{\"summary\":\"{}\"}}", "x".repeat(1_500));
    let clusters: Vec<(String, String)> = (0..400).map(|i| (format!("c{i:05}"), body.clone())).collect();
    g.throughput(Throughput::Elements(clusters.len() as u64));
    g.bench_function("save_clusters_400", |b| {
        b.iter(|| black_box(rt.block_on(store.save_clusters(&clusters))));
    });
    g.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
