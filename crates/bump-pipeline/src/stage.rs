/*!
Stages as pure functions of typed input and state.

A [`Stage`] takes one input event and pushes zero or more outputs; it
performs no I/O and owns no runtime, so the same stage runs inside
`replay` (a loop over files), inside a server (tasks joined by channels)
and as a queue consumer. The contract every stage keeps is written in
`docs/specs/stage.md`.
*/

use std::collections::{BTreeMap, HashMap};

use bump_cluster::{CellIndex, NearCells, TrackSample, coverage_cells, coverage_cells_near};

use bump_core::{Bump, BumpId, Excursion, Trip};
use bump_dsp::{DetectParams, Detector, Event};

use crate::config::PipelineConfig;
use crate::preprocess::{PreprocessError, PreprocessReport, Preprocessed, preprocess};

/// A pure processing step.
pub trait Stage {
    /// What comes in.
    type In;
    /// What goes out.
    type Out;
    /// Processes one input, pushing outputs to `out`.
    fn process(&mut self, input: Self::In, out: &mut Vec<Self::Out>);
}

/// The detect stage: a preprocessed trip in, its bumps out (in time order).
#[derive(Debug)]
pub struct DetectStage {
    params: DetectParams,
    max_gps_extrapolation_s: f64,
    /// Detectors by sample rate (bit pattern), so a folder of trips at a
    /// handful of rates designs each filter once.
    detectors: HashMap<u64, Detector>,
    events: Vec<Event>,
}

impl DetectStage {
    /// A detect stage with these parameters.
    #[must_use]
    pub fn new(params: DetectParams, max_gps_extrapolation_s: f64) -> Self {
        Self {
            params,
            max_gps_extrapolation_s,
            detectors: HashMap::new(),
            events: Vec::new(),
        }
    }

    /// Detects the bumps of one preprocessed trip.
    ///
    /// # Errors
    /// [`PreprocessError::Rate`] when the trip's rate cannot carry the
    /// detector's high-pass.
    pub fn detect(&mut self, trip: &Trip, pre: &Preprocessed, out: &mut Vec<Bump>) -> Result<(), PreprocessError> {
        let mut cursor = pre.track.cursor();
        for seg in &pre.segments {
            let det = match self.detectors.entry(seg.fs.to_bits()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(Detector::new(self.params, seg.fs).map_err(
                    |source| PreprocessError::Rate {
                        rate_hz: seg.fs,
                        source,
                    },
                )?),
            };
            self.events.clear();
            det.run(&seg.vertical, &seg.speed_mps, &mut self.events);
            for e in &self.events {
                let t = seg.time(e.peak);
                let Some(p) = cursor.at(t, self.max_gps_extrapolation_s) else {
                    continue;
                };
                out.push(Bump {
                    bump_id: BumpId::new(&trip.trip_id, t),
                    trip_id: trip.trip_id.clone(),
                    device_id: trip.device_id.clone(),
                    t,
                    lat: p.lat,
                    lon: p.lon,
                    speed_mps: seg.speed_mps[e.peak],
                    heading_deg: p.heading_deg,
                    peak_mps2: e.peak_mps2,
                    p2p_mps2: e.p2p_mps2,
                    duration_s: e.duration_s,
                    energy_m2ps3: e.energy_m2ps3,
                    first: if e.up_first { Excursion::Up } else { Excursion::Down },
                    band_energy: e.band_energy,
                    score: e.score,
                    sample_rate_hz: seg.fs,
                    window_probs: Vec::new(),
                });
            }
        }
        Ok(())
    }
}

/// Preprocess and detect for whole trips: the replay's unit of work.
#[derive(Debug)]
pub struct TripProcessor {
    cfg: PipelineConfig,
    detect: DetectStage,
    defer_coverage: bool,
}

/// The result of one trip.
#[derive(Debug, Clone)]
pub struct TripOutcome {
    /// What preprocessing did.
    pub report: PreprocessReport,
    /// The bumps, in time order.
    pub bumps: Vec<Bump>,
    /// The H3 cells the trip drove through at speed, with the first time
    /// in each: its passes, for clustering (when `gives_passes`). Empty
    /// when coverage is deferred.
    pub coverage: BTreeMap<CellIndex, f64>,
    /// Whether the coverage counts as passes of clusters: false when the
    /// phone sampled slower than `cluster.min_pass_rate_hz`, too slowly to
    /// feel a short impact, so that its silence is no evidence.
    pub gives_passes: bool,
    /// When coverage is deferred ([`TripProcessor::deferring_coverage`]),
    /// what [`trip_coverage`] computes it from later: the track, empty when
    /// the trip gives no passes. Empty otherwise.
    pub track: Vec<TrackSample>,
}

