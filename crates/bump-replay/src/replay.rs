/*!
The replay loop: files → trips → pure stages → bumps.

Each file is read, each trip in it preprocessed and run through the
detector; a file or trip that fails is recorded as a [`Failure`] (file,
row where known, reason) and the replay goes on. Bumps are sorted by trip
then time so output is identical whatever order files were listed in.
*/

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bump_cluster::{BumpObs, CellIndex, Cluster, ClusterIndex};
use bump_core::Bump;
use bump_pipeline::{ColumnMapping, PipelineConfig, PreprocessReport, TripProcessor};
use serde::Serialize;

use crate::read::{ReadReport, read_trips};

/// A file or trip that could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The file.
    pub path: String,
    /// The trip, when the file was read but the trip failed.
    pub trip_id: Option<String>,
    /// What went wrong (names the row where it can).
    pub reason: String,
}

/// One trip's figures.
#[derive(Debug, Clone, Serialize)]
pub struct TripSummary {
    /// The trip.
    pub trip_id: String,
    /// Reading.
    pub read: ReadReport,
    /// Preprocessing.
    pub preprocess: PreprocessReport,
    /// Bumps found.
    pub bumps: usize,
}

/// What a replay did, without timings (so it is reproducible).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Trips replayed.
    pub trips: usize,
    /// Accelerometer samples read.
    pub samples: usize,
    /// Samples that reached the detector (after resampling).
    pub samples_detected: usize,
    /// Rows and readings dropped, by reason, over all trips.
    pub dropped: BTreeMap<String, usize>,
    /// Bumps found.
    pub bumps: usize,
    /// Clusters, by status.
    pub clusters: BTreeMap<String, usize>,
    /// Distance driven, km.
    pub distance_km: f64,
    /// Time recorded, s.
    pub duration_s: f64,
    /// Per trip.
    pub per_trip: Vec<TripSummary>,
    /// What failed.
    pub failures: Vec<Failure>,
}

/// Notified after each file, for progress bars.
pub trait Progress {
    /// `done` of `total` files finished; `samples` read so far.
    fn file_done(&mut self, done: usize, total: usize, samples: usize);
}

impl Progress for () {
    fn file_done(&mut self, _: usize, _: usize, _: usize) {}
}

fn add(map: &mut BTreeMap<String, usize>, prefix: &str, from: &BTreeMap<&'static str, usize>) {
    for (k, v) in from {
        *map.entry(format!("{prefix}{k}")).or_default() += v;
    }
}

/// What one trip of a file came to.
enum TripResult {
    Failed(Failure, ReadReport),
    Done(Box<TripSummary>, Vec<Bump>, usize, BTreeMap<CellIndex, f64>),
}

/// Everything a replay produced.
#[derive(Debug)]
pub struct Replayed {
    /// Bumps, by trip then time.
    pub bumps: Vec<Bump>,
    /// Clusters across all trips, strongest first.
    pub clusters: Vec<Cluster>,
    /// Figures, without timings.
    pub summary: Summary,
}

/// Reads one file and runs its trips through the pure stages.
fn process_file(path: &Path, mapping: &ColumnMapping, proc: &mut TripProcessor) -> Result<Vec<TripResult>, Failure> {
    let trips = read_trips(path, mapping).map_err(|e| Failure {
        path: path.display().to_string(),
        trip_id: None,
        reason: e.to_string(),
    })?;
    Ok(trips
        .into_iter()
        .map(|rt| {
            let samples = rt.trip.accel.len();
            match proc.run(&rt.trip) {
                Err(e) => TripResult::Failed(
                    Failure {
                        path: path.display().to_string(),
                        trip_id: Some(rt.trip.trip_id.to_string()),
                        reason: match &rt.report.first_problem {
                            Some(p) => format!("{e} (first dropped {p})"),
                            None => e.to_string(),
                        },
                    },
                    rt.report,
                ),
                Ok(out) => TripResult::Done(
                    Box::new(TripSummary {
                        trip_id: rt.trip.trip_id.to_string(),
                        read: rt.report,
                        bumps: out.bumps.len(),
                        preprocess: out.report,
                    }),
                    out.bumps,
                    samples,
                    out.coverage,
                ),
            }
        })
        .collect())
}

