/*! `streetbump replay`. */

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use bump_core::{AccelUnit, Axis};
use bump_pipeline::TimeFormat;
use bump_pipeline::mapping::{Frame, Gravity, MappingOverrides, SpeedUnit};
use bump_replay::{Progress, replay, trip_files, write_bumps};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Trip files or folders of them (.csv, .parquet, .json, .jsonl).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Configuration file (default: built-in defaults, as in pipeline.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output folder for bumps.csv, bumps.parquet and summary.json.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The city's inventory of known obstacles (GeoJSON or CSV); overrides
    /// pipeline.toml's [known] inventory.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Signature classifier model (from `streetbump classifier train`);
    /// overrides pipeline.toml's [classify] model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Window model (from `streetbump classifier train` on labelled
    /// windows): each bump's window votes for a class; overrides
    /// pipeline.toml's [classify] window_model.
    #[arg(long)]
    window_model: Option<PathBuf>,
    /// File likely defects through Open311 (per pipeline.toml's [filing]),
    /// then deliver pending filings and sync statuses.
    #[arg(long)]
    file: bool,
    /// With --file: print and write (filing.json) what would be filed;
    /// send and store nothing.
    #[arg(long, requires = "file")]
    dry_run: bool,
    /// Jurisdiction registry; overrides pipeline.toml's [filing] registry.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Data directory of the store; overrides pipeline.toml's [store] data_dir.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print no summary.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    mapping: MappingArgs,
}