/// A trip's coverage from its track (as [`TripOutcome::track`] holds it),
/// with `cfg`'s settings, the privacy trim included; with `near`, only its
/// entries for those cells (exactly the full coverage's), at a fraction of
/// the cost.
#[must_use]
pub fn trip_coverage(
    track: &[TrackSample],
    cfg: &PipelineConfig,
    near: Option<&NearCells>,
) -> BTreeMap<CellIndex, f64> {
    let c = &cfg.cluster;
    let mut coverage = match near {
        None => coverage_cells(track, c.min_pass_speed_mps, c.coverage_step_m),
        Some(near) => coverage_cells_near(track, c.min_pass_speed_mps, c.coverage_step_m, near),
    };
    if let Some(ends) = Ends::of(track, cfg.privacy.trim_m) {
        trim_coverage(&mut coverage, track, &ends, c.coverage_step_m);
    }
    coverage
}

/// The privacy trim: positions within `trim_m` of a track's first or last
/// point (phones' home addresses) are dropped.
struct Ends {
    first: (f64, f64),
    last: (f64, f64),
    trim_m: f64,
}

impl Ends {
    /// `None` when there is nothing to trim.
    fn of(track: &[TrackSample], trim_m: f64) -> Option<Self> {
        match (track.first(), track.last()) {
            (Some(a), Some(b)) if trim_m > 0.0 => Some(Self {
                first: (a.lat, a.lon),
                last: (b.lat, b.lon),
                trim_m,
            }),
            _ => None,
        }
    }

    /// Metres to the nearer end.
    fn distance_m(&self, lat: f64, lon: f64) -> f64 {
        bump_geo::distance_m(lat, lon, self.first.0, self.first.1).min(bump_geo::distance_m(
            lat,
            lon,
            self.last.0,
            self.last.1,
        ))
    }

    fn trims(&self, lat: f64, lon: f64) -> bool {
        self.distance_m(lat, lon) < self.trim_m
    }
}

/// Drops the cells whose centre the trim covers. A cell noted at time `t`
/// lies within the walk's reach of the track segment holding `t`, so when
/// there are more cells than segments (whole coverage, not the few cells
/// near clusters), the cells of segments further than that from both ends
/// are kept without working out their centres: a cell's centre costs
/// about as much as the look-up that found the cell.
fn trim_coverage(coverage: &mut BTreeMap<CellIndex, f64>, track: &[TrackSample], ends: &Ends, step_m: f64) {
    let outside = |c: &CellIndex| {
        let ll = h3o::LatLng::from(*c);
        !ends.trims(ll.lat(), ll.lng())
    };
    if coverage.len() < track.len() {
        coverage.retain(|c, _| outside(c));
        return;
    }
    let reach = bump_cluster::coverage_reach_m(step_m);
    // Per segment: whether all of it and its reach lie beyond the trim.
    let clear: Vec<bool> = track
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let len = bump_geo::distance_m(a.lat, a.lon, b.lat, b.lon);
            ends.distance_m(a.lat, a.lon).min(ends.distance_m(b.lat, b.lon)) >= ends.trim_m + reach + len
        })
        .collect();
    coverage.retain(|c, t| {
        let i = track.partition_point(|p| p.t <= *t);
        (i > 0 && i < track.len() && clear[i - 1]) || outside(c)
    });
}

impl TripProcessor {
    /// A processor for this configuration.
    #[must_use]
    pub fn new(cfg: PipelineConfig) -> Self {
        let detect = DetectStage::new(cfg.detect, cfg.preprocess.max_gps_extrapolation_s);
        Self {
            cfg,
            detect,
            defer_coverage: false,
        }
    }

    /// A processor that leaves coverage to the caller: outcomes carry the
    /// track ([`TripOutcome::track`]) instead, for [`trip_coverage`] once
    /// the caller knows which cells it needs (a replay, after all bumps).
    #[must_use]
    pub fn deferring_coverage(mut self) -> Self {
        self.defer_coverage = true;
        self
    }

    /// Processes one trip.
    ///
    /// # Errors
    /// [`PreprocessError`] when nothing usable remains of the trip.
    pub fn run(&mut self, trip: &Trip) -> Result<TripOutcome, PreprocessError> {
        self.run_with_traces(trip, 0.0).map(|(o, _)| o)
    }

