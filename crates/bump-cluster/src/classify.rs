/*!
Classifying clusters by the signature of their bumps.

A Gaussian naive Bayes model over the [`crate::Signature`] features: per
class, a prior and an independent normal per feature. It is small, fast,
deterministic to train, and its parameters can be read: a speed hump's
mean `up_first_share` near 1 and long `duration`, a pothole's short,
down-first, one-direction jolts, a casting's jolts from both directions.
Features that are unknown for a cluster (NaN) are left out of its
likelihood rather than guessed.

Training data is a set of labelled clusters; the `streetbump classifier
train` command builds them from trips and a GeoJSON of labelled obstacle
positions (the simulator's truth, or a city's own labels).
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

/// One class of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassModel {
    /// Class name, one of [`CLASSES`].
    pub name: String,
    /// Share of training clusters in the class.
    pub prior: f64,
    /// Per feature mean.
    pub mean: Vec<f64>,
    /// Per feature variance.
    pub var: Vec<f64>,
    /// Training clusters.
    pub count: usize,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Format version.
    pub format: String,
    /// Feature names, in order.
    pub features: Vec<String>,
    /// Classes.
    pub classes: Vec<ClassModel>,
}

/// The model format written by this version.
pub const MODEL_FORMAT: &str = "streetbump.signature-gnb/1";

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
}

impl Model {
    /// Fits the model to labelled feature vectors.
    ///
    /// # Errors
    /// [`ModelError::TooFewClasses`].
    pub fn train(examples: &[(&str, [f64; 7])]) -> Result<Self, ModelError> {
        let nf = crate::Signature::NAMES.len();
        // Variance floor: a fraction of each feature's overall variance,
        // so a class seen with one value does not become infinitely sure.
        let overall: Vec<f64> = (0..nf)
            .map(|j| {
                let v: Vec<f64> = examples.iter().map(|e| e.1[j]).filter(|x| x.is_finite()).collect();
                variance(&v).max(1e-6)
            })
            .collect();
        let mut classes = Vec::new();
        for name in CLASSES {
            let xs: Vec<&[f64; 7]> = examples.iter().filter(|e| e.0 == name).map(|e| &e.1).collect();
            if xs.is_empty() {
                continue;
            }
            let (mut mean, mut var) = (Vec::new(), Vec::new());
            for j in 0..nf {
                let v: Vec<f64> = xs.iter().map(|x| x[j]).filter(|x| x.is_finite()).collect();
                #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
                let m = if v.is_empty() {
                    0.0
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                };
                mean.push(m);
                var.push(variance(&v).max(0.05 * overall[j]));
            }
            #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
            classes.push(ClassModel {
                name: name.to_owned(),
                prior: xs.len() as f64 / examples.len() as f64,
                mean,
                var,
                count: xs.len(),
            });
        }
        if classes.len() < 2 {
            return Err(ModelError::TooFewClasses(classes.into_iter().map(|c| c.name).collect()));
        }
        Ok(Self {
            format: MODEL_FORMAT.to_owned(),
            features: crate::Signature::NAMES.iter().map(|s| (*s).to_owned()).collect(),
            classes,
        })
    }

    /// Checks a loaded model.
    ///
    /// # Errors
    /// [`ModelError::Format`].
    pub fn check(&self) -> Result<(), ModelError> {
        let nf = crate::Signature::NAMES.len();
        if self.format != MODEL_FORMAT
            || self.features.len() != nf
            || self.classes.len() < 2
            || self
                .classes
                .iter()
                .any(|c| c.mean.len() != nf || c.var.len() != nf || c.var.iter().any(|v| v.is_nan() || *v <= 0.0))
        {
            return Err(ModelError::Format {
                found: self.format.clone(),
                expected: nf,
            });
        }
        Ok(())
    }

    /// The most probable class and its posterior probability.
    #[must_use]
    pub fn predict(&self, x: &[f64; 7]) -> (&str, f64) {
        let post = self.posteriors(x);
        let (i, p) = post
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(&a.0)))
            .map_or((0, 0.0), |(i, p)| (i, *p));
        (&self.classes[i].name, p)
    }

    /// The posterior probability of every class, in `classes` order.
    #[must_use]
    pub fn posteriors(&self, x: &[f64; 7]) -> Vec<f64> {
        let logp: Vec<f64> = self
            .classes
            .iter()
            .map(|c| {
                let mut lp = c.prior.max(1e-9).ln();
                for (j, xj) in x.iter().enumerate() {
                    if xj.is_finite() {
                        let d = xj - c.mean[j];
                        lp += -0.5 * (d * d / c.var[j] + (2.0 * std::f64::consts::PI * c.var[j]).ln());
                    }
                }
                lp
            })
            .collect();
        let max = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logp.iter().map(|l| (l - max).exp()).sum();
        logp.iter().map(|l| (l - max).exp() / z).collect()
    }

    /// The probability of class `name` (0 when the model lacks it).
    #[must_use]
    pub fn probability_of(&self, x: &[f64; 7], name: &str) -> f64 {
        self.classes
            .iter()
            .zip(self.posteriors(x))
            .find(|(c, _)| c.name == name)
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

/// Floor added to each window vote before pooling, so a class the trees
/// never voted for is unlikely rather than impossible.
const VOTE_FLOOR: f64 = 0.01;

/// Pools two distributions over [`CLASSES`] by their normalised geometric
/// mean (logarithmic opinion pooling with equal weights; Genest and Zidek
/// 1986): a class both experts find plausible wins over one only one of
/// them likes.
fn pool(a: &[f64; 5], b: &[f64; 5]) -> [f64; 5] {
    let mut out = [0.0; 5];
    for i in 0..5 {
        out[i] = (a[i].max(0.0) * (b[i].max(0.0) + VOTE_FLOOR)).sqrt();
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

fn variance(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss, reason = "counts fit f64")]
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_clear_signatures_and_skips_unknown_features() {
        let hump = [0.95, 0.0, -1.0, 0.7, 5.0, 0.4, 0.8];
        let hole = [0.1, -1.6, -0.3, 0.3, 11.0, 0.0, 0.4];
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
            Model::train(&[("pothole", [0.0; 7])]),
            Err(ModelError::TooFewClasses(_))
        ));
        let m = Model {
            format: "x".into(),
            features: vec![],
            classes: vec![],
        };
        assert!(m.check().is_err());
    }

    #[test]
    fn kinds_map_to_classes() {
        assert_eq!(class_of_kind("speed_table"), Some("speed_hump"));
        assert_eq!(class_of_kind("sunk_casting"), Some("casting"));
        assert_eq!(class_of_kind("expansion_joint"), None);
    }
}
