/*!
Features of one event window of vertical acceleration, for the
window-level classifier ([`crate::forest`]).

A window is a short recording around one event (the layout of the
González et al. set: one CSV of 50 Hz vertical acceleration per window,
in m/s², gravity included). The mean is removed first, so gravity and
the phone's tilt do not matter. The window's length is deliberately not
a feature: in labelled sets it often says more about how windows were cut
than about the road.
*/

use bump_dsp::BandEnergy;
use serde::{Deserialize, Serialize};

use crate::codebook::{Codebook, standardise};
use crate::forest::{Forest, ForestParams, stratified_folds};

/// Feature names, in [`window_features`] order.
pub const WINDOW_FEATURES: [&str; 13] = [
    "ln_std_mps2",
    "ln_peak_mps2",
    "crest",
    "kurtosis",
    "skewness",
    "up_first",
    "ln_duration_s",
    "zero_crossing_rate",
    "peaks_above_half",
    "band_0_5_2",
    "band_2_5",
    "band_5_10",
    "band_10_25",
];

/// The features of a window sampled at `fs_hz`. Windows shorter than four
/// samples give NaN features.
#[must_use]
pub fn window_features(x: &[f64], fs_hz: f64) -> [f64; 13] {
    let n = x.len();
    if n < 4 || !fs_hz.is_finite() || fs_hz <= 0.0 {
        return [f64::NAN; 13];
    }
    #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
    let nf = n as f64;
    let mean = x.iter().sum::<f64>() / nf;
    let v: Vec<f64> = x.iter().map(|a| a - mean).collect();
    let m2 = v.iter().map(|a| a * a).sum::<f64>() / nf;
    let sd = m2.sqrt().max(1e-9);
    let m3 = v.iter().map(|a| a.powi(3)).sum::<f64>() / nf;
    let m4 = v.iter().map(|a| a.powi(4)).sum::<f64>() / nf;
    let peak = v.iter().fold(0.0f64, |m, a| m.max(a.abs()));
    let half = 0.5 * peak;
    let up_first = v
        .iter()
        .find(|a| a.abs() > half)
        .map_or(0.5, |a| if *a > 0.0 { 1.0 } else { 0.0 });
    #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
    let above = v.iter().filter(|a| a.abs() > half).count() as f64;
    #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
    let crossings = v.windows(2).filter(|w| w[0] * w[1] < 0.0).count() as f64 / (nf - 1.0);
    // Local maxima of |a| above half the peak, at least 0.1 s apart.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small positive")]
    let gap = ((0.1 * fs_hz).round() as usize).max(1);
    let mut peaks = 0.0;
    let mut last: Option<usize> = None;
    for i in 1..n - 1 {
        let (a, b, c) = (v[i - 1].abs(), v[i].abs(), v[i + 1].abs());
        if b > half && b >= a && b >= c && last.is_none_or(|l| i - l >= gap) {
            peaks += 1.0;
            last = Some(i);
        }
    }
    let mut bands = [0.0; 4];
    BandEnergy::new(n).bands(&v, fs_hz, &[0.5, 2.0, 5.0, 10.0, 25.0], &mut bands);
    let total: f64 = bands.iter().filter(|b| b.is_finite()).sum::<f64>().max(1e-12);
    [
        sd.ln(),
        peak.max(1e-9).ln(),
        peak / sd,
        m4 / (m2 * m2).max(1e-18) - 3.0,
        m3 / sd.powi(3),
        up_first,
        (above / fs_hz + 0.02).ln(),
        crossings,
        peaks,
        bands[0] / total,
        bands[1] / total,
        bands[2] / total,
        bands[3] / total,
    ]
}

/// The format written by this version.
pub const WINDOW_MODEL_FORMAT: &str = "streetbump.window-model/1";

/// Scales of the shape codebooks, in seconds: (segment, step, codewords).
/// About a sixth, a third and two thirds of a second: a wheel crossing a
/// pothole, an axle crossing a hump, the body settling afterwards.
pub const SCALES: [(f64, f64, usize); 3] = [(0.16, 0.08, 16), (0.32, 0.16, 32), (0.64, 0.32, 32)];

/// Training parameters of a [`WindowModel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowParams {
    /// The forest's parameters (its seed also seeds the codebooks).
    pub forest: ForestParams,
}

impl Default for WindowParams {
    fn default() -> Self {
        Self {
            forest: ForestParams {
                trees: 300,
                max_depth: 24,
                extra: true,
                ..ForestParams::default()
            },
        }
    }
}

