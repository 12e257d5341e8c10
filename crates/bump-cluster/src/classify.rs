/*!
Classifying clusters by the signature of their bumps.

A random forest (Breiman 2001, [`crate::forest`]) over the
[`crate::Signature`] features, grown on balanced bootstrap samples (Chen,
Liaw and Breiman 2004): each tree sees the classes in equal measure, so
the few speed humps, castings and rail crossings of a city's labels weigh
as much as its many rough spots. Trees split on thresholds of single
features, which suits what tells the classes apart (a pothole's jolts
down first *and* from one direction *and* standing out from the road
around it); an earlier Gaussian naive Bayes model, one normal per feature
and class, was overconfident on rough pavement that shares one or two of
a pothole's traits ([`docs/clustering.md`]). Features unknown for a
cluster (NaN) go to the right of every split, in training as in use.

Training data is a set of labelled clusters; the `streetbump classifier
train` command builds them from trips and a GeoJSON of labelled obstacle
positions (the simulator's truth, or a city's own labels). Deterministic
for a seed.
*/

use serde::{Deserialize, Serialize};

/// The classes a cluster can be given.
pub const CLASSES: [&str; 5] = ["pothole", "speed_hump", "casting", "rail_crossing", "rough_road"];

/// The class given when nothing decides: no model, no known obstacle.
pub const UNKNOWN: &str = "unknown";

/// The class of a labelled obstacle kind (simulator or inventory names);
/// `None` for kinds the classifier does not learn (expansion joints).
#[must_use]
pub fn class_of_kind(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "pothole" => "pothole",
        "speed_hump" | "speed_table" => "speed_hump",
        "sunk_casting" | "casting" | "manhole" => "casting",
        "rail_crossing" => "rail_crossing",
        "rough_patch" | "rough_road" => "rough_road",
        _ => return None,
    })
}

/// Forest settings of the signature model. Small: a few hundred labelled
/// clusters and nine features.
pub const FOREST: crate::forest::ForestParams = crate::forest::ForestParams {
    trees: 100,
    max_depth: 12,
    min_leaf: 1,
    seed: 1,
    extra: false,
    balanced: true,
};

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Format version.
    pub format: String,
    /// Feature names, in order ([`crate::Signature::NAMES`]).
    pub features: Vec<String>,
    /// Training clusters per class, in the forest's class order.
    pub counts: Vec<usize>,
    /// The forest; its classes are a subset of [`CLASSES`].
    pub forest: crate::forest::Forest,
}

/// The model format written by this version.
pub const MODEL_FORMAT: &str = "streetbump.signature-forest/1";

/// Why a model could not be trained or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Fewer than two classes have examples.
    #[error("training needs examples of at least two classes; got {0:?}")]
    TooFewClasses(Vec<String>),
    /// The model file does not match this version.
    #[error("model format {found:?} is not {MODEL_FORMAT:?} with {expected} features")]
    Format {
        /// The format found.
        found: String,
        /// Features expected.
        expected: usize,
    },
    /// The model has the right format but does not hold together.
    #[error("model is inconsistent: {0}")]
    Inconsistent(String),
}

impl Model {
    /// Grows the forest on labelled feature vectors ([`FOREST`]).
    ///
    /// # Errors
    /// [`ModelError::TooFewClasses`].
    pub fn train(examples: &[(&str, [f64; crate::N_FEATURES])]) -> Result<Self, ModelError> {
        let classes: Vec<&str> = CLASSES
            .into_iter()
            .filter(|c| examples.iter().any(|e| e.0 == *c))
            .collect();
        if classes.len() < 2 {
            return Err(ModelError::TooFewClasses(
                classes.iter().map(|c| (*c).to_owned()).collect(),
            ));
        }
        let (x, y): (Vec<Vec<f64>>, Vec<usize>) = examples
            .iter()
            .filter_map(|(c, f)| classes.iter().position(|k| k == c).map(|i| (f.to_vec(), i)))
            .unzip();
        let counts = (0..classes.len())
            .map(|i| y.iter().filter(|&&k| k == i).count())
            .collect();
        let features: Vec<String> = crate::Signature::NAMES.iter().map(|s| (*s).to_owned()).collect();
        let forest = crate::forest::Forest::train(
            &x,
            &y,
            classes.iter().map(|c| (*c).to_owned()).collect(),
            features.clone(),
            FOREST,
        );
        Ok(Self {
            format: MODEL_FORMAT.to_owned(),
            features,
            counts,
            forest,
        })
    }

    /// Checks a loaded model.
    ///
    /// # Errors
    /// [`ModelError::Format`] for another format or feature set,
    /// [`ModelError::Inconsistent`] for a forest that does not hold
    /// together.
    pub fn check(&self) -> Result<(), ModelError> {
        let names = &crate::Signature::NAMES;
        if self.format != MODEL_FORMAT
            || self.features.len() != names.len()
            || self.features.iter().zip(names).any(|(a, b)| a != b)
        {
            return Err(ModelError::Format {
                found: self.format.clone(),
                expected: names.len(),
            });
        }
        let bad = |m: &str| Err(ModelError::Inconsistent(m.to_owned()));
        if self.forest.features != self.features {
            return bad("the forest's features are not the model's");
        }
        if self.forest.classes.len() < 2 || self.forest.classes.iter().any(|c| !CLASSES.contains(&c.as_str())) {
            return bad("the forest's classes are not two or more of the known classes");
        }
        if self.counts.len() != self.forest.classes.len() {
            return bad("one training count per class");
        }
        self.forest.check().map_err(ModelError::Inconsistent)
    }

