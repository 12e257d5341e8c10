/*!
Reorientation: from the phone's axes to the vehicle's.

Following Nericell (Mohan, Padmanabhan, Ramjee, SenSys 2008), gravity is
the low-frequency part of the accelerometer signal: a Butterworth low-pass
(`gravity_cutoff_hz`, default 0.2 Hz, well below body bounce at 1–2 Hz)
tracks it. Each sample is then rotated (nalgebra `Rotation3`) so that the
gravity estimate lies on +Z; Z minus |g| is the vertical acceleration with
**up positive**, whatever sign convention the platform uses (Android reports
+g upward at rest, iOS −1 g downward: projecting on the estimate's own
direction cancels the difference).

A phone that shifts mid-trip (slides on a tray, is picked up) is found by
comparing a fast gravity estimate (1 Hz) with the slow one: when they
disagree by more than `shift_angle_deg` for `shift_hold_s`, the slow filter
is re-settled on the fast one and a shift is counted.

The longitudinal axis (yaw about the vertical) is estimated, as Nericell
does from braking, by regressing the GPS-derived longitudinal acceleration
on the horizontal components: see [`estimate_yaw`].
*/

use nalgebra::{Rotation3, Vector3};
use serde::{Deserialize, Serialize};

use crate::biquad::{Biquad, Cascade, FilterError};

/// Parameters of [`Reorienter`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrientParams {
    /// Cut-off of the gravity low-pass, Hz.
    pub gravity_cutoff_hz: f64,
    /// Cut-off of the fast estimate used to notice a shift, Hz.
    pub shift_cutoff_hz: f64,
    /// Angle between fast and slow gravity estimates that means the phone
    /// moved, degrees.
    pub shift_angle_deg: f64,
    /// How long the disagreement must last, seconds.
    pub shift_hold_s: f64,
}

impl Default for OrientParams {
    fn default() -> Self {
        Self {
            gravity_cutoff_hz: 0.2,
            shift_cutoff_hz: 1.0,
            shift_angle_deg: 25.0,
            shift_hold_s: 0.5,
        }
    }
}

/// Samples rotated to the vertical.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Oriented {
    /// Vertical acceleration, gravity removed, up positive, m/s².
    pub vertical: Vec<f64>,
    /// The two horizontal components in the gravity-aligned frame, m/s².
    /// Their yaw relative to the vehicle is unknown until [`estimate_yaw`].
    pub horizontal: Vec<[f64; 2]>,
    /// Number of mid-trip shifts detected.
    pub shifts: usize,
    /// Sample ranges around each shift, from when the estimates began to
    /// disagree to a second after the reset: the phone was moving, so its
    /// readings there say nothing about the road.
    pub unsettled: Vec<std::ops::Range<usize>>,
    /// Mean gravity magnitude seen, m/s².
    pub gravity_mps2: f64,
}

/// Rotates device-frame samples into a gravity-aligned frame.
#[derive(Debug, Clone)]
pub struct Reorienter {
    params: OrientParams,
    // Second-order sections held by value, not as cascades: the per-sample
    // loop keeps their states in registers instead of behind a pointer.
    slow: [Biquad; 3],
    fast: [Biquad; 3],
    hold_samples: usize,
    cos_shift: f64,
}