/// A window classifier: the [`window_features`] of a window and its
/// bag-of-words histograms over learnt shape codebooks
/// ([`crate::codebook`]), fed to a forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowModel {
    /// Always [`WINDOW_MODEL_FORMAT`].
    pub format: String,
    /// The sample rate the model works at, Hz; windows at other rates are
    /// resampled to it.
    pub fs_hz: f64,
    /// Shape codebooks, one per scale.
    pub codebooks: Vec<Codebook>,
    /// The forest over the features.
    pub forest: Forest,
}

/// Why a window model cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowModelError {
    /// Not this format.
    #[error("format {found:?} is not {WINDOW_MODEL_FORMAT:?}")]
    Format {
        /// What the file said.
        found: String,
    },
    /// Parts that do not fit together.
    #[error("inconsistent model: {0}")]
    Inconsistent(String),
    /// Not enough to learn from.
    #[error("need windows of two classes or more, each with a label")]
    TooLittle,
}

/// `x` at `from_hz` linearly interpolated to `to_hz`.
#[must_use]
pub fn resample_linear(x: &[f64], from_hz: f64, to_hz: f64) -> Vec<f64> {
    if x.len() < 2 || !(from_hz > 0.0 && to_hz > 0.0) || (from_hz - to_hz).abs() < 1e-9 {
        return x.to_vec();
    }
    #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
    let span = (x.len() - 1) as f64 / from_hz;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small positive")]
    let n = (span * to_hz).floor() as usize + 1;
    (0..n)
        .map(|i| {
            #[allow(clippy::cast_precision_loss, reason = "small")]
            let pos = i as f64 / to_hz * from_hz;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small positive")]
            let j = (pos.floor() as usize).min(x.len() - 2);
            #[allow(clippy::cast_precision_loss, reason = "small")]
            let f = pos - j as f64;
            x[j] + f * (x[j + 1] - x[j])
        })
        .collect()
}

fn feature_names(codebooks: &[Codebook]) -> Vec<String> {
    let mut names: Vec<String> = WINDOW_FEATURES.iter().map(|s| (*s).to_owned()).collect();
    for cb in codebooks {
        for j in 0..cb.centroids.len() {
            names.push(format!("shape_{}_{j}", cb.width));
        }
    }
    names
}

fn features_with(codebooks: &[Codebook], x: &[f64], fs_hz: f64) -> Vec<f64> {
    let mut f = window_features(x, fs_hz).to_vec();
    let v = standardise(x);
    for cb in codebooks {
        f.extend(cb.histogram(&v));
    }
    f
}

impl WindowModel {
    /// Learns codebooks and a forest from windows sampled at `fs_hz` with
    /// class indices `y` into `classes`.
    ///
    /// # Errors
    /// [`WindowModelError::TooLittle`] without two classes and a label per
    /// window.
    pub fn train(
        windows: &[Vec<f64>],
        y: &[usize],
        classes: Vec<String>,
        fs_hz: f64,
        params: WindowParams,
    ) -> Result<Self, WindowModelError> {
        if classes.len() < 2 || windows.is_empty() || windows.len() != y.len() || y.iter().any(|&c| c >= classes.len())
        {
            return Err(WindowModelError::TooLittle);
        }
        let standard: Vec<Vec<f64>> = windows.iter().map(|w| standardise(w)).collect();
        let codebooks: Vec<Codebook> = SCALES
            .iter()
            .zip(0u64..)
            .map(|(&(width_s, step_s, k), i)| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small positive")]
                let (width, step) = (
                    ((width_s * fs_hz).round() as usize).max(2),
                    ((step_s * fs_hz).round() as usize).max(1),
                );
                Codebook::fit(&standard, width, step, k, params.forest.seed.wrapping_add(i))
            })
            .collect();
        let x: Vec<Vec<f64>> = windows.iter().map(|w| features_with(&codebooks, w, fs_hz)).collect();
        let forest = Forest::train(&x, y, classes, feature_names(&codebooks), params.forest);
        Ok(Self {
            format: WINDOW_MODEL_FORMAT.to_owned(),
            fs_hz,
            codebooks,
            forest,
        })
    }

    /// Checks a model read from a file.
    ///
    /// # Errors
    /// [`WindowModelError`] naming what does not fit.
    pub fn check(&self) -> Result<(), WindowModelError> {
        if self.format != WINDOW_MODEL_FORMAT {
            return Err(WindowModelError::Format {
                found: self.format.clone(),
            });
        }
        let bad = |m: &str| Err(WindowModelError::Inconsistent(m.to_owned()));
        if !(self.fs_hz.is_finite() && self.fs_hz > 0.0) {
            return bad("fs_hz must be a positive number");
        }
        if self
            .codebooks
            .iter()
            .any(|c| c.width == 0 || c.step == 0 || c.centroids.iter().any(|w| w.len() != c.width))
        {
            return bad("a codeword's length differs from its codebook's width");
        }
        if self.forest.features != feature_names(&self.codebooks) {
            return bad("the forest's features are not the codebooks'");
        }
        if self.forest.classes.len() < 2 {
            return bad("fewer than two classes");
        }
        self.forest.check().map_err(WindowModelError::Inconsistent)
    }

    /// The features of a window sampled at `fs_hz`.
    #[must_use]
    pub fn features(&self, x: &[f64], fs_hz: f64) -> Vec<f64> {
        let x = resample_linear(x, fs_hz, self.fs_hz);
        features_with(&self.codebooks, &x, self.fs_hz)
    }

    /// Class probabilities of a window sampled at `fs_hz`.
    #[must_use]
    pub fn predict_proba(&self, x: &[f64], fs_hz: f64) -> Vec<f64> {
        self.forest.predict_proba(&self.features(x, fs_hz))
    }

    /// The most probable class index of a window sampled at `fs_hz`.
    #[must_use]
    pub fn predict(&self, x: &[f64], fs_hz: f64) -> usize {
        self.forest.predict(&self.features(x, fs_hz))
    }
}

