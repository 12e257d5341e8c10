/*!
A random forest (Breiman 2001) for event windows: bootstrap samples,
CART trees split on Gini impurity over √(features) candidates per node,
class probabilities averaged over trees. Deterministic for a seed; the
model is plain data (serde), so it is saved as JSON.
*/

use serde::{Deserialize, Serialize};

/// The format written by this version.
pub const FOREST_FORMAT: &str = "streetbump.window-forest/1";

/// Training parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForestParams {
    /// Trees.
    pub trees: usize,
    /// Deepest split.
    pub max_depth: usize,
    /// Fewest samples in a leaf.
    pub min_leaf: usize,
    /// Random seed.
    pub seed: u64,
    /// Extremely randomised trees (Geurts et al. 2006): each candidate
    /// feature is split at one random threshold instead of its best one,
    /// and every tree sees all rows. Smoother boundaries on small sets.
    pub extra: bool,
    /// Balanced bootstrap (Chen, Liaw and Breiman 2004, "Using random
    /// forest to learn imbalanced data"): each row of a tree's sample is
    /// drawn by picking a class uniformly, then a row of it, so a class
    /// with few examples weighs as much as a common one. Ignored with
    /// `extra`.
    pub balanced: bool,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            trees: 200,
            max_depth: 16,
            min_leaf: 1,
            seed: 1,
            extra: false,
            balanced: false,
        }
    }
}

/// A node of a tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "n", rename_all = "snake_case")]
pub enum Node {
    /// `x[feature] <= threshold` goes to `left`, otherwise (NaN too) `right`.
    Split {
        /// Feature index.
        feature: usize,
        /// Threshold.
        threshold: f64,
        /// Left child index.
        left: usize,
        /// Right child index.
        right: usize,
    },
    /// Class probabilities.
    Leaf {
        /// One per class.
        probs: Vec<f64>,
    },
}

/// A trained forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    /// Always [`FOREST_FORMAT`].
    pub format: String,
    /// Feature names.
    pub features: Vec<String>,
    /// Class names.
    pub classes: Vec<String>,
    /// Trees, each a node list whose first node is the root.
    pub trees: Vec<Vec<Node>>,
}

/// SplitMix64, so draws never change with a dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in [0, 1) from the top 53 bits.
    pub(crate) fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "53 bits fit f64 exactly")]
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        u
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        #[allow(clippy::cast_possible_truncation, reason = "result below n")]
        let v = (self.next() % n.max(1) as u64) as usize;
        v
    }
}

fn gini(counts: &[f64], total: f64) -> f64 {
    if total <= 0.0 {
        return 0.0;
    }
    1.0 - counts.iter().map(|c| (c / total).powi(2)).sum::<f64>()
}

struct Builder<'a> {
    x: &'a [Vec<f64>],
    y: &'a [usize],
    k: usize,
    params: ForestParams,
    rng: Rng,
    nodes: Vec<Node>,
}

impl Builder<'_> {
    fn leaf(&mut self, idx: &[usize]) -> usize {
        let mut probs = vec![0.0; self.k];
        for &i in idx {
            probs[self.y[i]] += 1.0;
        }
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        let n = idx.len().max(1) as f64;
        probs.iter_mut().for_each(|p| *p /= n);
        self.nodes.push(Node::Leaf { probs });
        self.nodes.len() - 1
    }

    fn build(&mut self, idx: &mut [usize], depth: usize) -> usize {
        let first = self.y[idx[0]];
        if depth >= self.params.max_depth
            || idx.len() < 2 * self.params.min_leaf
            || idx.iter().all(|&i| self.y[i] == first)
        {
            return self.leaf(idx);
        }
        let nf = self.x[0].len();
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "small"
        )]
        let mtry = ((nf as f64).sqrt().round() as usize).max(1);
        let mut best: Option<(f64, usize, f64)> = None;
        let mut total = vec![0.0; self.k];
        for &i in idx.iter() {
            total[self.y[i]] += 1.0;
        }
        #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
        let n = idx.len() as f64;
        for _ in 0..mtry {
            let f = self.rng.below(nf);
            let mut vals: Vec<(f64, usize)> = idx
                .iter()
                .filter(|&&i| self.x[i][f].is_finite())
                .map(|&i| (self.x[i][f], self.y[i]))
                .collect();
            vals.sort_by(|a, b| a.0.total_cmp(&b.0));
            if self.params.extra {
                if let Some(s) = self.random_split(&vals, &total, n)
                    && best.is_none_or(|b| s.0 < b.0)
                {
                    best = Some((s.0, f, s.1));
                }
                continue;
            }
            let mut left = vec![0.0; self.k];
            // NaNs go right: their counts stay on the right side.
            for (j, &(v, c)) in vals.iter().enumerate() {
                left[c] += 1.0;
                let Some(&(next, _)) = vals.get(j + 1) else { break };
                if next <= v {
                    continue;
                }
                #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
                let nl = (j + 1) as f64;
                let nr = n - nl;
                if nl < self.params.min_leaf as f64 || nr < self.params.min_leaf as f64 {
                    continue;
                }
                let right: Vec<f64> = total.iter().zip(&left).map(|(t, l)| t - l).collect();
                let score = (nl * gini(&left, nl) + nr * gini(&right, nr)) / n;
                if best.is_none_or(|b| score < b.0) {
                    best = Some((score, f, f64::midpoint(v, next)));
                }
            }
        }
        let Some((_, feature, threshold)) = best else {
            return self.leaf(idx);
        };
        let split = partition(idx, |i| self.x[i][feature] <= threshold);
        if split == 0 || split == idx.len() {
            return self.leaf(idx);
        }
        let me = self.nodes.len();
        self.nodes.push(Node::Leaf { probs: vec![] });
        let (l, r) = idx.split_at_mut(split);
        let left = self.build(l, depth + 1);
        let right = self.build(r, depth + 1);
        self.nodes[me] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        me
    }
}

