/*!
Road surfaces: random roughness by ISO 8608 class, and the height profiles
of discrete obstacles.

**Roughness.** ISO 8608 classifies roads by the displacement PSD at the
reference spatial frequency n₀ = 0.1 cycle/m, with `G_d(n) = G_d(n₀)
(n/n₀)⁻²`; class geometric means are A 16, B 64, C 256, D 1024, E 4096
×10⁻⁶ m³. A profile with that PSD is generated as filtered white noise
(the method of e.g. Tyan et al., "Generation of random road profiles",
2009): `h' = −2π n_min h + π n₀ √(2 G_d(n₀)) w(x)`, discretised every
`PROFILE_STEP_M`, with n_min = 0.011 cycle/m removing wavelengths longer
than the road can hold, then enveloped by the tyre's contact patch (a
0.3 m moving average: a tyre cannot follow shorter wavelengths).

**Obstacles.** Heights in metres along the direction of travel, from
typical dimensions: speed humps 60–90 mm high and 3–4.3 m long (round
top), speed tables 60–90 mm with 1.8 m ramps, potholes 30–100 mm deep and
0.3–1.2 m long, sunk castings 20–50 mm over 0.6 m, rail heads 20–35 mm
proud of the pavement with 70 mm flangeways, expansion joints 12–20 mm
proud over 0.1–0.2 m. A tyre cannot reach the bottom
of a hole shorter than its contact envelope: a dip of length L is limited
to the sagitta `L² / (8 r)` of a tyre of radius r = 0.3 m.
*/

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Spacing of generated roughness profiles, m.
pub const PROFILE_STEP_M: f64 = 0.1;
/// Tyre radius used for the enveloping limit on dips, m.
pub const TYRE_RADIUS_M: f64 = 0.3;

/// ISO 8608 road class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoadClass {
    /// Very good.
    A,
    /// Good.
    B,
    /// Average.
    C,
    /// Poor.
    D,
    /// Very poor.
    E,
}

impl RoadClass {
    /// Geometric mean of the class's `G_d(n₀)`, m³.
    #[must_use]
    pub const fn gd_n0(self) -> f64 {
        match self {
            Self::A => 16e-6,
            Self::B => 64e-6,
            Self::C => 256e-6,
            Self::D => 1024e-6,
            Self::E => 4096e-6,
        }
    }

    /// All classes, best first.
    pub const ALL: [Self; 5] = [Self::A, Self::B, Self::C, Self::D, Self::E];
}

/// A roughness profile of `len_m` metres sampled every [`PROFILE_STEP_M`].
#[must_use]
pub fn roughness_profile(class: RoadClass, len_m: f64, rng: &mut Rng) -> Vec<f32> {
    const N0: f64 = 0.1;
    const N_MIN: f64 = 0.011;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "positive, bounded"
    )]
    let n = (len_m / PROFILE_STEP_M).ceil() as usize + 2;
    let dx = PROFILE_STEP_M;
    let decay = 1.0 - 2.0 * std::f64::consts::PI * N_MIN * dx;
    // Brownian increments of variance c·Δ have the one-sided PSD
    // c / (2π² n²); c = 2π² n₀² G_d(n₀) gives exactly G_d(n₀)(n₀/n)².
    let gain = std::f64::consts::PI * N0 * (2.0 * class.gd_n0() * dx).sqrt();
    let mut h = 0.0;
    // Start from the stationary distribution so profiles do not all begin at 0.
    let stationary_sd = gain / (1.0 - decay * decay).sqrt();
    h += stationary_sd * rng.normal();
    let raw: Vec<f64> = (0..n)
        .map(|_| {
            h = decay * h + gain * rng.normal();
            h
        })
        .collect();
    // A tyre rides on a contact patch, not a point: wavelengths shorter
    // than about 0.3 m are enveloped (a 0.3 m moving average).
    (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(1), (i + 1).min(n - 1));
            #[allow(clippy::cast_precision_loss, reason = "window of 2 or 3")]
            let m = raw[a..=b].iter().sum::<f64>() / (b - a + 1) as f64;
            #[allow(clippy::cast_possible_truncation, reason = "millimetre heights fit f32")]
            let v = m as f32;
            v
        })
        .collect()
}

