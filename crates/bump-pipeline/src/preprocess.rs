/*!
The preprocess stage: a raw [`Trip`] in, gap-free uniform segments of
vertical acceleration and speed out, with a count of everything dropped
and why. Pure: no I/O, no clock, no logging.

Steps, in order (each documented in `docs/algorithms.md`):

1. Drop readings that are not finite or exceed `max_abs_accel_mps2`.
2. Sort by time (stable) and drop repeated time stamps (first kept).
3. Clean the GPS track ([`bump_geo::Track`]).
4. Decide whether gravity is included (when the mapping says `auto`):
   a median magnitude within 0.5–1.5 g means yes, below 0.3 g means no.
5. Resample to the detector rate (the trip's median rate by default),
   splitting at gaps longer than `max_gap_s`.
6. Find the vertical: rotate device-frame readings with the
   [`bump_dsp::Reorienter`]; take the named axis of an earth frame.
7. Interpolate speed from the track to every sample; samples with no fix
   within `max_gps_extrapolation_s` get no speed (and so no bump).
8. Estimate the vehicle's forward axis from braking and acceleration.
*/

use std::collections::BTreeMap;

use bump_core::{AccelFrame, Axis, STANDARD_GRAVITY, Trip};
use bump_dsp::resample::median_rate_hz;
use bump_dsp::{FilterError, Reorienter, estimate_yaw, resample_uniform};
use bump_geo::{Track, TrackReport};
use serde::Serialize;

use crate::config::PreprocessConfig;

/// One gap-free segment, uniformly sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct PreSegment {
    /// Time of the first sample, UTC seconds.
    pub t0: f64,
    /// Sample rate, Hz.
    pub fs: f64,
    /// Vertical acceleration, up positive, m/s² (gravity may remain as a
    /// constant; the detector's high-pass removes it).
    pub vertical: Vec<f64>,
    /// Ground speed per sample, m/s; NaN without a nearby GPS fix.
    pub speed_mps: Vec<f64>,
}

impl PreSegment {
    /// Time of sample `k`, UTC seconds.
    #[must_use]
    pub fn time(&self, k: usize) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
        let k = k as f64;
        self.t0 + k / self.fs
    }
}

/// What preprocessing did to one trip.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PreprocessReport {
    /// Accelerometer readings given.
    pub samples_in: usize,
    /// Readings kept after cleaning.
    pub samples_kept: usize,
    /// Readings dropped, by reason.
    pub dropped: BTreeMap<&'static str, usize>,
    /// Readings that arrived out of time order (sorted, not dropped).
    pub reordered: usize,
    /// Readings whose coarse, repeated time stamp was spread evenly over
    /// the interval to the next distinct time stamp.
    pub dequantised: usize,
    /// Pauses longer than `max_gap_s`.
    pub gaps: usize,
    /// Segments processed.
    pub segments: usize,
    /// Median native sample rate, Hz.
    pub native_rate_hz: f64,
    /// Rate the detector ran at, Hz.
    pub detector_rate_hz: f64,
    /// Whether gravity was taken as included.
    pub gravity_included: bool,
    /// Mean gravity magnitude seen by the reorienter, m/s² (0 when unused).
    pub gravity_mps2: f64,
    /// Phone shifts detected mid-trip.
    pub shifts: usize,
    /// Forward axis from braking, degrees in the gravity-aligned frame,
    /// with the fit's R²; absent when the trip had too little braking.
    pub yaw_deg: Option<f64>,
    /// R² of the yaw fit.
    pub yaw_r2: Option<f64>,
    /// Samples masked around phone shifts (no detection there).
    pub samples_unsettled: usize,
    /// Samples with no GPS fix near enough for a speed.
    pub samples_without_gps: usize,
    /// GPS cleaning.
    pub track: TrackReport,
    /// Length of the cleaned track, m.
    pub length_m: f64,
    /// Span of the kept readings, s.
    pub duration_s: f64,
}

/// The output of [`preprocess`].
#[derive(Debug, Clone)]
pub struct Preprocessed {
    /// Segments for the detector.
    pub segments: Vec<PreSegment>,
    /// The cleaned GPS track.
    pub track: Track,
    /// What was done.
    pub report: PreprocessReport,
}

/// Why a trip could not be preprocessed at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreprocessError {
    /// Fewer than two valid accelerometer readings.
    #[error("only {kept} valid accelerometer readings of {given}; a trip needs at least two")]
    TooFewSamples {
        /// Readings given.
        given: usize,
        /// Readings valid.
        kept: usize,
    },
    /// The sample rate is too low for the filters.
    #[error("sample rate {rate_hz:.2} Hz is too low: {source}")]
    Rate {
        /// The rate.
        rate_hz: f64,
        /// The filter design error.
        source: FilterError,
    },
}

fn axis_index(a: Axis) -> usize {
    match a {
        Axis::X => 0,
        Axis::Y => 1,
        Axis::Z => 2,
    }
}