/// A window model's class probabilities carried over to the cluster
/// classes ([`crate::CLASSES`]) by class name: the cluster names
/// themselves (so a city can label windows with them), and the González
/// set's folders (`potholes`; `asphalt_bumps` as speed humps; `metal_bumps`
/// split evenly between castings and rail crossings; `worn_out_road` and
/// `regular_road` as rough road). A class of another name spreads its
/// probability evenly. The result sums to 1 (all zero when `probs` does).
#[must_use]
pub fn cluster_class_probs(model_classes: &[String], probs: &[f64]) -> [f64; 5] {
    let mut out = [0.0; 5];
    let at = |name: &str| crate::CLASSES.iter().position(|c| *c == name);
    for (name, p) in model_classes.iter().zip(probs) {
        let targets: &[&str] = match name.as_str() {
            "potholes" => &["pothole"],
            "asphalt_bumps" | "speed_humps" => &["speed_hump"],
            "castings" => &["casting"],
            "metal_bumps" => &["casting", "rail_crossing"],
            "worn_out_road" | "regular_road" => &["rough_road"],
            other if at(other).is_some() => std::slice::from_ref(&crate::CLASSES[at(other).unwrap_or(0)]),
            _ => &crate::CLASSES,
        };
        #[allow(clippy::cast_precision_loss, reason = "at most five targets")]
        let share = p / targets.len() as f64;
        for t in targets {
            if let Some(i) = at(t) {
                out[i] += share;
            }
        }
    }
    let total: f64 = out.iter().sum();
    if total > 0.0 {
        out.iter_mut().for_each(|x| *x /= total);
    }
    out
}

/// The outcome of a cross-validation.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossValidation {
    /// Rows: true class; columns: predicted.
    pub confusion: Vec<Vec<usize>>,
    /// Accuracy of each fold.
    pub fold_accuracy: Vec<f64>,
}

impl CrossValidation {
    /// Windows classified right over all windows.
    #[must_use]
    pub fn accuracy(&self) -> f64 {
        let right: usize = (0..self.confusion.len()).map(|i| self.confusion[i][i]).sum();
        let all: usize = self.confusion.iter().flatten().sum();
        #[allow(clippy::cast_precision_loss, reason = "counts")]
        let a = right as f64 / all.max(1) as f64;
        a
    }
}

