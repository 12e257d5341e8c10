/*!
Stage logic and configuration for streetbump. Pure: typed events and state
in, events out; no I/O beyond reading the configuration file, no runtime.

- [`config`]: `pipeline.toml`, validated as a whole.
- [`mapping`]: column mappings and presets for recorded trips.
- [`timefmt`]: time formats of recorded trips.
- [`preprocess`]: clean, resample, reorient, attach speed.
- [`stage`]: the [`Stage`] trait, the detect stage and the per-trip
  processor the replay runs.
*/

pub mod config;
pub mod mapping;
pub mod preprocess;
pub mod stage;
pub mod timefmt;

pub use config::{ConfigError, PipelineConfig, RuntimeConfig, RuntimeMode};
pub use mapping::{ColumnMapping, MappingOverrides};
pub use preprocess::{PreprocessError, PreprocessReport, Preprocessed, preprocess};
pub use stage::{DetectStage, Stage, Trace, TripOutcome, TripProcessor, trip_coverage};
pub use timefmt::TimeFormat;