/// Samples, spread evenly over a trip, whose median magnitude decides
/// whether gravity is included.
const GRAVITY_SAMPLES: usize = 4096;

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// Preprocesses one trip.
///
/// # Errors
/// [`PreprocessError`] when nothing usable remains.
pub fn preprocess(trip: &Trip, cfg: &PreprocessConfig) -> Result<Preprocessed, PreprocessError> {
    let mut rep = PreprocessReport {
        samples_in: trip.accel.len(),
        ..PreprocessReport::default()
    };
    let mut acc = Vec::with_capacity(trip.accel.len());
    for s in &trip.accel {
        if !(s.t.is_finite() && s.x.is_finite() && s.y.is_finite() && s.z.is_finite()) {
            *rep.dropped.entry("not_finite").or_default() += 1;
        } else if s.x.abs().max(s.y.abs()).max(s.z.abs()) > cfg.max_abs_accel_mps2 {
            *rep.dropped.entry("out_of_range").or_default() += 1;
        } else {
            acc.push(*s);
        }
    }
    rep.reordered = acc.windows(2).filter(|w| w[1].t < w[0].t).count();
    if rep.reordered > 0 {
        acc.sort_by(|a, b| a.t.total_cmp(&b.t));
    }
    let repeats = acc.windows(2).filter(|w| w[1].t == w[0].t).count();
    if repeats * 5 > acc.len() {
        // More than a fifth of the time stamps repeat: the logger wrote
        // coarse (e.g. whole-second) times, not duplicate readings.
        rep.dequantised = spread_repeated_times(&mut acc);
    }
    let before = acc.len();
    acc.dedup_by(|b, a| b.t == a.t);
    if before > acc.len() {
        rep.dropped.insert("duplicate_time", before - acc.len());
    }
    rep.samples_kept = acc.len();
    if acc.len() < 2 {
        return Err(PreprocessError::TooFewSamples {
            given: rep.samples_in,
            kept: acc.len(),
        });
    }
    let (track, trep) = Track::build(&trip.gps, &cfg.track);
    rep.track = trep;
    rep.length_m = track.length_m();
    rep.duration_s = acc[acc.len() - 1].t - acc[0].t;

    let (mut t, mut xyz) = (Vec::with_capacity(acc.len()), Vec::with_capacity(acc.len()));
    for s in &acc {
        t.push(s.t);
        xyz.push([s.x, s.y, s.z]);
    }
    rep.native_rate_hz = median_rate_hz(&t).unwrap_or(0.0);
    let fs = if cfg.resample_hz > 0.0 {
        cfg.resample_hz
    } else {
        rep.native_rate_hz
    };
    rep.detector_rate_hz = fs;
    rep.gaps = t.windows(2).filter(|w| w[1] - w[0] > cfg.max_gap_s).count();

    // Whether gravity is in the signal is a comparison with 0.3 g, which
    // the median of a few thousand samples spread over the trip settles
    // as well as that of all of them.
    let stride = acc.len().div_ceil(GRAVITY_SAMPLES).max(1);
    let magnitude = match trip.frame {
        AccelFrame::Device => median(acc.iter().step_by(stride).map(bump_core::AccelSample::norm).collect()),
        AccelFrame::Earth { vertical, .. } => median(
            xyz.iter()
                .step_by(stride)
                .map(|v| v[axis_index(vertical)].abs())
                .collect(),
        ),
    };
    rep.gravity_included = trip.gravity_included.unwrap_or(magnitude > 0.3 * STANDARD_GRAVITY);

    let mut reorienter = match trip.frame {
        AccelFrame::Device if rep.gravity_included => {
            Some(Reorienter::new(cfg.orient, fs).map_err(|source| PreprocessError::Rate { rate_hz: fs, source })?)
        }
        _ => None,
    };
    let earth_sign = match trip.frame {
        AccelFrame::Earth { vertical, up_positive } => {
            if rep.gravity_included {
                median(xyz.iter().step_by(stride).map(|v| v[axis_index(vertical)]).collect()).signum()
            } else if up_positive {
                1.0
            } else {
                -1.0
            }
        }
        AccelFrame::Device => 1.0,
    };

    let mut segments = Vec::new();
    let mut gsum = 0.0;
    let mut yaw_pairs = Vec::new();
    for seg in resample_uniform(&t, &xyz, fs, cfg.max_gap_s) {
        #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
        if (seg.xyz.len() as f64) / fs < cfg.min_segment_s {
            *rep.dropped.entry("short_segment").or_default() += seg.xyz.len();
            continue;
        }
        let mut unsettled = Vec::new();
        let vertical = match (trip.frame, reorienter.as_mut()) {
            (AccelFrame::Earth { vertical, .. }, _) => {
                let k = axis_index(vertical);
                seg.xyz.iter().map(|v| earth_sign * v[k]).collect()
            }
            (AccelFrame::Device, Some(r)) => {
                let o = r.run(&seg.xyz);
                rep.shifts += o.shifts;
                unsettled = o.unsettled.clone();
                gsum += o.gravity_mps2 * o.vertical.len() as f64;
                collect_yaw_pairs(&seg, &o.horizontal, &track, &mut yaw_pairs);
                o.vertical
            }
            (AccelFrame::Device, None) => {
                // No gravity to find the vertical by: take the axis with the
                // most variance, which road shocks dominate. Documented as
                // degraded (no up/down distinction).
                let k = (0..3)
                    .max_by(|&a, &b| variance(&seg.xyz, a).total_cmp(&variance(&seg.xyz, b)))
                    .unwrap_or(2);
                seg.xyz.iter().map(|v| v[k]).collect()
            }
        };
        let speed_mps = track.speeds_on_grid(seg.t0, seg.fs, seg.xyz.len(), cfg.max_gps_extrapolation_s);
        rep.samples_without_gps += speed_mps.iter().filter(|v| v.is_nan()).count();
        // While the phone moves in its holder, its jolts are handling, not
        // road: no speed there means no detection.
        let mut speed_mps = speed_mps;
        for r in unsettled {
            rep.samples_unsettled += r.len();
            speed_mps[r].fill(f64::NAN);
        }
        segments.push(PreSegment {
            t0: seg.t0,
            fs,
            vertical,
            speed_mps,
        });
    }
    rep.segments = segments.len();
    let used: usize = segments.iter().map(|s| s.vertical.len()).sum();
    if used > 0 && reorienter.is_some() {
        #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
        {
            rep.gravity_mps2 = gsum / used as f64;
        }
    }
    if let Some(fit) = estimate_yaw(&yaw_pairs, 0.5, 8) {
        rep.yaw_deg = Some(fit.yaw_rad.to_degrees().rem_euclid(360.0));
        rep.yaw_r2 = Some(fit.r2);
    }
    Ok(Preprocessed {
        segments,
        track,
        report: rep,
    })
}

