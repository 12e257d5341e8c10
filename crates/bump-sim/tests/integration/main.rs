//! Integration tests of bump-sim: the physics, not just the plumbing.
#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

/// What the phone feels at obstacles, and GPS error statistics.
mod physics;
