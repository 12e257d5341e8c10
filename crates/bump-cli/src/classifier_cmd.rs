/*!
`streetbump classifier train`: fit the signature classifier from trips
and labelled obstacle positions, and the classification step of the
replay.

Training data is a folder with trips (`trips/` JSON batches, or
`recordings/`) and `truth/obstacles.geojson`: labelled obstacle
positions with a `kind` property — what `streetbump simulate` writes, and
what a city can write from its own inspections. The trips are replayed,
clustered, and each cluster with at least `--min-trips` trips takes the
class of the nearest labelled obstacle within `--radius-m`. `--data` may
be given several times: each folder is replayed and clustered on its own
(its own city, or its own survey), and the examples of all are pooled.
*/

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bump_cluster::window::{WindowModel, WindowParams};
use bump_cluster::{Cluster, Model, class_of_kind};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum ClassifierCommand {
    /// Train a classifier and write the model (JSON): from trips and
    /// labelled obstacles (cluster signatures), or from a folder of
    /// labelled event windows (one subfolder per class).
    Train(TrainArgs),
    /// Evaluate a window model on a folder of labelled event windows.
    Eval(EvalArgs),
    /// Stratified k-fold cross-validation of the window classifier.
    Cv(CvArgs),
    /// How hard each class's jolts are in a folder of labelled windows,
    /// and how well a peak threshold alone would tell one class from the
    /// others.
    Amplitudes(AmplitudesArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AmplitudesArgs {
    /// Folder of labelled windows (one subfolder per class).
    #[arg(long)]
    data: PathBuf,
    /// The class a detector should feel; thresholds are set on its peaks.
    #[arg(long, default_value = "potholes")]
    event: String,
    /// Sample rate of the windows, Hz.
    #[arg(long, default_value_t = 50.0)]
    fs: f64,
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Window model from `classifier train` on a window folder.
    #[arg(long)]
    model: PathBuf,
    /// Folder of labelled windows (one subfolder per class).
    #[arg(long)]
    data: PathBuf,
    /// Sample rate of the windows, Hz.
    #[arg(long, default_value_t = 50.0)]
    fs: f64,
}

#[derive(Debug, Args)]
pub(crate) struct CvArgs {
    /// Folder of labelled windows (one subfolder per class).
    #[arg(long)]
    data: PathBuf,
    /// Folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Random seed (fold assignment and forest).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Sample rate of the windows, Hz.
    #[arg(long, default_value_t = 50.0)]
    fs: f64,
}

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// Folder with trips/ (or recordings/) and truth/obstacles.geojson, or
    /// a folder of labelled windows. Repeat for more folders of trips: each
    /// is clustered on its own and their labelled clusters are pooled.
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
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
    /// Sample rate of window folders, Hz.
    #[arg(long, default_value_t = 50.0)]
    fs: f64,
    /// Class for clusters near no labelled obstacle (e.g. `rough_road`
    /// when the labels list every defect, as the simulator's truth does:
    /// what is left is surface roughness). Without it they are not used.
    #[arg(long)]
    unlabelled_class: Option<String>,
    /// Trees of a window model's forest (fewer: a smaller file).
    #[arg(long, default_value_t = 300)]
    trees: usize,
    /// Window folders only: train also on this many copies of each window
    /// as a phone placed softly would record it (random low-pass 3-12 Hz
    /// and gain 0.5-2, see docs/clustering.md). For windows cut from
    /// simulated trips, whose phones are rigidly mounted; 0 for real ones.
    #[arg(long, default_value_t = 0)]
    placement_copies: usize,
}

/// Reads and checks a model file.
pub(crate) fn load_model(path: &Path) -> anyhow::Result<Model> {
    let text = std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
    let m: Model = serde_json::from_slice(&text).with_context(|| format!("model {}", path.display()))?;
    m.check().with_context(|| format!("model {}", path.display()))?;
    Ok(m)
}

fn split_windows(w: &bump_replay::windows::Windows) -> (Vec<Vec<f64>>, Vec<usize>) {
    let x = w.windows.iter().map(|(_, s, _)| s.clone()).collect();
    let y = w.windows.iter().map(|(c, _, _)| *c).collect();
    (x, y)
}

fn print_confusion(o: &mut dyn Write, classes: &[String], m: &[Vec<usize>]) -> anyhow::Result<f64> {
    writeln!(o, "confusion (rows: true class; columns: predicted)")?;
    write!(o, "{:<16}", "")?;
    for c in classes {
        write!(o, " {:>14}", c)?;
    }
    writeln!(o)?;
    for (c, row) in classes.iter().zip(m) {
        write!(o, "{c:<16}")?;
        for v in row {
            write!(o, " {v:>14}")?;
        }
        writeln!(o)?;
    }
    let right: usize = (0..m.len()).map(|i| m[i][i]).sum();
    let all: usize = m.iter().flatten().sum();
    #[allow(clippy::cast_precision_loss, reason = "counts")]
    let acc = right as f64 / all.max(1) as f64;
    writeln!(o, "accuracy {acc:.3} ({right} of {all})")?;
    Ok(acc)
}

/// Reads and checks a window model file.
pub(crate) fn load_window_model(path: &Path) -> anyhow::Result<WindowModel> {
    let text = std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))?;
    let m: WindowModel =
        serde_json::from_slice(&text).with_context(|| format!("model {} is not a window model", path.display()))?;
    m.check().with_context(|| format!("model {}", path.display()))?;
    Ok(m)
}

