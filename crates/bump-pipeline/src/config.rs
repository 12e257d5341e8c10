/*!
`pipeline.toml`: raw serde structures, then whole-file validation that
collects every problem at once, so an operator fixes a file in one pass.
Each section belongs to one stage; unknown keys are errors (a typo must
not silently fall back to a default).
*/

use std::path::Path;

use bump_cluster::ClusterParams;
use bump_dsp::{DetectParams, OrientParams};
use bump_geo::TrackParams;
use serde::{Deserialize, Serialize};

use crate::mapping::MappingOverrides;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Default column mapping for recorded trips.
    pub input: MappingOverrides,
    /// Preprocessing.
    pub preprocess: PreprocessConfig,
    /// Bump detection.
    pub detect: DetectParams,
    /// Clustering across trips and confidence.
    pub cluster: ClusterParams,
    /// The city's inventory of known obstacles.
    pub known: KnownConfig,
    /// The signature classifier.
    pub classify: ClassifyConfig,
    /// Replay output.
    pub replay: ReplayConfig,
    /// Filing likely defects through Open311.
    pub filing: FilingConfig,
    /// The embedded store.
    pub store: StoreConfig,
    /// What is kept of volunteers' trips.
    pub privacy: PrivacyConfig,
    /// `streetbump serve`.
    pub serve: ServeConfig,
    /// One process with the embedded store, or roles over Kafka and
    /// PostgreSQL.
    pub runtime: RuntimeConfig,
    /// The Kafka transport (`runtime.mode = "kafka"`): read by `bump-kafka`,
    /// which checks its keys; absent in the embedded runtime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<toml::Table>,
}

/// The `[preprocess]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessConfig {
    /// Detector rate, Hz; 0 keeps each trip's median native rate.
    pub resample_hz: f64,
    /// A longer pause between samples splits the trip into segments, s.
    pub max_gap_s: f64,
    /// Readings beyond this on any axis are dropped, m/s².
    pub max_abs_accel_mps2: f64,
    /// Samples further than this from any GPS fix get no position and no
    /// speed (and so no bump), s.
    pub max_gps_extrapolation_s: f64,
    /// Segments shorter than this are skipped, s.
    pub min_segment_s: f64,
    /// GPS track cleaning.
    pub track: TrackParams,
    /// Reorientation.
    pub orient: OrientParams,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            resample_hz: 0.0,
            max_gap_s: 1.0,
            max_abs_accel_mps2: 16.0 * bump_core::STANDARD_GRAVITY,
            max_gps_extrapolation_s: 5.0,
            min_segment_s: 2.0,
            track: TrackParams::default(),
            orient: OrientParams::default(),
        }
    }
}

/// The `[known]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnownConfig {
    /// Inventory file (GeoJSON points or CSV with `asset_id, kind, lat,
    /// lon`); empty for none. Relative paths are relative to the working
    /// directory.
    pub inventory: String,
    /// A cluster this close to a known obstacle is that obstacle, m.
    pub max_distance_m: f64,
}

impl Default for KnownConfig {
    fn default() -> Self {
        Self {
            inventory: String::new(),
            max_distance_m: 15.0,
        }
    }
}

/// The `[classify]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyConfig {
    /// Model file written by `streetbump classifier train`; empty for no
    /// signature classification. Relative to the working directory.
    pub model: String,
    /// Window model file written by `streetbump classifier train` on a
    /// folder of labelled windows; empty for none. When set, each bump's
    /// window votes for a class. Read by [`PipelineConfig::load_models`].
    pub window_model: String,
    /// The window model once read.
    #[serde(skip)]
    pub window: Loaded<bump_cluster::window::WindowModel>,
}

/// A model read from a file, shared by every stage that uses it. Equal
/// when it is the same loaded model (or none).
#[derive(Debug, Clone)]
pub struct Loaded<T>(pub Option<std::sync::Arc<T>>);

impl<T> Default for Loaded<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> PartialEq for Loaded<T> {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl<T> Eq for Loaded<T> {}

/// The `[replay]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayConfig {
    /// Output folder when `--out` is not given.
    pub out_dir: String,
    /// Files replayed at once (threads). Output does not depend on it.
    pub workers: usize,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            out_dir: "out".into(),
            workers: 2,
        }
    }
}

