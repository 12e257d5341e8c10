/*! `streetbump eval`: score a replay's bumps against ground truth. */

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Folder of truth files: one CSV per trip with latitude and longitude
    /// columns, named after the trip (a "(bumps)" suffix is ignored).
    #[arg(long)]
    truth: PathBuf,
    /// A replay's output folder (reads bumps.csv; writes eval.json).
    #[arg(long)]
    results: PathBuf,
    /// Matching radius, metres.
    #[arg(long, default_value_t = 20.0)]
    radius_m: f64,
}

pub(crate) fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
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
    let path = args.results.join("eval.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&ev)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(o, "written   {}", path.display())?;
    Ok(ExitCode::SUCCESS)
}
