/*!
A cleaned GPS track.

Phones report about one fix a second, 3–10 m off, sometimes with a jump of
hundreds of metres (a multipath fix, a cold start). The track:

1. drops fixes with an invalid position or a reported accuracy worse than
   `max_accuracy_m`, and repeated time stamps;
2. drops a fix that implies a speed above `max_speed_mps` from the last
   kept one (a jump), unless `jump_resync` consecutive fixes agree with
   each other, in which case the earlier fix was the wrong one and the
   track resynchronises;
3. resolves speed: the receiver's Doppler speed where valid, otherwise the
   speed derived from the positions (central difference over neighbours).
   A speed column that is zero throughout a track that moved (a path of
   100 m, or 20 m between its first and last fix) is treated as missing
   (some loggers write 0 for "not recorded");
4. resolves heading: the receiver's course above 1 m/s, otherwise the
   bearing between neighbours.
*/

use bump_core::GpsFix;
use serde::{Deserialize, Serialize};

use crate::{bearing_deg, distance_m, is_valid_position};

/// Path length beyond which an all-zero speed column is taken as "not
/// recorded", m.
const MOVED_PATH_M: f64 = 100.0;
/// Distance between first and last fix beyond which the same holds, m:
/// twice the 10 m a phone fix may be off, so drift alone cannot reach it.
const MOVED_NET_M: f64 = 20.0;

/// Parameters of [`Track::build`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackParams {
    /// Fixes whose reported accuracy is worse are dropped, m.
    pub max_accuracy_m: f64,
    /// Speeds implied between fixes above this are jumps, m/s.
    pub max_speed_mps: f64,
    /// Consecutive agreeing fixes after a jump that resynchronise the track.
    pub jump_resync: usize,
    /// A derived speed spans this many fixes on each side: more smooths
    /// GPS noise (3–10 m per fix) at the cost of lag in braking.
    pub speed_span_fixes: usize,
}

impl Default for TrackParams {
    fn default() -> Self {
        Self {
            max_accuracy_m: 50.0,
            max_speed_mps: 70.0,
            jump_resync: 3,
            speed_span_fixes: 1,
        }
    }
}

/// One resolved point of a track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPoint {
    /// UTC seconds.
    pub t: f64,
    /// Degrees.
    pub lat: f64,
    /// Degrees.
    pub lon: f64,
    /// Ground speed, m/s.
    pub speed_mps: f64,
    /// Course, degrees from north; NaN when unknown (standing still).
    pub heading_deg: f64,
}

/// What cleaning a track did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrackReport {
    /// Fixes given.
    pub fixes_in: usize,
    /// Dropped for an invalid position.
    pub invalid_position: usize,
    /// Dropped for poor reported accuracy.
    pub inaccurate: usize,
    /// Dropped for repeating a time stamp.
    pub duplicate_time: usize,
    /// Dropped as jumps implying an impossible speed.
    pub jumps: usize,
    /// Reported speeds refused (negative, NaN, absurd).
    pub invalid_speed: usize,
    /// Fixes whose speed was derived from positions.
    pub speed_derived: usize,
}

/// A cleaned track, ordered by time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Track {
    points: Vec<TrackPoint>,
}