/// The `[filing]` section: which clusters become Open311 service requests,
/// where they go, and how hard to try.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilingConfig {
    /// Jurisdiction registry (GeoJSON polygons with endpoint, service codes
    /// and the name of the variable holding the API key); empty: nothing is
    /// filed. Relative to the working directory.
    pub registry: String,
    /// Classes that are filed (the registry maps them to service codes).
    pub classes: Vec<String>,
    /// Minimum cluster confidence.
    pub min_confidence: f64,
    /// Minimum distinct trips with a hit.
    pub min_trips: usize,
    /// A filing within this distance, same class, is the same defect, m.
    pub same_defect_m: f64,
    /// Link back to a cluster: this followed by the cluster id.
    pub link_base_url: String,
    /// Bumps this long after a request was closed reopen it, s.
    pub reopen_grace_s: f64,
    /// Per-call timeout, ms.
    pub timeout_ms: u64,
    /// Attempts of each read, the first included.
    pub max_attempts: u32,
    /// First backoff between attempts, ms (doubles).
    pub base_delay_ms: u64,
    /// Consecutive failures that stop calls to an endpoint...
    pub breaker_failures: u32,
    /// ...for this long (doubling while it keeps failing), s.
    pub breaker_open_s: u64,
    /// A POST whose outcome is unknown is looked up on the server in a
    /// window this much wider than its time, s.
    pub reconcile_margin_s: u64,
    /// A batch token unresolved after this long is looked up by its marker
    /// instead, s.
    pub token_timeout_s: u64,
}

impl Default for FilingConfig {
    fn default() -> Self {
        Self {
            registry: String::new(),
            classes: vec!["pothole".into()],
            min_confidence: 0.8,
            min_trips: 3,
            same_defect_m: 15.0,
            link_base_url: "http://127.0.0.1:8080/clusters/".into(),
            reopen_grace_s: 3600.0,
            timeout_ms: 10_000,
            max_attempts: 4,
            base_delay_ms: 500,
            breaker_failures: 5,
            breaker_open_s: 60,
            reconcile_margin_s: 3600,
            token_timeout_s: 86_400,
        }
    }
}

/// The `[privacy]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Bumps and coverage within this distance of a trip's first or last
    /// GPS fix are dropped (where volunteers live and work), m; 0 keeps all.
    pub trim_m: f64,
    /// Raw batches are deleted this long after their trip was processed, days.
    pub raw_retention_days: f64,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            trim_m: 200.0,
            raw_retention_days: 30.0,
        }
    }
}

/// The `[serve]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// Largest request body, compressed or not, bytes.
    pub max_body_bytes: usize,
    /// Uploads are refused (503 with Retry-After) while this many batches
    /// wait to be processed.
    pub max_pending_batches: usize,
    /// A trip without its final batch is processed this long after its
    /// latest batch, s.
    pub trip_timeout_s: f64,
    /// Trips processed at once (each on a blocking thread).
    pub workers: usize,
    /// Capacity of each channel between stages.
    pub channel_capacity: usize,
    /// The filer (and status sync) runs this often, s.
    pub filing_interval_s: f64,
    /// Review sessions last this long, hours.
    pub session_hours: f64,
    /// Base map tiles, `{z}/{x}/{y}` template; "" for none.
    pub tiles_url: String,
    /// Attribution shown with the tiles.
    pub tiles_attribution: String,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 8 << 20,
            max_pending_batches: 10_000,
            trip_timeout_s: 600.0,
            workers: 2,
            channel_capacity: 64,
            filing_interval_s: 60.0,
            session_hours: 12.0,
            tiles_url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
            tiles_attribution: "© OpenStreetMap contributors".into(),
        }
    }
}

/// The `[store]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Data directory of the embedded store (created when missing).
    pub data_dir: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: "streetbump-data".into(),
        }
    }
}

/// How the stages run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeMode {
    /// `streetbump serve`: one process, SQLite in the data directory.
    #[default]
    Embedded,
    /// `streetbump serve --role …`: one role per process, Kafka between the
    /// stages, PostgreSQL for shared state.
    Kafka,
}

/// The `[runtime]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// `embedded` or `kafka`.
    pub mode: RuntimeMode,
    /// PostgreSQL URL of the shared store in the Kafka runtime; the
    /// environment variable `STREETBUMP_DATABASE_URL` overrides it, so a
    /// password need not be written in the file.
    pub database_url: String,
}