/// Height of a profile at `s` metres (linear interpolation, clamped).
#[must_use]
pub fn profile_at(p: &[f32], s: f64) -> f64 {
    if p.is_empty() {
        return 0.0;
    }
    let x = (s / PROFILE_STEP_M).max(0.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "non-negative, bounded"
    )]
    let i = (x.floor() as usize).min(p.len() - 1);
    let j = (i + 1).min(p.len() - 1);
    #[allow(clippy::cast_precision_loss, reason = "index fits f64")]
    let w = x - i as f64;
    f64::from(p[i]) * (1.0 - w) + f64::from(p[j]) * w.clamp(0.0, 1.0)
}

/// What an obstacle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObstacleKind {
    /// A hole in the surface.
    Pothole,
    /// A round-top speed hump.
    SpeedHump,
    /// A flat-top speed table.
    SpeedTable,
    /// A sunk utility casting (manhole, valve cover).
    SunkCasting,
    /// A level rail crossing.
    RailCrossing,
    /// A bridge expansion joint.
    ExpansionJoint,
    /// A stretch of very rough surface.
    RoughPatch,
}

impl ObstacleKind {
    /// All kinds.
    pub const ALL: [Self; 7] = [
        Self::Pothole,
        Self::SpeedHump,
        Self::SpeedTable,
        Self::SunkCasting,
        Self::RailCrossing,
        Self::ExpansionJoint,
        Self::RoughPatch,
    ];

    /// The snake-case name used in files.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pothole => "pothole",
            Self::SpeedHump => "speed_hump",
            Self::SpeedTable => "speed_table",
            Self::SunkCasting => "sunk_casting",
            Self::RailCrossing => "rail_crossing",
            Self::ExpansionJoint => "expansion_joint",
            Self::RoughPatch => "rough_patch",
        }
    }

    /// Whether it spans the whole width of the road (both lanes, both wheels).
    #[must_use]
    pub const fn full_width(self) -> bool {
        matches!(
            self,
            Self::SpeedHump | Self::SpeedTable | Self::RailCrossing | Self::ExpansionJoint | Self::RoughPatch
        )
    }
}

/// Shape parameters of one obstacle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// Peak height (positive) or depth (negative), m.
    pub height_m: f64,
    /// Length along the road, m.
    pub length_m: f64,
    /// Width across the road, m.
    pub width_m: f64,
}

/// A random shape for `kind`.
#[must_use]
pub fn random_shape(kind: ObstacleKind, rng: &mut Rng) -> Shape {
    let (h, l, w) = match kind {
        ObstacleKind::Pothole => (-rng.range(0.03, 0.10), rng.range(0.3, 1.2), rng.range(0.3, 1.0)),
        ObstacleKind::SpeedHump => (rng.range(0.06, 0.09), rng.range(3.0, 4.3), 7.0),
        ObstacleKind::SpeedTable => (rng.range(0.06, 0.09), rng.range(6.0, 7.5), 7.0),
        ObstacleKind::SunkCasting => (-rng.range(0.02, 0.05), 0.6, 0.6),
        ObstacleKind::RailCrossing => (rng.range(0.02, 0.035), if rng.chance(0.3) { 6.0 } else { 1.6 }, 7.0),
        ObstacleKind::ExpansionJoint => (rng.range(0.012, 0.02), rng.range(0.1, 0.2), 7.0),
        ObstacleKind::RoughPatch => (0.0, rng.range(10.0, 30.0), 7.0),
    };
    Shape {
        height_m: h,
        length_m: l,
        width_m: w,
    }
}

/// Depth a tyre reaches in a dip of `length_m`, m (positive).
#[must_use]
pub fn enveloped_depth(depth_m: f64, length_m: f64) -> f64 {
    depth_m.min(length_m * length_m / (8.0 * TYRE_RADIUS_M))
}

