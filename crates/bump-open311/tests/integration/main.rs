//! Integration tests of the Open311 client.

/// Every reference payload and real server's fixture is read or rejected
/// with a clear error.
mod shared_fixtures;

/// Servers, clients and hit readers shared by the modules below.
mod common;

/// The client against the strict test server: discovery, both formats,
/// POST and read back, tokens, jurisdictions, windows, paging, key probe.
mod against_server;

/// Error classes, retries of reads, the single try of POST, and the
/// circuit breaker, against injected faults.
mod errors_and_retries;

/// Real servers' response shapes (the test server's quirks) read end to end.
mod quirks;

/// No string, nor one built from JSON and XML fragments, makes the readers
/// panic (proptest).
mod decode_props;

/// Pathological bodies (deep nesting, long whitespace) end in an error, not
/// a crash or a stall.
mod hostile_bodies;
