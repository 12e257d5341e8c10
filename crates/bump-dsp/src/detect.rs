/*!
Bump detection on a uniformly sampled vertical acceleration.

The chain, after Pothole Patrol (Eriksson et al., MobiSys 2008) and Mednis
et al. (DCOSS 2011), with every parameter in physical units:

1. **Band-pass.** A 2nd-order Butterworth high-pass at `highpass_hz`
   (default 0.7 Hz) removes what is left of gravity, tilt in turns and
   braking; a 4th-order low-pass at `lowpass_hz` (default 20 Hz) removes
   engine and sensor noise when the sample rate allows (it is skipped when
   the cut-off would not be below 0.45 × the sample rate).
2. **Speed filter.** Nothing is detected below `min_speed_mps` (Pothole
   Patrol's speed filter: at walking pace, door slams and handling
   dominate).
3. **Speed-aware threshold.** The vertical acceleration a defect causes
   grows with speed (for a step or a hole, roughly in proportion: the
   wheel has less time to follow the profile), so a fixed threshold
   either floods at highway speed or misses at 20 km/h. The threshold is
   `max(accel_per_speed_hz · v, k_sigma · σ, min_threshold_mps2)`: the
   first term is Pothole Patrol's "speed vs z ratio" test, the second
   Mednis' STDEV(Z) idea made local (σ is a running robust estimate of the
   background, `noise_window_s` long), the third a floor.
4. **Merging.** Crossings closer than `merge_distance_m` of road (or
   `merge_min_s` of time, whichever is longer) are one event: the front
   and rear axle of one car, 2.5–3 m apart, hit one defect in turn.

Per event: the peak over the threshold is the **score**; peak and
peak-to-peak vertical acceleration, the time above half the threshold,
the energy `∫a²dt`, the sign of the first excursion beyond half the
threshold, and band energies around the peak ([`crate::spectrum`]).
*/

use serde::{Deserialize, Serialize};

use crate::biquad::{Cascade, FilterError, GainCascade};
use crate::spectrum::BandEnergy;

/// Parameters of [`Detector`]. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectParams {
    /// High-pass cut-off, Hz.
    pub highpass_hz: f64,
    /// Low-pass cut-off, Hz (skipped when not below 0.45 × sample rate).
    pub lowpass_hz: f64,
    /// Minimum speed for a detection, m/s.
    pub min_speed_mps: f64,
    /// Threshold slope against speed: m/s² of vertical acceleration per m/s
    /// of speed (unit 1/s).
    pub accel_per_speed_hz: f64,
    /// Threshold in units of the local background σ.
    pub k_sigma: f64,
    /// Length of the background estimate, s.
    pub noise_window_s: f64,
    /// Lowest threshold at any speed, m/s².
    pub min_threshold_mps2: f64,
    /// Crossings within this much road are one bump, m.
    pub merge_distance_m: f64,
    /// ... or within this much time, s.
    pub merge_min_s: f64,
    /// Window around the peak for spectral features, s.
    pub feature_window_s: f64,
    /// Also report support jolts: events whose peak reaches this share of
    /// the threshold but not the threshold itself (score in
    /// `[support_ratio, 1)`). They are not bumps; clustering counts them
    /// only as further hits of a defect that bumps already found. 0 (or 1)
    /// reports none.
    pub support_ratio: f64,
}

impl Default for DetectParams {
    fn default() -> Self {
        Self {
            highpass_hz: 0.7,
            lowpass_hz: 20.0,
            min_speed_mps: 2.0,
            accel_per_speed_hz: 0.4,
            k_sigma: 3.0,
            noise_window_s: 10.0,
            min_threshold_mps2: 1.0,
            merge_distance_m: 5.0,
            merge_min_s: 0.5,
            feature_window_s: 1.28,
            support_ratio: 0.6,
        }
    }
}

