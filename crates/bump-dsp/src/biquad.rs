/*!
Second-order IIR sections and Butterworth designs.

Coefficients follow R. Bristow-Johnson's "Audio EQ Cookbook" (bilinear
transform with frequency pre-warping); higher Butterworth orders cascade
sections with the pole quality factors `Q_k = 1 / (2 cos((2k-1)π / 2N))`.
Sections run in transposed direct form II, which keeps its state small and
is well behaved in `f64`.
*/

use std::f64::consts::PI;

/// Why a filter could not be designed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// The cut-off is not strictly between 0 and the Nyquist frequency.
    #[error("cut-off {cutoff_hz} Hz must lie strictly between 0 and Nyquist ({} Hz) at {sample_rate_hz} Hz", sample_rate_hz / 2.0)]
    Cutoff {
        /// The requested cut-off, Hz.
        cutoff_hz: f64,
        /// The sample rate, Hz.
        sample_rate_hz: f64,
    },
    /// The order is zero or odd.
    #[error("Butterworth order {0} must be even and at least 2")]
    Order(usize),
}

/// One second-order section, `a0` normalised to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    s: [f64; 2],
}

impl Biquad {
    fn from_raw(b: [f64; 3], a0: f64, a1: f64, a2: f64) -> Self {
        Self {
            b: [b[0] / a0, b[1] / a0, b[2] / a0],
            a: [a1 / a0, a2 / a0],
            s: [0.0; 2],
        }
    }

    fn check(cutoff_hz: f64, sample_rate_hz: f64) -> Result<(), FilterError> {
        if cutoff_hz.is_finite() && sample_rate_hz.is_finite() && cutoff_hz > 0.0 && cutoff_hz < sample_rate_hz / 2.0 {
            Ok(())
        } else {
            Err(FilterError::Cutoff {
                cutoff_hz,
                sample_rate_hz,
            })
        }
    }

