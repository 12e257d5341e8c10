/*!
Band energies of a short window, by FFT (rustfft).

The window is Hann-tapered and zero-padded to a power of two; energies are
scaled so that, by Parseval's theorem, the bands of a window whose content
lies inside them add up to the time-domain energy `Σ x² Δt` of the tapered
window divided by the taper's mean power. Units: m²/s³ for an input in m/s².
*/

use std::f64::consts::PI;
use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// A reusable planner and buffers for band energies at one window length.
pub struct BandEnergy {
    fft: Arc<dyn Fft<f64>>,
    len: usize,
    window: Vec<f64>,
    window_power: f64,
    buf: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl std::fmt::Debug for BandEnergy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BandEnergy")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl BandEnergy {
    /// Prepares an FFT of `len` points (rounded up to a power of two, at
    /// least 8) whose Hann window covers `window_len` samples.
    #[must_use]
    pub fn new(window_len: usize) -> Self {
        let window_len = window_len.max(4);
        let len = window_len.next_power_of_two().max(8);
        let fft = FftPlanner::new().plan_fft_forward(len);
        #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
        let window: Vec<f64> = (0..window_len)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * (i as f64 + 0.5) / window_len as f64).cos())
            .collect();
        #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
        let window_power = window.iter().map(|w| w * w).sum::<f64>() / window_len as f64;
        let scratch = vec![Complex::default(); fft.get_inplace_scratch_len()];
        Self {
            fft,
            len,
            window,
            window_power,
            buf: vec![Complex::default(); len],
            scratch,
        }
    }

    /// Number of samples the window covers.
    #[must_use]
    pub fn window_len(&self) -> usize {
        self.window.len()
    }

    /// Energy of `x` (the window's samples, shorter input is zero-padded)
    /// in each band `[edges[i], edges[i+1])` Hz, for sample rate `fs_hz`.
    /// A band that starts at or above Nyquist is `NaN`; one that straddles
    /// it is cut at Nyquist. The mean is removed first.
    pub fn bands(&mut self, x: &[f64], fs_hz: f64, edges: &[f64], out: &mut [f64]) {
        let n = x.len().min(self.window.len());
        #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
        let mean = if n == 0 {
            0.0
        } else {
            x[..n].iter().sum::<f64>() / n as f64
        };
        for (i, c) in self.buf.iter_mut().enumerate() {
            let v = if i < n { (x[i] - mean) * self.window[i] } else { 0.0 };
            *c = Complex::new(v, 0.0);
        }
        self.fft.process_with_scratch(&mut self.buf, &mut self.scratch);
        #[allow(clippy::cast_precision_loss, reason = "fft lengths are small")]
        let len = self.len as f64;
        let df = fs_hz / len;
        let dt = 1.0 / fs_hz;
        let nyquist = fs_hz / 2.0;
        // Parseval: Σ x² = (1/N) Σ |X_k|²; one-sided spectrum doubles the
        // bins strictly between DC and Nyquist.
        let scale = dt / len / self.window_power.max(f64::MIN_POSITIVE);
        for (b, o) in out.iter_mut().enumerate().take(edges.len().saturating_sub(1)) {
            // The band reaching Nyquist keeps the Nyquist bin itself.
            let hi = if edges[b + 1] >= nyquist {
                nyquist + df / 2.0
            } else {
                edges[b + 1]
            };
            let lo = edges[b];
            if lo >= nyquist {
                *o = f64::NAN;
                continue;
            }
            let mut e = 0.0;
            for k in 0..=self.len / 2 {
                #[allow(clippy::cast_precision_loss, reason = "fft lengths are small")]
                let f = k as f64 * df;
                if f >= lo && f < hi {
                    let w = if k == 0 || k == self.len / 2 { 1.0 } else { 2.0 };
                    e += w * self.buf[k].norm_sqr();
                }
            }
            *o = e * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tone_lands_in_its_band() {
        let fs = 100.0;
        let x: Vec<f64> = (0..128).map(|i| (2.0 * PI * 7.0 * f64::from(i) / fs).sin()).collect();
        let mut be = BandEnergy::new(128);
        let edges = [0.5, 2.0, 5.0, 10.0, 20.0, 50.0];
        let mut out = [0.0; 5];
        be.bands(&x, fs, &edges, &mut out);
        let total: f64 = out.iter().sum();
        assert!(out[2] / total > 0.95, "{out:?}");
    }

    #[test]
    fn bands_above_nyquist_are_missing() {
        let mut be = BandEnergy::new(10);
        let mut out = [0.0; 5];
        be.bands(
            &[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0],
            10.0,
            &[0.5, 2.0, 5.0, 10.0, 20.0, 50.0],
            &mut out,
        );
        // Nyquist is 5 Hz: the [2, 5) band keeps the Nyquist bin, the
        // bands from 5 Hz up are missing.
        assert!(out[2].is_nan() && out[3].is_nan() && out[4].is_nan());
        assert!(out[1] > 0.0, "{out:?}");
    }

    proptest! {
        // Parseval: over bands covering all of (0, Nyquist], the band
        // energies add up to the tapered window's energy.
        #[test]
        fn parseval_holds(xs in proptest::collection::vec(-50.0f64..50.0, 16..64), fs in 10.0f64..200.0) {
            let n = xs.len();
            let mut be = BandEnergy::new(n);
            let mean = xs.iter().sum::<f64>() / n as f64;
            let time: f64 = xs.iter().enumerate().map(|(i, x)| {
                let w = 0.5 - 0.5 * (2.0 * PI * (i as f64 + 0.5) / n as f64).cos();
                ((x - mean) * w).powi(2)
            }).sum::<f64>() / fs / be.window_power;
            let mut out = [0.0; 1];
            be.bands(&xs, fs, &[0.0, fs], &mut out);
            prop_assert!((out[0] - time).abs() <= 1e-9 * time.max(1.0), "{} vs {}", out[0], time);
        }
    }
}