/// Stratified `folds`-fold cross-validation of [`WindowModel`] training:
/// codebooks and forest are learnt on each fold's training windows only.
///
/// # Errors
/// As [`WindowModel::train`].
pub fn cross_validate(
    windows: &[Vec<f64>],
    y: &[usize],
    classes: &[String],
    fs_hz: f64,
    folds: usize,
    seed: u64,
) -> Result<CrossValidation, WindowModelError> {
    let fold = stratified_folds(y, folds, seed);
    let k = classes.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut fold_accuracy = Vec::new();
    for f in 0..folds {
        let (tr, te): (Vec<usize>, Vec<usize>) = (0..windows.len()).partition(|&i| fold[i] != f);
        let mut params = WindowParams::default();
        params.forest.seed = seed.wrapping_add(f as u64);
        let model = WindowModel::train(
            &tr.iter().map(|&i| windows[i].clone()).collect::<Vec<_>>(),
            &tr.iter().map(|&i| y[i]).collect::<Vec<_>>(),
            classes.to_vec(),
            fs_hz,
            params,
        )?;
        let mut right = 0;
        for &i in &te {
            let p = model.predict(&windows[i], fs_hz);
            confusion[y[i]][p] += 1;
            right += usize::from(p == y[i]);
        }
        #[allow(clippy::cast_precision_loss, reason = "counts")]
        fold_accuracy.push(right as f64 / te.len().max(1) as f64);
    }
    Ok(CrossValidation {
        confusion,
        fold_accuracy,
    })
}

/// The largest excursion of a window from its median, in the window's unit:
/// how hard its jolt was, whatever gravity adds to every sample. NaN for an
/// empty window or one holding a non-finite value.
#[must_use]
pub fn peak_excursion(x: &[f64]) -> f64 {
    if x.is_empty() || x.iter().any(|a| !a.is_finite()) {
        return f64::NAN;
    }
    let med = crate::median(x.to_vec());
    x.iter().fold(0.0f64, |m, a| m.max((a - med).abs()))
}

/// The highest peak threshold that at least `catch` (0–1) of the `peaks`
/// reach: a detector firing on peaks at or above it would feel that share
/// of those events. NaN when `peaks` is empty.
#[must_use]
pub fn catch_threshold(peaks: &[f64], catch: f64) -> f64 {
    let mut v: Vec<f64> = peaks.iter().copied().filter(|p| p.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a count of windows"
    )]
    let need = ((catch.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).max(1);
    v[v.len() - need]
}

/// Share of `peaks` at or above `threshold`; NaN when empty.
#[must_use]
pub fn share_reaching(peaks: &[f64], threshold: f64) -> f64 {
    let v: Vec<f64> = peaks.iter().copied().filter(|p| p.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    #[allow(clippy::cast_precision_loss, reason = "a count of windows")]
    let r = v.iter().filter(|p| **p >= threshold).count() as f64 / v.len() as f64;
    r
}

/// Placement randomisation for training windows from one kind of phone
/// mount (the simulator's: rigid) to be used on phones anywhere else.
///
/// A phone in a pocket, a bag or on a console mat is a soft mount: the
/// cabin's vertical acceleration reaches it through a low-pass of a few
/// hertz to a dozen, and mounts and vehicles differ in gain. Each copy of
/// a window goes through a 2nd-order low-pass with cut-off drawn
/// log-uniformly from `lowpass_hz` and quality factor from `q`, then is
/// scaled by a gain drawn log-uniformly from `gain`. Deterministic for a
/// seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Copies of each window, beside the window itself.
    pub copies: usize,
    /// Range of the mount's cut-off, Hz.
    pub lowpass_hz: [f64; 2],
    /// Range of its quality factor (0.5: overdamped, 1.2: a slight peak).
    pub q: [f64; 2],
    /// Range of the gain.
    pub gain: [f64; 2],
    /// Seed of the draws.
    pub seed: u64,
}

impl Default for Placement {
    fn default() -> Self {
        Self {
            copies: 2,
            lowpass_hz: [3.0, 12.0],
            q: [0.5, 1.2],
            gain: [0.5, 2.0],
            seed: 1,
        }
    }
}

