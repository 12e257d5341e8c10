/*!
Uniform resampling.

Phones deliver samples with jitter (±10 % of the period is common) and
drop some; the filters need a uniform rate. Samples are linearly
interpolated onto `t0 + k / fs`. A gap longer than `max_gap_s` splits the
signal into segments: interpolating across a tunnel or a paused recording
would invent a smooth road that was never measured.
*/

/// A gap-free run of samples on a uniform grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Time of the first grid point, UTC seconds.
    pub t0: f64,
    /// Sample rate, Hz.
    pub fs: f64,
    /// Values at `t0 + k / fs`.
    pub xyz: Vec<[f64; 3]>,
}

impl Segment {
    /// Time of grid point `k`, UTC seconds.
    #[must_use]
    pub fn time(&self, k: usize) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
        let k = k as f64;
        self.t0 + k / self.fs
    }
}

/// The median sampling rate of increasing times `t`, Hz; `None` with fewer
/// than two distinct times.
#[must_use]
pub fn median_rate_hz(t: &[f64]) -> Option<f64> {
    let mut d: Vec<f64> = Vec::with_capacity(t.len());
    d.extend(t.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0));
    if d.is_empty() {
        return None;
    }
    let mid = d.len() / 2;
    let (_, m, _) = d.select_nth_unstable_by(mid, f64::total_cmp);
    Some(1.0 / *m)
}

/// Resamples strictly increasing times `t` with values `xyz` to rate `fs`,
/// splitting at gaps longer than `max_gap_s`. Segments shorter than two
/// samples are dropped.
///
/// # Panics
/// If `t` and `xyz` differ in length.
#[must_use]
pub fn resample_uniform(t: &[f64], xyz: &[[f64; 3]], fs: f64, max_gap_s: f64) -> Vec<Segment> {
    assert_eq!(t.len(), xyz.len(), "one time per sample");
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=t.len() {
        if i == t.len() || t[i] - t[i - 1] > max_gap_s {
            if i - start >= 2 {
                out.push(resample_run(&t[start..i], &xyz[start..i], fs));
            }
            start = i;
        }
    }
    out
}

fn resample_run(t: &[f64], xyz: &[[f64; 3]], fs: f64) -> Segment {
    let t0 = t[0];
    let span = t[t.len() - 1] - t0;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "positive and bounded"
    )]
    let n = (span * fs + 1e-9).floor() as usize + 1;
    let mut out = Vec::with_capacity(n);
    let mut j = 0;
    // A multiply per sample, not a divide: the grid's times differ from
    // `Segment::time`'s by under a picosecond.
    let dt = fs.recip();
    for k in 0..n {
        #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
        let tk = t0 + k as f64 * dt;
        while j + 2 < t.len() && t[j + 1] < tk {
            j += 1;
        }
        let (ta, tb) = (t[j], t[j + 1]);
        let w = if tb > ta {
            ((tk - ta) / (tb - ta)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (a, b) = (xyz[j], xyz[j + 1]);
        out.push([
            a[0] + w * (b[0] - a[0]),
            a[1] + w * (b[1] - a[1]),
            a[2] + w * (b[2] - a[2]),
        ]);
    }
    Segment { t0, fs, xyz: out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_at_gaps() {
        let t = [0.0, 0.1, 0.2, 0.3, 5.0, 5.1, 5.2];
        let v: Vec<[f64; 3]> = t.iter().map(|&x| [x, 0.0, 0.0]).collect();
        let segs = resample_uniform(&t, &v, 10.0, 1.0);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].xyz.len(), 4);
        assert!((segs[1].t0 - 5.0).abs() < 1e-12);
    }

    #[test]
    fn median_rate() {
        assert!((median_rate_hz(&[0.0, 0.02, 0.04, 0.07, 0.08]).unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(median_rate_hz(&[1.0]), None);
    }

    proptest! {
        // Linear interpolation reproduces a linear signal exactly, whatever
        // the jitter of the input times.
        #[test]
        fn linear_signals_are_exact(jit in proptest::collection::vec(0.001f64..0.05, 3..200), a in -10.0f64..10.0, b in -5.0f64..5.0, fs in 5.0f64..200.0) {
            let mut t = vec![1_700_000_000.0];
            for d in &jit { t.push(t[t.len() - 1] + d); }
            let v: Vec<[f64; 3]> = t.iter().map(|&x| [a + b * (x - t[0]), 0.0, 1.0]).collect();
            for seg in resample_uniform(&t, &v, fs, 1.0) {
                for (k, x) in seg.xyz.iter().enumerate() {
                    let tk = seg.time(k);
                    prop_assert!(tk <= t[t.len() - 1] + 1e-6);
                    prop_assert!((x[0] - (a + b * (tk - t[0]))).abs() < 1e-6);
                }
            }
        }
    }
}
