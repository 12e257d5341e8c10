/*!
`streetbump bench`: the speed and memory of every stage and of the whole,
on a simulated city's trips.

Pipeline mode times each stage over every trip on one thread: JSON upload
parsing and validation, assembling batches into a trip, preprocessing
(cleaning, GPS track, resampling, reorientation, speed), detection,
coverage, cluster updates, and the final clustering and classification.
Serve mode starts the embedded server on a temporary data directory and
has concurrent clients upload the trips' batches over HTTP at a set rate,
measuring each acknowledgement's latency and, from the store, each trip's
time from its final batch to its evidence being clustered.

Core mode (`--core TRIPS`) reads recorded trips, preprocesses them all
into memory and times the detection core alone (band-pass, background,
threshold, merging, features: `bump_dsp::Detector::run`) over every
segment, the best of at least three passes, on one thread and on every core: the
figure `scripts/bench-python.sh` sets against numpy/scipy's core on the
same segments.

The simulation itself is not timed. Peak memory is the process's high-water
mark (`VmHWM`), which includes the simulated trips held in memory.
*/

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bump_cluster::{BumpObs, ClusterIndex, TrackSample, coverage_cells};
use bump_core::{AccelUnit, TripBatch};
use bump_pipeline::{DetectStage, PipelineConfig, preprocess};
use bump_sim::{SimParams, Simulation};
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Trips to simulate.
    #[arg(long, default_value_t = 50)]
    trips: u64,
    /// Minutes per trip.
    #[arg(long, default_value_t = 20.0)]
    minutes: f64,
    /// Phone sample rate, Hz (every phone alike).
    #[arg(long, default_value_t = 100.0)]
    rate_hz: f64,
    /// Simulation seed.
    #[arg(long, default_value_t = 3)]
    seed: u64,
    /// Also (or only, with --serve-only) measure the server over HTTP.
    #[arg(long)]
    serve: bool,
    /// Measure only the server.
    #[arg(long)]
    serve_only: bool,
    /// Upload rate in serve mode, batches per second (all clients together).
    #[arg(long, default_value_t = 200.0)]
    batches_per_s: f64,
    /// Concurrent clients in serve mode.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// In serve mode, measure the upload path alone: the server stores and
    /// acknowledges batches without processing them, and each client sends
    /// its next batch as soon as the last is acknowledged (as fast as
    /// `--clients` allow, not at `--batches-per-s`).
    #[arg(long)]
    ingest_only: bool,
    /// Accelerometer samples per uploaded batch in serve mode.
    #[arg(long, default_value_t = 1000)]
    batch_samples: usize,
    /// Time only the detection core over the preprocessed segments of the
    /// recorded trips under this path (a file or folder, as `replay`
    /// takes), instead of simulating.
    #[arg(long, value_name = "TRIPS")]
    core: Option<PathBuf>,
    /// Write the figures as JSON here too.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The process's peak resident memory, MB (Linux; 0 elsewhere).
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[derive(Debug, Default)]
struct Stage {
    seconds: f64,
    items: usize,
}

