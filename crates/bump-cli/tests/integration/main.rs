//! End-to-end tests of the `streetbump` binary, as real processes.
#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

use std::process::{Command, Output};

/// The binary under test, to add arguments and pipes to.
pub(crate) fn streetbump() -> Command {
    Command::new(env!("CARGO_BIN_EXE_streetbump"))
}

/// Runs the binary with `args` to the end.
pub(crate) fn run(args: &[&str]) -> Output {
    streetbump().args(args).output().unwrap()
}

/// [`run`], failing the test with the command's stderr unless it succeeded.
pub(crate) fn run_ok(args: &[&str]) -> Output {
    let o = run(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// `streetbump bench`: the detection core over recorded trips.
mod bench;
/// `streetbump classifier train` and classification in the replay.
mod classifier;
/// `streetbump replay --file` and `open311` against two test servers.
mod filing;
/// The Kafka runtime: roles as separate processes over a real broker and
/// PostgreSQL, workers killed mid-way.
mod kafka;
/// `streetbump replay` and `eval` on the committed fixtures and on bad input.
mod replay;
/// `streetbump serve` killed and stopped as a real process.
mod serve;
/// `streetbump simulate`: determinism and the committed fixture.
mod simulate;