impl Placement {
    /// The windows with `copies` placed copies of each after it, and their
    /// labels. A cut-off at or above Nyquist leaves the copy unfiltered.
    #[must_use]
    pub fn apply(&self, windows: &[Vec<f64>], y: &[usize], fs_hz: f64) -> (Vec<Vec<f64>>, Vec<usize>) {
        let mut rng = crate::forest::Rng(self.seed);
        let mut uniform = |[a, b]: [f64; 2]| a + (b - a) * rng.unit();
        let mut xs = Vec::with_capacity(windows.len() * (self.copies + 1));
        let mut ys = Vec::with_capacity(xs.capacity());
        for (w, &c) in windows.iter().zip(y) {
            xs.push(w.clone());
            ys.push(c);
            for _ in 0..self.copies {
                let fc = uniform(self.lowpass_hz.map(f64::ln)).exp();
                let q = uniform(self.q);
                let g = uniform(self.gain.map(f64::ln)).exp();
                let mut x = w.clone();
                if let Ok(mut f) = bump_dsp::Biquad::lowpass(fc, fs_hz, q) {
                    // Settled on the first value: gravity passes, no transient.
                    if let Some(&x0) = x.first() {
                        f.settle(x0);
                    }
                    x.iter_mut().for_each(|v| *v = f.step(*v));
                }
                x.iter_mut().for_each(|v| *v *= g);
                xs.push(x);
                ys.push(c);
            }
        }
        (xs, ys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Placed copies follow their window with its label, keep its length
    /// and gravity's mean (times the gain), lose its fast content, and are
    /// the same for the same seed.
    #[test]
    fn placement_softens_copies_deterministically() {
        let fs = 50.0;
        // Gravity plus a 20 Hz rattle and a 1 Hz sway.
        let w: Vec<f64> = (0..250)
            .map(|i| {
                let t = f64::from(i) / fs;
                9.81 + (std::f64::consts::TAU * 20.0 * t).sin() + (std::f64::consts::TAU * 1.0 * t).sin()
            })
            .collect();
        let p = Placement {
            copies: 3,
            ..Placement::default()
        };
        let (xs, ys) = p.apply(&[w.clone(), w.clone()], &[0, 4], fs);
        assert_eq!(ys, [0, 0, 0, 0, 4, 4, 4, 4]);
        assert_eq!(xs[0], w, "the window itself comes first, untouched");
        assert_eq!(
            p.apply(&[w.clone(), w.clone()], &[0, 4], fs).0,
            xs,
            "same seed, same copies"
        );
        let other = Placement { seed: 2, ..p }.apply(std::slice::from_ref(&w), &[0], fs).0;
        assert_ne!(other[1], xs[1], "another seed, other draws");
        let rattle = |x: &[f64]| {
            // Mean square of the second difference: the fast content.
            x.windows(3).map(|v| (v[0] - 2.0 * v[1] + v[2]).powi(2)).sum::<f64>() / x.len() as f64
        };
        let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
        for x in &xs[1..4] {
            assert_eq!(x.len(), w.len());
            let g = mean(x) / mean(&w);
            assert!((0.5 - 1e-9..=2.0 + 1e-9).contains(&g), "gain {g}");
            // 20 Hz is above every cut-off: it shrinks more than the gain.
            assert!(
                rattle(x) / (g * g) < 0.5 * rattle(&w),
                "{} vs {}",
                rattle(x),
                rattle(&w)
            );
        }
    }

    #[test]
    fn peak_excursion_ignores_gravity_and_sign() {
        let mut x = vec![9.81; 21];
        x[10] = 9.81 - 4.0;
        x[11] = 9.81 + 2.5;
        assert!((peak_excursion(&x) - 4.0).abs() < 1e-12);
        assert!(peak_excursion(&[]).is_nan());
        assert!(peak_excursion(&[1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn catch_threshold_is_reached_by_the_share_asked_for() {
        let peaks: Vec<f64> = (1..=10).map(f64::from).collect();
        for (catch, want) in [(0.5, 6.0), (0.9, 2.0), (1.0, 1.0), (0.05, 10.0), (0.0, 10.0)] {
            let t = catch_threshold(&peaks, catch);
            assert!((t - want).abs() < 1e-12, "catch {catch}: {t}");
            assert!(share_reaching(&peaks, t) >= catch);
        }
        assert!(catch_threshold(&[], 0.5).is_nan());
        assert!((share_reaching(&[1.0, 2.0, 3.0, 4.0], 2.5) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_hump_and_a_hole_differ_where_they_should() {
        let fs = 50.0;
        let hump: Vec<f64> = (0..100)
            .map(|i| {
                9.81 + if (40..60).contains(&i) {
                    3.0 * (std::f64::consts::PI * f64::from(i - 40) / 20.0).sin()
                } else {
                    0.0
                }
            })
            .collect();
        let hole: Vec<f64> = (0..100)
            .map(|i| {
                9.81 + match i {
                    50 => -6.0,
                    51 => 5.0,
                    52 => -2.0,
                    _ => 0.0,
                }
            })
            .collect();
        let (h, p) = (window_features(&hump, fs), window_features(&hole, fs));
        assert_eq!(h[5], 1.0, "hump goes up first");
        assert_eq!(p[5], 0.0, "hole goes down first");
        assert!(h[6] > p[6], "hump lasts longer");
        assert!(h[9] + h[10] > p[9] + p[10], "hump is lower in frequency");
        assert!(window_features(&[1.0, 2.0], fs)[0].is_nan());
    }

    /// Humps rise slowly, holes drop sharply; noise differs per window.
    fn labelled(n: u32) -> (Vec<Vec<f64>>, Vec<usize>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for k in 0..n {
            for class in 0..2 {
                let w: Vec<f64> = (0..120u32)
                    .map(|i| {
                        let noise = 0.05 * f64::from((i * 7 + k * 13) % 11);
                        let at = 40 + k % 20;
                        9.81 + noise
                            + match class {
                                0 if (at..at + 20).contains(&i) => {
                                    3.0 * (std::f64::consts::PI * f64::from(i - at) / 20.0).sin()
                                }
                                1 if i == at => -6.0,
                                1 if i == at + 1 => 5.0,
                                _ => 0.0,
                            }
                    })
                    .collect();
                x.push(w);
                y.push(class);
            }
        }
        (x, y)
    }

    fn quick() -> WindowParams {
        WindowParams {
            forest: ForestParams {
                trees: 20,
                ..WindowParams::default().forest
            },
        }
    }

    #[test]
    fn a_window_model_learns_checks_and_round_trips() {
        let (x, y) = labelled(12);
        let m = WindowModel::train(&x, &y, vec!["hump".into(), "hole".into()], 50.0, quick()).unwrap();
        m.check().unwrap();
        assert_eq!(m.forest.features.len(), 13 + 16 + 32 + 32);
        for (w, c) in x.iter().zip(&y) {
            assert_eq!(m.predict(w, 50.0), *c);
        }
        // The same windows recorded at 100 Hz are resampled to the model's rate.
        let fast: Vec<f64> = x[0]
            .windows(2)
            .flat_map(|p| [p[0], f64::midpoint(p[0], p[1])])
            .collect();
        assert_eq!(m.predict(&fast, 100.0), y[0]);
        let json = serde_json::to_string(&m).unwrap();
        let back: WindowModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        let mut bad = m.clone();
        bad.codebooks[0].centroids[0].pop();
        assert!(matches!(bad.check(), Err(WindowModelError::Inconsistent(_))));
        let mut bad = m;
        bad.format = "other".into();
        assert!(matches!(bad.check(), Err(WindowModelError::Format { .. })));
        assert_eq!(
            WindowModel::train(&x, &y, vec!["only".into()], 50.0, quick()),
            Err(WindowModelError::TooLittle)
        );
    }

    #[test]
    fn cross_validation_scores_every_window_once() {
        let (x, y) = labelled(10);
        let cv = cross_validate(&x, &y, &["hump".into(), "hole".into()], 50.0, 5, 3).unwrap();
        assert_eq!(cv.confusion.iter().flatten().sum::<usize>(), x.len());
        assert_eq!(cv.fold_accuracy.len(), 5);
        assert!(cv.accuracy() > 0.9, "{cv:?}");
    }

    #[test]
    fn linear_resampling_keeps_a_ramp_and_its_span() {
        let x: Vec<f64> = (0..11).map(f64::from).collect();
        let y = resample_linear(&x, 10.0, 20.0);
        assert_eq!(y.len(), 21);
        for (i, v) in y.iter().enumerate() {
            assert!((v - i as f64 / 2.0).abs() < 1e-12);
        }
        assert_eq!(resample_linear(&x, 10.0, 10.0), x);
    }

    #[test]
    fn window_classes_map_onto_cluster_classes() {
        let names: Vec<String> = [
            "asphalt_bumps",
            "metal_bumps",
            "potholes",
            "regular_road",
            "worn_out_road",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let p = cluster_class_probs(&names, &[0.1, 0.2, 0.4, 0.1, 0.2]);
        let want = [0.4, 0.1, 0.1, 0.1, 0.3];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{p:?}");
        }
        let own: Vec<String> = crate::CLASSES.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            cluster_class_probs(&own, &[0.0, 0.0, 1.0, 0.0, 0.0]),
            [0.0, 0.0, 1.0, 0.0, 0.0]
        );
        let odd = cluster_class_probs(&["mystery".to_owned()], &[1.0]);
        assert!(odd.iter().all(|x| (x - 0.2).abs() < 1e-12));
        assert_eq!(cluster_class_probs(&own, &[0.0; 5]), [0.0; 5]);
    }
}