impl Reorienter {
    /// Designs the filters for `sample_rate_hz`.
    ///
    /// # Errors
    /// [`FilterError`] when a cut-off is not below Nyquist.
    pub fn new(params: OrientParams, sample_rate_hz: f64) -> Result<Self, FilterError> {
        let slow = section(&Cascade::butter_lowpass(2, params.gravity_cutoff_hz, sample_rate_hz)?);
        // At 5 Hz the fast estimate's 1 Hz is still below Nyquist; clamp
        // for even lower rates so the design never fails on real phones.
        let fast_hz = params.shift_cutoff_hz.min(sample_rate_hz * 0.4);
        let fast = section(&Cascade::butter_lowpass(2, fast_hz, sample_rate_hz)?);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "positive and small"
        )]
        let hold_samples = (params.shift_hold_s * sample_rate_hz).ceil().max(1.0) as usize;
        Ok(Self {
            params,
            slow: [slow; 3],
            fast: [fast; 3],
            hold_samples,
            cos_shift: params.shift_angle_deg.to_radians().cos(),
        })
    }

    /// The parameters in use.
    #[must_use]
    pub const fn params(&self) -> &OrientParams {
        &self.params
    }

    /// Rotates `xyz` (device frame, m/s², uniform rate) into the vertical.
    #[must_use]
    pub fn run(&mut self, xyz: &[[f64; 3]]) -> Oriented {
        let mut out = Oriented {
            vertical: Vec::with_capacity(xyz.len()),
            horizontal: Vec::with_capacity(xyz.len()),
            ..Oriented::default()
        };
        if xyz.is_empty() {
            return out;
        }
        // Settle on the mean of the first half second so the first samples
        // are not rotated by a filter still climbing from zero.
        let head = &xyz[..xyz.len().min(self.hold_samples.max(3))];
        #[allow(clippy::cast_precision_loss, reason = "short head")]
        let n = head.len() as f64;
        let (mut slow, mut fast) = (self.slow, self.fast);
        for (k, (s, f)) in slow.iter_mut().zip(fast.iter_mut()).enumerate() {
            let m = head.iter().map(|v| v[k]).sum::<f64>() / n;
            s.settle(m);
            f.settle(m);
        }
        let mut disagree = 0usize;
        let mut gsum = 0.0;
        let settle = self.hold_samples * 2 + 1;
        for (i, v) in xyz.iter().enumerate() {
            let m = Vector3::new(v[0], v[1], v[2]);
            let mut g = Vector3::new(slow[0].step(v[0]), slow[1].step(v[1]), slow[2].step(v[2]));
            let gf = Vector3::new(fast[0].step(v[0]), fast[1].step(v[1]), fast[2].step(v[2]));
            // The angle test without a division: g·gf < cos θ |g| |gf|.
            let dot = g.dot(&gf);
            let (gn2, gfn2) = (g.norm_squared(), gf.norm_squared());
            if gn2 > 0.0 && gfn2 > 0.0 && dot < self.cos_shift * (gn2 * gfn2).sqrt() {
                disagree += 1;
                if disagree >= self.hold_samples {
                    for (k, s) in slow.iter_mut().enumerate() {
                        s.settle(gf[k]);
                    }
                    g = gf;
                    out.shifts += 1;
                    out.unsettled
                        .push(i.saturating_sub(self.hold_samples + settle)..(i + settle).min(xyz.len()));
                    disagree = 0;
                }
            } else {
                disagree = 0;
            }
            let gn = g.norm();
            gsum += gn;
            let (vert, hor) = if gn > 1e-9 {
                let rm = to_vertical(&(g * gn.recip()), &m);
                (rm.z - gn, [rm.x, rm.y])
            } else {
                (0.0, [0.0, 0.0])
            };
            out.vertical.push(vert);
            out.horizontal.push(hor);
        }
        #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
        {
            out.gravity_mps2 = gsum / xyz.len() as f64;
        }
        (self.slow, self.fast) = (slow, fast);
        out
    }
}

/// The one section of a second-order cascade.
fn section(c: &Cascade) -> Biquad {
    c.sections()[0]
}

/// `m` rotated by the smallest rotation that takes `up` to +Z. Per sample
/// this is the reorienter's hot path, so it uses Rodrigues' formula for
/// that rotation, `m + v×m + v×(v×m)/(1 + c)` with `v = up × Z` and
/// `c = up·Z`, which needs no trigonometry; near the antiparallel case,
/// where `1/(1 + c)` loses precision, nalgebra's construction is used.
fn to_vertical(up: &Vector3<f64>, m: &Vector3<f64>) -> Vector3<f64> {
    let c = up.z;
    if c > -0.9 {
        // up × Z, written out: its z is always 0.
        let v = Vector3::new(up.y, -up.x, 0.0);
        let vm = v.cross(m);
        m + vm + v.cross(&vm) * (1.0 + c).recip()
    } else {
        let r = Rotation3::rotation_between(up, &Vector3::z())
            // Antiparallel: a half turn about X does it.
            .unwrap_or_else(|| Rotation3::from_axis_angle(&Vector3::x_axis(), std::f64::consts::PI));
        r * m
    }
}

