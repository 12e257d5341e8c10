/*!
Scoring detections against ground-truth positions.

The rule is the one the Lublin survey's authors used, so figures are
comparable with theirs: detections closer than `radius_m` to an earlier
kept detection are merged into it (greedy, in time order); a merged
detection is a true positive when a ground-truth point lies within
`radius_m`; a ground-truth point is found when a merged detection lies
within `radius_m`. Precision = true positives / merged detections;
recall = found / ground-truth points. Distances are haversine.

Survey files label the artefacts of one drive, and not always all of
them: a false positive that lies within `radius_m` of a point labelled on
*another* drive is counted apart (`elsewhere`), as evidence about the
labels. It stays a false positive, so the figures remain the source's.
*/

use serde::Serialize;

use crate::distance_m;

/// Counts from [`score_points`]; add them up across trips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PointScore {
    /// Detections after merging.
    pub detections: usize,
    /// Merged detections near a ground-truth point.
    pub true_positives: usize,
    /// Ground-truth points.
    pub truth: usize,
    /// Ground-truth points with a detection near.
    pub found: usize,
    /// Merged detections that are not true positives but lie near a
    /// point labelled on another trip.
    pub elsewhere: usize,
}

impl PointScore {
    /// True positives over detections (1 when there is no detection).
    #[must_use]
    pub fn precision(&self) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        if self.detections == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.detections as f64
        }
    }

    /// Found over ground truth (1 when there is no ground truth).
    #[must_use]
    pub fn recall(&self) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        if self.truth == 0 {
            1.0
        } else {
            self.found as f64 / self.truth as f64
        }
    }

    /// Sum of two scores.
    #[must_use]
    pub const fn add(self, o: Self) -> Self {
        Self {
            detections: self.detections + o.detections,
            true_positives: self.true_positives + o.true_positives,
            truth: self.truth + o.truth,
            found: self.found + o.found,
            elsewhere: self.elsewhere + o.elsewhere,
        }
    }
}

/// Greedy merge: keeps each point unless it lies within `radius_m` of a
/// point already kept. Positions are (lat, lon) degrees.
#[must_use]
pub fn merge_within(points: &[(f64, f64)], radius_m: f64) -> Vec<(f64, f64)> {
    let mut kept: Vec<(f64, f64)> = Vec::new();
    for &p in points {
        if !kept.iter().any(|k| distance_m(k.0, k.1, p.0, p.1) < radius_m) {
            kept.push(p);
        }
    }
    kept
}

/// Scores `detections` (time order) against `truth`, see the module docs.
#[must_use]
pub fn score_points(detections: &[(f64, f64)], truth: &[(f64, f64)], radius_m: f64) -> PointScore {
    score_points_against(detections, truth, &[], radius_m)
}

/// [`score_points`], also counting false positives near `others`: points
/// labelled on other trips.
#[must_use]
pub fn score_points_against(
    detections: &[(f64, f64)],
    truth: &[(f64, f64)],
    others: &[(f64, f64)],
    radius_m: f64,
) -> PointScore {
    let merged = merge_within(detections, radius_m);
    let near = |a: &(f64, f64), b: &(f64, f64)| distance_m(a.0, a.1, b.0, b.1) < radius_m;
    let (hits, misses): (Vec<_>, Vec<_>) = merged.iter().partition(|d| truth.iter().any(|g| near(d, g)));
    PointScore {
        detections: merged.len(),
        true_positives: hits.len(),
        truth: truth.len(),
        found: truth.iter().filter(|g| merged.iter().any(|d| near(d, g))).count(),
        elsewhere: misses.iter().filter(|d| others.iter().any(|g| near(d, g))).count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination;

    #[test]
    fn merges_and_scores() {
        let o = (51.25, 22.55);
        let at = |m: f64| destination(o.0, o.1, 90.0, m);
        // Three detections of one artefact within 20 m, one far false alarm.
        let det = [at(0.0), at(8.0), at(15.0), at(300.0)];
        let truth = [at(5.0), at(150.0)];
        let s = score_points(&det, &truth, 20.0);
        assert_eq!(
            s,
            PointScore {
                detections: 2,
                true_positives: 1,
                truth: 2,
                found: 1,
                elsewhere: 0,
            }
        );
        // The far false alarm sits on a point another drive labelled.
        let t = score_points_against(&det, &truth, &[at(290.0), at(5.0)], 20.0);
        assert_eq!((t.true_positives, t.elsewhere), (1, 1));
        assert_eq!(t.add(s).elsewhere, 1);
        assert!((s.precision() - 0.5).abs() < 1e-12);
        assert!((s.recall() - 0.5).abs() < 1e-12);
        assert_eq!(score_points(&[], &[], 20.0).precision(), 1.0);
    }
}