    /// The classes, in the order of [`Model::posteriors`].
    #[must_use]
    pub fn classes(&self) -> &[String] {
        &self.forest.classes
    }

    /// The most probable class and its probability.
    #[must_use]
    pub fn predict(&self, x: &[f64; crate::N_FEATURES]) -> (&str, f64) {
        let post = self.posteriors(x);
        let (i, p) = post
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(&a.0)))
            .map_or((0, 0.0), |(i, p)| (i, *p));
        (&self.forest.classes[i], p)
    }

    /// The probability of every class (the trees' mean), in
    /// [`Model::classes`] order.
    #[must_use]
    pub fn posteriors(&self, x: &[f64; crate::N_FEATURES]) -> Vec<f64> {
        self.forest.predict_proba(x)
    }

    /// The probability of class `name` (0 when the model lacks it).
    #[must_use]
    pub fn probability_of(&self, x: &[f64; crate::N_FEATURES], name: &str) -> f64 {
        self.forest
            .classes
            .iter()
            .zip(self.posteriors(x))
            .find(|(c, _)| *c == name)
            .map_or(0.0, |(_, p)| p)
    }
}

/// The class given to one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classified {
    /// One of [`CLASSES`] or [`UNKNOWN`].
    pub class: String,
    /// Probability of `class` (NaN when unknown).
    #[serde(deserialize_with = "crate::de_f64")]
    pub probability: f64,
    /// `inventory`, `signature` or `none`.
    pub source: String,
    /// Probability of each of [`CLASSES`], in order (NaN when unknown).
    #[serde(deserialize_with = "crate::de_f64s")]
    pub probabilities: [f64; 5],
}

/// Floor added to each vote before pooling (both models are forests), so
/// a class one model's trees never voted for is unlikely rather than
/// impossible.
const VOTE_FLOOR: f64 = 0.01;

/// Pools two distributions over [`CLASSES`] by their normalised geometric
/// mean (logarithmic opinion pooling with equal weights; Genest and Zidek
/// 1986): a class both experts find plausible wins over one only one of
/// them likes.
fn pool(a: &[f64; 5], b: &[f64; 5]) -> [f64; 5] {
    let mut out = [0.0; 5];
    for i in 0..5 {
        out[i] = ((a[i].max(0.0) + VOTE_FLOOR) * (b[i].max(0.0) + VOTE_FLOOR)).sqrt();
    }
    let total: f64 = out.iter().sum();
    if total > 0.0 {
        out.iter_mut().for_each(|x| *x /= total);
    }
    out
}

fn best(p: &[f64; 5]) -> (&'static str, f64) {
    let (i, v) = p
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(&a.0)))
        .map_or((0, f64::NAN), |(i, v)| (i, *v));
    (CLASSES[i], v)
}

