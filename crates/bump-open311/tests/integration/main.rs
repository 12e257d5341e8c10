//! Integration tests of the Open311 client.

/// Every reference payload and real server's fixture is read or rejected
/// with a clear error.
mod shared_fixtures;
