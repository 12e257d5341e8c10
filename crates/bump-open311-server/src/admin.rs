//! `/_admin/` routes: the test-facing methods of [`ServerState`] over HTTP, for tests that run
//! the binary as a separate process. Not part of Open311; never faulted, never recorded as hits.
//!
//! - `GET /_admin/requests`: JSON array of `StoredRequest`
//! - `POST /_admin/requests/{id}/close` with `{"closed_at": "…", "notes": "…"}`
//! - `POST /_admin/faults` with a `FaultRule`; `DELETE /_admin/faults` clears the queue
//! - `POST /_admin/quirk` with a `Quirk` or `null`; `GET /_admin/quirk`
//! - `GET /_admin/hits`: JSON array of `Hit`

use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api::Reply;
use crate::form;
use crate::http::into_response;
use crate::model::{FaultRule, Quirk};
use crate::state::ServerState;

#[derive(Debug, Deserialize)]
struct Close {
    #[serde(with = "crate::time::rfc3339")]
    closed_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    notes: String,
}

fn json(status: u16, body: String) -> Response {
    into_response(Reply {
        status,
        content_type: "application/json; charset=utf-8",
        body,
        headers: Vec::new(),
        committed: false,
    })
}

fn message(status: u16, text: &str) -> Response {
    json(status, serde_json::json!({ "error": text }).to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => json(200, body),
        Err(e) => message(500, &e.to_string()),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad JSON body: {e}"))
}

pub(crate) fn handle(state: &ServerState, method: &str, path: &str, body: &[u8]) -> Response {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["_admin", "requests"]) => to_json(&state.requests()),
        ("POST", ["_admin", "requests", id, "close"]) => match parse::<Close>(body) {
            Ok(close) => {
                let closed = state.close_request(&form::decode_path(id), close.closed_at, &close.notes);
                json(
                    if closed { 200 } else { 404 },
                    serde_json::json!({ "closed": closed }).to_string(),
                )
            }
            Err(problem) => message(400, &problem),
        },
        ("POST", ["_admin", "faults"]) => match parse::<FaultRule>(body) {
            Ok(rule) => {
                state.push_fault(rule);
                json(200, "{}".to_owned())
            }
            Err(problem) => message(400, &problem),
        },
        ("DELETE", ["_admin", "faults"]) => {
            state.clear_faults();
            json(200, "{}".to_owned())
        }
        ("POST", ["_admin", "quirk"]) => match parse::<Option<Quirk>>(body) {
            Ok(quirk) => {
                state.set_quirk(quirk);
                json(200, "{}".to_owned())
            }
            Err(problem) => message(400, &problem),
        },
        ("GET", ["_admin", "quirk"]) => to_json(&state.quirk()),
        ("GET", ["_admin", "hits"]) => to_json(&state.hits()),
        _ => message(404, &format!("no admin route {method} {path}")),
    }
}
