//! Integration tests of bump-sim: the physics, not just the plumbing.

/// What the phone feels at obstacles, and GPS error statistics.
mod physics;
