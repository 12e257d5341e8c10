/*!
The replay loop: files → trips → pure stages → bumps.

Each file is read, each trip in it preprocessed and run through the
detector; a file or trip that fails is recorded as a [`Failure`] (file,
row where known, reason) and the replay goes on. Bumps are sorted by trip
then time so output is identical whatever order files were listed in.
*/

use std::collections::BTreeMap;
use std::path::PathBuf;

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

/// Replays `files` with `mapping` and `cfg`.
#[must_use]
pub fn replay(
    files: &[PathBuf],
    mapping: &ColumnMapping,
    cfg: &PipelineConfig,
    progress: &mut dyn Progress,
) -> (Vec<Bump>, Summary) {
    let mut proc = TripProcessor::new(cfg.clone());
    let mut sum = Summary {
        files: files.len(),
        ..Summary::default()
    };
    let mut bumps = Vec::new();
    for (i, path) in files.iter().enumerate() {
        match read_trips(path, mapping) {
            Err(e) => sum.failures.push(Failure {
                path: path.display().to_string(),
                trip_id: None,
                reason: e.to_string(),
            }),
            Ok(trips) => {
                for rt in trips {
                    sum.samples += rt.trip.accel.len();
                    add(&mut sum.dropped, "read.", &rt.report.dropped);
                    match proc.run(&rt.trip) {
                        Err(e) => sum.failures.push(Failure {
                            path: path.display().to_string(),
                            trip_id: Some(rt.trip.trip_id.to_string()),
                            reason: match &rt.report.first_problem {
                                Some(p) => format!("{e} (first dropped {p})"),
                                None => e.to_string(),
                            },
                        }),
                        Ok(out) => {
                            let r = &out.report;
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
                            sum.bumps += out.bumps.len();
                            sum.per_trip.push(TripSummary {
                                trip_id: rt.trip.trip_id.to_string(),
                                read: rt.report,
                                preprocess: out.report,
                                bumps: out.bumps.len(),
                            });
                            bumps.extend(out.bumps);
                        }
                    }
                }
            }
        }
        progress.file_done(i + 1, files.len(), sum.samples);
    }
    bumps.sort_by(|a, b| a.trip_id.cmp(&b.trip_id).then(a.t.total_cmp(&b.t)));
    sum.per_trip.sort_by(|a, b| a.trip_id.cmp(&b.trip_id));
    (bumps, sum)
}
