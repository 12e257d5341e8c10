/*!
The replay loop: files → trips → pure stages → bumps.

Each file is read, each trip in it preprocessed and run through the
detector; a file or trip that fails is recorded as a [`Failure`] (file,
row where known, reason) and the replay goes on. Bumps are sorted by trip
then time so output is identical whatever order files were listed in.
*/

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bump_cluster::{BumpObs, Cluster, ClusterIndex, NearCells, TrackSample};
use bump_core::{Bump, TripId};
use bump_pipeline::{ColumnMapping, PipelineConfig, PreprocessReport, TripProcessor, trip_coverage};
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
    /// Support jolts found (not bumps; see `Bump::is_support`).
    pub support_jolts: usize,
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
    /// The summary, bumps, samples read and the track coverage comes from.
    Done(Box<TripSummary>, Vec<Bump>, usize, Vec<TrackSample>),
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
                        bumps: out.bumps.iter().filter(|b| !b.is_support()).count(),
                        preprocess: out.report,
                    }),
                    out.bumps,
                    samples,
                    // The replay keeps coverage for passes only: a trip
                    // that gives none needs no track.
                    if out.gives_passes { out.track } else { Vec::new() },
                ),
            }
        })
        .collect())
}

/// Trips' tracks, kept in a temporary file until every bump is in.
///
/// Coverage (every cell each trip drove through) is what grows with the
/// trips, and the cell look-ups along every track are a large part of a
/// replay's work; but clusters read coverage only near their modes, which
/// are known once all bumps are. So the tracks wait on disk (32 bytes a
/// GPS fix) and coverage is computed at the end for the cells
/// [`ClusterIndex::pass_cells`] names only ([`trip_coverage`] with
/// [`NearCells`]: the same entries as the whole coverage's there), which
/// keeps the replay's memory nearly flat as trips grow. Should the file
/// fail, coverage is computed whole at once and goes straight into the
/// index: more time and memory, nothing lost.
struct Spill {
    file: Option<BufWriter<std::fs::File>>,
    /// Bytes of whole records written and flushed.
    good: u64,
}

impl Spill {
    fn new() -> Self {
        Self {
            file: tempfile::tempfile().ok().map(BufWriter::new),
            good: 0,
        }
    }

    fn put(&mut self, trip: &TripId, track: &[TrackSample], index: &mut ClusterIndex, cfg: &PipelineConfig) {
        if let Some(f) = &mut self.file {
            let id = trip.as_str().as_bytes();
            let mut rec = Vec::with_capacity(8 + id.len() + 32 * track.len());
            rec.extend_from_slice(&u32::try_from(id.len()).unwrap_or(u32::MAX).to_le_bytes());
            rec.extend_from_slice(id);
            rec.extend_from_slice(&u32::try_from(track.len()).unwrap_or(u32::MAX).to_le_bytes());
            for p in track {
                for x in [p.t, p.lat, p.lon, p.speed_mps] {
                    rec.extend_from_slice(&x.to_le_bytes());
                }
            }
            if f.write_all(&rec).and_then(|()| f.flush()).is_ok() {
                self.good += rec.len() as u64;
                return;
            }
            // What was flushed before stays readable up to `good`.
            self.file = None;
        }
        index.add_coverage(trip, &trip_coverage(track, cfg, None));
    }

