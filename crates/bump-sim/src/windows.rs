/*!
Labelled event windows cut from simulated trips, in the classes of the
González et al. (2017) set, so a window classifier can be trained on data
the project may ship and scored on real windows it never saw.

| class | cut around |
|---|---|
| `potholes` | a pass whose wheels dropped into a pothole |
| `asphalt_bumps` | a pass over a speed hump or table |
| `metal_bumps` | a pass over a rail crossing, expansion joint or sunk casting hit by a wheel |
| `worn_out_road` | a rough patch, or 5 s of class D–E street away from any obstacle |
| `regular_road` | 5 s of class A–B street away from any obstacle |

A pass's window runs from 1 s before the front axle reaches the obstacle
to 1 s after the rear axle leaves it (at most 6 s). The series given are
the trip's vertical acceleration after preprocessing, so the windows carry
the reorientation the real pipeline does. Windows are resampled to the
output rate (box-averaged first when the phone ran faster); phones slower
than the output rate give no windows, since interpolation would invent
the high frequencies the classes differ in.
*/

use crate::drive::{SimTrip, WHEELBASE_M, Wheel};
use crate::road::{ObstacleKind, RoadClass};

/// The window classes, in the González set's folder names.
pub const WINDOW_CLASSES: [&str; 5] = [
    "asphalt_bumps",
    "metal_bumps",
    "potholes",
    "regular_road",
    "worn_out_road",
];

/// One uniformly sampled stretch of vertical acceleration.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Time of the first sample, UTC seconds.
    pub t0: f64,
    /// Sample rate, Hz.
    pub fs: f64,
    /// Vertical acceleration, m/s².
    pub vertical: &'a [f64],
    /// Speed per sample, m/s (NaN where unknown).
    pub speed_mps: &'a [f64],
}

impl Series<'_> {
    /// Time just after the last sample, UTC seconds.
    fn end(&self) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
        let n = self.vertical.len() as f64;
        self.t0 + n / self.fs
    }
}

/// A window with its class.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledWindow {
    /// One of [`WINDOW_CLASSES`].
    pub class: &'static str,
    /// Start, UTC seconds.
    pub t: f64,
    /// Samples at the output rate.
    pub samples: Vec<f64>,
}

/// Seconds of margin before and after a pass's obstacle.
const MARGIN_S: f64 = 1.0;
/// Longest window, s.
const MAX_S: f64 = 6.0;
/// Length of a road-surface window, s.
const ROAD_S: f64 = 5.0;
/// Road windows start at least this far apart, s, so they are not near copies.
const ROAD_EVERY_S: f64 = 30.0;
/// No obstacle pass within this of a road window, s.
const CLEAR_S: f64 = 3.0;
/// Slowest mean speed of a road window, m/s.
const ROAD_MIN_SPEED_MPS: f64 = 4.0;

fn class_of(kind: ObstacleKind) -> &'static str {
    match kind {
        ObstacleKind::Pothole => "potholes",
        ObstacleKind::SpeedHump | ObstacleKind::SpeedTable => "asphalt_bumps",
        ObstacleKind::RailCrossing | ObstacleKind::ExpansionJoint | ObstacleKind::SunkCasting => "metal_bumps",
        ObstacleKind::RoughPatch => "worn_out_road",
    }
}

/// `[from, to)` of the series at `out_hz`, if it lies inside and the
/// series is at least as fast as `out_hz`.
fn cut(series: &[Series<'_>], from: f64, to: f64, out_hz: f64) -> Option<Vec<f64>> {
    let s = series.iter().find(|s| s.t0 <= from && to <= s.end())?;
    if s.fs + 1e-9 < out_hz {
        return None;
    }
    // Box average over one output period, then linear interpolation.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small positive")]
    let box_n = ((s.fs / out_hz).round() as usize).max(1);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "small positive")]
    let n = ((to - from) * out_hz).floor() as usize;
    let v = s.vertical;
    let at = |k: usize| -> f64 {
        let lo = k.saturating_sub(box_n / 2);
        let hi = (lo + box_n).min(v.len());
        #[allow(clippy::cast_precision_loss, reason = "small")]
        let m = v[lo..hi].iter().sum::<f64>() / (hi - lo).max(1) as f64;
        m
    };
    let out = (0..n)
        .map(|i| {
            #[allow(clippy::cast_precision_loss, reason = "small")]
            let pos = ((from + i as f64 / out_hz) - s.t0) * s.fs;
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "inside the series"
            )]
            let j = (pos.floor().max(0.0) as usize).min(v.len().saturating_sub(2));
            #[allow(clippy::cast_precision_loss, reason = "small")]
            let f = (pos - j as f64).clamp(0.0, 1.0);
            at(j) + f * (at(j + 1) - at(j))
        })
        .collect();
    Some(out)
}

/// Mean known speed of `s` over `[from, to)`, which lies inside it.
fn mean_speed(s: &Series<'_>, from: f64, to: f64) -> Option<f64> {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "inside the series"
    )]
    let (a, b) = (
        ((from - s.t0) * s.fs).max(0.0) as usize,
        (((to - s.t0) * s.fs).max(0.0) as usize).min(s.speed_mps.len()),
    );
    let v: Vec<f64> = s
        .speed_mps
        .get(a..b)?
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    #[allow(clippy::cast_precision_loss, reason = "small")]
    let m = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    m
}

fn surface_at(trip: &SimTrip, t: f64) -> Option<RoadClass> {
    trip.surface.iter().take_while(|s| s.0 <= t).last().map(|s| s.1)
}

