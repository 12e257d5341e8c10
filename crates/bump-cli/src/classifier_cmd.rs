/*!
`streetbump classifier train`: fit the signature classifier from trips
and labelled obstacle positions, and the classification step of the
replay.

Training data is a folder with trips (`trips/` JSON batches, or
`recordings/`) and `truth/obstacles.geojson`: labelled obstacle
positions with a `kind` property — what `streetbump simulate` writes, and
what a city can write from its own inspections. The trips are replayed,
clustered, and each cluster with at least `--min-trips` trips takes the
class of the nearest labelled obstacle within `--radius-m`.
*/

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bump_cluster::{Cluster, Model, class_of_kind};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum ClassifierCommand {
    /// Train the signature classifier and write the model (JSON).
    Train(TrainArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// Folder with trips/ (or recordings/) and truth/obstacles.geojson.
    #[arg(long)]
    data: PathBuf,
    /// Model file to write.
    #[arg(long)]
    out: PathBuf,
    /// A cluster takes the class of a labelled obstacle this close, m.
    #[arg(long, default_value_t = 10.0)]
    radius_m: f64,
    /// Clusters with fewer distinct trips are not used.
    #[arg(long, default_value_t = 2)]
    min_trips: usize,
    /// Configuration file (detection and clustering settings).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Reads and checks a model file.
pub(crate) fn load_model(path: &Path) -> anyhow::Result<Model> {
    let text = std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
    let m: Model = serde_json::from_slice(&text).with_context(|| format!("model {}", path.display()))?;
    m.check().with_context(|| format!("model {}", path.display()))?;
    Ok(m)
}

pub(crate) fn run(cmd: &ClassifierCommand) -> anyhow::Result<ExitCode> {
    let ClassifierCommand::Train(args) = cmd;
    anyhow::ensure!(
        args.radius_m.is_finite() && args.radius_m > 0.0,
        "--radius-m must be a positive number of metres"
    );
    let cfg = crate::load_config(args.config.as_ref())?;
    let trips_dir = [args.data.join("trips"), args.data.join("recordings")]
        .into_iter()
        .find(|p| p.is_dir())
        .with_context(|| format!("{}: no trips/ or recordings/ folder", args.data.display()))?;
    let labels_path = args.data.join("truth/obstacles.geojson");
    let labels = bump_replay::inventory::read_inventory(&labels_path)?;
    let files = bump_replay::trip_files(&trips_dir)?;
    let mapping = cfg.input.clone().resolve()?;
    let run = bump_replay::replay(&files, &mapping, &cfg, &mut ());
    for f in &run.summary.failures {
        eprintln!("warning: skipped {}: {}", f.path, f.reason);
    }
    let usable: Vec<&Cluster> = run.clusters.iter().filter(|c| c.trips >= args.min_trips).collect();
    let owned: Vec<Cluster> = usable.iter().map(|c| (*c).clone()).collect();
    let matches = bump_cluster::match_known(&owned, &labels, args.radius_m);
    let mut examples = Vec::new();
    for (c, m) in owned.iter().zip(&matches) {
        if let Some(class) = m.as_ref().and_then(|m| class_of_kind(&m.kind)) {
            examples.push((class, c.signature.features(c.hit_rate)));
        }
    }
    let model = Model::train(&examples)?;
    let correct = examples.iter().filter(|(c, x)| model.predict(x).0 == *c).count();
    std::fs::write(&args.out, serde_json::to_vec_pretty(&model)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "trained on {} labelled clusters from {} trips ({} clusters with {}+ trips)",
        examples.len(),
        run.summary.trips,
        owned.len(),
        args.min_trips
    )?;
    for c in &model.classes {
        writeln!(o, "  {:<14} {:>5}", c.name, c.count)?;
    }
    #[allow(clippy::cast_precision_loss, reason = "counts")]
    let acc = correct as f64 / examples.len().max(1) as f64;
    writeln!(
        o,
        "accuracy on the training clusters {acc:.3} (optimistic: the same clusters)"
    )?;
    writeln!(o, "written   {}", args.out.display())?;
    Ok(ExitCode::SUCCESS)
}