impl Builder<'_> {
    /// One split of sorted `vals` at a threshold drawn uniformly between
    /// their least and greatest value: (weighted Gini, threshold).
    fn random_split(&mut self, vals: &[(f64, usize)], total: &[f64], n: f64) -> Option<(f64, f64)> {
        let (lo, hi) = (vals.first()?.0, vals.last()?.0);
        if hi <= lo {
            return None;
        }
        let threshold = lo + self.rng.unit() * (hi - lo);
        let mut left = vec![0.0; self.k];
        let mut nl = 0.0;
        for &(v, c) in vals {
            if v > threshold {
                break;
            }
            left[c] += 1.0;
            nl += 1.0;
        }
        let nr = n - nl;
        #[allow(clippy::cast_precision_loss, reason = "small")]
        let min_leaf = self.params.min_leaf as f64;
        if nl < min_leaf || nr < min_leaf {
            return None;
        }
        let right: Vec<f64> = total.iter().zip(&left).map(|(t, l)| t - l).collect();
        Some(((nl * gini(&left, nl) + nr * gini(&right, nr)) / n, threshold))
    }
}

/// Moves the elements satisfying `pred` to the front; returns how many.
fn partition(v: &mut [usize], pred: impl Fn(usize) -> bool) -> usize {
    let mut k = 0;
    for i in 0..v.len() {
        if pred(v[i]) {
            v.swap(i, k);
            k += 1;
        }
    }
    k
}

impl Forest {
    /// Trains on rows `x` with class indices `y` (into `classes`).
    ///
    /// # Panics
    /// If `x` is empty or `x` and `y` differ in length.
    #[must_use]
    pub fn train(
        x: &[Vec<f64>],
        y: &[usize],
        classes: Vec<String>,
        features: Vec<String>,
        params: ForestParams,
    ) -> Self {
        assert!(
            !x.is_empty() && x.len() == y.len(),
            "one label per row, at least one row"
        );
        let k = classes.len();
        let mut rng = Rng(params.seed);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (i, &c) in y.iter().enumerate() {
            if let Some(rows) = by_class.get_mut(c) {
                rows.push(i);
            }
        }
        by_class.retain(|rows| !rows.is_empty());
        let trees = (0..params.trees)
            .map(|_| {
                let mut idx: Vec<usize> = if params.extra {
                    (0..x.len()).collect()
                } else if params.balanced && !by_class.is_empty() {
                    (0..x.len())
                        .map(|_| {
                            let rows = &by_class[rng.below(by_class.len())];
                            rows[rng.below(rows.len())]
                        })
                        .collect()
                } else {
                    (0..x.len()).map(|_| rng.below(x.len())).collect()
                };
                let mut b = Builder {
                    x,
                    y,
                    k,
                    params,
                    rng: Rng(rng.next()),
                    nodes: Vec::new(),
                };
                b.build(&mut idx, 0);
                b.nodes
            })
            .collect();
        Self {
            format: FOREST_FORMAT.to_owned(),
            features,
            classes,
            trees,
        }
    }

    /// Checks a loaded forest: at least one tree, every split on a known
    /// feature with children after it in its tree (so a walk always ends),
    /// every leaf a probability per class.
    ///
    /// # Errors
    /// What is wrong, in words.
    pub fn check(&self) -> Result<(), String> {
        let (nf, nc) = (self.features.len(), self.classes.len());
        if self.trees.is_empty() || self.trees.iter().any(Vec::is_empty) {
            return Err("a forest needs trees with nodes".into());
        }
        for tree in &self.trees {
            for (i, node) in tree.iter().enumerate() {
                let ok = match node {
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => {
                        *feature < nf
                            && !threshold.is_nan()
                            && (i + 1..tree.len()).contains(left)
                            && (i + 1..tree.len()).contains(right)
                    }
                    Node::Leaf { probs } => probs.len() == nc && probs.iter().all(|p| p.is_finite()),
                };
                if !ok {
                    return Err(format!("tree node {i} points outside the model"));
                }
            }
        }
        Ok(())
    }