/// One event found in a segment. Indices refer to the detector's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Index of the peak (largest ratio of |a| to threshold).
    pub peak: usize,
    /// First and last index over the threshold.
    pub span: (usize, usize),
    /// Largest |a| around the event, m/s².
    pub peak_mps2: f64,
    /// Peak-to-peak around the event, m/s².
    pub p2p_mps2: f64,
    /// Time above half the threshold, s.
    pub duration_s: f64,
    /// ∫a² dt around the event, m²/s³.
    pub energy_m2ps3: f64,
    /// Whether the first excursion beyond half the threshold was upward.
    pub up_first: bool,
    /// Energy per band of `bump_core::BAND_EDGES_HZ`, m²/s³.
    pub band_energy: [f64; 5],
    /// |a| over the threshold at the peak: above 1 for a bump, in
    /// `[support_ratio, 1)` for a support jolt.
    pub score: f64,
}

/// A detector designed for one sample rate. Reusable across segments.
#[derive(Debug)]
pub struct Detector {
    params: DetectParams,
    fs: f64,
    filter: BandPass,
    bands: BandEnergy,
    filtered: Vec<f64>,
    threshold: Vec<f64>,
}

impl Detector {
    /// Designs the filters for `sample_rate_hz`.
    ///
    /// # Errors
    /// [`FilterError`] when the high-pass is not below Nyquist.
    pub fn new(params: DetectParams, sample_rate_hz: f64) -> Result<Self, FilterError> {
        let mut filter = Cascade::butter_highpass(2, params.highpass_hz, sample_rate_hz)?;
        if params.lowpass_hz < 0.45 * sample_rate_hz {
            filter = filter.then(Cascade::butter_lowpass(4, params.lowpass_hz, sample_rate_hz)?);
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "positive and small"
        )]
        let win = (params.feature_window_s * sample_rate_hz).round().max(4.0) as usize;
        Ok(Self {
            params,
            fs: sample_rate_hz,
            filter: GainCascade::new(&filter).map_or(BandPass::Designed(filter), BandPass::Gathered),
            bands: BandEnergy::new(win),
            filtered: Vec::new(),
            threshold: Vec::new(),
        })
    }

    /// The sample rate this detector was designed for, Hz.
    #[must_use]
    pub const fn sample_rate_hz(&self) -> f64 {
        self.fs
    }

    /// The band-passed signal of the last [`Detector::run`], m/s².
    #[must_use]
    pub fn filtered(&self) -> &[f64] {
        &self.filtered
    }

    /// Finds the events of one gap-free segment: `vertical` in m/s² (up
    /// positive) and `speed_mps` per sample.
    ///
    /// # Panics
    /// If the two slices differ in length.
    pub fn run(&mut self, vertical: &[f64], speed_mps: &[f64], events: &mut Vec<Event>) {
        assert_eq!(vertical.len(), speed_mps.len(), "one speed per sample");
        let p = self.params;
        let n = vertical.len();
        if n == 0 {
            return;
        }
        let dt = 1.0 / self.fs;
        // Filter with a settled state: the segment starts at rest on its
        // first value, with no start-up transient.
        self.filter.run_settled(vertical, &mut self.filtered);

        // Background: exponential mean of |a| with outliers clipped, so a
        // bump does not raise its own threshold. Seeded from the first
        // second; σ ≈ 1.2533 · mean |a| for a Gaussian background.
        let alpha = 1.0 - (-dt / p.noise_window_s.max(dt)).exp();
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "positive and small"
        )]
        let head = (self.fs.ceil() as usize).clamp(1, n);
        #[allow(clippy::cast_precision_loss, reason = "short head")]
        let mean_abs = self.filtered[..head].iter().map(|x| x.abs()).sum::<f64>() / head as f64;
        self.threshold.clear();
        self.threshold.resize(n, 0.0);
        let mut bg = Background::new(&p, alpha, mean_abs);
        bg.thresholds(&self.filtered, speed_mps, &mut self.threshold);

        let mut spans = Vec::new();
        self.spans(1.0, speed_mps, &mut spans);
        let full = spans.len();
        if p.support_ratio > 0.0 && p.support_ratio < 1.0 {
            // Support jolts: events over the lowered threshold that hold
            // no crossing of the full one. Every full crossing is also a
            // lowered one and merging is the same, so each full span lies
            // inside one lowered span; those lowered spans are dropped.
            let mut weak = Vec::new();
            self.spans(p.support_ratio, speed_mps, &mut weak);
            let mut k = 0;
            for (s, e) in weak {
                while k < full && spans[k].1 < s {
                    k += 1;
                }
                if k < full && spans[k].0 <= e {
                    continue;
                }
                spans.push((s, e));
            }
            spans.sort_unstable();
        }
        for (start, end) in spans {
            events.push(self.describe(start, end));
        }
    }

    /// The spans (first and last crossing) of the events over `scale` ×
    /// the threshold, crossings merged by road distance or time.
    fn spans(&self, scale: f64, speed_mps: &[f64], spans: &mut Vec<(usize, usize)>) {
        let p = self.params;
        let n = self.filtered.len();
        let (y, thr) = (&self.filtered[..n], &self.threshold[..n]);
        let speed_mps = &speed_mps[..n];
        // Quiet samples are nearly all, so they are tested four to a
        // branch, each without a branch of its own.
        let crosses = |k: usize| (y[k].abs() > scale * thr[k]) & (speed_mps[k] >= p.min_speed_mps);
        let next_crossing = |mut k: usize| {
            while k + 4 <= n && !(crosses(k) | crosses(k + 1) | crosses(k + 2) | crosses(k + 3)) {
                k += 4;
            }
            (k..n).find(|&k| crosses(k))
        };
        let mut i = 0;
        while i < n {
            let Some(start) = next_crossing(i) else {
                break;
            };
            let mut end = start;
            let mut j = start + 1;
            loop {
                let v = speed_mps[end].max(p.min_speed_mps);
                let window = (p.merge_distance_m / v).max(p.merge_min_s);
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "positive and small"
                )]
                let reach = end + (window * self.fs).ceil() as usize;
                let mut next = None;
                while j < n && j <= reach {
                    if crosses(j) {
                        next = Some(j);
                        break;
                    }
                    j += 1;
                }
                match next {
                    Some(k) => {
                        end = k;
                        j = k + 1;
                    }
                    None => break,
                }
            }
            spans.push((start, end));
            i = end + 1;
        }
    }

    fn describe(&mut self, start: usize, end: usize) -> Event {
        let (y, thr) = (&self.filtered, &self.threshold);
        let n = y.len();
        let peak = (start..=end)
            .max_by(|&a, &b| (y[a].abs() / thr[a]).total_cmp(&(y[b].abs() / thr[b])))
            .unwrap_or(start);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "positive and small"
        )]
        let pad = (0.25 * self.fs).ceil() as usize;
        let (lo, hi) = (start.saturating_sub(pad), (end + pad).min(n - 1));
        let w = &y[lo..=hi];
        let (mn, mx) = w
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let peak_mps2 = w.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let dt = 1.0 / self.fs;
        let energy = w.iter().map(|x| x * x).sum::<f64>() * dt;
        // First excursion beyond half the threshold, searched from the pad
        // before the first crossing.
        let up_first = (lo..=end)
            .find(|&k| y[k].abs() > 0.5 * thr[k])
            .is_none_or(|k| y[k] > 0.0);
        // Duration: the run above half the threshold around the span.
        let mut a = start;
        while a > 0 && y[a - 1].abs() > 0.5 * thr[a - 1] {
            a -= 1;
        }
        let mut b = end;
        while b + 1 < n && y[b + 1].abs() > 0.5 * thr[b + 1] {
            b += 1;
        }
        #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
        let duration_s = (b - a + 1) as f64 * dt;
        let half = self.bands.window_len() / 2;
        let from = peak.saturating_sub(half);
        let to = (from + self.bands.window_len()).min(n);
        let mut band_energy = [0.0; 5];
        self.bands
            .bands(&y[from..to], self.fs, &bump_core::BAND_EDGES_HZ, &mut band_energy);
        Event {
            peak,
            span: (start, end),
            peak_mps2,
            p2p_mps2: mx - mn,
            duration_s,
            energy_m2ps3: energy,
            up_first,
            band_energy,
            score: y[peak].abs() / thr[peak],
        }
    }
}

