//! Helpers for the modules that run the client against the test server over
//! real sockets: servers, clients with short timeouts and fast retries, and
//! readers for what the server recorded.

use std::time::Duration;

use bump_open311::{BreakerConfig, Client, EndpointConfig, Format, NewRequest, RetryPolicy};
use bump_open311_server::{Hit, JurisdictionConfig, ServerConfig, TestServer};

/// The jurisdiction of the one-jurisdiction example server.
pub(crate) const JURISDICTION: &str = "city.example";
/// Its API key.
pub(crate) const KEY: &str = "test-key";
/// Both response formats, for tests that must hold in each.
pub(crate) const FORMATS: [Format; 2] = [Format::Json, Format::Xml];

/// Starts a server with `config`.
pub(crate) fn start(config: ServerConfig) -> TestServer {
    TestServer::start(config).expect("the test server starts on 127.0.0.1")
}

/// The example server: REQPOTHL (realtime, three optional attributes) and
/// REQCASTG (batch), one jurisdiction, strict about empty parameters.
pub(crate) fn server() -> TestServer {
    start(ServerConfig::example(JURISDICTION, KEY))
}

/// Two jurisdictions, `a.example` (key `key-a`) and `b.example` (key
/// `key-b`), each with the example services.
pub(crate) fn two_jurisdictions() -> ServerConfig {
    let mut config = ServerConfig::example("a.example", "key-a");
    let b: Vec<JurisdictionConfig> = ServerConfig::example("b.example", "key-b").jurisdictions;
    config.jurisdictions.extend(b);
    config
}

/// Retries of reads that wait milliseconds, not seconds.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay_ms: 10,
        max_delay_ms: 5_000,
    }
}

/// One attempt only.
pub(crate) fn no_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 1,
        ..fast_retry()
    }
}

/// The client's configuration for `server`: the right key, a 5 s timeout,
/// fast retries, and a breaker that stays out of the way.
pub(crate) fn config(server: &TestServer, format: Format) -> EndpointConfig {
    let mut cfg = EndpointConfig::new(&server.base_url(), format);
    cfg.api_key = Some(KEY.into());
    cfg.timeout = Duration::from_secs(5);
    cfg.retry = fast_retry();
    cfg.breaker = BreakerConfig {
        failure_threshold: 1_000,
        open_ms: 1_000,
    };
    cfg
}

/// A client built from `cfg`.
pub(crate) fn client_with(cfg: EndpointConfig) -> Client {
    Client::new(cfg).expect("an http base URL makes a client")
}

/// A client for `server` with [`config`].
pub(crate) fn client(server: &TestServer, format: Format) -> Client {
    client_with(config(server, format))
}

/// A pothole at a valid position, no attributes.
pub(crate) fn pothole(description: &str) -> NewRequest {
    NewRequest {
        service_code: "REQPOTHL".into(),
        lat: 42.358_431_234,
        long: -71.059_773_987,
        description: Some(description.into()),
        ..NewRequest::default()
    }
}

/// A sunk casting (batch service).
pub(crate) fn casting() -> NewRequest {
    NewRequest {
        service_code: "REQCASTG".into(),
        lat: 42.35,
        long: -71.06,
        description: Some("Manhole cover sunk 3 cm".into()),
        ..NewRequest::default()
    }
}

/// Decodes `%XX` and `+` of a query string component.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded `(key, value)` pairs of a raw query string, empty values kept.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

/// The first value of `key` in a hit's query.
pub(crate) fn param(hit: &Hit, key: &str) -> Option<String> {
    query_pairs(&hit.query)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Hits with this method whose path ends with `suffix`.
pub(crate) fn hits_to(server: &TestServer, method: &str, suffix: &str) -> Vec<Hit> {
    server
        .hits()
        .into_iter()
        .filter(|h| h.method == method && h.path.ends_with(suffix))
        .collect()
}

/// Asserts no hit carried an empty parameter in its query string.
pub(crate) fn assert_no_empty_query_parameter(server: &TestServer) {
    for hit in server.hits() {
        for (k, v) in query_pairs(&hit.query) {
            assert!(
                !k.is_empty() && !v.trim().is_empty(),
                "{} {}?{} sent an empty parameter {k:?}",
                hit.method,
                hit.path,
                hit.query
            );
        }
    }
}
