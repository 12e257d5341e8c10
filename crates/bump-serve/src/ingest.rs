/*!
`POST /api/v1/batches`: phones upload trip batches.

Checks, in order, each with its status: shutting down (503), JSON content
type (415), body size (413, also after gzip decompression, so a small
bomb cannot fill memory), bearer token (401), JSON syntax (400), the
batch's rules (422, naming the field), the batch's device against the
token's (403), the backlog (503 with `Retry-After`). The batch is then
stored in one transaction and only then acknowledged (202). The key is
(trip id, sequence number): the same batch again gets the same 202 with
`duplicate: true` and is not stored twice; different content under the
same key is a 409.
*/

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bump_core::TripBatch;
use bump_store::BatchPut;
use serde_json::json;

use crate::auth::{batch_digest, same_batch, token_hash};
use crate::state::AppState;

fn refuse(state: &AppState, status: StatusCode, reason: &str, error: &str, field: Option<&str>) -> Response {
    state.metrics.reject(reason);
    let mut body = json!({"error": error});
    if let Some(f) = field {
        body["field"] = json!(f);
    }
    let mut r = (status, Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
    }
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    r
}

/// Decompresses gzip, refusing output beyond `limit` bytes.
fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    let mut d = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
    d.read_to_end(&mut out).map_err(|_| "the body is not valid gzip")?;
    if out.len() > limit {
        return Err("too large");
    }
    Ok(out)
}

/// The handler.
pub(crate) async fn upload(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !state.accepting.load(Ordering::Relaxed) {
        return refuse(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
            None,
        );
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !ctype.starts_with("application/json") {
        return refuse(
            &state,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON (Content-Type: application/json)",
            None,
        );
    }
    let limit = state.cfg.serve.max_body_bytes;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .to_ascii_lowercase();
    let raw: Vec<u8> = match encoding.as_str() {
        "identity" | "" => body.to_vec(),
        "gzip" => match gunzip(&body, limit) {
            Ok(b) => b,
            Err("too large") => {
                return refuse(
                    &state,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    &format!("the decompressed body exceeds {limit} bytes"),
                    None,
                );
            }
            Err(e) => return refuse(&state, StatusCode::BAD_REQUEST, "malformed", e, Some("body")),
        },
        other => {
            return refuse(
                &state,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                &format!("Content-Encoding {other:?} is not supported (gzip or none)"),
                None,
            );
        }
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return refuse(
            &state,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a device token is required (Authorization: Bearer …)",
            None,
        );
    };
    let device = match state.store.device_by_token(&token_hash(token)).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return refuse(
                &state,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown or revoked device token",
                None,
            );
        }
        Err(e) => {
            tracing::error!(message = "Cannot check a device token.", error = %e);
            return refuse(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the store is unavailable",
                None,
            );
        }
    };
    let batch = match TripBatch::from_json(&raw) {
        Ok(b) => b,
        Err(e) if e.field == "body" => {
            return refuse(
                &state,
                StatusCode::BAD_REQUEST,
                "malformed",
                &format!("malformed JSON: {}", e.reason),
                Some("body"),
            );
        }
        Err(e) => {
            return refuse(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                &e.to_string(),
                Some(&e.field),
            );
        }
    };
    if batch.device_id.as_str() != device {
        return refuse(
            &state,
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!(
                "the batch names device {:?}, the token belongs to another device",
                batch.device_id.as_str()
            ),
            Some("device_id"),
        );
    }
    let lagging = state.kafka.as_ref().is_some_and(|k| k.lagging());
    if lagging || state.pending.load(Ordering::Relaxed) >= state.cfg.serve.max_pending_batches {
        return refuse(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the pipeline is behind; retry later",
            None,
        );
    }
    // The digest of the parsed batch, not of the bytes: a phone that
    // re-serialises the same batch differently is still the same batch.
    // The body is stored as it came; every reader parses it the same way.
    let d = batch_digest(&batch);
    let trip = batch.trip_id.as_str().to_owned();
    let t0 = std::time::Instant::now();
    if let Some(sink) = &state.kafka {
        return to_kafka(&state, sink, &batch, &raw, &d).await;
    }
    let put = state
        .commits
        .put(
            &state.store,
            crate::commit::Upload {
                trip_id: trip.clone(),
                seq: batch.seq,
                device_id: device.clone(),
                is_final: batch.is_final,
                body: raw,
                digest: d.clone(),
            },
        )
        .await;
    state.metrics.stage("ingest", t0.elapsed().as_secs_f64());
    let duplicate = match put {
        Ok(BatchPut::Inserted) => {
            state.pending.fetch_add(1, Ordering::Relaxed);
            state.metrics.batches_accepted.fetch_add(1, Ordering::Relaxed);
            state.batch_stored.notify_one();
            false
        }
        Ok(BatchPut::Duplicate) => {
            state.metrics.batches_duplicate.fetch_add(1, Ordering::Relaxed);
            true
        }
        Ok(BatchPut::Conflict) => match state.store.batch_digest(&trip, batch.seq).await {
            // Stored with a digest of the kind used before content digests.
            Ok(Some(stored)) if same_batch(&stored, &d, &batch) => {
                state.metrics.batches_duplicate.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => return conflict(&state, &trip, batch.seq),
        },
        Err(e) => {
            tracing::error!(message = "Cannot store a batch.", error = %e);
            return refuse(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the store is unavailable; retry",
                None,
            );
        }
    };
    accepted(&trip, batch.seq, duplicate)
}

