//! Shared inputs for the benchmarks: simulated trips, so every bench runs
//! on a fresh machine without the real recordings.

use bump_core::Trip;
use bump_sim::{SimParams, Simulation};

/// One simulated trip of `minutes` at `rate_hz`, from a fixed seed.
#[must_use]
pub fn sim_trip(minutes: f64, rate_hz: f64) -> Trip {
    let sim = Simulation::new(SimParams {
        seed: 99,
        trip_minutes: minutes,
        sample_rate_hz: Some(rate_hz),
        ..SimParams::default()
    })
    .unwrap_or_else(|e| unreachable!("fixed parameters are valid: {e}"));
    sim.trip(0).trip
}
