//! The axum glue: one fallback handler that reads the request in full, applies the fault queue
//! and records the hit. Routing is done by hand in [`crate::api`] because Open311 paths put the
//! format in the last segment (`requests/{id}.json`), and because unknown paths and wrong
//! methods must answer in the spec's error shape.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::admin;
use crate::api::{Incoming, Reply, Target, respond};
use crate::model::{Fault, Hit};
use crate::render::ApiError;
use crate::state::ServerState;

/// Far above anything form-urlencoded Open311 needs (descriptions are capped at 4000 characters).
const MAX_BODY_BYTES: usize = 1 << 20;

pub(crate) fn router(state: ServerState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<ServerState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if path == "/_admin" || path.starts_with("/_admin/") {
        let body = to_bytes(body, MAX_BODY_BYTES).await.unwrap_or_default();
        return admin::handle(&state, parts.method.as_str(), &path, &body);
    }
    let header_text =
        |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let method = parts.method.as_str().to_owned();
    let target = Target::classify(&path);
    let format = target.error_format(state.config().json);
    let mut incoming = Incoming {
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        content_type: header_text(header::CONTENT_TYPE),
        host: header_text(header::HOST),
        body: Vec::new(),
    };
    let hit = |status| Hit {
        method: method.clone(),
        path: path.clone(),
        query: incoming.query.clone(),
        status,
    };
    let quirk = state.quirk();
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => {
            let errors = [ApiError::http(
                400,
                format!("the body could not be read or exceeds {MAX_BODY_BYTES} bytes"),
            )];
            let reply = Reply::errors(400, &errors, format, quirk);
            state.record_hit(hit(reply.status));
            return into_response(reply);
        }
    };
    let hit = hit(0);
    incoming.body = body;

    let run = |state: &ServerState| {
        let mut store = state.store();
        respond(state, &mut store, &incoming, &target)
    };
    let record = |status: u16| state.record_hit(Hit { status, ..hit.clone() });
    let reply = match state.take_fault(target.route(&method)) {
        None => {
            let reply = run(&state);
            record(reply.status);
            reply
        }
        Some(Fault::Status(status)) => {
            let status = answerable(status);
            let errors = [ApiError::http(
                status,
                format!("the server answered {status} (injected fault)"),
            )];
            let reply = Reply::errors(status, &errors, format, quirk);
            record(reply.status);
            reply
        }
        Some(Fault::Html500) => {
            record(500);
            Reply {
                status: 500,
                content_type: "text/html; charset=utf-8",
                body: HTML_500.to_owned(),
                headers: Vec::new(),
                committed: false,
            }
        }
        Some(Fault::RateLimited { retry_after_s }) => {
            let errors = [ApiError::http(
                429,
                format!("too many requests; retry after {retry_after_s} seconds"),
            )];
            let mut reply = Reply::errors(429, &errors, format, quirk);
            reply.headers.push(("retry-after", retry_after_s.to_string()));
            record(429);
            reply
        }
        Some(Fault::Hang(duration)) => {
            // Record on arrival with the status it will answer, worked out on a copy of the
            // store. If the client gives up first, hyper drops this future with the connection,
            // and the request is never processed: nothing is created.
            let dry = {
                let mut copy = state.store().clone();
                respond(&state, &mut copy, &incoming, &target)
            };
            let index = record(dry.status);
            tokio::time::sleep(duration).await;
            let reply = run(&state);
            state.update_hit_status(index, reply.status);
            reply
        }
        Some(Fault::Slow(duration)) => {
            let reply = run(&state);
            record(reply.status);
            tokio::time::sleep(duration).await;
            reply
        }
        Some(Fault::CommitThenStatus(status)) => {
            let reply = run(&state);
            let reply = if reply.committed {
                let status = answerable(status);
                let errors = [ApiError::http(
                    status,
                    format!("the server answered {status} (injected fault after commit)"),
                )];
                Reply::errors(status, &errors, format, quirk)
            } else {
                reply
            };
            record(reply.status);
            reply
        }
        Some(Fault::CommitThenHang(duration)) => {
            let reply = run(&state);
            record(reply.status);
            tokio::time::sleep(duration).await;
            reply
        }
    };
    into_response(reply)
}

/// A status HTTP can carry; anything else becomes 500 (and is recorded as such).
fn answerable(status: u16) -> u16 {
    if (100..=999).contains(&status) { status } else { 500 }
}

/// Like a framework's debug-off error page (quirks/q06f).
const HTML_500: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n\
<body>\n  <h1>Server Error (500)</h1><p>Something went wrong.</p>\n</body>\n</html>\n";

pub(crate) fn into_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
