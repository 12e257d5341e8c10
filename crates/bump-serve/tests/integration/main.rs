//! Integration tests of `serve`, in-process over real sockets.
#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

/// The review page in a real browser: sign in, confirm, filed over Open311.
mod browser;
/// Serve and replay give the same clusters for the same trips, in any order.
mod equivalence;
/// Uploads: every refusal with its status, idempotency, gzip, backpressure.
mod ingest;
/// The review API: sign-in, roles, actions, the audit log.
mod review;
/// Starting a server on a temporary data directory.
mod support;