impl Track {
    /// Cleans `fixes` (any order).
    #[must_use]
    pub fn build(fixes: &[GpsFix], params: &TrackParams) -> (Self, TrackReport) {
        let mut rep = TrackReport {
            fixes_in: fixes.len(),
            ..TrackReport::default()
        };
        let mut fx: Vec<GpsFix> = Vec::with_capacity(fixes.len());
        for f in fixes {
            if !f.t.is_finite() || !is_valid_position(f.lat, f.lon) {
                rep.invalid_position += 1;
            } else if f.accuracy_m.is_some_and(|a| a > params.max_accuracy_m) {
                rep.inaccurate += 1;
            } else {
                fx.push(*f);
            }
        }
        fx.sort_by(|a, b| a.t.total_cmp(&b.t));
        let before = fx.len();
        fx.dedup_by(|b, a| b.t == a.t);
        rep.duplicate_time = before - fx.len();

        // Jumps.
        let mut kept: Vec<GpsFix> = Vec::with_capacity(fx.len());
        let mut pending: Vec<GpsFix> = Vec::new();
        let implied = |a: &GpsFix, b: &GpsFix| distance_m(a.lat, a.lon, b.lat, b.lon) / (b.t - a.t).max(1e-3);
        for f in fx {
            let Some(last) = kept.last() else {
                kept.push(f);
                continue;
            };
            if implied(last, &f) <= params.max_speed_mps {
                rep.jumps += pending.len();
                pending.clear();
                kept.push(f);
                continue;
            }
            if pending.last().is_some_and(|p| implied(p, &f) > params.max_speed_mps) {
                rep.jumps += pending.len();
                pending.clear();
            }
            pending.push(f);
            if pending.len() >= params.jump_resync.max(1) {
                // The new fixes agree with each other: the old anchor was
                // the outlier. Keep what came before it, resume from here.
                rep.jumps += 1;
                kept.pop();
                kept.append(&mut pending);
            }
        }
        rep.jumps += pending.len();

        // Speeds.
        let n = kept.len();
        let derived: Vec<f64> = (0..n)
            .map(|i| {
                let w = params.speed_span_fixes.max(1);
                let (a, b) = (&kept[i.saturating_sub(w)], &kept[(i + w).min(n - 1)]);
                let dt = b.t - a.t;
                if dt > 0.0 {
                    distance_m(a.lat, a.lon, b.lat, b.lon) / dt
                } else {
                    0.0
                }
            })
            .collect();
        let moved = kept
            .windows(2)
            .map(|w| distance_m(w[0].lat, w[0].lon, w[1].lat, w[1].lon))
            .sum::<f64>();
        // A parked phone's fixes wander a few metres about one point; a
        // path of 100 m, or first and last fixes further apart than
        // twice the worst error of a phone fix (10 m), is motion. The
        // second catches short recordings (a 5 s survey crosses 25 m).
        let net = match (kept.first(), kept.last()) {
            (Some(a), Some(b)) => distance_m(a.lat, a.lon, b.lat, b.lon),
            _ => 0.0,
        };
        let all_zero = kept.iter().all(|f| f.speed_mps.is_none_or(|s| s == 0.0));
        let ignore_reported = all_zero && (moved > MOVED_PATH_M || net > MOVED_NET_M);
        let mut points = Vec::with_capacity(n);
        for (i, f) in kept.iter().enumerate() {
            let reported = f.speed_mps.filter(|s| {
                let ok = s.is_finite() && (0.0..=params.max_speed_mps).contains(s);
                if !ok {
                    rep.invalid_speed += 1;
                }
                ok
            });
            let speed = match reported {
                Some(s) if !ignore_reported => s,
                _ => {
                    rep.speed_derived += 1;
                    derived[i]
                }
            };
            let heading = match f.heading_deg {
                Some(h) if h.is_finite() && speed > 1.0 && !ignore_reported => h.rem_euclid(360.0),
                _ => {
                    let (a, b) = (&kept[i.saturating_sub(1)], &kept[(i + 1).min(n - 1)]);
                    if distance_m(a.lat, a.lon, b.lat, b.lon) > 1.0 {
                        bearing_deg(a.lat, a.lon, b.lat, b.lon)
                    } else {
                        f64::NAN
                    }
                }
            };
            points.push(TrackPoint {
                t: f.t,
                lat: f.lat,
                lon: f.lon,
                speed_mps: speed,
                heading_deg: heading,
            });
        }
        (Self { points }, rep)
    }

    /// The cleaned points.
    #[must_use]
    pub fn points(&self) -> &[TrackPoint] {
        &self.points
    }

