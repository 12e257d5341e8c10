//! Integration tests of bump-pipeline.
#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

/// The committed pipeline.toml spells out exactly the built-in defaults.
mod committed_config;
/// Preprocess and detect over simulated trips whose truth is known.
mod simulated_trips;