/// Column mapping flags; each overrides pipeline.toml's [input].
#[derive(Debug, Args)]
#[command(next_help_heading = "Column mapping")]
struct MappingArgs {
    /// Named mapping to start from: streetbump, lublin, pittsburgh.
    #[arg(long)]
    preset: Option<String>,
    /// Time column.
    #[arg(long)]
    time_col: Option<String>,
    /// Time format: epoch_s, epoch_ms, epoch_us or a pattern like "%Y-%m-%d %H:%M:%S,%f".
    #[arg(long)]
    time_format: Option<TimeFormat>,
    /// Minutes east of UTC of date-time values.
    #[arg(long, allow_hyphen_values = true)]
    utc_offset_min: Option<i32>,
    /// Latitude column.
    #[arg(long)]
    lat_col: Option<String>,
    /// Longitude column.
    #[arg(long)]
    lon_col: Option<String>,
    /// Speed column ("" for none).
    #[arg(long)]
    speed_col: Option<String>,
    /// Speed unit.
    #[arg(long, value_enum)]
    speed_unit: Option<SpeedUnitArg>,
    /// Horizontal accuracy column, m ("" for none).
    #[arg(long)]
    accuracy_col: Option<String>,
    /// Course column, degrees ("" for none).
    #[arg(long)]
    heading_col: Option<String>,
    /// Accelerometer columns as X,Y,Z.
    #[arg(long, value_delimiter = ',', num_args = 3)]
    accel_cols: Option<Vec<String>>,
    /// Accelerometer unit.
    #[arg(long, value_enum)]
    accel_unit: Option<AccelUnitArg>,
    /// Accelerometer frame.
    #[arg(long, value_enum)]
    frame: Option<FrameArg>,
    /// Vertical axis of an earth frame.
    #[arg(long, value_enum)]
    vertical_axis: Option<AxisArg>,
    /// Whether positive vertical readings mean up (earth frame without gravity).
    #[arg(long)]
    up_positive: Option<bool>,
    /// Whether readings include gravity.
    #[arg(long, value_enum)]
    gravity: Option<GravityArg>,
    /// Column naming the trip ("" for the file name).
    #[arg(long)]
    trip_col: Option<String>,
    /// Column naming the device ("" for the trip id).
    #[arg(long)]
    device_col: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SpeedUnitArg {
    #[value(name = "m/s")]
    Mps,
    #[value(name = "km/h")]
    Kmh,
}
#[derive(Debug, Clone, Copy, ValueEnum)]
enum AccelUnitArg {
    G,
    #[value(name = "m/s2")]
    Mps2,
}
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FrameArg {
    Device,
    Earth,
}
#[derive(Debug, Clone, Copy, ValueEnum)]
enum AxisArg {
    X,
    Y,
    Z,
}
#[derive(Debug, Clone, Copy, ValueEnum)]
enum GravityArg {
    Auto,
    Included,
    Removed,
}

impl MappingArgs {
    fn overrides(&self) -> MappingOverrides {
        MappingOverrides {
            preset: self.preset.clone(),
            time: self.time_col.clone(),
            time_format: self.time_format.clone(),
            utc_offset_min: self.utc_offset_min,
            lat: self.lat_col.clone(),
            lon: self.lon_col.clone(),
            speed: self.speed_col.clone(),
            speed_unit: self.speed_unit.map(|u| match u {
                SpeedUnitArg::Mps => SpeedUnit::MetersPerSecond,
                SpeedUnitArg::Kmh => SpeedUnit::KilometersPerHour,
            }),
            accuracy: self.accuracy_col.clone(),
            heading: self.heading_col.clone(),
            accel: self
                .accel_cols
                .as_ref()
                .and_then(|v| <[String; 3]>::try_from(v.clone()).ok()),
            accel_unit: self.accel_unit.map(|u| match u {
                AccelUnitArg::G => AccelUnit::G,
                AccelUnitArg::Mps2 => AccelUnit::MetersPerSecondSquared,
            }),
            frame: self.frame.map(|f| match f {
                FrameArg::Device => Frame::Device,
                FrameArg::Earth => Frame::Earth,
            }),
            vertical_axis: self.vertical_axis.map(|a| match a {
                AxisArg::X => Axis::X,
                AxisArg::Y => Axis::Y,
                AxisArg::Z => Axis::Z,
            }),
            up_positive: self.up_positive,
            gravity: self.gravity.map(|g| match g {
                GravityArg::Auto => Gravity::Auto,
                GravityArg::Included => Gravity::Included,
                GravityArg::Removed => Gravity::Removed,
            }),
            trip_id: self.trip_col.clone(),
            device_id: self.device_col.clone(),
        }
    }
}

struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn file_done(&mut self, done: usize, total: usize, samples: usize) {
        if let Some(b) = &self.0 {
            b.set_length(total as u64);
            b.set_position(done as u64);
            b.set_message(format!("{samples} samples"));
        }
    }
}