/// A fitted yaw: the angle of the vehicle's forward axis in the horizontal
/// plane of [`Oriented::horizontal`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YawFit {
    /// Angle of forward from the first horizontal axis, radians.
    pub yaw_rad: f64,
    /// Fraction of the variance of the GPS longitudinal acceleration the
    /// fit explains (R²).
    pub r2: f64,
    /// Number of points used.
    pub points: usize,
}

/// Yaw from pairs of (mean horizontal acceleration over an interval, GPS
/// longitudinal acceleration dv/dt over the same interval). Only intervals
/// where |dv/dt| exceeds `min_accel_mps2` carry information. Returns `None`
/// with fewer than `min_points` such intervals.
///
/// The horizontal vector is modelled as `h ≈ a · u + e`, `u` the unit
/// forward axis: least squares gives `u ∝ Σ h·a / Σ a²`, whose direction
/// is the yaw. Regressing `h` on `a` (not `a` on `h`) keeps the problem
/// well posed when all braking happens along one axis, as it does.
#[must_use]
pub fn estimate_yaw(pairs: &[([f64; 2], f64)], min_accel_mps2: f64, min_points: usize) -> Option<YawFit> {
    let used: Vec<_> = pairs
        .iter()
        .filter(|(h, a)| a.abs() >= min_accel_mps2 && a.is_finite() && h[0].is_finite() && h[1].is_finite())
        .collect();
    if used.len() < min_points {
        return None;
    }
    let aa: f64 = used.iter().map(|(_, a)| a * a).sum();
    let u = used.iter().fold(nalgebra::Vector2::zeros(), |s, (h, a)| {
        s + nalgebra::Vector2::new(h[0], h[1]) * *a
    }) / aa;
    if u.norm() < 1e-9 {
        return None;
    }
    let hh: f64 = used.iter().map(|(h, _)| h[0] * h[0] + h[1] * h[1]).sum();
    let resid: f64 = used
        .iter()
        .map(|(h, a)| (h[0] - a * u[0]).powi(2) + (h[1] - a * u[1]).powi(2))
        .sum();
    Some(YawFit {
        yaw_rad: u[1].atan2(u[0]),
        r2: if hh > 0.0 { 1.0 - resid / hh } else { 0.0 },
        points: used.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Unit;
    use proptest::prelude::*;

    proptest! {
        /// The trigonometry-free rotation is the smallest rotation taking
        /// `up` to +Z, as nalgebra builds it, for every direction of `up`.
        #[test]
        fn to_vertical_is_the_smallest_rotation(
            ux in -1.0f64..1.0, uy in -1.0f64..1.0, uz in -1.0f64..1.0,
            mx in -20.0f64..20.0, my in -20.0f64..20.0, mz in -20.0f64..20.0,
        ) {
            let Some(up) = Unit::try_new(Vector3::new(ux, uy, uz), 1e-3) else { return Ok(()) };
            let m = Vector3::new(mx, my, mz);
            let fast = to_vertical(&up, &m);
            if let Some(r) = Rotation3::rotation_between(&up.into_inner(), &Vector3::z()) {
                prop_assert!((fast - r * m).norm() < 1e-9 * (1.0 + m.norm()), "{fast} vs {}", r * m);
            }
            // Up itself goes to +Z, and lengths are kept.
            prop_assert!((to_vertical(&up, &up.into_inner()) - Vector3::z()).norm() < 1e-9);
            prop_assert!((fast.norm() - m.norm()).abs() < 1e-9 * (1.0 + m.norm()));
        }
    }

    fn rotate(r: &Rotation3<f64>, v: [f64; 3]) -> [f64; 3] {
        let w = r * Vector3::new(v[0], v[1], v[2]);
        [w.x, w.y, w.z]
    }

    /// A vehicle-frame signal (x forward, z up, Android convention: +g up
    /// at rest) seen by a phone mounted with rotation `r`.
    fn scene(r: &Rotation3<f64>, n: usize, fs: f64) -> (Vec<[f64; 3]>, Vec<f64>) {
        let mut dev = Vec::new();
        let mut truth = Vec::new();
        for i in 0..n {
            let t = i as f64 / fs;
            let up = 2.0 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            truth.push(up);
            dev.push(rotate(r, [0.0, 0.0, 9.80665 + up]));
        }
        (dev, truth)
    }

    #[test]
    fn recovers_vertical_in_any_mounting() {
        let fs = 50.0;
        for (roll, pitch, yaw) in [
            (0.0f64, 0.0f64, 0.0f64),
            (90.0, 0.0, 0.0),
            (-90.0, 30.0, 10.0),
            (180.0, 0.0, 45.0),
            (35.0, -70.0, 120.0),
        ] {
            let r = Rotation3::from_euler_angles(roll.to_radians(), pitch.to_radians(), yaw.to_radians());
            let (dev, truth) = scene(&r, 2000, fs);
            let o = Reorienter::new(OrientParams::default(), fs).unwrap().run(&dev);
            let err: f64 = o.vertical[500..]
                .iter()
                .zip(&truth[500..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 0.25, "mounting {roll},{pitch},{yaw}: max error {err}");
            assert_eq!(o.shifts, 0);
        }
    }

    #[test]
    fn ios_sign_convention_gives_the_same_vertical() {
        let fs = 50.0;
        let r = Rotation3::from_euler_angles(0.3, 0.2, 0.1);
        let (dev, truth) = scene(&r, 1500, fs);
        let ios: Vec<[f64; 3]> = dev.iter().map(|v| [-v[0], -v[1], -v[2]]).collect();
        let o = Reorienter::new(OrientParams::default(), fs).unwrap().run(&ios);
        let err: f64 = o.vertical[500..]
            .iter()
            .zip(&truth[500..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 0.25, "max error {err}");
    }

    #[test]
    fn notices_a_shift_and_recovers() {
        let fs = 50.0;
        let r1 = Rotation3::from_euler_angles(0.0, 0.0, 0.0);
        let r2 = Rotation3::from_euler_angles(1.2, 0.4, 0.0);
        let (mut dev, truth1) = scene(&r1, 1500, fs);
        let (dev2, truth2) = scene(&r2, 1500, fs);
        dev.extend(dev2);
        let truth: Vec<f64> = truth1.into_iter().chain(truth2).collect();
        let o = Reorienter::new(OrientParams::default(), fs).unwrap().run(&dev);
        assert_eq!(o.shifts, 1);
        assert_eq!(o.unsettled.len(), 1);
        assert!(o.unsettled[0].contains(&1500), "{:?}", o.unsettled);
        // Two seconds after the hold, the vertical is right again.
        let from = 1500 + (4.0 * fs) as usize;
        let err: f64 = o.vertical[from..]
            .iter()
            .zip(&truth[from..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 0.3, "max error after shift {err}");
    }

    #[test]
    fn yaw_from_braking() {
        let yaw = 0.7f64;
        let pairs: Vec<([f64; 2], f64)> = (0..40)
            .map(|i| {
                let a = if i % 2 == 0 { 1.5 } else { -2.0 } * (1.0 + f64::from(i) / 40.0);
                ([a * yaw.cos() + 0.05, a * yaw.sin() - 0.03], a)
            })
            .collect();
        let fit = estimate_yaw(&pairs, 0.5, 5).unwrap();
        assert!((fit.yaw_rad - yaw).abs() < 0.05, "{fit:?}");
        assert!(fit.r2 > 0.95);
        assert!(estimate_yaw(&pairs[..3], 0.5, 5).is_none());
    }
}
