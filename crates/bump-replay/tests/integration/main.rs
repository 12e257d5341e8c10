//! Integration tests of bump-replay.
#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

/// Reading recordings: formats, mappings, bad input.
mod reading;
/// The real recordings under ../shared/data, when present.
mod real_data;