/// Classifies clusters: a known obstacle's kind when the inventory has one
/// near (probability 1, source `inventory`); else the signature model's
/// posterior pooled with the mean window vote of the cluster's bumps
/// (source `signature+window`), either alone when the other is missing
/// (`signature` or `window`); else `unknown`.
#[must_use]
pub fn classify_clusters(
    clusters: &[crate::Cluster],
    known: &[Option<crate::KnownMatch>],
    model: Option<&Model>,
) -> Vec<Classified> {
    clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if let Some(class) = known
                .get(i)
                .and_then(Option::as_ref)
                .and_then(|k| class_of_kind(&k.kind))
            {
                return Classified {
                    class: class.to_owned(),
                    probability: 1.0,
                    source: "inventory".into(),
                    probabilities: CLASSES.map(|n| if n == class { 1.0 } else { 0.0 }),
                };
            }
            let votes: Option<[f64; 5]> = c.window_votes.as_slice().try_into().ok();
            match (model, votes) {
                (Some(m), None) => {
                    let x = c.signature.features(c.hit_rate);
                    let (class, p) = m.predict(&x);
                    Classified {
                        class: class.to_owned(),
                        probability: p,
                        source: "signature".into(),
                        probabilities: CLASSES.map(|n| m.probability_of(&x, n)),
                    }
                }
                (Some(m), Some(v)) => {
                    let x = c.signature.features(c.hit_rate);
                    let pooled = pool(&CLASSES.map(|n| m.probability_of(&x, n)), &v);
                    let (class, p) = best(&pooled);
                    Classified {
                        class: class.to_owned(),
                        probability: p,
                        source: "signature+window".into(),
                        probabilities: pooled,
                    }
                }
                (None, Some(v)) => {
                    let (class, p) = best(&v);
                    Classified {
                        class: class.to_owned(),
                        probability: p,
                        source: "window".into(),
                        probabilities: v,
                    }
                }
                (None, None) => Classified {
                    class: UNKNOWN.to_owned(),
                    probability: f64::NAN,
                    source: "none".into(),
                    probabilities: [f64::NAN; 5],
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_clear_signatures_and_skips_unknown_features() {
        let hump = [0.95, 0.0, -1.0, 0.7, 5.0, 0.4, 0.8, 0.9, 0.1];
        let hole = [0.1, -1.6, -0.3, 0.3, 11.0, 0.0, 0.4, 0.8, 0.0];
        let mut ex = Vec::new();
        for k in 0..20 {
            let e = f64::from(k) * 0.01;
            ex.push(("speed_hump", hump.map(|v| v + e)));
            ex.push(("pothole", hole.map(|v| v - e)));
        }
        let m = Model::train(&ex).unwrap();
        m.check().unwrap();
        assert_eq!(m.predict(&hump).0, "speed_hump");
        let (c, p) = m.predict(&hole);
        assert_eq!(c, "pothole");
        assert!(p > 0.9);
        let mut partial = hole;
        partial[3] = f64::NAN;
        assert_eq!(m.predict(&partial).0, "pothole");
        let json = serde_json::to_string(&m).unwrap();
        let back: Model = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn window_votes_pool_with_the_signature_or_stand_alone() {
        let mut c = crate::ClusterIndex::new(crate::ClusterParams::default()).clusters();
        assert!(c.is_empty());
        let (lat, lon) = (42.35, -71.08);
        let mut idx = crate::ClusterIndex::new(crate::ClusterParams::default());
        for trip in 0..3u32 {
            let trip_id = bump_core::TripId::new(format!("t{trip}")).unwrap();
            idx.add_bump(crate::BumpObs {
                bump_id: bump_core::BumpId::new(&trip_id, f64::from(trip)),
                trip_id,
                device_id: bump_core::DeviceId::new("d").unwrap(),
                t: f64::from(trip),
                lat,
                lon,
                heading_deg: 90.0,
                peak_mps2: 5.0,
                up_first: false,
                speed_mps: 10.0,
                duration_s: 0.1,
                low_band_share: 0.3,
                window_probs: vec![0.7, 0.1, 0.1, 0.05, 0.05],
                support: false,
            });
        }
        c = idx.clusters();
        for (a, b) in c[0].window_votes.iter().zip([0.7, 0.1, 0.1, 0.05, 0.05]) {
            assert!((a - b).abs() < 1e-12, "{:?}", c[0].window_votes);
        }
        let alone = classify_clusters(&c, &[None], None);
        assert_eq!(
            (alone[0].class.as_str(), alone[0].source.as_str()),
            ("pothole", "window")
        );
        assert!((alone[0].probability - 0.7).abs() < 1e-9);
        // A signature model that finds the cluster a hump is outvoted only
        // as far as pooling allows: both opinions count.
        let hump = [0.01, 0.97, 0.01, 0.005, 0.005];
        let pooled = pool(&hump, &[0.7, 0.1, 0.1, 0.05, 0.05]);
        assert!((pooled.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(best(&pooled).0, "speed_hump");
        assert!(pooled[0] > hump[0], "the votes raise pothole");
        let even = pool(&[0.5, 0.5, 0.0, 0.0, 0.0], &[0.9, 0.1, 0.0, 0.0, 0.0]);
        assert_eq!(best(&even).0, "pothole", "the votes break a tie");
    }

    #[test]
    fn refuses_one_class_and_bad_files() {
        assert!(matches!(
            Model::train(&[("pothole", [0.0; crate::N_FEATURES])]),
            Err(ModelError::TooFewClasses(_))
        ));
        let mut ex = Vec::new();
        for k in 0..10 {
            let v = f64::from(k);
            ex.push(("pothole", [v; crate::N_FEATURES]));
            ex.push(("rough_road", [v + 20.0; crate::N_FEATURES]));
        }
        let good = Model::train(&ex).unwrap();
        good.check().unwrap();
        assert_eq!(good.counts, vec![10, 10]);
        let mut m = good.clone();
        m.format = "streetbump.signature-gnb/1".into();
        assert!(matches!(m.check(), Err(ModelError::Format { .. })));
        let mut m = good.clone();
        m.features.pop();
        assert!(matches!(m.check(), Err(ModelError::Format { .. })));
        let mut m = good.clone();
        m.forest.classes[1] = "tank_trap".into();
        assert!(matches!(m.check(), Err(ModelError::Inconsistent(_))));
        // A split that points back at itself would never end a walk.
        let mut m = good;
        m.forest.trees[0][0] = crate::forest::Node::Split {
            feature: 0,
            threshold: 1.0,
            left: 0,
            right: 0,
        };
        assert!(matches!(m.check(), Err(ModelError::Inconsistent(_))));
    }

    #[test]
    fn kinds_map_to_classes() {
        assert_eq!(class_of_kind("speed_table"), Some("speed_hump"));
        assert_eq!(class_of_kind("sunk_casting"), Some("casting"));
        assert_eq!(class_of_kind("expansion_joint"), None);
    }
}