    /// Whether the track has no point.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Length of the track, m.
    #[must_use]
    pub fn length_m(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| distance_m(w[0].lat, w[0].lon, w[1].lat, w[1].lon))
            .sum()
    }

    /// A cursor for interpolating at increasing times in amortised O(1).
    #[must_use]
    pub fn cursor(&self) -> TrackCursor<'_> {
        TrackCursor { track: self, i: 0 }
    }

    /// The speed at each of the `n` times `t0 + k / fs`, as
    /// [`TrackCursor::at`] gives it (NaN where it gives none), m/s. A
    /// sample-rate grid has some hundred samples between two fixes, so
    /// each interval's slope is worked out once rather than per sample.
    #[must_use]
    pub fn speeds_on_grid(&self, t0: f64, fs: f64, n: usize, max_extrapolation_s: f64) -> Vec<f64> {
        let p = &self.points;
        let mut out = Vec::with_capacity(n);
        let (Some(first), Some(last)) = (p.first(), p.last()) else {
            out.resize(n, f64::NAN);
            return out;
        };
        // The interval `p[i]..p[i + 1]` holding the current time, and its
        // start speed and slope.
        let mut i = usize::MAX;
        let (mut ta, mut va, mut slope) = (0.0, 0.0, 0.0);
        let dt = fs.recip();
        for k in 0..n {
            #[allow(clippy::cast_precision_loss, reason = "sample counts fit f64")]
            let t = t0 + k as f64 * dt;
            let v = if t <= first.t {
                if first.t - t <= max_extrapolation_s {
                    first.speed_mps
                } else {
                    f64::NAN
                }
            } else if t >= last.t {
                if t - last.t <= max_extrapolation_s {
                    last.speed_mps
                } else {
                    f64::NAN
                }
            } else {
                // first.t < t < last.t: an interval with p[j].t <= t <
                // p[j + 1].t exists.
                if i == usize::MAX || p[i + 1].t <= t {
                    let j = if i == usize::MAX { 0 } else { i };
                    i = j + p[j..].partition_point(|q| q.t <= t) - 1;
                    let (a, b) = (&p[i], &p[i + 1]);
                    ta = a.t;
                    va = a.speed_mps;
                    slope = (b.speed_mps - a.speed_mps) / (b.t - a.t);
                }
                va + (t - ta) * slope
            };
            out.push(v);
        }
        out
    }
}

/// Interpolates a [`Track`] at non-decreasing times.
#[derive(Debug, Clone)]
pub struct TrackCursor<'a> {
    track: &'a Track,
    i: usize,
}

