//! Integration tests of filing against the Open311 test server.

/// The registry takes the format and endpoint from Service Discovery.
mod discovery;