/// Spreads each run of `k` readings sharing a time stamp `t` evenly over
/// `[t, t_next)`; the last run uses the median spacing. Returns how many
/// readings moved. Input sorted by time.
fn spread_repeated_times(acc: &mut [bump_core::AccelSample]) -> usize {
    let mut moved = 0;
    let mut steps = Vec::new();
    let mut i = 0;
    while i < acc.len() {
        let mut j = i + 1;
        while j < acc.len() && acc[j].t == acc[i].t {
            j += 1;
        }
        if j < acc.len() {
            #[allow(clippy::cast_precision_loss, reason = "run lengths are small")]
            steps.push((acc[j].t - acc[i].t) / (j - i) as f64);
        }
        i = j;
    }
    let step = median(steps);
    let mut i = 0;
    while i < acc.len() {
        let mut j = i + 1;
        while j < acc.len() && acc[j].t == acc[i].t {
            j += 1;
        }
        #[allow(clippy::cast_precision_loss, reason = "run lengths are small")]
        let dt = if j < acc.len() {
            (acc[j].t - acc[i].t) / (j - i) as f64
        } else {
            step
        };
        if dt.is_finite() && dt > 0.0 {
            let t0 = acc[i].t;
            for (k, s) in acc[i..j].iter_mut().enumerate().skip(1) {
                #[allow(clippy::cast_precision_loss, reason = "run lengths are small")]
                let off = dt * k as f64;
                s.t = t0 + off;
                moved += 1;
            }
        }
        i = j;
    }
    moved
}

fn variance(xyz: &[[f64; 3]], k: usize) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
    let n = xyz.len().max(1) as f64;
    let m = xyz.iter().map(|v| v[k]).sum::<f64>() / n;
    xyz.iter().map(|v| (v[k] - m).powi(2)).sum::<f64>() / n
}

/// One pair per whole second of the segment: the mean horizontal
/// acceleration and the GPS speed change over that second.
fn collect_yaw_pairs(seg: &bump_dsp::Segment, horizontal: &[[f64; 2]], track: &Track, out: &mut Vec<([f64; 2], f64)>) {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "positive and small"
    )]
    let per = seg.fs.round().max(1.0) as usize;
    let mut c = track.cursor();
    for (i, chunk) in horizontal.chunks_exact(per).enumerate() {
        let (t0, t1) = (seg.time(i * per), seg.time((i + 1) * per));
        let (Some(a), Some(b)) = (c.at(t0, 0.0), c.at(t1, 0.0)) else {
            continue;
        };
        #[allow(clippy::cast_precision_loss, reason = "small")]
        let n = chunk.len() as f64;
        let h = chunk
            .iter()
            .fold([0.0, 0.0], |s, v| [s[0] + v[0], s[1] + v[1]])
            .map(|x| x / n);
        out.push((h, (b.speed_mps - a.speed_mps) / (t1 - t0)));
    }
}
