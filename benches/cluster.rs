//! Clustering across trips: H3 indexing of bumps, `ClusterIndex` updates
//! and the clusters computed from them, per bump; and coverage (the H3
//! cells a GPS track drove through), per fix: whole, trimmed, and near a
//! trip's clusters only.
//!
//! The bumps are those the pipeline detects on simulated trips (seed 99,
//! default city, 50 Hz), replayed as many virtual trips, each with its own
//! GPS error (4 m per axis), until there are 10,000 or 100,000: a busy
//! city's evidence over weeks, concentrated on the streets and defects
//! real trips share.

use bump_cluster::{BumpObs, ClusterIndex, ClusterParams, NearCells, TrackSample, cell_of, coverage_cells};
use bump_core::{BumpId, TripId};
use bump_pipeline::{PipelineConfig, TripProcessor, preprocess, trip_coverage};
use bump_sim::rng::Rng;
use bump_sim::{SimParams, Simulation};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Simulated trips the bump pool is detected on.
const POOL_TRIPS: u64 = 12;
const METRES_PER_DEGREE: f64 = 111_320.0;

/// Bumps detected by the whole pipeline on `POOL_TRIPS` simulated trips.
fn detected_pool() -> Vec<BumpObs> {
    let sim = Simulation::new(SimParams {
        seed: 99,
        trip_minutes: 10.0,
        sample_rate_hz: Some(50.0),
        ..SimParams::default()
    })
    .unwrap_or_else(|e| unreachable!("fixed parameters are valid: {e}"));
    let mut proc = TripProcessor::new(PipelineConfig::default());
    let mut pool = Vec::new();
    for i in 0..POOL_TRIPS {
        let trip = sim.trip(i).trip;
        let out = proc.run(&trip).unwrap_or_else(|e| unreachable!("{e}"));
        pool.extend(out.bumps.iter().map(BumpObs::from_bump));
    }
    assert!(!pool.is_empty(), "simulated trips have bumps");
    pool
}

/// `n` bumps: the pool replayed by virtual trips, each copy of a trip with
/// its own id, time and GPS error.
fn bumps(pool: &[BumpObs], n: usize) -> Vec<BumpObs> {
    let mut rng = Rng::new(99, 7);
    let mut out = Vec::with_capacity(n);
    let mut copy = 0u32;
    while out.len() < n {
        for b in pool.iter().take(n - out.len()) {
            let trip_id =
                TripId::new(format!("{}-r{copy}", b.trip_id.as_str())).unwrap_or_else(|e| unreachable!("{e}"));
            let t = b.t + f64::from(copy) * 86_400.0;
            let (north, east) = (4.0 * rng.normal(), 4.0 * rng.normal());
            out.push(BumpObs {
                bump_id: BumpId::new(&trip_id, t),
                trip_id,
                t,
                lat: b.lat + north / METRES_PER_DEGREE,
                lon: b.lon + east / (METRES_PER_DEGREE * b.lat.to_radians().cos()),
                ..b.clone()
            });
        }
        copy += 1;
    }
    out
}

fn cluster(c: &mut Criterion) {
    let pool = detected_pool();
    let mut g = c.benchmark_group("cluster");
    g.sample_size(10);
    for n in [10_000usize, 100_000] {
        let obs = bumps(&pool, n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("h3_cell_of/{n}"), |b| {
            b.iter(|| {
                black_box(&obs)
                    .iter()
                    .filter_map(|o| cell_of(o.lat, o.lon))
                    .fold(0u64, |a, c| a ^ u64::from(c))
            });
        });
        g.bench_function(format!("add_bump/{n}"), |b| {
            b.iter_batched(
                || obs.clone(),
                |obs| {
                    let mut idx = ClusterIndex::new(ClusterParams::default());
                    for o in obs {
                        idx.add_bump(o);
                    }
                    black_box(idx.len())
                },
                BatchSize::LargeInput,
            );
        });
        g.bench_function(format!("add_bump_and_clusters/{n}"), |b| {
            b.iter_batched(
                || obs.clone(),
                |obs| {
                    let mut idx = ClusterIndex::new(ClusterParams::default());
                    for o in obs {
                        idx.add_bump(o);
                    }
                    black_box(idx.clusters().len())
                },
                BatchSize::LargeInput,
            );
        });
    }
    g.finish();

    // Coverage: a 20-minute trip's cleaned track, as the pipeline passes it.
    let trip = bump_benches::sim_trip(20.0, 50.0);
    let cfg = PipelineConfig::default();
    let pre = preprocess(&trip, &cfg.preprocess).unwrap_or_else(|e| unreachable!("{e}"));
    let track: Vec<TrackSample> = pre.track.points().iter().map(TrackSample::from).collect();
    let mut g = c.benchmark_group("coverage");
    g.throughput(Throughput::Elements(track.len() as u64));
    g.bench_function("coverage_cells_20min", |b| {
        b.iter(|| {
            black_box(
                coverage_cells(
                    black_box(&track),
                    cfg.cluster.min_pass_speed_mps,
                    cfg.cluster.coverage_step_m,
                )
                .len(),
            )
        });
    });
    // With the privacy trim, as serve computes it for every trip.
    g.bench_function("trip_coverage_20min", |b| {
        b.iter(|| black_box(trip_coverage(black_box(&track), &cfg, None).len()));
    });
    // Only near the trip's own bumps' clusters, as a replay computes it
    // once every bump is in.
    let mut idx = ClusterIndex::new(cfg.cluster);
    let out = TripProcessor::new(cfg.clone())
        .run(&trip)
        .unwrap_or_else(|e| unreachable!("{e}"));
    for bump in &out.bumps {
        idx.add_bump(BumpObs::from_bump(bump));
    }
    let near = NearCells::new(idx.pass_cells(), cfg.cluster.coverage_step_m);
    g.bench_function("trip_coverage_near_20min", |b| {
        b.iter(|| black_box(trip_coverage(black_box(&track), &cfg, Some(&near)).len()));
    });
    g.finish();
}

criterion_group!(benches, cluster);
criterion_main!(benches);