/// A problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The file is not valid TOML or does not match the structure.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        reason: String,
    },
    /// Values that parse but make no sense, all of them.
    #[error("{path}: invalid configuration:\n  - {}", .problems.join("\n  - "))]
    Invalid {
        /// The file.
        path: String,
        /// One line per problem, naming the key.
        problems: Vec<String>,
    },
}

impl PipelineConfig {
    /// Parses TOML text; `origin` names it in errors.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] or [`ConfigError::Invalid`].
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let problems = cfg.problems();
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_owned(),
                problems,
            })
        }
    }

    /// Reads and validates a file.
    ///
    /// # Errors
    /// Any [`ConfigError`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Reads the model files the configuration names (now only
    /// `classify.window_model`) so the stages can use them; a model already
    /// read is kept.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`] naming the model file.
    pub fn load_models(&mut self) -> Result<(), ConfigError> {
        let path = &self.classify.window_model;
        if path.is_empty() {
            self.classify.window = Loaded(None);
            return Ok(());
        }
        if self.classify.window.0.is_some() {
            return Ok(());
        }
        let text = std::fs::read(path).map_err(|e| ConfigError::Read {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let parse = |reason: String| ConfigError::Parse {
            path: path.clone(),
            reason,
        };
        let m: bump_cluster::window::WindowModel =
            serde_json::from_slice(&text).map_err(|e| parse(format!("not a window model: {e}")))?;
        m.check().map_err(|e| parse(e.to_string()))?;
        self.classify.window = Loaded(Some(std::sync::Arc::new(m)));
        Ok(())
    }

    /// Every semantic problem, one line each.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut positive = |key: &str, v: f64| {
            if !(v.is_finite() && v > 0.0) {
                p.push(format!("{key} = {v}: must be a positive number"));
            }
        };
        let d = &self.detect;
        positive("detect.highpass_hz", d.highpass_hz);
        positive("detect.lowpass_hz", d.lowpass_hz);
        positive("detect.noise_window_s", d.noise_window_s);
        positive("detect.merge_distance_m", d.merge_distance_m);
        positive("detect.feature_window_s", d.feature_window_s);
        let pp = &self.preprocess;
        positive("preprocess.max_gap_s", pp.max_gap_s);
        positive("preprocess.max_abs_accel_mps2", pp.max_abs_accel_mps2);
        positive("preprocess.track.max_accuracy_m", pp.track.max_accuracy_m);
        positive("preprocess.track.max_speed_mps", pp.track.max_speed_mps);
        positive("preprocess.orient.gravity_cutoff_hz", pp.orient.gravity_cutoff_hz);
        positive("preprocess.orient.shift_cutoff_hz", pp.orient.shift_cutoff_hz);
        positive("preprocess.orient.shift_hold_s", pp.orient.shift_hold_s);
        let mut nonneg = |key: &str, v: f64| {
            if !(v.is_finite() && v >= 0.0) {
                p.push(format!("{key} = {v}: must be zero or more"));
            }
        };
        nonneg("detect.min_speed_mps", d.min_speed_mps);
        nonneg("detect.accel_per_speed_hz", d.accel_per_speed_hz);
        nonneg("detect.k_sigma", d.k_sigma);
        nonneg("detect.min_threshold_mps2", d.min_threshold_mps2);
        nonneg("detect.merge_min_s", d.merge_min_s);
        nonneg("preprocess.resample_hz", pp.resample_hz);
        nonneg("preprocess.max_gps_extrapolation_s", pp.max_gps_extrapolation_s);
        nonneg("preprocess.min_segment_s", pp.min_segment_s);
        if !(d.support_ratio.is_finite() && (0.0..=1.0).contains(&d.support_ratio)) {
            p.push(format!(
                "detect.support_ratio = {}: must be between 0 (off) and 1",
                d.support_ratio
            ));
        }
        if d.highpass_hz >= d.lowpass_hz {
            p.push(format!(
                "detect.highpass_hz = {} must be below detect.lowpass_hz = {}",
                d.highpass_hz, d.lowpass_hz
            ));
        }
        if pp.resample_hz > 0.0 && pp.resample_hz < 2.5 * d.highpass_hz {
            p.push(format!(
                "preprocess.resample_hz = {} is too low for detect.highpass_hz = {}",
                pp.resample_hz, d.highpass_hz
            ));
        }
        if !(0.0..180.0).contains(&pp.orient.shift_angle_deg) {
            p.push(format!(
                "preprocess.orient.shift_angle_deg = {}: must be in [0, 180)",
                pp.orient.shift_angle_deg
            ));
        }
        let c = &self.cluster;
        for (key, v) in [
            ("cluster.smooth_k", c.smooth_k),
            ("cluster.merge_k", c.merge_k),
            ("cluster.pass_k", c.pass_k),
        ] {
            if v > 10 {
                p.push(format!("{key} = {v}: at most 10 rings (35 m at resolution 13)"));
            }
        }
        if c.min_trips == 0 {
            p.push("cluster.min_trips = 0: must be at least 1".to_owned());
        }
        for (key, v) in [
            ("cluster.prior_hits", c.prior_hits),
            ("cluster.prior_misses", c.prior_misses),
        ] {
            if !(v.is_finite() && v >= 1.0) {
                p.push(format!("{key} = {v}: must be at least 1"));
            }
        }
        for (key, v) in [
            ("cluster.min_hit_rate", c.min_hit_rate),
            ("cluster.likely_confidence", c.likely_confidence),
        ] {
            if !(v > 0.0 && v < 1.0) {
                p.push(format!("{key} = {v}: must be strictly between 0 and 1"));
            }
        }
        if !(c.fixed_probability > 0.0 && c.fixed_probability <= 1.0) {
            p.push(format!(
                "cluster.fixed_probability = {}: must be above 0 and at most 1 (1 counts misses alone)",
                c.fixed_probability
            ));
        }
        if !(c.min_pass_speed_mps.is_finite() && c.min_pass_speed_mps >= 0.0) {
            p.push(format!(
                "cluster.min_pass_speed_mps = {}: must be zero or more",
                c.min_pass_speed_mps
            ));
        }
        if !(c.min_pass_rate_hz.is_finite() && c.min_pass_rate_hz >= 0.0) {
            p.push(format!(
                "cluster.min_pass_rate_hz = {}: must be zero or more",
                c.min_pass_rate_hz
            ));
        }
        if !(c.coverage_step_m >= 0.5 && c.coverage_step_m <= 50.0) {
            p.push(format!(
                "cluster.coverage_step_m = {}: must be from 0.5 to 50 metres",
                c.coverage_step_m
            ));
        }
        if !(c.pass_heading_tol_deg > 0.0 && c.pass_heading_tol_deg <= 180.0) {
            p.push(format!(
                "cluster.pass_heading_tol_deg = {}: must be more than 0 and at most 180 degrees",
                c.pass_heading_tol_deg
            ));
        }
        if !(1..=20).contains(&c.surround_k) {
            p.push(format!(
                "cluster.surround_k = {}: must be from 1 to 20 rings",
                c.surround_k
            ));
        }
        if !(c.support_radius_m.is_finite() && (0.0..=100.0).contains(&c.support_radius_m)) {
            p.push(format!(
                "cluster.support_radius_m = {}: must be from 0 (off) to 100 metres",
                c.support_radius_m
            ));
        }
        if c.support_min_trips == 0 {
            p.push("cluster.support_min_trips = 0: must be at least 1".to_owned());
        }
        if !(c.rejoin_radius_m.is_finite() && (0.0..=100.0).contains(&c.rejoin_radius_m)) {
            p.push(format!(
                "cluster.rejoin_radius_m = {}: must be from 0 (off) to 100 metres",
                c.rejoin_radius_m
            ));
        }
        if !(c.split_confidence >= 0.5 && c.split_confidence <= 1.0) {
            p.push(format!(
                "cluster.split_confidence = {}: must be from 0.5 to 1 (1 never splits)",
                c.split_confidence
            ));
        }
        if !(self.known.max_distance_m.is_finite() && self.known.max_distance_m > 0.0) {
            p.push(format!(
                "known.max_distance_m = {}: must be a positive number of metres",
                self.known.max_distance_m
            ));
        }
        if !(1..=256).contains(&self.replay.workers) {
            p.push(format!(
                "replay.workers = {}: must be between 1 and 256",
                self.replay.workers
            ));
        }
        if let Err(e) = self.input.resolve() {
            p.push(format!("input.preset: {e}"));
        }
        let f = &self.filing;
        if !(0.0..=1.0).contains(&f.min_confidence) {
            p.push(format!(
                "filing.min_confidence = {}: must be in [0, 1]",
                f.min_confidence
            ));
        }
        if f.min_trips == 0 {
            p.push("filing.min_trips = 0: must be at least 1".to_owned());
        }
        if !(f.same_defect_m.is_finite() && f.same_defect_m > 0.0) {
            p.push(format!(
                "filing.same_defect_m = {}: must be a positive number of metres",
                f.same_defect_m
            ));
        }
        if !(f.reopen_grace_s.is_finite() && f.reopen_grace_s >= 0.0) {
            p.push(format!(
                "filing.reopen_grace_s = {}: must be zero or more",
                f.reopen_grace_s
            ));
        }
        for c in &f.classes {
            if !bump_cluster::CLASSES.contains(&c.as_str()) {
                p.push(format!(
                    "filing.classes: {c:?} is not a class (one of {})",
                    bump_cluster::CLASSES.join(", ")
                ));
            }
        }
        if f.timeout_ms == 0 || f.max_attempts == 0 || f.breaker_failures == 0 {
            p.push("filing.timeout_ms, max_attempts and breaker_failures must be at least 1".to_owned());
        }
        if !(self.privacy.trim_m.is_finite() && self.privacy.trim_m >= 0.0) {
            p.push(format!(
                "privacy.trim_m = {}: must be zero or more metres",
                self.privacy.trim_m
            ));
        }
        if !(self.privacy.raw_retention_days.is_finite() && self.privacy.raw_retention_days >= 0.0) {
            p.push(format!(
                "privacy.raw_retention_days = {}: must be zero or more",
                self.privacy.raw_retention_days
            ));
        }
        let sv = &self.serve;
        if sv.listen.parse::<std::net::SocketAddr>().is_err() {
            p.push(format!("serve.listen = {:?}: not an address:port", sv.listen));
        }
        if sv.max_body_bytes < 1024 || sv.max_pending_batches == 0 || sv.workers == 0 || sv.channel_capacity == 0 {
            p.push(
                "serve.max_body_bytes (>= 1024), max_pending_batches, workers and channel_capacity must be positive"
                    .to_owned(),
            );
        }
        for (key, v) in [
            ("serve.trip_timeout_s", sv.trip_timeout_s),
            ("serve.filing_interval_s", sv.filing_interval_s),
            ("serve.session_hours", sv.session_hours),
        ] {
            if !(v.is_finite() && v > 0.0) {
                p.push(format!("{key} = {v}: must be a positive number"));
            }
        }
        if self.store.data_dir.trim().is_empty() {
            p.push("store.data_dir is empty".to_owned());
        }
        if self.runtime.mode == RuntimeMode::Kafka && self.kafka.is_none() {
            p.push("runtime.mode = \"kafka\" needs a [kafka] section (at least `brokers`)".to_owned());
        }
        let url = self.runtime.database_url.trim();
        if !(url.is_empty() || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            p.push("runtime.database_url: expected postgres://…".to_owned());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(PipelineConfig::from_toml("", "x").unwrap(), PipelineConfig::default());
    }

    /// The problems validation finds in `toml`, which must be invalid.
    fn problems(toml: &str) -> Vec<String> {
        match PipelineConfig::from_toml(toml, "p.toml") {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_reported() {
        let e = PipelineConfig::from_toml("[detect]\nhighpas_hz = 1\n", "p.toml").unwrap_err();
        assert!(e.to_string().contains("highpas_hz"), "{e}");
        let problems = self::problems("[detect]\nhighpass_hz = -1\nmerge_distance_m = nan\n[input]\npreset = \"x\"\n");
        assert_eq!(problems.len(), 3, "{problems:?}");
        let problems = self::problems("[cluster]\nsurround_k = 0\nsplit_confidence = 0.2\n");
        assert!(problems[0].starts_with("cluster.surround_k = 0"), "{problems:?}");
        assert!(
            problems[1].starts_with("cluster.split_confidence = 0.2"),
            "{problems:?}"
        );
        let problems = self::problems(
            "[detect]\nsupport_ratio = 1.5\n[cluster]\nsupport_radius_m = -1\nsupport_min_trips = 0\nrejoin_radius_m = nan\n",
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("detect.support_ratio = 1.5"), "{problems:?}");
        assert!(problems[3].starts_with("cluster.rejoin_radius_m = NaN"), "{problems:?}");
    }
}