fn ramp(u: f64, len: f64, edge: f64) -> f64 {
    (u / edge).min((len - u) / edge).clamp(0.0, 1.0)
}

/// Height of an obstacle `u` metres after its start in the direction of
/// travel (outside `[0, length]` it is 0). Rough patches return 0: their
/// roughness is added by the caller from a seeded profile.
#[must_use]
pub fn obstacle_height(kind: ObstacleKind, shape: &Shape, u: f64) -> f64 {
    let l = shape.length_m;
    if !(0.0..=l).contains(&u) {
        return 0.0;
    }
    match kind {
        ObstacleKind::SpeedHump => shape.height_m * (std::f64::consts::PI * u / l).sin(),
        ObstacleKind::SpeedTable => shape.height_m * ramp(u, l, 1.8),
        ObstacleKind::Pothole | ObstacleKind::SunkCasting => {
            let d = enveloped_depth(-shape.height_m, l);
            -d * ramp(u, l, (l / 4.0).min(0.08))
        }
        // A joint's plates stand proud of the asphalt: a short rise.
        ObstacleKind::ExpansionJoint => shape.height_m,
        ObstacleKind::RailCrossing => {
            // Rails every 1.435 m (gauge) and 4 m between tracks: each rail
            // head stands 20–35 mm proud of worn pavement, with a 70 mm
            // flangeway beside it (too narrow for a tyre to drop into much).
            let mut h = 0.0;
            let mut x = 0.0;
            while x < l {
                for rail in [x, x + 1.435] {
                    let v = u - rail;
                    if (0.0..0.07).contains(&v) {
                        h = -enveloped_depth(0.03, 0.07);
                    } else if (0.07..0.22).contains(&v) {
                        h = shape.height_m;
                    }
                }
                x += 4.0;
            }
            h
        }
        ObstacleKind::RoughPatch => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roughness_psd_orders_the_classes() {
        // The variance of height differences over 1 m grows with the class.
        let mut prev = 0.0;
        for class in RoadClass::ALL {
            let p = roughness_profile(class, 5_000.0, &mut Rng::new(3, 0));
            let d: Vec<f64> = p.windows(11).map(|w| f64::from(w[10] - w[0])).collect();
            let var = d.iter().map(|x| x * x).sum::<f64>() / d.len() as f64;
            assert!(var > prev * 2.0, "{class:?}: {var}");
            prev = var;
        }
    }

    #[test]
    fn roughness_matches_iso_8608_at_n0() {
        // Height differences over a lag Δ well below 1/n_min have variance
        // 2π² n₀² G_d(n₀) Δ when the PSD is G_d(n₀)(n₀/n)² (ISO 8608).
        let class = RoadClass::C;
        let p = roughness_profile(class, 20_000.0, &mut Rng::new(5, 0));
        let lag = 10; // 1 m, where the 0.3 m envelope hardly matters
        let d: Vec<f64> = p.windows(lag + 1).map(|w| f64::from(w[lag] - w[0])).collect();
        let var = d.iter().map(|x| x * x).sum::<f64>() / d.len() as f64;
        let expected = 2.0 * std::f64::consts::PI.powi(2) * 0.1f64.powi(2) * class.gd_n0() * 1.0;
        assert!((var / expected - 1.0).abs() < 0.15, "{var} vs {expected}");
    }

    #[test]
    fn shapes() {
        let hump = Shape {
            height_m: 0.075,
            length_m: 3.7,
            width_m: 7.0,
        };
        assert!((obstacle_height(ObstacleKind::SpeedHump, &hump, 1.85) - 0.075).abs() < 1e-9);
        assert_eq!(obstacle_height(ObstacleKind::SpeedHump, &hump, 4.0), 0.0);
        let hole = Shape {
            height_m: -0.08,
            length_m: 0.3,
            width_m: 0.5,
        };
        // A 0.3 m hole lets a 0.3 m tyre down only 37.5 mm, not 80.
        let bottom = obstacle_height(ObstacleKind::Pothole, &hole, 0.15);
        assert!((bottom + 0.0375).abs() < 1e-9, "{bottom}");
    }
}