    /// Averaged class probabilities for one row.
    #[must_use]
    pub fn predict_proba(&self, x: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.classes.len()];
        for tree in &self.trees {
            let mut i = 0;
            loop {
                match tree.get(i) {
                    Some(Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    }) => {
                        i = if x.get(*feature).is_some_and(|v| v <= threshold) {
                            *left
                        } else {
                            *right
                        }
                    }
                    Some(Node::Leaf { probs }) => {
                        for (o, p) in out.iter_mut().zip(probs) {
                            *o += p;
                        }
                        break;
                    }
                    None => break,
                }
            }
        }
        #[allow(clippy::cast_precision_loss, reason = "tree counts are small")]
        let n = self.trees.len().max(1) as f64;
        out.iter_mut().for_each(|o| *o /= n);
        out
    }

    /// The most probable class index.
    #[must_use]
    pub fn predict(&self, x: &[f64]) -> usize {
        self.predict_proba(x)
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(&a.0)))
            .map_or(0, |(i, _)| i)
    }
}

/// Stratified `k`-fold assignment: each class's rows shuffled (seeded) and
/// dealt round-robin, so every fold has the class mix of the whole.
#[must_use]
pub fn stratified_folds(y: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng(seed);
    let mut fold = vec![0; y.len()];
    let classes = y.iter().copied().max().map_or(0, |m| m + 1);
    for c in 0..classes {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == c).collect();
        for i in (1..idx.len()).rev() {
            let j = rng.below(i + 1);
            idx.swap(i, j);
        }
        for (r, i) in idx.into_iter().enumerate() {
            fold[i] = r % k.max(1);
        }
    }
    fold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_problem_deterministically() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..60 {
            let v = f64::from(i) / 60.0;
            x.push(vec![v, (v * 7.0).sin(), f64::NAN]);
            y.push(usize::from(v > 0.5));
        }
        let names = vec!["a".into(), "b".into(), "c".into()];
        let p = ForestParams {
            trees: 25,
            ..ForestParams::default()
        };
        let f = Forest::train(&x, &y, vec!["lo".into(), "hi".into()], names.clone(), p);
        assert_eq!(f.predict(&[0.1, 0.0, 0.0]), 0);
        assert_eq!(f.predict(&[0.9, 0.0, 0.0]), 1);
        let g = Forest::train(&x, &y, vec!["lo".into(), "hi".into()], names, p);
        assert_eq!(f, g);
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Forest>(&json).unwrap(), f);
        let extra = ForestParams { extra: true, ..p };
        let e = Forest::train(&x, &y, vec!["lo".into(), "hi".into()], f.features.clone(), extra);
        assert_ne!(e, f, "random thresholds grow other trees");
        assert_eq!(e.predict(&[0.1, 0.0, 0.0]), 0);
        assert_eq!(e.predict(&[0.9, 0.0, 0.0]), 1);
    }

    #[test]
    fn a_balanced_bootstrap_weighs_a_rare_class_as_much_as_a_common_one() {
        // 80 common rows at 0; at 1, 10 common and 2 rare rows that no
        // split can part.
        let mut x = vec![vec![0.0]; 80];
        let mut y = vec![0; 80];
        x.extend(vec![vec![1.0]; 12]);
        y.extend([0; 10].into_iter().chain([1; 2]));
        let p = ForestParams {
            trees: 50,
            ..ForestParams::default()
        };
        let classes = vec!["common".to_owned(), "rare".to_owned()];
        let plain = Forest::train(&x, &y, classes.clone(), vec!["a".into()], p);
        let balanced = Forest::train(&x, &y, classes, vec!["a".into()], ForestParams { balanced: true, ..p });
        let (rare_plain, rare_balanced) = (plain.predict_proba(&[1.0])[1], balanced.predict_proba(&[1.0])[1]);
        // Plain: about 2 in 12. Balanced: half the draws are rare rows.
        assert!(rare_plain < 0.3, "{rare_plain}");
        assert!(rare_balanced > 0.7, "{rare_balanced}");
        assert_eq!(balanced.predict(&[0.0]), 0);
        balanced.check().unwrap();
    }

    #[test]
    fn folds_are_stratified() {
        let y: Vec<usize> = (0..100).map(|i| usize::from(i % 4 == 0)).collect();
        let f = stratified_folds(&y, 5, 3);
        for k in 0..5 {
            let ones = (0..100).filter(|&i| f[i] == k && y[i] == 1).count();
            assert_eq!(ones, 5);
        }
    }
}
