//! Integration tests of bump-pipeline.

/// The committed pipeline.toml spells out exactly the built-in defaults.
mod committed_config;