pub(crate) fn run(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &a.core {
        let report = core(path, &mut std::io::stdout().lock())?;
        if let Some(p) = &a.out {
            std::fs::write(p, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut params = SimParams {
        seed: a.seed,
        trip_minutes: a.minutes,
        sample_rate_hz: Some(a.rate_hz),
        ..SimParams::default()
    };
    params.devices = params.devices.max(1);
    let sim = Simulation::new(params)?;
    eprintln!("simulating {} trips of {} min at {} Hz…", a.trips, a.minutes, a.rate_hz);
    let trips: Vec<bump_core::Trip> = (0..a.trips).map(|i| sim.trip(i).trip).collect();
    let samples: usize = trips.iter().map(|t| t.accel.len()).sum();
    let mut report = json!({
        "input": {"trips": a.trips, "minutes": a.minutes, "rate_hz": a.rate_hz, "seed": a.seed, "samples": samples},
        "machine": {"cores": std::thread::available_parallelism().map(usize::from).unwrap_or(1)},
    });
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "input     {} trips, {samples} samples ({} min at {} Hz)",
        a.trips, a.minutes, a.rate_hz
    )?;
    if !a.serve_only {
        report["pipeline"] = pipeline(&trips, samples, &mut o)?;
    }
    if a.serve || a.serve_only {
        report["serve"] = serve(&trips, a, &mut o)?;
    }
    report["peak_memory_mb"] = json!(peak_mb());
    writeln!(o, "peak mem  {:.0} MB (includes the simulated trips)", peak_mb())?;
    if let Some(p) = &a.out {
        std::fs::write(p, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One segment of preprocessed signal, as the detector takes it.
struct CoreSegment {
    fs: f64,
    vertical: Vec<f64>,
    speed_mps: Vec<f64>,
}

/// The detection core over every segment of the trips under `path`, on one
/// thread and on every core.
fn core(path: &std::path::Path, o: &mut impl Write) -> anyhow::Result<serde_json::Value> {
    let cfg = PipelineConfig::default();
    let mapping = cfg.input.resolve().context("column mapping")?;
    let files = bump_replay::trip_files(path)?;
    let mut segments = Vec::new();
    for f in &files {
        for read in bump_replay::read_trips(f, &mapping).with_context(|| format!("cannot read {}", f.display()))? {
            let Ok(pre) = preprocess(&read.trip, &cfg.preprocess) else {
                continue;
            };
            segments.extend(
                pre.segments
                    .into_iter()
                    .filter(|s| !s.vertical.is_empty())
                    .map(|s| CoreSegment {
                        fs: s.fs,
                        vertical: s.vertical,
                        speed_mps: s.speed_mps,
                    }),
            );
        }
    }
    anyhow::ensure!(!segments.is_empty(), "no preprocessed signal under {}", path.display());
    // Longest first, so the threads finish together.
    segments.sort_by_key(|s| std::cmp::Reverse(s.vertical.len()));
    let samples: usize = segments.iter().map(|s| s.vertical.len()).sum();
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    writeln!(
        o,
        "core      {} files, {} segments, {samples} samples; detection core (band-pass, background, threshold, merging, features), best pass",
        files.len(),
        segments.len()
    )?;
    let mut rows = Vec::new();
    let mut threads = vec![1];
    if cores > 1 {
        threads.push(cores);
    }
    for &n in &threads {
        // The best of at least three passes and two seconds: one pass over
        // a small city is tens of milliseconds, short enough for a timer
        // tick or a page fault to show.
        let (mut best, mut events, mut passes) = (f64::INFINITY, 0, 0);
        let started = Instant::now();
        while passes < 3 || (started.elapsed() < Duration::from_secs(2) && passes < 100) {
            let (secs, ev) = core_pass(&segments, n, cfg.detect)?;
            best = best.min(secs);
            events = ev;
            passes += 1;
        }
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        let rate = samples as f64 / best;
        writeln!(
            o,
            "threads {n:<3} {best:>8.4} s {:>10.2} M samples/s {events:>8} events",
            rate / 1e6
        )?;
        rows.push(json!({"threads": n, "seconds": best, "samples_per_s": rate, "events": events}));
    }
    Ok(
        json!({"input": {"path": path.display().to_string(), "files": files.len(), "segments": segments.len(), "samples": samples},
        "machine": {"cores": cores}, "core": rows}),
    )
}

/// One timed pass of the detector over every segment on `threads` threads,
/// each taking the next segment as it finishes one. Detectors are designed
/// per sample rate before the clock starts, as a long-running stage would
/// hold them.
fn core_pass(segments: &[CoreSegment], threads: usize, params: bump_dsp::DetectParams) -> anyhow::Result<(f64, usize)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut rates: Vec<u64> = segments.iter().map(|s| s.fs.to_bits()).collect();
    rates.sort_unstable();
    rates.dedup();
    let design = || -> anyhow::Result<BTreeMap<u64, bump_dsp::Detector>> {
        rates
            .iter()
            .map(|&r| Ok((r, bump_dsp::Detector::new(params, f64::from_bits(r))?)))
            .collect()
    };
    let mut sets = (0..threads).map(|_| design()).collect::<anyhow::Result<Vec<_>>>()?;
    let next = AtomicUsize::new(0);
    let t0 = Instant::now();
    let events: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = sets
            .iter_mut()
            .map(|dets| {
                let next = &next;
                scope.spawn(move || {
                    let mut found = Vec::new();
                    let mut count = 0;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(s) = segments.get(i) else { break };
                        if let Some(d) = dets.get_mut(&s.fs.to_bits()) {
                            found.clear();
                            d.run(&s.vertical, &s.speed_mps, &mut found);
                            count += found.len();
                        }
                    }
                    count
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    Ok((t0.elapsed().as_secs_f64(), events))
}

fn pipeline(trips: &[bump_core::Trip], samples: usize, o: &mut impl Write) -> anyhow::Result<serde_json::Value> {
    let cfg = PipelineConfig::default();
    let mut stages: BTreeMap<&str, Stage> = BTreeMap::new();
    let mut time = |name: &'static str, items: usize, f: &mut dyn FnMut()| {
        let t0 = Instant::now();
        f();
        let e = stages.entry(name).or_default();
        e.seconds += t0.elapsed().as_secs_f64();
        e.items += items;
    };
    let mut detect = DetectStage::new(cfg.detect, cfg.preprocess.max_gps_extrapolation_s);
    let mut index = ClusterIndex::new(cfg.cluster);
    let (mut bumps_total, mut support_total) = (0usize, 0usize);
    let wall = Instant::now();
    for trip in trips {
        let n = trip.accel.len();
        // The upload path: each batch serialised as a phone would, then parsed.
        let bodies: Vec<Vec<u8>> = trip
            .to_batches(60.0, AccelUnit::MetersPerSecondSquared)
            .iter()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .collect();
        let mut batches = Vec::new();
        time("1 parse+validate JSON", n, &mut || {
            batches = bodies.iter().filter_map(|b| TripBatch::from_json(b).ok()).collect();
        });
        let mut assembled = None;
        time("2 assemble", n, &mut || {
            assembled = TripBatch::assemble(std::mem::take(&mut batches)).ok()
        });
        let Some(trip) = assembled else { continue };
        let mut pre = None;
        time("3 preprocess", n, &mut || pre = preprocess(&trip, &cfg.preprocess).ok());
        let Some(pre) = pre else { continue };
        let mut bumps = Vec::new();
        let kept = pre.report.samples_kept;
        time("4 detect", kept, &mut || {
            let _ = detect.detect(&trip, &pre, &mut bumps);
        });
        let track: Vec<TrackSample> = pre.track.points().iter().map(TrackSample::from).collect();
        let mut cov = Default::default();
        time("5 coverage", track.len(), &mut || {
            cov = coverage_cells(&track, cfg.cluster.min_pass_speed_mps, cfg.cluster.coverage_step_m)
        });
        // Items of the index stages: bumps and support jolts alike.
        let nb = bumps.len();
        bumps_total += nb;
        support_total += bumps.iter().filter(|b| b.is_support()).count();
        // As the pipeline: a phone too slow to feel a defect gives no passes.
        if pre.report.detector_rate_hz >= cfg.cluster.min_pass_rate_hz {
            let cells = cov.len();
            time("6 coverage into the index", cells, &mut || {
                index.add_coverage(&trip.trip_id, &cov)
            });
        }
        time("7 bumps into the index", nb, &mut || {
            for b in &bumps {
                index.add_bump(BumpObs::from_bump(b));
            }
        });
    }
    let mut clusters = Vec::new();
    time("8 clustering", bumps_total, &mut || clusters = index.clusters());
    let known = bump_cluster::match_known(&clusters, &[], cfg.known.max_distance_m);
    let model = std::path::Path::new("models/signature.json");
    let model = model
        .exists()
        .then(|| crate::classifier_cmd::load_model(model).ok())
        .flatten();
    time("9 classify", clusters.len(), &mut || {
        let _ = bump_cluster::classify_clusters(&clusters, &known, model.as_ref());
    });
    // Stages only: making the upload bodies is not part of the pipeline.
    let _ = wall;
    let total: f64 = stages.values().map(|s| s.seconds).sum();
    #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
    let rate = |n: usize, s: f64| n as f64 / s.max(1e-12);
    writeln!(
        o,
        "\npipeline, one thread (items: samples; GPS fixes for coverage; H3 cells for coverage into the index; bumps for bumps into the index and clustering; clusters for classify)"
    )?;
    writeln!(o, "{:<24} {:>10} {:>12} {:>14}", "stage", "seconds", "items", "items/s")?;
    let mut rows = Vec::new();
    for (name, s) in &stages {
        writeln!(
            o,
            "{name:<24} {:>10.3} {:>12} {:>14.0}",
            s.seconds,
            s.items,
            rate(s.items, s.seconds)
        )?;
        rows.push(
            json!({"stage": name, "seconds": s.seconds, "items": s.items, "per_second": rate(s.items, s.seconds)}),
        );
    }
    writeln!(
        o,
        "{:<24} {:>10.3} {:>12} {:>14.0}   ({:.2} trips/s, {} bumps, {} support jolts, {} clusters)",
        "whole pipeline",
        total,
        samples,
        rate(samples, total),
        rate(trips.len(), total),
        bumps_total - support_total,
        support_total,
        clusters.len()
    )?;
    Ok(
        json!({"stages": rows, "seconds": total, "samples_per_second": rate(samples, total),
              "trips_per_second": rate(trips.len(), total), "bumps": bumps_total - support_total,
              "support_jolts": support_total, "clusters": clusters.len()}),
    )
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Name of the benchmarked server's threads, so their CPU time can be told
/// from the clients'.
const SERVER_THREADS: &str = "bench-server";

/// CPU time of the server's threads so far, s: its runtime's and the
/// store's SQLite workers' (from `/proc`, Linux only; `None` elsewhere).
fn server_cpu_s() -> Option<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        // `comm` holds the first 15 bytes of the name.
        if comm.starts_with(SERVER_THREADS) || comm.starts_with("sqlx-sqlite-wor") {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            ns += stat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    #[allow(clippy::cast_precision_loss, reason = "nanoseconds of a run fit f64")]
    Some(ns as f64 * 1e-9)
}

fn serve(trips: &[bump_core::Trip], a: &BenchArgs, o: &mut impl Write) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile_dir()?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()?;
    let store = server_rt.block_on(bump_store::Store::open(&dir))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        // Batches of about `batch_samples` samples, every trip's in order.
        let mut bodies: Vec<(String, Vec<u8>, usize)> = Vec::new();
        let mut tokens = BTreeMap::new();
        for t in trips {
            #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
            let span = (t.accel.last().map_or(0.0, |s| s.t) - t.accel.first().map_or(0.0, |s| s.t)).max(1.0);
            #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
            let batch_s = span * a.batch_samples as f64 / t.accel.len().max(1) as f64;
            for b in t.to_batches(batch_s, AccelUnit::MetersPerSecondSquared) {
                let d = b.device_id.as_str().to_owned();
                if !tokens.contains_key(&d) {
                    let tok = bump_serve::auth::new_token()?;
                    store.add_device(&d, &d, &bump_serve::auth::token_hash(&tok)).await?;
                    tokens.insert(d.clone(), tok);
                }
                bodies.push((d, serde_json::to_vec(&b)?, b.accel.x.len()));
            }
        }
        let mut cfg = PipelineConfig::default();
        cfg.serve.max_pending_batches = usize::MAX / 2;
        let opts = bump_serve::ServeOptions {
            cfg,
            store: store.clone(),
            listen: Some("127.0.0.1:0".parse()?),
            registry: None,
            model: None,
            inventory: Vec::new(),
            process: !a.ingest_only,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let server = server_rt.spawn(bump_serve::run(
            opts,
            async move {
                let _ = stop_rx.await;
            },
            move |addr| {
                let _ = addr_tx.send(addr);
            },
        ));
        let addr: std::net::SocketAddr = addr_rx.await?;
        let url = format!("http://{addr}/api/v1/batches");
        let client = reqwest::Client::builder().pool_max_idle_per_host(a.clients).build()?;
        let bodies = Arc::new(bodies);
        let tokens = Arc::new(tokens);
        let interval = Duration::from_secs_f64(1.0 / a.batches_per_s.max(0.001));
        let closed_loop = a.ingest_only;
        let cpu_before = server_cpu_s();
        let start = Instant::now();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..a.clients.max(1) {
            let (bodies, tokens, client, url, next) = (Arc::clone(&bodies), Arc::clone(&tokens), client.clone(), url.clone(), Arc::clone(&next));
            handles.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let (mut refused, mut samples) = (0usize, 0usize);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((dev, body, n)) = bodies.get(i) else { break };
                    if !closed_loop {
                        // Open-loop schedule: batch i is due at i × interval.
                        #[allow(clippy::cast_possible_truncation, reason = "a schedule within the run")]
                        let due = start + interval * (i as u32);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let t0 = Instant::now();
                    let r = client
                        .post(&url)
                        .bearer_auth(&tokens[dev])
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().as_u16() == 202 => {
                            lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                            samples += n;
                        }
                        _ => refused += 1,
                    }
                }
                (lat, refused, samples)
            }));
        }
        let mut lat = Vec::new();
        let (mut refused, mut samples) = (0, 0);
        for h in handles {
            let (l, r, n) = h.await?;
            lat.extend(l);
            refused += r;
            samples += n;
        }
        let upload_s = start.elapsed().as_secs_f64();
        let server_cpu = server_cpu_s().zip(cpu_before).map(|(after, before)| after - before);
        // Wait for the pipeline to drain.
        let drain = Instant::now();
        while !a.ingest_only && store.pending_batches().await? > 0 && drain.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = stop_tx.send(());
        let _ = server.await;
        let mut trip_lat = store.trip_latencies().await?;
        lat.sort_by(f64::total_cmp);
        trip_lat.sort_by(f64::total_cmp);
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        let achieved = lat.len() as f64 / upload_s;
        let asked = if a.ingest_only { "as fast as acknowledged".to_owned() } else { format!("asked {:.0}/s", a.batches_per_s) };
        writeln!(o, "\nserve over HTTP: {} batches of ~{} samples from {} clients, {asked}, achieved {achieved:.0}/s ({:.2} M samples/s), {refused} refused",
            bodies.len(), a.batch_samples, a.clients, samples as f64 / upload_s.max(1e-9) / 1e6)?;
        writeln!(o, "ack latency        p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms", quantile(&lat, 0.5), quantile(&lat, 0.99), quantile(&lat, 1.0))?;
        if !a.ingest_only {
            writeln!(o, "final batch → clustered   p50 {:.0} ms   p99 {:.0} ms ({} trips)", quantile(&trip_lat, 0.5), quantile(&trip_lat, 0.99), trip_lat.len())?;
        }
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        let per_cpu_s = server_cpu.map(|c| samples as f64 / c.max(1e-9));
        if let (Some(cpu), Some(rate)) = (server_cpu, per_cpu_s) {
            writeln!(
                o,
                "server CPU  {cpu:.2} s while uploading ({:.2} cores busy): {:.2} M samples per CPU-second{}",
                cpu / upload_s.max(1e-9),
                rate / 1e6,
                if a.ingest_only { ", the upload path alone" } else { ", uploads and the pipeline" }
            )?;
        }
        // What an upload waits behind: every other write holds the writer.
        let writes = store.write_times();
        let mut held = serde_json::Map::new();
        for (op, w) in &writes {
            #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
            let mean = w.seconds / w.count.max(1) as f64;
            writeln!(o, "store writes  {op:<16} {:>6} × mean {:>6.2} ms  max {:>6.1} ms", w.count, mean * 1e3, w.max_seconds * 1e3)?;
            held.insert((*op).to_owned(), json!({"count": w.count, "mean_ms": mean * 1e3, "max_ms": w.max_seconds * 1e3}));
        }
        let _ = std::fs::remove_dir_all(&dir);
        anyhow::Ok(json!({
            "batches": bodies.len(), "batch_samples": a.batch_samples, "clients": a.clients,
            "asked_per_second": if a.ingest_only { serde_json::Value::Null } else { json!(a.batches_per_s) },
            "achieved_per_second": achieved, "refused": refused, "ingest_only": a.ingest_only,
            "samples_acknowledged": samples, "server_cpu_s": server_cpu, "samples_per_server_cpu_s": per_cpu_s,
            "ack_ms": {"p50": quantile(&lat, 0.5), "p99": quantile(&lat, 0.99), "max": quantile(&lat, 1.0)},
            "final_batch_to_clustered_ms": {"p50": quantile(&trip_lat, 0.5), "p99": quantile(&trip_lat, 0.99)},
            "store_writes": held,
        }))
    })
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("streetbump-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    Ok(d)
}
