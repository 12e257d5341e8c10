/*! `streetbump eval`: score a replay's bumps against ground truth. */

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Either a simulation folder (holding truth/passes.csv), or a folder of
    /// truth files: one CSV per trip with latitude and longitude columns,
    /// named after the trip (a "(bumps)" suffix is ignored).
    #[arg(long)]
    truth: PathBuf,
    /// A replay's output folder (reads bumps.csv; writes eval.json).
    #[arg(long)]
    results: PathBuf,
    /// Matching radius for truth positions, metres.
    #[arg(long, default_value_t = 20.0)]
    radius_m: f64,
    /// Matching time window for simulated passes, seconds.
    #[arg(long, default_value_t = 1.0)]
    window_s: f64,
}

fn run_sim(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.window_s.is_finite() && args.window_s >= 0.0,
        "--window-s must be zero or more seconds"
    );
    let ev = bump_replay::eval::eval_sim(&args.truth, &args.results, args.window_s)?;
    let mut o = std::io::stdout().lock();
    writeln!(o, "rule: {}", ev.rule)?;
    writeln!(
        o,
        "bumps {}  matched {}  precision {:.3}",
        ev.bumps, ev.true_positives, ev.precision
    )?;
    writeln!(
        o,
        "hit passes {}  detected {}  recall {:.3}",
        ev.hit_passes, ev.detected_passes, ev.recall
    )?;
    writeln!(o, "{:<18} {:>6} {:>8} {:>7}", "kind", "passes", "detected", "recall")?;
    for (k, (n, d)) in &ev.by_kind {
        #[allow(clippy::cast_precision_loss, reason = "counts")]
        let r = if *n == 0 { 1.0 } else { *d as f64 / *n as f64 };
        writeln!(o, "{k:<18} {n:>6} {d:>8} {r:>7.3}")?;
    }
    if !ev.pothole_hits_by_rate_hz.is_empty() {
        let cells: Vec<String> = ev
            .pothole_hits_by_rate_hz
            .iter()
            .map(|(hz, (n, d))| format!("{hz} Hz {d}/{n}"))
            .collect();
        writeln!(o, "pothole hits detected by phone rate: {}", cells.join(", "))?;
    }
    writeln!(
        o,
        "position error of matched bumps: median {:.1} m, p90 {:.1} m",
        ev.position_error_median_m, ev.position_error_p90_m
    )?;
    if let Some(c) = &ev.clusters {
        writeln!(o, "clusters rule: {}", c.rule)?;
        writeln!(
            o,
            "likely clusters {}  near a hit obstacle {}  precision {:.3}  recall {:.3}",
            c.likely, c.true_positives, c.precision, c.recall
        )?;
        writeln!(o, "{:<18} {:>9} {:>6} {:>7}", "kind", "obstacles", "found", "recall")?;
        for (k, (n, d)) in &c.by_kind {
            #[allow(clippy::cast_precision_loss, reason = "counts")]
            let r = if *n == 0 { 1.0 } else { *d as f64 / *n as f64 };
            writeln!(o, "{k:<18} {n:>9} {d:>6} {r:>7.3}")?;
        }
        if let Some(acc) = c.class_accuracy {
            writeln!(
                o,
                "classifier confusion (rows: true class of the nearest hit obstacle; columns: predicted)"
            )?;
            let cols: std::collections::BTreeSet<&String> = c.confusion.values().flat_map(|r| r.keys()).collect();
            write!(o, "{:<14}", "")?;
            for col in &cols {
                write!(o, " {:>13}", col)?;
            }
            writeln!(o)?;
            for (t, row) in &c.confusion {
                write!(o, "{t:<14}")?;
                for col in &cols {
                    write!(o, " {:>13}", row.get(*col).copied().unwrap_or(0))?;
                }
                writeln!(o)?;
            }
            writeln!(o, "class accuracy {acc:.3}")?;
        }
        if let Some(p) = &c.potholes {
            writeln!(
                o,
                "potholes passed by {}+ trips {}  with a likely pothole cluster {}  recall {:.3}",
                p.min_trips, p.passed, p.found, p.recall
            )?;
            writeln!(
                o,
                "  of them hit by {}+ trips {} ({:.3})  by {}+ trips with phones at {}+ Hz {} ({:.3})",
                p.felt_min_trips,
                p.hit,
                bump_replay::eval::ratio(p.hit, p.passed),
                p.felt_min_trips,
                p.fast_phone_hz,
                p.hit_fast,
                bump_replay::eval::ratio(p.hit_fast, p.passed)
            )?;
            // The fast phones' measured sensitivity to pothole hits, and
            // what clustering could be given at it and above it.
            let (n, d) = ev
                .pothole_hits_by_rate_hz
                .iter()
                .filter(|(hz, _)| f64::from(**hz) >= p.fast_phone_hz)
                .fold((0, 0), |(n, d), (_, v)| (n + v.0, d + v.1));
            if n > 0 {
                let measured = bump_replay::eval::ratio(d, n);
                let cells: Vec<String> = [measured, 0.7, 0.9, 1.0]
                    .iter()
                    .map(|&q| {
                        let c = bump_replay::eval::felt_ceiling(&p.fast_hit_trips, q, p.felt_min_trips);
                        format!("p={q:.2} -> {c:.3}")
                    })
                    .collect();
                writeln!(
                    o,
                    "  felt by {}+ trips if every phone at {}+ Hz felt each hit with probability p (measured {:.2}): {}",
                    p.felt_min_trips,
                    p.fast_phone_hz,
                    measured,
                    cells.join(", ")
                )?;
            }
            writeln!(
                o,
                "  of them felt by {}+ trips {} ({:.3})  with a likely pothole cluster {} ({:.3})",
                p.felt_min_trips,
                p.felt,
                bump_replay::eval::ratio(p.felt, p.passed),
                p.found_felt,
                bump_replay::eval::ratio(p.found_felt, p.felt)
            )?;
            if !p.missed.is_empty() {
                let why: Vec<String> = p.missed.iter().map(|(k, n)| format!("{k} {n}")).collect();
                writeln!(o, "missed by the nearest cluster's state: {}", why.join(", "))?;
            }
            writeln!(
                o,
                "likely pothole clusters {}  at a real pothole {}  precision {:.3}",
                p.clusters, p.real, p.precision
            )?;
            if p.repaired > 0 {
                let what: Vec<String> = p.repaired_outcome.iter().map(|(k, n)| format!("{k} {n}")).collect();
                writeln!(
                    o,
                    "potholes filled during the trips, felt by {}+ trips before: {}  by the nearest cluster's state: {}",
                    p.felt_min_trips,
                    p.repaired,
                    what.join(", ")
                )?;
            }
        }
        if !c.would_file.is_empty() {
            let real = c.would_file.iter().filter(|w| w.real_pothole).count();
            writeln!(
                o,
                "would file {} pothole clusters (likely, class pothole by signature, not a known obstacle): {} at a real pothole",
                c.would_file.len(),
                real
            )?;
        }
    }
    let path = args.results.join("eval.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&ev)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(o, "written   {}", path.display())?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    if args.truth.join("truth/passes.csv").is_file() {
        return run_sim(args);
    }
    anyhow::ensure!(
        args.radius_m.is_finite() && args.radius_m > 0.0,
        "--radius-m must be a positive number of metres"
    );
    let ev = bump_replay::eval::eval_points(&args.truth, &args.results, args.radius_m)?;
    let mut o = std::io::stdout().lock();
    writeln!(o, "rule: {}", ev.rule)?;
    writeln!(
        o,
        "{:<28} {:>5} {:>5} {:>6} {:>6} {:>6} {:>6}",
        "trip", "det", "tp", "truth", "found", "P", "R"
    )?;
    let row = |o: &mut dyn Write, name: &str, s: &bump_geo::PointScore| {
        writeln!(
            o,
            "{:<28} {:>5} {:>5} {:>6} {:>6} {:>6.3} {:>6.3}",
            name,
            s.detections,
            s.true_positives,
            s.truth,
            s.found,
            s.precision(),
            s.recall()
        )
    };
    for (trip, s) in &ev.per_trip {
        row(&mut o, trip, s)?;
    }
    row(&mut o, "TOTAL", &ev.total)?;
    writeln!(
        o,
        "false positives within {} m of a point labelled on another trip: {} of {}",
        ev.radius_m,
        ev.total.elsewhere,
        ev.total.detections - ev.total.true_positives
    )?;
    let path = args.results.join("eval.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&ev)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(o, "written   {}", path.display())?;
    Ok(ExitCode::SUCCESS)
}