/// The detector's band-pass: with its sections' gains gathered whenever
/// the design allows (every Butterworth design does), as designed
/// otherwise.
#[derive(Debug, Clone)]
enum BandPass {
    Gathered(GainCascade),
    Designed(Cascade),
}

impl BandPass {
    /// Filters `src` into `dst` (cleared first) from a state settled on
    /// its first value, so a segment starts without a transient.
    fn run_settled(&self, src: &[f64], dst: &mut Vec<f64>) {
        let Some(&x0) = src.first() else {
            dst.clear();
            return;
        };
        match self {
            Self::Gathered(f) => {
                let mut f = f.clone();
                f.settle(x0);
                f.apply_from(src, dst);
            }
            Self::Designed(f) => {
                let mut f = f.clone();
                f.settle(x0);
                f.apply_from(src, dst);
            }
        }
    }
}

/// The larger of two finite numbers. `f64::max` also orders NaN, which
/// costs four more instructions a call in the per-sample loops; the
/// detector's inputs are finite (preprocessing drops NaN rows).
#[inline]
fn max(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// The smaller of two finite numbers (see [`max`]).
#[inline]
fn min(a: f64, b: f64) -> f64 {
    if a < b { a } else { b }
}

/// The running background of the threshold: an exponential mean of |a|
/// over `noise_window_s`, each sample clipped at 3σ of the background so
/// that a bump does not raise its own threshold.
///
/// At rates where it is a small part of the window, the clip level is
/// refreshed once per block of 4 samples rather than per sample. A
/// per-sample clip puts a multiply, a maximum, a minimum, a multiply and
/// an add on the chain from one sample's mean to the next (about 20 cycles
/// a sample, twice the whole band-pass); with the clip fixed for a block,
/// a block's end value is `keep⁴·m + Σ wⱼ·uⱼ` with the sum off the chain,
/// and the per-sample means the thresholds need hang off it instead of
/// lengthening it.
struct Background {
    alpha: f64,
    keep: f64,
    /// k_sigma · 1.2533 (σ ≈ 1.2533 · mean |a| for a Gaussian).
    k_sigma: f64,
    slope: f64,
    min_speed: f64,
    floor: f64,
    mean_abs: f64,
}

impl Background {
    /// 3σ of a Gaussian background as a multiple of its mean |a|.
    const CLIP: f64 = 3.0 * 1.2533;
    /// Samples per block when blocks are used.
    const BLOCK: usize = 4;
    /// Blocks are used when one spans at most this share of the
    /// background's time constant (from 40 Hz with the default 10 s): the
    /// mean then moves by at most `4 · 2.76 · α` of itself within a block,
    /// and the thresholds stay within 1 % of the per-sample clip's even
    /// while the background ramps up from silence (property-tested).
    /// Below, the clip is refreshed every sample.
    const MAX_BLOCK_SHARE: f64 = 0.01;

    /// The background of `p` with update weight `alpha` per sample,
    /// starting from a mean |a| of `mean_abs`.
    fn new(p: &DetectParams, alpha: f64, mean_abs: f64) -> Self {
        Self {
            alpha,
            keep: 1.0 - alpha,
            k_sigma: p.k_sigma * 1.2533,
            slope: p.accel_per_speed_hz,
            min_speed: p.min_speed_mps,
            floor: p.min_threshold_mps2,
            mean_abs,
        }
    }

    #[inline]
    fn threshold(&self, v: f64, mean_abs: f64) -> f64 {
        max(
            max(self.slope * max(v, self.min_speed), self.k_sigma * mean_abs),
            self.floor,
        )
    }

    /// Writes the threshold of every sample of `y` (band-passed, m/s²) at
    /// speeds `v` into `thr`.
    fn thresholds(&mut self, y: &[f64], v: &[f64], thr: &mut [f64]) {
        #[allow(clippy::cast_precision_loss, reason = "a small constant")]
        if self.alpha * Self::BLOCK as f64 <= Self::MAX_BLOCK_SHARE {
            self.blocks::<{ Self::BLOCK }>(y, v, thr);
        } else {
            self.blocks::<1>(y, v, thr);
        }
    }

    /// [`Background::thresholds`] with the clip refreshed every `B`
    /// samples; `B = 1` is the per-sample form, operation for operation.
    fn blocks<const B: usize>(&mut self, y: &[f64], v: &[f64], thr: &mut [f64]) {
        let (keep, alpha) = (self.keep, self.alpha);
        // Weights of a block's clipped samples in its end value.
        let (mut w, mut keep_block) = ([0.0; B], 1.0);
        for wj in w.iter_mut().rev() {
            *wj = alpha * keep_block;
            keep_block *= keep;
        }
        let (yb, vb, tb) = (y.chunks_exact(B), v.chunks_exact(B), thr.chunks_exact_mut(B));
        let (y_rest, v_rest) = (yb.remainder(), vb.remainder());
        for ((ys, vs), ts) in yb.zip(vb).zip(tb) {
            let m = self.mean_abs;
            let clip = max(Self::CLIP * m, 3e-3);
            let mut u = [0.0; B];
            for (uj, yj) in u.iter_mut().zip(ys) {
                *uj = min(yj.abs(), clip);
            }
            let mut mi = m;
            for ((t, &vj), &uj) in ts.iter_mut().zip(vs).zip(&u) {
                *t = self.threshold(vj, mi);
                mi = keep * mi + alpha * uj;
            }
            // Four partial sums keep the chain to the next block short.
            let mut acc = [0.0; 4];
            for (j, (wj, uj)) in w.iter().zip(&u).enumerate() {
                acc[j % 4] += wj * uj;
            }
            self.mean_abs = keep_block * m + ((acc[0] + acc[1]) + (acc[2] + acc[3]));
        }
        let from = y.len() - y_rest.len();
        let clip = max(Self::CLIP * self.mean_abs, 3e-3);
        for ((t, &vj), &yj) in thr[from..].iter_mut().zip(v_rest).zip(y_rest) {
            *t = self.threshold(vj, self.mean_abs);
            self.mean_abs = keep * self.mean_abs + alpha * min(yj.abs(), clip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A half-sine pulse of `amp` m/s² and `len_s` seconds at `at_s`.
    fn pulse(sig: &mut [f64], fs: f64, at_s: f64, len_s: f64, amp: f64) {
        let a = (at_s * fs) as usize;
        let m = (len_s * fs) as usize;
        for k in 0..m {
            sig[a + k] += amp * (std::f64::consts::PI * k as f64 / m as f64).sin();
        }
    }

    #[test]
    fn one_event_per_pulse_and_direction() {
        let fs = 100.0;
        let mut sig = vec![0.0; 3000];
        pulse(&mut sig, fs, 5.0, 0.08, -6.0); // a pothole: down first
        pulse(&mut sig, fs, 5.1, 0.08, 6.0);
        pulse(&mut sig, fs, 15.0, 0.3, 5.0); // a hump: up first
        let speed = vec![8.0; sig.len()];
        let mut det = Detector::new(DetectParams::default(), fs).unwrap();
        let mut ev = Vec::new();
        det.run(&sig, &speed, &mut ev);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert!(!ev[0].up_first);
        assert!(ev[1].up_first);
        assert!((ev[0].peak as f64 / fs - 5.05).abs() < 0.15);
        assert!(ev.iter().all(|e| e.score >= 1.0));
    }

    #[test]
    fn the_band_pass_runs_with_its_gains_gathered_at_every_rate() {
        for fs in [5.0, 10.0, 20.0, 44.0, 50.0, 100.0, 200.0, 400.0] {
            let det = Detector::new(DetectParams::default(), fs).unwrap();
            assert!(matches!(det.filter, BandPass::Gathered(_)), "{fs} Hz");
        }
    }

    #[test]
    fn axles_merge_into_one_bump() {
        let fs = 50.0;
        let mut sig = vec![0.0; 1000];
        // Front and rear axle 2.7 m apart at 10 m/s: 0.27 s.
        pulse(&mut sig, fs, 8.0, 0.1, -8.0);
        pulse(&mut sig, fs, 8.27, 0.1, -8.0);
        let mut ev = Vec::new();
        Detector::new(DetectParams::default(), fs)
            .unwrap()
            .run(&sig, &vec![10.0; 1000], &mut ev);
        assert_eq!(ev.len(), 1);
    }

    #[test]
    fn a_jolt_under_the_threshold_is_support_only_when_asked() {
        let fs = 100.0;
        let (n, v) = (2000, 10.0);
        // At 10 m/s the threshold is 4 m/s²: a 3 m/s² jolt reaches 0.75 of
        // it, an 8 m/s² one crosses it.
        let mut sig = vec![0.0; n];
        pulse(&mut sig, fs, 5.0, 0.1, -3.0);
        pulse(&mut sig, fs, 12.0, 0.1, -8.0);
        let run = |support_ratio: f64| {
            let mut ev = Vec::new();
            Detector::new(
                DetectParams {
                    support_ratio,
                    ..DetectParams::default()
                },
                fs,
            )
            .unwrap()
            .run(&sig, &vec![v; n], &mut ev);
            ev
        };
        let off = run(0.0);
        assert_eq!(off.len(), 1);
        assert!(off[0].score > 1.0);
        let on = run(0.6);
        assert_eq!(on.len(), 2, "{on:?}");
        assert!((0.6..1.0).contains(&on[0].score), "{}", on[0].score);
        assert!((on[0].peak as f64 / fs - 5.0).abs() < 0.2);
        assert_eq!(on[1], off[0], "the bump is the same with support on");
        // Too weak even for support.
        assert_eq!(run(0.9).len(), 1);
    }

    #[test]
    fn nothing_below_min_speed() {
        let fs = 50.0;
        let mut sig = vec![0.0; 1000];
        pulse(&mut sig, fs, 8.0, 0.1, -8.0);
        let mut ev = Vec::new();
        Detector::new(DetectParams::default(), fs)
            .unwrap()
            .run(&sig, &vec![1.0; 1000], &mut ev);
        assert!(ev.is_empty());
    }

    #[test]
    fn works_at_5_hz() {
        let fs = 5.0;
        let mut sig = vec![0.0; 300];
        pulse(&mut sig, fs, 30.0, 0.6, -6.0);
        let mut ev = Vec::new();
        Detector::new(DetectParams::default(), fs)
            .unwrap()
            .run(&sig, &vec![8.0; 300], &mut ev);
        assert_eq!(ev.len(), 1);
        assert!(ev[0].band_energy[3].is_nan(), "10-20 Hz is above Nyquist at 5 Hz");
    }

    /// The background as first written: the clip refreshed every sample.
    fn per_sample_thresholds(bg: &Background, y: &[f64], v: &[f64]) -> Vec<f64> {
        let mut m = bg.mean_abs;
        y.iter()
            .zip(v)
            .map(|(&yj, &vj)| {
                let t = bg.threshold(vj, m);
                m = bg.keep * m + bg.alpha * yj.abs().min((Background::CLIP * m).max(3e-3));
                t
            })
            .collect()
    }

    proptest! {
        // Support jolts add events and change none: the events over the
        // threshold are those found with support off, and every other one
        // lies between support_ratio and 1, in no bump's span.
        #[test]
        fn support_leaves_the_bumps_as_they_were(
            fs in prop_oneof![Just(10.0f64), Just(50.0), Just(100.0)],
            pulses in proptest::collection::vec((1.0f64..19.0, -12.0f64..12.0), 0..12),
            v in 3.0f64..25.0,
            ratio in 0.3f64..0.95,
        ) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "20 s")]
            let n = (20.0 * fs) as usize;
            let mut sig = vec![0.0; n];
            for (at, amp) in &pulses {
                pulse(&mut sig, fs, *at, 0.1, *amp);
            }
            let run = |support_ratio: f64| {
                let mut ev = Vec::new();
                Detector::new(DetectParams { support_ratio, ..DetectParams::default() }, fs)
                    .unwrap()
                    .run(&sig, &vec![v; n], &mut ev);
                ev
            };
            let off = run(0.0);
            let on = run(ratio);
            let (full, weak): (Vec<Event>, Vec<Event>) = on.into_iter().partition(|e| e.score >= 1.0);
            prop_assert_eq!(&full, &off);
            for w in &weak {
                prop_assert!(w.score >= ratio - 1e-9 && w.score < 1.0, "score {}", w.score);
                prop_assert!(full.iter().all(|f| f.span.1 < w.span.0 || w.span.1 < f.span.0));
            }
        }

        // Refreshing the clip once a block moves no threshold by more than
        // 1 %, whatever the signal (bursts, silence, steps from silence to
        // ±30 m/s²), at any rate.
        #[test]
        fn block_background_tracks_the_per_sample_one(
            fs in 5.0f64..200.0,
            y in proptest::collection::vec(prop_oneof![-0.5f64..0.5, -30.0f64..30.0, Just(0.0)], 1..3000),
            v in 0.0f64..30.0,
            m0 in 0.0f64..3.0,
        ) {
            let p = DetectParams::default();
            let alpha = 1.0 - (-1.0 / fs / p.noise_window_s).exp();
            let mut bg = Background::new(&p, alpha, m0);
            let speed = vec![v; y.len()];
            let want = per_sample_thresholds(&bg, &y, &speed);
            let mut got = vec![0.0; y.len()];
            bg.thresholds(&y, &speed, &mut got);
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                prop_assert!((g - w).abs() <= 1e-2 * w, "sample {k}: {g} against {w}");
            }
        }

        // No signal, no bump, at any rate and speed.
        #[test]
        fn silence_is_silent(fs in 5.0f64..200.0, v in 0.0f64..40.0, g in -12.0f64..12.0) {
            let n = (fs * 20.0) as usize;
            let mut ev = Vec::new();
            Detector::new(DetectParams::default(), fs).unwrap().run(&vec![g; n], &vec![v; n], &mut ev);
            prop_assert!(ev.is_empty());
        }

        // A strong pulse is found wherever it is, and time-shifting the
        // input shifts the peak by the same number of samples.
        #[test]
        fn shift_equivariant(at in 5.0f64..20.0, shift in 0usize..100, amp in 4.0f64..20.0) {
            let fs = 50.0;
            let mut a = vec![0.0; 1500];
            pulse(&mut a, fs, at, 0.1, -amp);
            let mut b = vec![0.0; shift];
            b.extend_from_slice(&a[..1500 - shift]);
            let speed = vec![8.0; 1500];
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            let mut d = Detector::new(DetectParams::default(), fs).unwrap();
            d.run(&a, &speed, &mut ea);
            d.run(&b, &speed, &mut eb);
            prop_assert_eq!(ea.len(), 1);
            prop_assert_eq!(eb.len(), 1);
            prop_assert_eq!(eb[0].peak, ea[0].peak + shift);
        }
    }
}