/// The Kafka runtime's path: a batch already stored is answered as in the
/// embedded server; a new one is acknowledged once the broker has it.
async fn to_kafka(
    state: &AppState,
    sink: &crate::scale::KafkaSink,
    batch: &TripBatch,
    body: &[u8],
    d: &str,
) -> Response {
    let trip = batch.trip_id.as_str();
    match state.store.batch_digest(trip, batch.seq).await {
        Ok(Some(stored)) if same_batch(&stored, d, batch) => {
            state.metrics.batches_duplicate.fetch_add(1, Ordering::Relaxed);
            return accepted(trip, batch.seq, true);
        }
        Ok(Some(_)) => return conflict(state, trip, batch.seq),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(message = "Cannot check a batch.", error = %e);
            return unavailable(state, "the store is unavailable; retry");
        }
    }
    let t0 = std::time::Instant::now();
    match sink.send(&batch.trip_id, body, d).await {
        Ok(()) => {
            state.metrics.stage("ingest", t0.elapsed().as_secs_f64());
            state.metrics.batches_accepted.fetch_add(1, Ordering::Relaxed);
            accepted(trip, batch.seq, false)
        }
        Err(e) => {
            tracing::error!(message = "The broker did not take a batch.", error = %e);
            unavailable(state, "the message broker is unavailable; retry")
        }
    }
}

fn conflict(state: &AppState, trip: &str, seq: u32) -> Response {
    refuse(
        state,
        StatusCode::CONFLICT,
        "conflict",
        &format!("batch {seq} of trip {trip} was already received with different content"),
        Some("seq"),
    )
}

fn unavailable(state: &AppState, why: &str) -> Response {
    refuse(state, StatusCode::SERVICE_UNAVAILABLE, "overloaded", why, None)
}

fn accepted(trip: &str, seq: u32, duplicate: bool) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({"status": "accepted", "trip_id": trip, "seq": seq, "duplicate": duplicate})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_bombs_are_cut_off() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![b' '; 1 << 20]).expect("write");
        let small = e.finish().expect("gzip");
        assert!(small.len() < 4096);
        assert_eq!(gunzip(&small, 1000), Err("too large"));
        assert_eq!(gunzip(&small, 2 << 20).expect("fits").len(), 1 << 20);
        assert!(gunzip(b"not gzip", 1000).is_err());
    }
}