/// What the replay folds trip results into, in file order.
struct Fold {
    sum: Summary,
    bumps: Vec<Bump>,
    index: ClusterIndex,
}

impl Fold {
    fn add(&mut self, slot: Result<Vec<TripResult>, Failure>) {
        let Self { sum, bumps, index } = self;
        let trips = match slot {
            Err(f) => {
                sum.failures.push(f);
                return;
            }
            Ok(t) => t,
        };
        for t in trips {
            match t {
                TripResult::Failed(f, read) => {
                    add(&mut sum.dropped, "read.", &read.dropped);
                    sum.failures.push(f);
                }
                TripResult::Done(ts, b, samples, coverage) => {
                    if let Some(first) = b.first() {
                        index.add_coverage(&first.trip_id, &coverage);
                    } else if let Ok(id) = bump_core::TripId::new(ts.trip_id.clone()) {
                        index.add_coverage(&id, &coverage);
                    }
                    for x in &b {
                        index.add_bump(BumpObs::from_bump(x));
                    }
                    sum.samples += samples;
                    add(&mut sum.dropped, "read.", &ts.read.dropped);
                    let r = &ts.preprocess;
                    sum.trips += 1;
                    sum.samples_detected += r.samples_kept;
                    add(&mut sum.dropped, "accel.", &r.dropped);
                    let t = &r.track;
                    for (k, v) in [
                        ("gps.invalid_position", t.invalid_position),
                        ("gps.inaccurate", t.inaccurate),
                        ("gps.duplicate_time", t.duplicate_time),
                        ("gps.jump", t.jumps),
                        ("gps.invalid_speed", t.invalid_speed),
                    ] {
                        if v > 0 {
                            *sum.dropped.entry(k.to_owned()).or_default() += v;
                        }
                    }
                    sum.distance_km += r.length_m / 1000.0;
                    sum.duration_s += r.duration_s;
                    sum.bumps += b.len();
                    sum.per_trip.push(*ts);
                    bumps.extend(b);
                }
            }
        }
    }
}

/// Replays `files` with `mapping` and `cfg` on `workers` threads.
///
/// Files are shared out to the workers as they finish; results are folded
/// in file order, so the output does not depend on the number of workers
/// or on scheduling.
#[must_use]
pub fn replay(
    files: &[PathBuf],
    mapping: &ColumnMapping,
    cfg: &PipelineConfig,
    progress: &mut dyn Progress,
) -> Replayed {
    let workers = cfg.replay.workers.clamp(1, files.len().max(1));
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<Vec<TripResult>, Failure>>> = Vec::new();
    slots.resize_with(files.len(), || None);
    let mut fold = Fold {
        sum: Summary {
            files: files.len(),
            ..Summary::default()
        },
        bumps: Vec::new(),
        index: ClusterIndex::new(cfg.cluster),
    };
    let mut folded = 0;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                let mut proc = TripProcessor::new(cfg.clone());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    if tx.send((i, process_file(path, mapping, &mut proc))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let (mut done, mut samples) = (0, 0);
        for (i, r) in rx {
            done += 1;
            if let Ok(trips) = &r {
                samples += trips
                    .iter()
                    .map(|t| match t {
                        TripResult::Done(_, _, n, _) => *n,
                        TripResult::Failed(..) => 0,
                    })
                    .sum::<usize>();
            }
            slots[i] = Some(r);
            // Fold every result whose predecessors are all folded: the
            // output is in file order whatever the scheduling, and only the
            // results that finished out of order wait in memory.
            while let Some(r) = slots.get_mut(folded).and_then(Option::take) {
                fold.add(r);
                folded += 1;
            }
            progress.file_done(done, files.len(), samples);
        }
    });

    let Fold {
        mut sum,
        mut bumps,
        index,
    } = fold;
    bumps.sort_by(|a, b| a.trip_id.cmp(&b.trip_id).then(a.t.total_cmp(&b.t)));
    sum.per_trip.sort_by(|a, b| a.trip_id.cmp(&b.trip_id));
    let clusters = index.clusters();
    for c in &clusters {
        *sum.clusters.entry(c.status.as_str().to_owned()).or_default() += 1;
    }
    Replayed {
        bumps,
        clusters,
        summary: sum,
    }
}