/// The labelled windows of one simulated trip, resampled to `out_hz`,
/// in time order.
#[must_use]
pub fn labelled_windows(trip: &SimTrip, series: &[Series<'_>], out_hz: f64) -> Vec<LabelledWindow> {
    let mut out = Vec::new();
    for p in &trip.passes {
        if p.wheel == Wheel::None {
            continue;
        }
        let v = p.speed_mps.max(1.0);
        let (from, to) = if p.kind == ObstacleKind::RoughPatch {
            (p.t, p.t + (p.length_m / v).min(MAX_S))
        } else {
            let from = p.t - MARGIN_S;
            (
                from,
                (p.t + (p.length_m + WHEELBASE_M) / v + MARGIN_S).min(from + MAX_S),
            )
        };
        if let Some(samples) = cut(series, from, to, out_hz) {
            out.push(LabelledWindow {
                class: class_of(p.kind),
                t: from,
                samples,
            });
        }
    }
    for s in series {
        let end = s.end();
        let mut from = s.t0 + CLEAR_S;
        while from + ROAD_S + CLEAR_S <= end {
            let to = from + ROAD_S;
            let clear = trip.passes.iter().all(|p| p.t < from - CLEAR_S || p.t > to + CLEAR_S);
            let class = match (surface_at(trip, from), surface_at(trip, to)) {
                (Some(a), Some(b)) if a == b => match a {
                    RoadClass::A | RoadClass::B => Some("regular_road"),
                    RoadClass::D | RoadClass::E => Some("worn_out_road"),
                    RoadClass::C => None,
                },
                _ => None,
            };
            let moving = mean_speed(s, from, to).is_some_and(|v| v >= ROAD_MIN_SPEED_MPS);
            if let (true, true, Some(class)) = (clear, moving, class)
                && let Some(samples) = cut(series, from, to, out_hz)
            {
                out.push(LabelledWindow {
                    class,
                    t: from,
                    samples,
                });
                from += ROAD_EVERY_S;
            } else {
                from += 1.0;
            }
        }
    }
    out.sort_by(|a, b| a.t.total_cmp(&b.t));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SimParams, Simulation};

    #[test]
    fn windows_sit_on_the_passes_and_streets_they_name() {
        let params = SimParams {
            sample_rate_hz: Some(100.0),
            trip_minutes: 6.0,
            ..SimParams::default()
        };
        let sim = Simulation::new(params).unwrap();
        let st = sim.trip(0);
        // The phone's own z axis is not vertical; the truth here is the
        // trip's accelerometer magnitude, enough to check cutting.
        let t0 = st.trip.accel[0].t;
        let mag: Vec<f64> = st
            .trip
            .accel
            .iter()
            .map(|a| (a.x * a.x + a.y * a.y + a.z * a.z).sqrt())
            .collect();
        let speed = vec![10.0; mag.len()];
        let series = [Series {
            t0,
            fs: 100.0,
            vertical: &mag,
            speed_mps: &speed,
        }];
        let w = labelled_windows(&st, &series, 50.0);
        assert!(!w.is_empty());
        for x in &w {
            assert!(WINDOW_CLASSES.contains(&x.class));
            assert!(x.samples.len() <= 300 && x.samples.len() >= 10, "{}", x.samples.len());
            let mean = x.samples.iter().sum::<f64>() / x.samples.len() as f64;
            assert!((mean - 9.8).abs() < 1.0, "resampled values stay physical: {mean}");
        }
        let end = st.trip.accel.last().unwrap().t;
        let mut checked = 0;
        for p in &st.passes {
            if p.wheel == Wheel::None || p.kind == ObstacleKind::RoughPatch || p.t + MAX_S > end || p.t - 2.0 < t0 {
                continue;
            }
            assert!(
                w.iter()
                    .any(|x| x.class == class_of(p.kind) && (x.t - (p.t - MARGIN_S)).abs() < 1e-9),
                "a window for the pass over {}",
                p.obstacle_id
            );
            checked += 1;
        }
        assert!(checked > 0, "the trip hit something");
        for x in w
            .iter()
            .filter(|x| x.class.ends_with("_road") && x.class != "worn_out_road")
        {
            assert!(st.passes.iter().all(|p| (p.t - x.t).abs() > CLEAR_S));
            assert!(matches!(surface_at(&st, x.t), Some(RoadClass::A | RoadClass::B)));
        }
        // A slower phone than the output rate gives nothing.
        let slow = [Series { fs: 20.0, ..series[0] }];
        assert!(labelled_windows(&st, &slow, 50.0).is_empty());
    }

    #[test]
    fn box_averaging_then_interpolating_keeps_a_ramp() {
        let v: Vec<f64> = (0..1000).map(f64::from).collect();
        let speed = vec![10.0; v.len()];
        let s = [Series {
            t0: 0.0,
            fs: 100.0,
            vertical: &v,
            speed_mps: &speed,
        }];
        let w = cut(&s, 1.0, 2.0, 50.0).unwrap();
        assert_eq!(w.len(), 50);
        for (i, x) in w.iter().enumerate() {
            // Sample i sits at 100 + 2 i on the input grid; a box of two
            // samples averages it with its neighbour.
            let want = 100.0 + 2.0 * i as f64 - 0.5;
            assert!((x - want).abs() <= 0.5 + 1e-9, "{i}: {x} vs {want}");
        }
        assert!(cut(&s, 9.5, 11.0, 50.0).is_none(), "beyond the series");
    }
}