    /// A low-pass section with quality factor `q`.
    ///
    /// # Errors
    /// [`FilterError::Cutoff`] unless `0 < cutoff_hz < sample_rate_hz / 2`.
    pub fn lowpass(cutoff_hz: f64, sample_rate_hz: f64, q: f64) -> Result<Self, FilterError> {
        Self::check(cutoff_hz, sample_rate_hz)?;
        let w0 = 2.0 * PI * cutoff_hz / sample_rate_hz;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q);
        let b1 = 1.0 - cos;
        Ok(Self::from_raw(
            [b1 / 2.0, b1, b1 / 2.0],
            1.0 + alpha,
            -2.0 * cos,
            1.0 - alpha,
        ))
    }

    /// A high-pass section with quality factor `q`.
    ///
    /// # Errors
    /// [`FilterError::Cutoff`] unless `0 < cutoff_hz < sample_rate_hz / 2`.
    pub fn highpass(cutoff_hz: f64, sample_rate_hz: f64, q: f64) -> Result<Self, FilterError> {
        Self::check(cutoff_hz, sample_rate_hz)?;
        let w0 = 2.0 * PI * cutoff_hz / sample_rate_hz;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * q);
        let b0 = f64::midpoint(1.0, cos);
        Ok(Self::from_raw(
            [b0, -2.0 * b0, b0],
            1.0 + alpha,
            -2.0 * cos,
            1.0 - alpha,
        ))
    }

    /// Gain at 0 Hz.
    #[must_use]
    pub fn dc_gain(&self) -> f64 {
        (self.b[0] + self.b[1] + self.b[2]) / (1.0 + self.a[0] + self.a[1])
    }

    /// Sets the state as if `x` had been the input forever, so a signal
    /// that starts at `x` produces no start-up transient.
    pub fn settle(&mut self, x: f64) {
        let y = self.dc_gain() * x;
        let s2 = self.b[2] * x - self.a[1] * y;
        let s1 = self.b[1] * x - self.a[0] * y + s2;
        self.s = [s1, s2];
    }

    /// Filters one sample.
    #[inline]
    pub fn step(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.s[0];
        self.s[0] = self.b[1] * x - self.a[0] * y + self.s[1];
        self.s[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// A cascade of sections: a Butterworth filter of even order.
#[derive(Debug, Clone, PartialEq)]
pub struct Cascade {
    sections: Vec<Biquad>,
}

/// One second-order section, stepped a sample at a time.
trait Section: Copy {
    fn step(&mut self, x: f64) -> f64;
}

impl Section for Biquad {
    #[inline]
    fn step(&mut self, x: f64) -> f64 {
        Self::step(self, x)
    }
}

/// Takes `x` through every section in turn.
#[inline]
fn through<S: Section>(sections: &mut [S], x: f64) -> f64 {
    sections.iter_mut().fold(x, |v, s| s.step(v))
}

/// Runs `sections` over `xs` in place, one pass, each output through
/// `finish`. Up to four sections are copied into a fixed-size array so the
/// per-sample loop over them unrolls and their states stay in registers.
fn run_sections<S: Section>(sections: &mut [S], xs: &mut [f64], finish: impl Fn(f64) -> f64) {
    match sections.len() {
        1 => run_n::<S, 1>(sections, xs, finish),
        2 => run_n::<S, 2>(sections, xs, finish),
        3 => run_n::<S, 3>(sections, xs, finish),
        4 => run_n::<S, 4>(sections, xs, finish),
        _ => {
            for x in xs.iter_mut() {
                *x = finish(through(sections, *x));
            }
        }
    }
}

fn run_n<S: Section, const N: usize>(sections: &mut [S], xs: &mut [f64], finish: impl Fn(f64) -> f64) {
    let mut local: [S; N] = std::array::from_fn(|i| sections[i]);
    for x in xs.iter_mut() {
        *x = finish(through(&mut local, *x));
    }
    sections.copy_from_slice(&local);
}

/// [`run_sections`] from `src` into `dst` (cleared first), each output
/// written once: through a block on the stack, so `dst` is neither copied
/// into first nor zeroed.
fn run_sections_into<S: Section>(sections: &mut [S], src: &[f64], dst: &mut Vec<f64>, finish: impl Fn(f64) -> f64) {
    dst.clear();
    dst.reserve(src.len());
    match sections.len() {
        1 => run_n_into::<S, 1>(sections, src, dst, finish),
        2 => run_n_into::<S, 2>(sections, src, dst, finish),
        3 => run_n_into::<S, 3>(sections, src, dst, finish),
        4 => run_n_into::<S, 4>(sections, src, dst, finish),
        _ => dst.extend(src.iter().map(|&x| finish(through(sections, x)))),
    }
}

fn run_n_into<S: Section, const N: usize>(
    sections: &mut [S],
    src: &[f64],
    dst: &mut Vec<f64>,
    finish: impl Fn(f64) -> f64,
) {
    let mut local: [S; N] = std::array::from_fn(|i| sections[i]);
    let mut block = [0.0; 64];
    for chunk in src.chunks(block.len()) {
        for (y, &x) in block.iter_mut().zip(chunk) {
            *y = finish(through(&mut local, x));
        }
        dst.extend_from_slice(&block[..chunk.len()]);
    }
    sections.copy_from_slice(&local);
}

fn butterworth_qs(order: usize) -> Result<Vec<f64>, FilterError> {
    if order < 2 || !order.is_multiple_of(2) {
        return Err(FilterError::Order(order));
    }
    #[allow(clippy::cast_precision_loss, reason = "orders are tiny")]
    let n = order as f64;
    Ok((1..=order / 2)
        .map(|k| {
            #[allow(clippy::cast_precision_loss, reason = "orders are tiny")]
            let k = k as f64;
            1.0 / (2.0 * ((2.0 * k - 1.0) * PI / (2.0 * n)).cos())
        })
        .collect())
}

impl Cascade {
    /// A Butterworth low-pass of even `order`.
    ///
    /// # Errors
    /// [`FilterError`] for a bad cut-off or order.
    pub fn butter_lowpass(order: usize, cutoff_hz: f64, sample_rate_hz: f64) -> Result<Self, FilterError> {
        let sections = butterworth_qs(order)?
            .into_iter()
            .map(|q| Biquad::lowpass(cutoff_hz, sample_rate_hz, q))
            .collect::<Result<_, _>>()?;
        Ok(Self { sections })
    }

    /// A Butterworth high-pass of even `order`.
    ///
    /// # Errors
    /// [`FilterError`] for a bad cut-off or order.
    pub fn butter_highpass(order: usize, cutoff_hz: f64, sample_rate_hz: f64) -> Result<Self, FilterError> {
        let sections = butterworth_qs(order)?
            .into_iter()
            .map(|q| Biquad::highpass(cutoff_hz, sample_rate_hz, q))
            .collect::<Result<_, _>>()?;
        Ok(Self { sections })
    }

    /// The sections, in the order a sample goes through them.
    #[must_use]
    pub fn sections(&self) -> &[Biquad] {
        &self.sections
    }

    /// An identity filter (no section).
    #[must_use]
    pub const fn identity() -> Self {
        Self { sections: Vec::new() }
    }

    /// Appends the sections of `other`, filtering by both in turn.
    #[must_use]
    pub fn then(mut self, other: Self) -> Self {
        self.sections.extend(other.sections);
        self
    }

    /// Settles every section for a constant input `x` (see [`Biquad::settle`]).
    pub fn settle(&mut self, mut x: f64) {
        for s in &mut self.sections {
            s.settle(x);
            x *= s.dc_gain();
        }
    }

    /// Filters one sample.
    #[inline]
    pub fn step(&mut self, x: f64) -> f64 {
        self.sections.iter_mut().fold(x, |x, s| s.step(x))
    }

    /// Filters a whole signal in place.
    ///
    /// One pass with every section held in registers: each section's
    /// recurrence is serial, but the sections' recurrences overlap when a
    /// sample goes through all of them before the next, where a pass per
    /// section runs them one after another. The arithmetic, and so the
    /// output, is the same bit for bit.
    pub fn apply(&mut self, xs: &mut [f64]) {
        run_sections(&mut self.sections, xs, |v| v);
    }

    /// Filters `src` into `dst`, which is cleared first: [`Cascade::apply`]
    /// without copying the input into place (the same output bit for bit).
    pub fn apply_from(&mut self, src: &[f64], dst: &mut Vec<f64>) {
        run_sections_into(&mut self.sections, src, dst, |v| v);
    }

    /// Magnitude response at `f_hz` for sample rate `fs_hz`.
    #[must_use]
    pub fn gain_at(&self, f_hz: f64, fs_hz: f64) -> f64 {
        let w = 2.0 * PI * f_hz / fs_hz;
        self.sections
            .iter()
            .map(|s| {
                // H(e^{jw}) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2)
                let (c1, s1) = (w.cos(), -w.sin());
                let (c2, s2) = ((2.0 * w).cos(), -(2.0 * w).sin());
                let nr = s.b[0] + s.b[1] * c1 + s.b[2] * c2;
                let ni = s.b[1] * s1 + s.b[2] * s2;
                let dr = 1.0 + s.a[0] * c1 + s.a[1] * c2;
                let di = s.a[0] * s1 + s.a[1] * s2;
                ((nr * nr + ni * ni) / (dr * dr + di * di)).sqrt()
            })
            .product()
    }
}

/// A section whose numerator is `k·[1, c, 1]`, run without its gain `k`,
/// in direct form I: `y = (x + c·x₁ + x₂ − a₂·y₂) − a₁·y₁`. Everything but
/// the last multiply and subtract is known a sample ahead, so the chain
/// from one output to the next is 2 operations, where the transposed form
/// has 4 (`y = x + s₀`, then `s₀ = c·x − a₁·y + s₁`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct UnitSection {
    c: f64,
    a: [f64; 2],
    /// The last two inputs and outputs, newest first.
    x: [f64; 2],
    y: [f64; 2],
}

impl UnitSection {
    /// Sets the state for a constant input `x`; returns the output then.
    fn settle(&mut self, x: f64) -> f64 {
        let y = (2.0 + self.c) / (1.0 + self.a[0] + self.a[1]) * x;
        self.x = [x; 2];
        self.y = [y; 2];
        y
    }
}

impl Section for UnitSection {
    #[inline]
    fn step(&mut self, x: f64) -> f64 {
        let ahead = (x + self.c * self.x[0] + self.x[1]) - self.a[1] * self.y[1];
        let y = ahead - self.a[0] * self.y[0];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

/// A [`Cascade`] of Butterworth sections run with their gains gathered.
///
/// Every Butterworth low- or high-pass section has the numerator
/// `k·[1, ±2, 1]`, so the sections can run on `[1, ±2, 1]` with the
/// product of the `k`s applied once at the end: 3 multiplies and 4 adds a
/// section instead of 5 and 4, in a form whose per-sample chain is half
/// as long (see `UnitSection`). The poles, and so the response, are the
/// cascade's; the output agrees with it to rounding (property-tested), not
/// bit for bit. The detector's band-pass, the largest part of the
/// detection core's cost, runs this way.
#[derive(Debug, Clone, PartialEq)]
pub struct GainCascade {
    sections: Vec<UnitSection>,
    gain: f64,
}

impl GainCascade {
    /// The cascade with its gains gathered, at rest, or `None` when a
    /// section's numerator is not `k·[1, ±2, 1]` (no Butterworth design
    /// makes one).
    #[must_use]
    pub fn new(cascade: &Cascade) -> Option<Self> {
        let mut gain = 1.0;
        let mut sections = Vec::with_capacity(cascade.sections.len());
        for b in &cascade.sections {
            let [b0, b1, b2] = b.b;
            let c = b1 / b0;
            #[allow(clippy::float_cmp, reason = "the designs make these exact")]
            if b0 == 0.0 || !b0.is_finite() || b2 != b0 || (c != 2.0 && c != -2.0) {
                return None;
            }
            gain *= b0;
            sections.push(UnitSection {
                c,
                a: b.a,
                x: [0.0; 2],
                y: [0.0; 2],
            });
        }
        Some(Self { sections, gain })
    }

    /// Sets every section's state as if `x` had always been the input.
    pub fn settle(&mut self, mut x: f64) {
        for s in &mut self.sections {
            x = s.settle(x);
        }
    }

    /// Filters a whole signal in place, in one pass (see [`Cascade::apply`]).
    pub fn apply(&mut self, xs: &mut [f64]) {
        let gain = self.gain;
        run_sections(&mut self.sections, xs, |v| v * gain);
    }

    /// Filters `src` into `dst`, which is cleared first: [`GainCascade::apply`]
    /// without copying the input into place (the same output bit for bit).
    pub fn apply_from(&mut self, src: &[f64], dst: &mut Vec<f64>) {
        let gain = self.gain;
        run_sections_into(&mut self.sections, src, dst, |v| v * gain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_bad_designs() {
        assert!(Cascade::butter_lowpass(2, 0.0, 100.0).is_err());
        assert!(Cascade::butter_lowpass(2, 50.0, 100.0).is_err());
        assert!(Cascade::butter_lowpass(3, 10.0, 100.0).is_err());
        assert!(Cascade::butter_highpass(2, f64::NAN, 100.0).is_err());
    }

    #[test]
    fn butterworth_is_3db_down_at_cutoff() {
        for order in [2, 4, 6] {
            let lp = Cascade::butter_lowpass(order, 5.0, 100.0).unwrap();
            assert!((lp.gain_at(5.0, 100.0) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-9);
            assert!((lp.gain_at(0.0, 100.0) - 1.0).abs() < 1e-12);
            let hp = Cascade::butter_highpass(order, 5.0, 100.0).unwrap();
            assert!((hp.gain_at(5.0, 100.0) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-9);
            assert!(hp.gain_at(0.0, 100.0) < 1e-12);
        }
    }

    #[test]
    fn settled_filter_has_no_transient() {
        let mut lp = Cascade::butter_lowpass(4, 1.0, 50.0).unwrap();
        lp.settle(9.81);
        for _ in 0..100 {
            assert!((lp.step(9.81) - 9.81).abs() < 1e-9);
        }
        let mut hp = Cascade::butter_highpass(2, 1.0, 50.0).unwrap();
        hp.settle(9.81);
        assert!(hp.step(9.81).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn highpass_removes_constant(c in -200.0f64..200.0, fc in 0.1f64..10.0, fs in 25.0f64..200.0) {
            let mut hp = Cascade::butter_highpass(2, fc, fs).unwrap();
            let mut y = 0.0;
            let n = (fs / fc * 20.0) as usize;
            for _ in 0..n { y = hp.step(c); }
            prop_assert!(y.abs() < 1e-3 * c.abs().max(1.0));
        }

        #[test]
        fn bounded_input_gives_bounded_output(xs in proptest::collection::vec(-100.0f64..100.0, 1..500), fc in 0.2f64..20.0) {
            let mut f = Cascade::butter_lowpass(4, fc, 50.0).unwrap().then(Cascade::butter_highpass(2, 0.1, 50.0).unwrap());
            let mut ys = xs.clone();
            f.apply(&mut ys);
            // A stable Butterworth cascade amplifies a bounded input by a small factor.
            prop_assert!(ys.iter().all(|y| y.is_finite() && y.abs() < 100.0 * 4.0));
        }

        /// The cascade with its gains gathered gives the cascade's output to
        /// rounding, from a settled start, for any Butterworth band-pass;
        /// `apply_from` gives `apply`'s bit for bit.
        #[test]
        fn gathered_gains_give_the_cascades_output(
            xs in proptest::collection::vec(-100.0f64..100.0, 1..2000),
            fs in 5.0f64..400.0,
            hp in 0.1f64..2.0,
            lp_share in 0.05f64..0.44,
            lp_order in 1usize..=3,
            start in -20.0f64..20.0,
        ) {
            let mut f = Cascade::butter_highpass(2, hp.min(0.4 * fs), fs).unwrap()
                .then(Cascade::butter_lowpass(2 * lp_order, lp_share * fs, fs).unwrap());
            let mut g = GainCascade::new(&f).unwrap();
            f.settle(start);
            g.settle(start);
            let (mut want, mut got) = (xs.clone(), xs.clone());
            let mut g_from = g.clone();
            f.apply(&mut want);
            g.apply(&mut got);
            let mut got_from = vec![f64::NAN; 5];
            g_from.apply_from(&xs, &mut got_from);
            prop_assert_eq!(&got_from, &got, "apply_from against apply");
            prop_assert_eq!(&g_from, &g);
            let scale = xs.iter().fold(start.abs(), |m, x| m.max(x.abs())).max(1.0);
            for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                prop_assert!((a - b).abs() <= 1e-9 * scale, "sample {k}: {a} against {b}");
            }
        }

        /// The one-pass `apply` and `apply_from` give exactly what a pass per
        /// section gives, for every number of sections, and leave the same
        /// state behind.
        #[test]
        fn one_pass_equals_a_pass_per_section(
            xs in proptest::collection::vec(-100.0f64..100.0, 1..300),
            orders in proptest::collection::vec(1usize..=3, 1..=6),
            start in -10.0f64..10.0,
        ) {
            let mut f = Cascade::butter_highpass(2, 0.5, 100.0).unwrap();
            for (k, o) in orders.iter().enumerate() {
                f = f.then(Cascade::butter_lowpass(2 * o, 5.0 + k as f64, 100.0).unwrap());
            }
            f.settle(start);
            let mut per_section = f.clone();
            let mut expected = xs.clone();
            for s in &mut per_section.sections {
                for x in &mut expected {
                    *x = s.step(*x);
                }
            }
            let mut from = f.clone();
            let mut got = xs.clone();
            f.apply(&mut got);
            prop_assert_eq!(&got, &expected);
            prop_assert_eq!(&f, &per_section);
            let mut got_from = vec![f64::NAN; 3];
            from.apply_from(&xs, &mut got_from);
            prop_assert_eq!(got_from, expected);
            prop_assert_eq!(from, per_section);
        }
    }
}