    /// Adds the coverage near `index`'s clusters, computed on `cfg`'s
    /// replay workers and added in the order the trips were put.
    fn load(self, index: &mut ClusterIndex, cfg: &PipelineConfig) -> std::io::Result<()> {
        let Some(f) = self.file else { return Ok(()) };
        let mut file = f.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        file.seek(SeekFrom::Start(0))?;
        let near = NearCells::new(index.pass_cells(), cfg.cluster.coverage_step_m);
        let mut r = BufReader::new(file.take(self.good));
        let workers = cfg.replay.workers.max(1);
        // Bounded, so that only a few tracks wait in memory at a time.
        let (todo_tx, todo_rx) = std::sync::mpsc::sync_channel::<(usize, TripId, Vec<TrackSample>)>(4 * workers);
        let todo_rx = std::sync::Mutex::new(todo_rx);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (todo_rx, done_tx, near) = (&todo_rx, done_tx.clone(), &near);
                scope.spawn(move || {
                    loop {
                        // A poisoned lock means another worker panicked;
                        // stop, and the scope passes the panic on.
                        let Ok(next) = todo_rx.lock().map(|rx| rx.recv()) else {
                            break;
                        };
                        let Ok((i, trip, track)) = next else { break };
                        if done_tx.send((i, trip, trip_coverage(&track, cfg, Some(near)))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(done_tx);
            let reader = scope.spawn(move || -> std::io::Result<()> {
                let mut i = 0;
                while let Some((trip, track)) = read_track(&mut r)? {
                    if todo_tx.send((i, trip, track)).is_err() {
                        break;
                    }
                    i += 1;
                }
                Ok(())
            });
            let mut waiting = BTreeMap::new();
            let mut next = 0;
            for (i, trip, cells) in done_rx {
                waiting.insert(i, (trip, cells));
                while let Some((trip, cells)) = waiting.remove(&next) {
                    index.add_coverage(&trip, &cells);
                    next += 1;
                }
            }
            reader.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

/// The next track of a spill file; `None` at its end.
fn read_track(r: &mut impl Read) -> std::io::Result<Option<(TripId, Vec<TrackSample>)>> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut word = [0u8; 4];
    match r.read_exact(&mut word) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut id = vec![0u8; u32::from_le_bytes(word) as usize];
    r.read_exact(&mut id)?;
    let id = String::from_utf8(id).map_err(|e| bad(e.to_string()))?;
    let trip = TripId::new(id).map_err(|e| bad(e.to_string()))?;
    r.read_exact(&mut word)?;
    let n = u32::from_le_bytes(word) as usize;
    let mut bytes = vec![0u8; 32 * n];
    r.read_exact(&mut bytes)?;
    let x = |b: &[u8]| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let track = bytes
        .chunks_exact(32)
        .map(|p| TrackSample {
            t: x(&p[0..8]),
            lat: x(&p[8..16]),
            lon: x(&p[16..24]),
            speed_mps: x(&p[24..32]),
        })
        .collect();
    Ok(Some((trip, track)))
}

/// What the replay folds trip results into, in file order.
struct Fold {
    sum: Summary,
    bumps: Vec<Bump>,
    index: ClusterIndex,
    spill: Spill,
}

impl Fold {
    fn add(&mut self, slot: Result<Vec<TripResult>, Failure>, cfg: &PipelineConfig) {
        let Self {
            sum,
            bumps,
            index,
            spill,
        } = self;
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
                TripResult::Done(ts, b, samples, track) => {
                    if let Ok(id) = TripId::new(ts.trip_id.clone()) {
                        spill.put(&id, &track, index, cfg);
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
                    let (support, full): (Vec<Bump>, Vec<Bump>) = b.into_iter().partition(Bump::is_support);
                    sum.bumps += full.len();
                    sum.support_jolts += support.len();
                    sum.per_trip.push(*ts);
                    bumps.extend(full);
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
        spill: Spill::new(),
    };
    let mut folded = 0;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                let mut proc = TripProcessor::new(cfg.clone()).deferring_coverage();
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
                fold.add(r, cfg);
                folded += 1;
            }
            progress.file_done(done, files.len(), samples);
        }
    });

    let Fold {
        mut sum,
        mut bumps,
        mut index,
        spill,
    } = fold;
    if let Err(e) = spill.load(&mut index, cfg) {
        sum.failures.push(Failure {
            path: "(coverage kept on disk during the replay)".to_owned(),
            trip_id: None,
            reason: format!("cannot read it back, so passes are undercounted: {e}"),
        });
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use bump_cluster::ClusterParams;
    use bump_core::{BumpId, DeviceId};

    /// Twelve trips east along one street, some a lane to the side, most
    /// hitting one of two defects; tracks reach 150 m either side.
    type Coverage = Vec<(TripId, Vec<TrackSample>)>;

    fn city() -> (Vec<BumpObs>, Coverage) {
        let (mut bumps, mut covs) = (Vec::new(), Vec::new());
        for trip in 0..12u32 {
            let id = TripId::new(format!("trip-{trip}")).unwrap_or_else(|e| unreachable!("{e}"));
            let t0 = 1000.0 * f64::from(trip);
            let lat = 42.35 + 3e-5 * f64::from(trip % 3);
            let track: Vec<TrackSample> = (0..=30)
                .map(|i| TrackSample {
                    t: t0 + f64::from(i),
                    lat,
                    lon: -71.082 + 1.3e-4 * f64::from(i),
                    speed_mps: 10.0,
                })
                .collect();
            covs.push((id.clone(), track));
            for (k, lon) in [(0, -71.0805), (1, -71.0792)] {
                if (trip + k) % 3 != 0 {
                    let t = t0 + 10.0 + f64::from(k);
                    bumps.push(BumpObs {
                        bump_id: BumpId::new(&id, t),
                        trip_id: id.clone(),
                        device_id: DeviceId::new(format!("dev-{trip}")).unwrap_or_else(|e| unreachable!("{e}")),
                        t,
                        lat: 42.35 + 1e-5 * f64::from(trip % 4),
                        lon,
                        heading_deg: 90.0,
                        peak_mps2: 5.0,
                        up_first: false,
                        speed_mps: 10.0,
                        duration_s: 0.2,
                        low_band_share: 0.4,
                        window_probs: Vec::new(),
                        support: false,
                    });
                }
            }
        }
        (bumps, covs)
    }

    fn clusters_with(spill: Option<Spill>) -> String {
        let (bumps, covs) = city();
        let mut cfg = PipelineConfig::default();
        // The street is shorter than the trim at trips' ends.
        cfg.privacy.trim_m = 0.0;
        let mut index = ClusterIndex::new(ClusterParams::default());
        match spill {
            None => {
                for (id, track) in &covs {
                    index.add_coverage(id, &trip_coverage(track, &cfg, None));
                }
                for b in bumps {
                    index.add_bump(b);
                }
            }
            Some(mut spill) => {
                // As the replay does: coverage first, each trip's bumps after.
                for (id, track) in &covs {
                    spill.put(id, track, &mut index, &cfg);
                }
                for b in bumps {
                    index.add_bump(b);
                }
                spill.load(&mut index, &cfg).unwrap_or_else(|e| unreachable!("{e}"));
            }
        }
        format!("{:?}", index.clusters())
    }

    #[test]
    fn coverage_kept_on_disk_gives_the_same_clusters() {
        let direct = clusters_with(None);
        assert!(direct.contains("passes: 12"), "every trip passes: {direct}");
        let spill = Spill::new();
        assert!(spill.file.is_some(), "a temporary file could be made");
        assert_eq!(clusters_with(Some(spill)), direct);
        // Without a file, coverage goes into the index at once.
        let none = Spill { file: None, good: 0 };
        assert_eq!(clusters_with(Some(none)), direct);
    }
}