impl TrackCursor<'_> {
    /// The interpolated point at `t`, or `None` when `t` is more than
    /// `max_extrapolation_s` outside the track or the track is empty.
    /// Position and speed are linear between fixes; heading is the nearer
    /// fix's (headings do not interpolate across north).
    pub fn at(&mut self, t: f64, max_extrapolation_s: f64) -> Option<TrackPoint> {
        let p = &self.track.points;
        let (first, last) = (p.first()?, p.last()?);
        if t <= first.t {
            return (first.t - t <= max_extrapolation_s).then_some(TrackPoint { t, ..*first });
        }
        if t >= last.t {
            return (t - last.t <= max_extrapolation_s).then_some(TrackPoint { t, ..*last });
        }
        if p[self.i].t > t {
            self.i = p.partition_point(|q| q.t <= t).saturating_sub(1);
        }
        while self.i + 1 < p.len() && p[self.i + 1].t <= t {
            self.i += 1;
        }
        let (a, b) = (&p[self.i], &p[(self.i + 1).min(p.len() - 1)]);
        let w = if b.t > a.t { (t - a.t) / (b.t - a.t) } else { 0.0 };
        Some(TrackPoint {
            t,
            lat: a.lat + w * (b.lat - a.lat),
            lon: a.lon + w * (b.lon - a.lon),
            speed_mps: a.speed_mps + w * (b.speed_mps - a.speed_mps),
            heading_deg: if w < 0.5 { a.heading_deg } else { b.heading_deg },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination;

    fn straight(n: usize, speed: f64, reported: Option<f64>) -> Vec<GpsFix> {
        (0..n)
            .map(|i| {
                let (lat, lon) = destination(42.35, -71.06, 90.0, speed * i as f64);
                GpsFix {
                    t: 1_700_000_000.0 + i as f64,
                    lat,
                    lon,
                    speed_mps: reported,
                    accuracy_m: Some(5.0),
                    heading_deg: None,
                }
            })
            .collect()
    }

    proptest::proptest! {
        /// The grid's speeds are the cursor's, to rounding: fixes with
        /// jittered times (some repeated, which `build` drops), grids that
        /// start before, inside or after the track.
        #[test]
        fn speeds_on_grid_are_the_cursor_s(
            gaps in proptest::collection::vec(0.0..3.0_f64, 0..40),
            speeds in proptest::collection::vec(0.0..40.0_f64, 40),
            start in -5.0..60.0_f64,
            fs in 1.0..200.0_f64,
            n in 0usize..3000,
            extrapolation in 0.0..3.0_f64,
        ) {
            let mut t = 1_700_000_000.0;
            let fixes: Vec<GpsFix> = gaps
                .iter()
                .zip(&speeds)
                .map(|(g, v)| {
                    t += g;
                    let (lat, lon) = destination(42.35, -71.06, 90.0, (t - 1_700_000_000.0) * 10.0);
                    GpsFix { t, lat, lon, speed_mps: Some(*v), accuracy_m: Some(5.0), heading_deg: None }
                })
                .collect();
            let (track, _) = Track::build(&fixes, &TrackParams::default());
            let t0 = 1_700_000_000.0 + start;
            let grid = track.speeds_on_grid(t0, fs, n, extrapolation);
            proptest::prop_assert_eq!(grid.len(), n);
            let mut c = track.cursor();
            for (k, v) in grid.iter().enumerate() {
                let want = c.at(t0 + k as f64 / fs, extrapolation).map_or(f64::NAN, |p| p.speed_mps);
                proptest::prop_assert!(
                    (v.is_nan() && want.is_nan()) || (v - want).abs() <= 1e-9 * (1.0 + want.abs()),
                    "sample {}: {} against {}", k, v, want
                );
            }
        }
    }

    #[test]
    fn speeds_on_grid_interpolate_and_stop_past_the_ends() {
        let mut fixes = straight(3, 10.0, Some(10.0));
        fixes[1].speed_mps = Some(20.0);
        fixes[2].speed_mps = Some(20.0);
        let (track, _) = Track::build(&fixes, &TrackParams::default());
        let t0 = fixes[0].t - 1.0;
        // Every half second from 1 s before the first fix to 2 s after
        // the last, extrapolating by up to 1 s.
        let v = track.speeds_on_grid(t0, 2.0, 9, 1.0);
        let want = [10.0, 10.0, 10.0, 15.0, 20.0, 20.0, 20.0, 20.0, 20.0];
        for (k, (got, want)) in v.iter().zip(want).enumerate() {
            assert!((got - want).abs() < 1e-9, "sample {k}: {got}");
        }
        let v = track.speeds_on_grid(t0 - 5.0, 1.0, 2, 1.0);
        assert!(v.iter().all(|x| x.is_nan()), "{v:?}");
        let (empty, _) = Track::build(&[], &TrackParams::default());
        assert!(empty.speeds_on_grid(t0, 10.0, 3, 1.0).iter().all(|x| x.is_nan()));
    }

    #[test]
    fn derives_speed_when_missing_or_all_zero() {
        for reported in [None, Some(0.0)] {
            let (tr, rep) = Track::build(&straight(30, 10.0, reported), &TrackParams::default());
            assert_eq!(rep.speed_derived, 30);
            for p in tr.points() {
                assert!((p.speed_mps - 10.0).abs() < 0.05, "{p:?}");
                assert!((p.heading_deg - 90.0).abs() < 0.1);
            }
        }
        // A short recording: 30 m in 6 s is motion, not drift.
        let (tr, rep) = Track::build(&straight(7, 5.0, Some(0.0)), &TrackParams::default());
        assert_eq!(rep.speed_derived, 7);
        assert!(tr.points().iter().all(|p| (p.speed_mps - 5.0).abs() < 0.05));
        // A phone at rest: fixes wander a few metres, zeros are believed.
        let wander: Vec<GpsFix> = [0.0, 3.0, -2.0, 4.0, 1.0, -3.0, 2.0]
            .iter()
            .enumerate()
            .map(|(i, dx)| {
                let (lat, lon) = destination(42.35, -71.06, if i % 2 == 0 { 90.0 } else { 0.0 }, *dx);
                GpsFix {
                    t: 1_700_000_000.0 + i as f64,
                    lat,
                    lon,
                    speed_mps: Some(0.0),
                    accuracy_m: Some(5.0),
                    heading_deg: None,
                }
            })
            .collect();
        let (tr, rep) = Track::build(&wander, &TrackParams::default());
        assert_eq!(rep.speed_derived, 0);
        assert!(tr.points().iter().all(|p| p.speed_mps == 0.0));
        let (tr, rep) = Track::build(&straight(30, 10.0, Some(9.0)), &TrackParams::default());
        assert_eq!(rep.speed_derived, 0);
        assert!(tr.points().iter().all(|p| (p.speed_mps - 9.0).abs() < 1e-12));
    }

    #[test]
    fn drops_a_jump_and_counts_it() {
        let mut fx = straight(20, 10.0, None);
        let (lat, lon) = destination(fx[10].lat, fx[10].lon, 0.0, 800.0);
        fx[10].lat = lat;
        fx[10].lon = lon;
        let (tr, rep) = Track::build(&fx, &TrackParams::default());
        assert_eq!(rep.jumps, 1);
        assert_eq!(tr.points().len(), 19);
    }

    #[test]
    fn resyncs_when_the_first_fix_was_wrong() {
        let mut fx = straight(20, 10.0, None);
        let (lat, lon) = destination(fx[0].lat, fx[0].lon, 0.0, 5000.0);
        fx[0].lat = lat;
        fx[0].lon = lon;
        let (tr, rep) = Track::build(&fx, &TrackParams::default());
        assert_eq!(rep.jumps, 1);
        assert_eq!(tr.points().len(), 19);
    }

    #[test]
    fn drops_invalid_and_inaccurate() {
        let mut fx = straight(10, 10.0, Some(-1.0));
        fx[2].lat = f64::NAN;
        fx[3].accuracy_m = Some(3925.0);
        fx[4].t = fx[5].t;
        let (_, rep) = Track::build(&fx, &TrackParams::default());
        assert_eq!((rep.invalid_position, rep.inaccurate, rep.duplicate_time), (1, 1, 1));
        assert_eq!(rep.invalid_speed, 7);
    }

    #[test]
    fn interpolates() {
        let (tr, _) = Track::build(&straight(10, 10.0, Some(10.0)), &TrackParams::default());
        let mut c = tr.cursor();
        let p = c.at(1_700_000_002.5, 2.0).unwrap();
        let a = tr.points()[0];
        assert!((distance_m(a.lat, a.lon, p.lat, p.lon) - 25.0).abs() < 0.01);
        assert!(c.at(1_700_000_000.0 + 30.0, 2.0).is_none());
        // Going back in time still works.
        assert!(c.at(1_700_000_000.5, 2.0).is_some());
    }
}
