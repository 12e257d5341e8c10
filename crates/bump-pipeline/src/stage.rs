/*!
Stages as pure functions of typed input and state.

A [`Stage`] takes one input event and pushes zero or more outputs; it
performs no I/O and owns no runtime, so the same stage runs inside
`replay` (a loop over files), inside a server (tasks joined by channels)
and as a queue consumer. The contract every stage keeps is written in
`docs/specs/stage.md`.
*/

use std::collections::{BTreeMap, HashMap};

use bump_cluster::{CellIndex, TrackSample, coverage_cells};

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
}

/// The result of one trip.
#[derive(Debug, Clone)]
pub struct TripOutcome {
    /// What preprocessing did.
    pub report: PreprocessReport,
    /// The bumps, in time order.
    pub bumps: Vec<Bump>,
    /// The H3 cells the trip drove through at speed, with the first time
    /// in each: its passes, for clustering.
    pub coverage: BTreeMap<CellIndex, f64>,
}

impl TripProcessor {
    /// A processor for this configuration.
    #[must_use]
    pub fn new(cfg: PipelineConfig) -> Self {
        let detect = DetectStage::new(cfg.detect, cfg.preprocess.max_gps_extrapolation_s);
        Self { cfg, detect }
    }

    /// Processes one trip.
    ///
    /// # Errors
    /// [`PreprocessError`] when nothing usable remains of the trip.
    pub fn run(&mut self, trip: &Trip) -> Result<TripOutcome, PreprocessError> {
        let pre = preprocess(trip, &self.cfg.preprocess)?;
        let mut bumps = Vec::new();
        self.detect.detect(trip, &pre, &mut bumps)?;
        let samples: Vec<TrackSample> = pre
            .track
            .points()
            .iter()
            .map(|p| TrackSample {
                t: p.t,
                lat: p.lat,
                lon: p.lon,
                speed_mps: p.speed_mps,
            })
            .collect();
        let coverage = coverage_cells(&samples, self.cfg.cluster.min_pass_speed_mps);
        Ok(TripOutcome {
            report: pre.report,
            bumps,
            coverage,
        })
    }
}

impl Stage for TripProcessor {
    type In = Trip;
    type Out = Result<TripOutcome, PreprocessError>;
    fn process(&mut self, input: Trip, out: &mut Vec<Self::Out>) {
        out.push(self.run(&input));
    }
}