    /// Processes one trip and cuts, for each bump, the vertical
    /// acceleration within `half_window_s` of its peak (none when 0).
    ///
    /// # Errors
    /// [`PreprocessError`] when nothing usable remains of the trip.
    pub fn run_with_traces(
        &mut self,
        trip: &Trip,
        half_window_s: f64,
    ) -> Result<(TripOutcome, Vec<Option<Trace>>), PreprocessError> {
        let pre = preprocess(trip, &self.cfg.preprocess)?;
        let mut bumps = Vec::new();
        self.detect.detect(trip, &pre, &mut bumps)?;
        let points: Vec<TrackSample> = pre.track.points().iter().map(TrackSample::from).collect();
        if let Some(ends) = Ends::of(&points, self.cfg.privacy.trim_m) {
            bumps.retain(|b| !ends.trims(b.lat, b.lon));
        }
        // A phone too slow to feel a short impact gives no passes; its
        // coverage still shows where it drove.
        let gives_passes = pre.report.detector_rate_hz >= self.cfg.cluster.min_pass_rate_hz;
        let (coverage, track) = if self.defer_coverage {
            (BTreeMap::new(), points)
        } else {
            (trip_coverage(&points, &self.cfg, None), Vec::new())
        };
        if let Some(model) = &self.cfg.classify.window.0 {
            // Support jolts are counted, never described: no vote.
            for b in bumps.iter_mut().filter(|b| !b.is_support()) {
                if let Some(w) = trace_at(&pre, b.t, WINDOW_HALF_S) {
                    let p = model.predict_proba(&w.values_mps2, w.sample_rate_hz);
                    b.window_probs = bump_cluster::window::cluster_class_probs(&model.forest.classes, &p).to_vec();
                }
            }
        }
        let traces = if half_window_s > 0.0 {
            bumps
                .iter()
                .map(|b| {
                    if b.is_support() {
                        None
                    } else {
                        trace_at(&pre, b.t, half_window_s)
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok((
            TripOutcome {
                report: pre.report,
                bumps,
                coverage,
                gives_passes,
                track,
            },
            traces,
        ))
    }
}

/// Vertical acceleration around a bump, for reviewers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Trace {
    /// Time of the first value, UTC seconds.
    pub t0: f64,
    /// Sample rate, Hz.
    pub sample_rate_hz: f64,
    /// Vertical acceleration minus its mean over the window, m/s².
    pub values_mps2: Vec<f64>,
}

/// Half the window around a bump's peak that the window model reads, s:
/// 3 s hold both axles' crossings at town speeds and the body settling.
pub const WINDOW_HALF_S: f64 = 1.5;

fn trace_at(pre: &crate::Preprocessed, t: f64, half: f64) -> Option<Trace> {
    let seg = pre
        .segments
        .iter()
        .find(|s| t >= s.t0 && t <= s.time(s.vertical.len().saturating_sub(1)))?;
    let idx = |x: f64| -> usize {
        let k = ((x - seg.t0) * seg.fs).round().max(0.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped below")]
        let k = k as usize;
        k.min(seg.vertical.len().saturating_sub(1))
    };
    let (a, b) = (idx(t - half), idx(t + half));
    let w = seg.vertical.get(a..=b)?;
    #[allow(clippy::cast_precision_loss, reason = "window lengths fit f64")]
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    Some(Trace {
        t0: seg.time(a),
        sample_rate_hz: seg.fs,
        values_mps2: w.iter().map(|v| v - mean).collect(),
    })
}

impl Stage for TripProcessor {
    type In = Trip;
    type Out = Result<TripOutcome, PreprocessError>;
    fn process(&mut self, input: Trip, out: &mut Vec<Self::Out>) {
        out.push(self.run(&input));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A wandering track: fixes 5–45 m apart on drifting bearings, now and
    /// then coming back near where it started.
    fn wander(seed: u64, fixes: u32) -> Vec<TrackSample> {
        let noise = |i: u64| {
            #[allow(clippy::cast_precision_loss, reason = "53 bits")]
            let x = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
            2.0 * x - 1.0
        };
        let (mut lat, mut lon) = (42.35, -71.08);
        let mut bearing = 180.0 * noise(seed);
        (0..fixes)
            .map(|i| {
                let k = seed * 1000 + u64::from(i);
                if i > 0 {
                    bearing += 70.0 * noise(k * 3);
                    (lat, lon) = bump_geo::destination(lat, lon, bearing, 25.0 + 20.0 * noise(k * 5));
                }
                TrackSample {
                    t: 1_700_000_000.0 + f64::from(i),
                    lat,
                    lon,
                    speed_mps: 12.0,
                }
            })
            .collect()
    }

    proptest! {
        // The trim keeps exactly the cells whose centres lie beyond it,
        // whichever cells it skipped working out the centre of.
        #[test]
        fn trim_drops_exactly_the_cells_near_the_ends(
            seed in 0u64..10_000,
            trim_m in prop_oneof![Just(200.0), 1.0f64..400.0],
            step_m in prop_oneof![Just(4.0), 0.5f64..50.0],
        ) {
            let track = wander(seed, 80);
            let mut all = coverage_cells(&track, 2.0, step_m);
            // A few cells, as near clusters, take the other branch.
            if seed % 3 == 0 {
                all = all.into_iter().step_by(9).collect();
            }
            let ends = Ends::of(&track, trim_m).unwrap();
            let mut fast = all.clone();
            trim_coverage(&mut fast, &track, &ends, step_m);
            let exact: BTreeMap<CellIndex, f64> = all
                .iter()
                .filter(|(c, _)| {
                    let ll = h3o::LatLng::from(**c);
                    !ends.trims(ll.lat(), ll.lng())
                })
                .map(|(c, t)| (*c, *t))
                .collect();
            prop_assert_eq!(fast, exact);
        }
    }
}
