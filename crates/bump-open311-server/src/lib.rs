//! A strict Open311 GeoReport v2 server for tests, which can be told to misbehave the way real
//! servers do.
//!
//! The pipeline files potholes to cities over GeoReport v2. Its client is tested against this
//! server: by default it follows the spec to the letter (and refuses what the spec leaves to
//! the client to get right), and on request it answers with the faults and odd shapes that real
//! servers produce.
//!
//! # Calls and what is enforced
//!
//! Every path ends in `.xml` or `.json` (the format; XML is always served, JSON unless
//! [`ServerConfig::json`] is false). XML starts with `<?xml version="1.0" encoding="UTF-8"?>`
//! and is escaped (`& < > " '`); JSON is the spec's Spark mapping (bare arrays, `null` for
//! empty elements). Content types are `text/xml; charset=utf-8` and
//! `application/json; charset=utf-8`.
//!
//! - `GET /open311/discovery.{fmt}`: one `production` endpoint whose `url` is
//!   [`TestServer::base_url`], formats as served.
//! - `GET /open311/v2/services.{fmt}`, `GET /open311/v2/services/{code}.{fmt}` (404 for an
//!   unknown code and for a service without metadata, which has no definition).
//! - `POST /open311/v2/requests.{fmt}`: form-urlencoded body (parameters in the query string
//!   count too). Answers 200 (the spec names no status). Checks, reported together as the
//!   spec's error array where several apply: 403 missing or wrong `api_key` (per
//!   jurisdiction); 400 no `service_code`, 404 unknown one; 400 no location (`lat` and `long`,
//!   valid and in range, or `address_string`, or `address_id`); 400 an attribute that is
//!   required and missing, unknown to the definition, not among the list keys, not a number,
//!   or not an ISO 8601 date-time with zone (`attribute[CODE]=v`,
//!   `attribute[CODE][]=v1&attribute[CODE][]=v2` for a multivaluelist); 400 a `description`
//!   over 4000 characters; 400 a body that is not form-urlencoded.
//!   A realtime service answers the new id; a batch one a token (the request appears once
//!   the token resolves); a blackbox one an empty `request` element.
//! - `GET /open311/v2/tokens/{token}.{fmt}`: "pending" (empty `service_request_id`) for the
//!   first [`ServerConfig::token_polls`] polls, then the id and token; 404 if unknown.
//! - `GET /open311/v2/requests.{fmt}`: `service_request_id` (comma-delimited, overrides the
//!   rest), `service_code`, `status` (open/closed), `start_date`/`end_date` (w3 format with
//!   zone, span at most 90 days, default the last 90 days, by `requested_datetime`), and the
//!   pagination extension `page` (from 1) and `page_size` (default and maximum 1000). Sorted
//!   by `requested_datetime`, then id.
//! - `GET /open311/v2/requests/{id}.{fmt}`: a list of one, 404 if unknown.
//! - `jurisdiction_id`: with one jurisdiction optional (but must match), with several required
//!   (400 missing, 404 unknown) on every v2 call.
//! - An empty parameter (`jurisdiction_id=`) is a 400 while [`ServerConfig::reject_empty_params`]
//!   holds; otherwise it counts as absent, as the spec says.
//! - Unknown paths are 404 and wrong methods 405, both with the spec's error body.
//!
//! # Misbehaving
//!
//! [`TestServer::push_fault`] queues a [`FaultRule`]: for each request the first queued rule
//! whose [`Route`] matches applies, `times` times. [`Fault`]s are error statuses, an HTML 500,
//! 429 with `Retry-After`, hangs (the client should time out; nothing is processed), slow
//! answers, and a POST that creates the request and then fails or hangs, so the client cannot
//! tell it succeeded. [`TestServer::set_quirk`] switches every answer to a real server's shape
//! ([`Quirk`]): numeric ids, wrapped lists, all-string JSON, XML::Simple arrays, `<requests>`
//! roots, off-spec error bodies, pending tokens as HTTP 400.
//!
//! Every request is recorded as a [`Hit`] (method, path, query, status answered), and every
//! created request as a [`StoredRequest`] with the raw form received. The same controls exist
//! over HTTP under `/_admin/` for the `open311-test-server` binary (see its `--help`).
//!
//! # Example
//!
//! ```no_run
//! use bump_open311_server::{Fault, FaultRule, Route, ServerConfig, TestServer};
//!
//! let server = TestServer::start(ServerConfig::example("example.org", "test-key"))?;
//! // The client under test gets `server.base_url()` ("http://127.0.0.1:PORT/open311/v2/").
//! server.push_fault(FaultRule { route: Route::PostRequest, fault: Fault::CommitThenStatus(502), times: 1 });
//! // … run the client, then:
//! assert_eq!(server.requests().len(), 1, "a retry after the 502 must not file twice");
//! # Ok::<(), std::io::Error>(())
//! ```

mod admin;
mod api;
mod config;
mod form;
mod http;
mod model;
mod render;
mod state;
mod time;

use std::net::SocketAddr;
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

pub use config::{AttributeConfig, JurisdictionConfig, ServerConfig, ServiceConfig, ServiceKind};
pub use model::{Fault, FaultRule, Hit, Quirk, Route, StoredRequest};
pub use state::ServerState;

/// Serves GeoReport v2 (and `/_admin/`) on `listener` until the future is dropped, for use
/// inside an existing runtime. `state` stays usable by the caller (clones share it).
pub async fn serve(listener: tokio::net::TcpListener, state: ServerState) -> std::io::Result<()> {
    state.set_addr(listener.local_addr()?);
    axum::serve(listener, http::router(state)).await
}

/// A server on 127.0.0.1 on its own thread and runtime, stopped when dropped.
#[derive(Debug)]
pub struct TestServer {
    state: ServerState,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts on `127.0.0.1:0` on its own thread with its own tokio runtime, so it works from
    /// plain `#[test]`s and from inside another runtime alike.
    pub fn start(config: ServerConfig) -> std::io::Result<TestServer> {
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let state = ServerState::new(config);
        let served = state.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("open311-test-server-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return eprintln!("open311 test server: {e}"),
                    };
                    tokio::select! {
                        result = serve(listener, served) => {
                            if let Err(e) = result {
                                eprintln!("open311 test server: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here cancels connections still open (hangs included).
            })?;
        // `serve` sets this too, but only once the thread runs; callers may ask at once.
        state.set_addr(addr);
        Ok(TestServer {
            state,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/open311/v2/`, with the trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}/open311/v2/", self.addr)
    }

    /// `http://127.0.0.1:PORT/open311/discovery.json`.
    pub fn discovery_url(&self) -> String {
        format!("http://{}/open311/discovery.json", self.addr)
    }

    /// The shared state, for anything not mirrored here.
    pub fn state(&self) -> &ServerState {
        &self.state
    }

    /// Every request created, in creation order.
    pub fn requests(&self) -> Vec<StoredRequest> {
        self.state.requests()
    }

    /// Closes a request; see [`ServerState::close_request`].
    pub fn close_request(&self, id: &str, closed_at: DateTime<Utc>, notes: &str) -> bool {
        self.state.close_request(id, closed_at, notes)
    }

    /// Queues a fault; see [`FaultRule`].
    pub fn push_fault(&self, rule: FaultRule) {
        self.state.push_fault(rule);
    }

    /// Sets or clears the response-shape quirk.
    pub fn set_quirk(&self, quirk: Option<Quirk>) {
        self.state.set_quirk(quirk);
    }

    /// Every HTTP request received (except `/_admin/`), in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the thread already ended.
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has been printed already; nothing to add here.
            let _ = thread.join();
        }
    }
}