pub(crate) fn run(args: &ReplayArgs, tty: bool) -> anyhow::Result<ExitCode> {
    let mut cfg = crate::load_config(args.config.as_ref())?;
    if let Some(p) = &args.window_model {
        cfg.classify.window_model = p.display().to_string();
        cfg.classify.window = bump_pipeline::config::Loaded(None);
        cfg.load_models()?;
    }
    let mapping = cfg
        .input
        .clone()
        .merge(args.mapping.overrides())
        .resolve()
        .context("column mapping")?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(&cfg.replay.out_dir));
    let started = Instant::now();
    let mut files = Vec::new();
    let mut failures = Vec::new();
    for p in &args.paths {
        match trip_files(p) {
            Ok(f) => files.extend(f),
            Err(e) => failures.push(bump_replay::Failure {
                path: p.display().to_string(),
                trip_id: None,
                reason: e.to_string(),
            }),
        }
    }
    files.sort();
    files.dedup();
    let bar = (tty && files.len() > 1 && !args.quiet).then(|| {
        let b = indicatif::ProgressBar::new(files.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files, {msg}, {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let mut progress = Bar(bar);
    let bump_replay::Replayed {
        bumps,
        clusters,
        mut summary,
    } = replay(&files, &mapping, &cfg, &mut progress);
    if let Some(b) = progress.0 {
        b.finish_and_clear();
    }
    failures.append(&mut summary.failures);
    summary.failures = failures;
    // The bumps' files are written while the clusters are classified and
    // written: both are the serial tail of the replay.
    let (known, classes, inventory) = std::thread::scope(|scope| {
        let bumps_written = scope.spawn(|| write_bumps(&out, &bumps));
        let inventory = match args
            .inventory
            .clone()
            .or_else(|| (!cfg.known.inventory.is_empty()).then(|| PathBuf::from(&cfg.known.inventory)))
        {
            Some(p) => bump_replay::inventory::read_inventory(&p)?,
            None => Vec::new(),
        };
        let known = bump_cluster::match_known(&clusters, &inventory, cfg.known.max_distance_m);
        let model = match args
            .model
            .clone()
            .or_else(|| (!cfg.classify.model.is_empty()).then(|| PathBuf::from(&cfg.classify.model)))
        {
            Some(p) => Some(crate::classifier_cmd::load_model(&p)?),
            None => None,
        };
        let classes = bump_cluster::classify_clusters(&clusters, &known, model.as_ref());
        bump_replay::write_clusters(&out, &clusters, &known, &classes)?;
        bumps_written
            .join()
            .map_err(|_| anyhow::anyhow!("writing the bumps panicked"))??;
        anyhow::Ok((known, classes, inventory))
    })?;
    let mut filing_ok = true;
    if args.file {
        let candidates: Vec<bump_filing::Candidate> = clusters
            .iter()
            .zip(&classes)
            .zip(&known)
            .map(|((c, k), m)| bump_filing::Candidate::new(c, k, m.as_ref()))
            .collect();
        filing_ok = crate::open311_cmd::file(
            &cfg,
            &candidates,
            &crate::open311_cmd::FileOptions {
                registry: args.registry.as_ref(),
                data_dir: args.data_dir.as_ref(),
                dry_run: args.dry_run,
                out: &out,
                quiet: args.quiet,
            },
        )?;
    }
    let summary_path = out.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", summary_path.display()))?;
    let wall = started.elapsed().as_secs_f64();
    if !args.quiet {
        let mut o = std::io::stdout().lock();
        writeln!(o, "trips     {} from {} files", summary.trips, summary.files)?;
        writeln!(
            o,
            "samples   {} read, {} to the detector",
            summary.samples, summary.samples_detected
        )?;
        writeln!(
            o,
            "distance  {:.1} km over {:.0} s",
            summary.distance_km, summary.duration_s
        )?;
        if summary.dropped.is_empty() {
            writeln!(o, "dropped   nothing")?;
        } else {
            writeln!(o, "dropped")?;
            for (why, n) in &summary.dropped {
                writeln!(o, "  {why:<24} {n}")?;
            }
        }
        if summary.support_jolts > 0 {
            writeln!(
                o,
                "bumps     {} (and {} support jolts under the threshold)",
                summary.bumps, summary.support_jolts
            )?;
        } else {
            writeln!(o, "bumps     {}", summary.bumps)?;
        }
        let by_status: Vec<String> = summary.clusters.iter().map(|(k, v)| format!("{v} {k}")).collect();
        writeln!(o, "clusters  {} ({})", clusters.len(), by_status.join(", "))?;
        if !inventory.is_empty() {
            let n = known.iter().filter(|k| k.is_some()).count();
            writeln!(
                o,
                "known     {n} clusters at one of {} known obstacles",
                inventory.len()
            )?;
        }
        #[allow(clippy::cast_precision_loss, reason = "display only")]
        let rate = summary.samples as f64 / wall.max(1e-9);
        writeln!(o, "wall time {wall:.2} s, {rate:.0} samples/s")?;
        writeln!(o, "output    {}", out.display())?;
    }
    for f in &summary.failures {
        match &f.trip_id {
            Some(t) => eprintln!("error: {} (trip {t}): {}", f.path, f.reason),
            None => eprintln!("error: {}", f.reason),
        }
    }
    Ok(if summary.failures.is_empty() && filing_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