fn train_windows(args: &TrainArgs, data: &Path) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.data.len() == 1,
        "a window model is trained from one folder of labelled windows; got {} --data folders",
        args.data.len()
    );
    let w = bump_replay::windows::read_windows(data)?;
    let (mut x, mut y) = split_windows(&w);
    if args.placement_copies > 0 {
        let placement = bump_cluster::window::Placement {
            copies: args.placement_copies,
            ..bump_cluster::window::Placement::default()
        };
        (x, y) = placement.apply(&x, &y, args.fs);
    }
    anyhow::ensure!(args.trees >= 1, "--trees must be at least 1");
    let mut params = WindowParams::default();
    params.forest.trees = args.trees;
    let m = WindowModel::train(&x, &y, w.classes.clone(), args.fs, params)
        .with_context(|| format!("{}", data.display()))?;
    std::fs::write(&args.out, serde_json::to_vec(&m)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    writeln!(
        std::io::stdout(),
        "trained a {}-tree forest over {} features on {} windows of {} classes; written {}",
        m.forest.trees.len(),
        m.forest.features.len(),
        x.len(),
        w.classes.len(),
        args.out.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn eval_windows(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let model = load_window_model(&args.model)?;
    let w = bump_replay::windows::read_windows(&args.data)?;
    let classes = &model.forest.classes;
    let mut m = vec![vec![0usize; classes.len()]; classes.len()];
    let mut skipped = 0;
    for (c, x, _) in &w.windows {
        // Classes are matched by name: the data's folders against the model's.
        match classes.iter().position(|n| *n == w.classes[*c]) {
            Some(t) => m[t][model.predict(x, args.fs)] += 1,
            None => skipped += 1,
        }
    }
    let mut o = std::io::stdout().lock();
    print_confusion(&mut o, classes, &m)?;
    if skipped > 0 {
        writeln!(o, "skipped {skipped} windows of classes the model does not know")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn cross_validate(args: &CvArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.folds >= 2, "--folds must be at least 2");
    let w = bump_replay::windows::read_windows(&args.data)?;
    let (x, y) = split_windows(&w);
    let cv = bump_cluster::window::cross_validate(&x, &y, &w.classes, args.fs, args.folds, args.seed)
        .with_context(|| format!("{}", args.data.display()))?;
    let mut o = std::io::stdout().lock();
    for (f, acc) in cv.fold_accuracy.iter().enumerate() {
        writeln!(o, "fold {}: accuracy {acc:.3}", f + 1)?;
    }
    writeln!(
        o,
        "{}-fold stratified cross-validation, seed {}, {} windows",
        args.folds,
        args.seed,
        x.len()
    )?;
    print_confusion(&mut o, &w.classes, &cv.confusion)?;
    Ok(ExitCode::SUCCESS)
}

/// Per class of a window folder: the peak excursion of each window from
/// its median (m/s² for the González layout), as quartiles; then, for the
/// thresholds that catch half to nine tenths of the `--event` class, the
/// share of every other class's windows that reach them too. A window that
/// reaches a threshold would have set off a detector with it.
fn amplitudes(args: &AmplitudesArgs) -> anyhow::Result<ExitCode> {
    use bump_cluster::window::{catch_threshold, peak_excursion, share_reaching};
    anyhow::ensure!(
        args.fs.is_finite() && args.fs > 0.0,
        "--fs must be a positive number of Hz"
    );
    let w = bump_replay::windows::read_windows(&args.data)?;
    let event = w.classes.iter().position(|c| *c == args.event).with_context(|| {
        format!(
            "--event {:?}: {} has no such class folder (it has {:?})",
            args.event,
            args.data.display(),
            w.classes
        )
    })?;
    let mut peaks: Vec<Vec<f64>> = vec![Vec::new(); w.classes.len()];
    let mut seconds: Vec<Vec<f64>> = vec![Vec::new(); w.classes.len()];
    for (c, x, _) in &w.windows {
        peaks[*c].push(peak_excursion(x));
        #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
        seconds[*c].push(x.len() as f64 / args.fs);
    }
    let q = |v: &[f64], p: f64| {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        bump_cluster::quantile_sorted(&s, p)
    };
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "peak = largest excursion of a window from its median; windows at {} Hz",
        args.fs
    )?;
    writeln!(
        o,
        "{:<16} {:>7} {:>9} {:>8} {:>8} {:>8}",
        "class", "windows", "median_s", "peak_p25", "peak_p50", "peak_p75"
    )?;
    for (c, name) in w.classes.iter().enumerate() {
        writeln!(
            o,
            "{name:<16} {:>7} {:>9.2} {:>8.2} {:>8.2} {:>8.2}",
            peaks[c].len(),
            q(&seconds[c], 0.5),
            q(&peaks[c], 0.25),
            q(&peaks[c], 0.5),
            q(&peaks[c], 0.75)
        )?;
    }
    let others: Vec<usize> = (0..w.classes.len()).filter(|c| *c != event).collect();
    write!(o, "{:<22} {:>9}", format!("catching {}", args.event), "threshold")?;
    for c in &others {
        write!(o, " {:>14}", w.classes[*c])?;
    }
    writeln!(o)?;
    for catch in [0.5, 0.7, 0.8, 0.9] {
        let t = catch_threshold(&peaks[event], catch);
        write!(o, "{:<22} {t:>9.2}", format!("{:.0} %", catch * 100.0))?;
        for c in &others {
            write!(o, " {:>14.2}", share_reaching(&peaks[*c], t))?;
        }
        writeln!(o)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Clusters classed right when each fifth (stratified by class) is
/// predicted by a model trained on the other four: (right, scored). Folds
/// whose training part lacks two classes are not scored.
fn cross_validated(examples: &[(&str, [f64; bump_cluster::N_FEATURES])]) -> (usize, usize) {
    let y: Vec<usize> = examples
        .iter()
        .map(|(c, _)| bump_cluster::CLASSES.iter().position(|k| k == c).unwrap_or(0))
        .collect();
    let folds = bump_cluster::forest::stratified_folds(&y, 5, 1);
    let (mut right, mut scored) = (0, 0);
    for k in 0..5 {
        let train: Vec<_> = examples
            .iter()
            .zip(&folds)
            .filter(|(_, f)| **f != k)
            .map(|(e, _)| *e)
            .collect();
        let Ok(m) = Model::train(&train) else { continue };
        for (e, _) in examples.iter().zip(&folds).filter(|(_, f)| **f == k) {
            scored += 1;
            right += usize::from(m.predict(&e.1).0 == e.0);
        }
    }
    (right, scored)
}

pub(crate) fn run(cmd: &ClassifierCommand) -> anyhow::Result<ExitCode> {
    let args = match cmd {
        ClassifierCommand::Train(a) => match a.data.iter().find(|d| bump_replay::windows::is_window_folder(d)) {
            Some(d) => return train_windows(a, d),
            None => a,
        },
        ClassifierCommand::Eval(a) => return eval_windows(a),
        ClassifierCommand::Cv(a) => return cross_validate(a),
        ClassifierCommand::Amplitudes(a) => return amplitudes(a),
    };
    anyhow::ensure!(
        args.radius_m.is_finite() && args.radius_m > 0.0,
        "--radius-m must be a positive number of metres"
    );
    anyhow::ensure!(
        args.placement_copies == 0,
        "--placement-copies applies to folders of labelled windows, not to trips"
    );
    let cfg = crate::load_config(args.config.as_ref())?;
    let unlabelled = match &args.unlabelled_class {
        Some(c) => Some(
            bump_cluster::CLASSES
                .iter()
                .copied()
                .find(|k| k == c)
                .with_context(|| format!("--unlabelled-class {c:?}: not one of {:?}", bump_cluster::CLASSES))?,
        ),
        None => None,
    };
    for (i, d) in args.data.iter().enumerate() {
        // The same labels twice would weigh one city double.
        anyhow::ensure!(!args.data[..i].contains(d), "--data {} is given twice", d.display());
    }
    let cities = args
        .data
        .iter()
        .map(|data| labelled_clusters(data, &cfg, args, unlabelled))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let examples: Vec<_> = cities.iter().flat_map(|c| c.examples.iter().copied()).collect();
    let trips: usize = cities.iter().map(|c| c.trips).sum();
    let usable: usize = cities.iter().map(|c| c.usable).sum();
    let model = Model::train(&examples)?;
    let (correct, scored) = cross_validated(&examples);
    std::fs::write(&args.out, serde_json::to_vec(&model)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "trained on {} labelled clusters from {} trips in {} folder{} ({} clusters with {}+ trips)",
        examples.len(),
        trips,
        args.data.len(),
        if args.data.len() == 1 { "" } else { "s" },
        usable,
        args.min_trips
    )?;
    for (c, n) in model.classes().iter().zip(&model.counts) {
        writeln!(o, "  {c:<14} {n:>5}")?;
    }
    #[allow(clippy::cast_precision_loss, reason = "counts")]
    let acc = correct as f64 / scored.max(1) as f64;
    writeln!(
        o,
        "accuracy in 5-fold stratified cross-validation {acc:.3} ({correct} of {scored}; folds mix the folders' clusters)"
    )?;
    if cities.len() > 1 {
        // Another city's clusters, never seen in training: the honest
        // estimate for a city that adopts the model.
        let mut line = String::new();
        let (mut right, mut all) = (0, 0);
        for (k, city) in cities.iter().enumerate() {
            let rest: Vec<_> = cities
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .flat_map(|(_, c)| c.examples.iter().copied())
                .collect();
            let Ok(m) = Model::train(&rest) else { continue };
            let r = city.examples.iter().filter(|(c, x)| m.predict(x).0 == *c).count();
            line.push_str(&format!(" {}:{r}/{}", k + 1, city.examples.len()));
            right += r;
            all += city.examples.len();
        }
        #[allow(clippy::cast_precision_loss, reason = "counts")]
        let acc = right as f64 / all.max(1) as f64;
        writeln!(
            o,
            "accuracy leaving one folder out {acc:.3} ({right} of {all}; by folder{line})"
        )?;
    }
    writeln!(o, "written   {}", args.out.display())?;
    Ok(ExitCode::SUCCESS)
}

/// The labelled clusters of one training folder.
struct LabelledClusters {
    examples: Vec<(&'static str, [f64; bump_cluster::N_FEATURES])>,
    trips: usize,
    usable: usize,
}

/// Replays and clusters one folder of trips on its own (clusters never
/// span folders: two cities' streets may share coordinates) and labels its
/// clusters by the folder's obstacles.
fn labelled_clusters(
    data: &Path,
    cfg: &bump_pipeline::PipelineConfig,
    args: &TrainArgs,
    unlabelled: Option<&'static str>,
) -> anyhow::Result<LabelledClusters> {
    let trips_dir = [data.join("trips"), data.join("recordings")]
        .into_iter()
        .find(|p| p.is_dir())
        .with_context(|| format!("{}: no trips/ or recordings/ folder", data.display()))?;
    let labels_path = data.join("truth/obstacles.geojson");
    let labels = bump_replay::inventory::read_inventory(&labels_path)?;
    let files = bump_replay::trip_files(&trips_dir)?;
    let mapping = cfg.input.clone().resolve()?;
    let run = bump_replay::replay(&files, &mapping, cfg, &mut ());
    for f in &run.summary.failures {
        eprintln!("warning: skipped {}: {}", f.path, f.reason);
    }
    let owned: Vec<Cluster> = run.clusters.into_iter().filter(|c| c.trips >= args.min_trips).collect();
    let matches = bump_cluster::match_known(&owned, &labels, args.radius_m);
    let mut examples = Vec::new();
    for (c, m) in owned.iter().zip(&matches) {
        let class = match m {
            Some(m) => class_of_kind(&m.kind),
            None => unlabelled,
        };
        if let Some(class) = class {
            examples.push((class, c.signature.features(c.hit_rate)));
        }
    }
    Ok(LabelledClusters {
        examples,
        trips: run.summary.trips,
        usable: owned.len(),
    })
}
