/*!
A codebook of short signal shapes, for the bag-of-words window features
of González et al. (2017): a window is cut into overlapping segments, each
segment is assigned its nearest codeword, and the window is described by
how often each codeword occurs. The histogram does not depend on the
window's length, and it keeps the order of samples within a segment
(down-then-up against up-then-down) that global statistics lose.

Codewords are learnt with k-means (Lloyd's algorithm from k-means++
seeds, Arthur and Vassilvitskii 2007), deterministic for a seed. Segments
are cut from the window after removing its mean and dividing by its
standard deviation, so the codebook holds shapes and the amplitude is
left to the window's other features.
*/

use serde::{Deserialize, Serialize};

use crate::forest::Rng;

/// Learnt shapes at one scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Codebook {
    /// Samples per segment.
    pub width: usize,
    /// Samples between the starts of consecutive segments.
    pub step: usize,
    /// Codewords, each `width` long.
    pub centroids: Vec<Vec<f64>>,
}

/// The window with its mean removed and scaled to unit standard deviation
/// (a flat window stays at zero).
#[must_use]
pub fn standardise(x: &[f64]) -> Vec<f64> {
    #[allow(clippy::cast_precision_loss, reason = "window lengths are small")]
    let n = x.len().max(1) as f64;
    let mean = x.iter().sum::<f64>() / n;
    let sd = (x.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
    let scale = if sd > 1e-9 { 1.0 / sd } else { 0.0 };
    x.iter().map(|a| (a - mean) * scale).collect()
}

/// The overlapping segments of `v`.
fn segments(v: &[f64], width: usize, step: usize) -> impl Iterator<Item = &[f64]> {
    let count = if v.len() >= width && width > 0 {
        (v.len() - width) / step.max(1) + 1
    } else {
        0
    };
    (0..count).map(move |i| &v[i * step.max(1)..i * step.max(1) + width])
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

fn nearest(centroids: &[Vec<f64>], s: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centroids.iter().enumerate() {
        let d = dist2(c, s);
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

/// Restarts of k-means; the codebook with the least within-cluster
/// squared distance is kept.
const RESTARTS: usize = 3;
/// Lloyd iterations at most per restart.
const ITERATIONS: usize = 100;

impl Codebook {
    /// Learns `k` codewords from the segments of standardised windows.
    /// Fewer segments than `k` give as many codewords as segments.
    #[must_use]
    pub fn fit(windows: &[Vec<f64>], width: usize, step: usize, k: usize, seed: u64) -> Self {
        let data: Vec<&[f64]> = windows.iter().flat_map(|w| segments(w, width, step)).collect();
        let k = k.min(data.len());
        let mut rng = Rng(seed);
        let mut best: Option<(f64, Vec<Vec<f64>>)> = None;
        for _ in 0..RESTARTS {
            if k == 0 {
                break;
            }
            let centroids = lloyd(&data, seed_plus_plus(&data, k, &mut rng));
            let inertia: f64 = data.iter().map(|s| nearest(&centroids, s).1).sum();
            if best.as_ref().is_none_or(|b| inertia < b.0) {
                best = Some((inertia, centroids));
            }
        }
        Self {
            width,
            step,
            centroids: best.map(|b| b.1).unwrap_or_default(),
        }
    }

    /// How often each codeword is the nearest to a segment of the
    /// standardised window `v`, as fractions; NaN when `v` is shorter than
    /// one segment.
    #[must_use]
    pub fn histogram(&self, v: &[f64]) -> Vec<f64> {
        let mut h = vec![0.0; self.centroids.len()];
        let mut n = 0.0;
        for s in segments(v, self.width, self.step) {
            h[nearest(&self.centroids, s).0] += 1.0;
            n += 1.0;
        }
        if n == 0.0 {
            return vec![f64::NAN; h.len()];
        }
        h.iter_mut().for_each(|x| *x /= n);
        h
    }
}

/// k-means++ seeding: each next seed drawn with probability proportional
/// to its squared distance from the nearest seed so far.
fn seed_plus_plus(data: &[&[f64]], k: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    let mut centroids = vec![data[rng.below(data.len())].to_vec()];
    let mut d: Vec<f64> = data.iter().map(|s| dist2(s, &centroids[0])).collect();
    while centroids.len() < k {
        let total: f64 = d.iter().sum();
        let pick = if total > 0.0 {
            let mut r = rng.unit() * total;
            let mut chosen = data.len() - 1;
            for (i, di) in d.iter().enumerate() {
                if r < *di {
                    chosen = i;
                    break;
                }
                r -= di;
            }
            chosen
        } else {
            rng.below(data.len())
        };
        let c = data[pick].to_vec();
        for (di, s) in d.iter_mut().zip(data) {
            *di = di.min(dist2(s, &c));
        }
        centroids.push(c);
    }
    centroids
}

fn lloyd(data: &[&[f64]], mut centroids: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let width = centroids[0].len();
    let mut assign = vec![usize::MAX; data.len()];
    for _ in 0..ITERATIONS {
        let mut changed = false;
        for (a, s) in assign.iter_mut().zip(data) {
            let j = nearest(&centroids, s).0;
            changed |= *a != j;
            *a = j;
        }
        if !changed {
            break;
        }
        let mut sums = vec![vec![0.0; width]; centroids.len()];
        let mut counts = vec![0usize; centroids.len()];
        for (&a, s) in assign.iter().zip(data) {
            counts[a] += 1;
            sums[a].iter_mut().zip(*s).for_each(|(t, v)| *t += v);
        }
        for ((c, sum), n) in centroids.iter_mut().zip(sums).zip(counts) {
            // An emptied codeword keeps its place rather than vanishing.
            if n > 0 {
                #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
                let n = n as f64;
                *c = sum.into_iter().map(|t| t / n).collect();
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_shapes_it_is_shown_and_counts_them() {
        // Two shapes: a step up and a step down, each 4 samples wide.
        let up = [-1.0, -1.0, 1.0, 1.0];
        let down = [1.0, 1.0, -1.0, -1.0];
        let windows: Vec<Vec<f64>> = (0..20)
            .map(|i| if i % 2 == 0 { up.repeat(3) } else { down.repeat(3) })
            .collect();
        let cb = Codebook::fit(&windows, 4, 4, 2, 7);
        assert_eq!(cb.centroids.len(), 2);
        let h_up = cb.histogram(&up.repeat(5));
        let h_down = cb.histogram(&down.repeat(5));
        assert!((h_up.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(h_up.iter().filter(|&&x| x == 1.0).count(), 1, "{h_up:?}");
        assert_ne!(h_up, h_down, "the two shapes take different codewords");
        assert_eq!(cb, Codebook::fit(&windows, 4, 4, 2, 7), "deterministic for a seed");
        assert!(cb.histogram(&[0.0; 3]).iter().all(|x| x.is_nan()));
    }

    #[test]
    fn standardising_removes_offset_and_scale() {
        let v = standardise(&[10.0, 12.0, 10.0, 12.0]);
        assert_eq!(v, vec![-1.0, 1.0, -1.0, 1.0]);
        assert_eq!(standardise(&[3.0; 4]), vec![0.0; 4]);
    }

    #[test]
    fn fewer_segments_than_codewords_is_not_an_error() {
        let cb = Codebook::fit(&[vec![0.0, 1.0, 0.0, -1.0, 0.0]], 4, 4, 16, 1);
        assert_eq!(cb.centroids.len(), 1);
        assert_eq!(Codebook::fit(&[], 4, 2, 8, 1).centroids.len(), 0);
    }
}
