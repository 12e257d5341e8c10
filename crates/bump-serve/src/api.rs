/*!
The review API (under `/api/`), for the web page and for anything else a city
wants to plug in; described in `docs/openapi.json`, served at
`/api/openapi.json`.

Every route but sign-in needs a session: device data is never shown to
anyone unauthenticated. Reviewers read and act; admins also read the audit
log. Mutations take JSON only, and the session cookie is `SameSite=Strict`
and `HttpOnly`, so another site can neither send them nor read the cookie.
Reviewers see evidence near a cluster (its bumps' magnitudes, times, one
trace), never whole trips or device ids.
*/

#![allow(
    clippy::result_large_err,
    reason = "handlers answer errors as responses; one allocation per failed request is nothing"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bump_cluster::CLASSES;
use bump_filing::{Filing, Outbox};
use bump_store::Review;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{SESSION_COOKIE, new_token, token_hash, verify_password};
use crate::state::{AppState, ClusterView};

type ApiResult = Result<Response, Response>;

fn error(status: StatusCode, msg: &str, field: Option<&str>) -> Response {
    let mut body = json!({"error": msg});
    if let Some(f) = field {
        body["field"] = json!(f);
    }
    (status, Json(body)).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(message = "Request failed.", error = %e);
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None)
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    name: String,
    role: String,
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

async fn user(state: &AppState, headers: &HeaderMap) -> Result<User, Response> {
    let unauth = || error(StatusCode::UNAUTHORIZED, "sign in first", None);
    let token = cookie(headers).ok_or_else(unauth)?;
    match state.store.session(&token_hash(&token), Utc::now()).await {
        Ok(Some((name, role))) => Ok(User { name, role }),
        Ok(None) => Err(unauth()),
        Err(e) => Err(internal(e)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Login {
    username: String,
    password: String,
}

pub(crate) async fn login(State(state): State<Arc<AppState>>, Json(body): Json<Login>) -> ApiResult {
    if !state.logins.allowed(&body.username) {
        return Err(error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed sign-ins; wait five minutes",
            None,
        ));
    }
    let stored = state.store.user(&body.username).await.map_err(internal)?;
    let ok = stored
        .as_ref()
        .is_some_and(|(_, hash)| verify_password(&body.password, hash));
    state.logins.record(&body.username, ok);
    let Some((role, _)) = stored.filter(|_| ok) else {
        return Err(error(StatusCode::UNAUTHORIZED, "wrong user name or password", None));
    };
    let token = new_token().map_err(internal)?;
    #[allow(clippy::cast_possible_truncation, reason = "whole minutes of a session")]
    let minutes = (state.cfg.serve.session_hours * 60.0) as i64;
    let expires = Utc::now() + chrono::TimeDelta::minutes(minutes);
    state
        .store
        .add_session(&token_hash(&token), &body.username, expires)
        .await
        .map_err(internal)?;
    let _ = state
        .store
        .audit(&body.username, "session.sign_in", &body.username, None)
        .await;
    let mut r = Json(json!({"username": body.username, "role": role})).into_response();
    let c = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        minutes * 60
    );
    r.headers_mut().insert(header::SET_COOKIE, c.parse().map_err(internal)?);
    Ok(r)
}

pub(crate) async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    if let Some(t) = cookie(&headers) {
        state.store.delete_session(&token_hash(&t)).await.map_err(internal)?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        header::HeaderValue::from_static("sb_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(r)
}

pub(crate) async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    let u = user(&state, &headers).await?;
    Ok(Json(json!({"username": u.name, "role": u.role})).into_response())
}

pub(crate) async fn config(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    user(&state, &headers).await?;
    Ok(Json(json!({
        "tiles_url": state.cfg.serve.tiles_url,
        "tiles_attribution": state.cfg.serve.tiles_attribution,
        "coverage_resolution": COVERAGE_RES,
    }))
    .into_response())
}

fn iso(t: f64) -> Value {
    if !t.is_finite() {
        return Value::Null;
    }
    #[allow(clippy::cast_possible_truncation, reason = "whole seconds")]
    let s = t.floor() as i64;
    Utc.timestamp_opt(s, 0).single().map_or(Value::Null, |d| {
        json!(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    })
}

fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn filing_json(f: &Filing) -> Value {
    json!({
        "state": f.state.as_str(),
        "service_request_id": f.service_request_id,
        "marker": f.marker,
        "jurisdiction_id": f.jurisdiction_id,
        "service_code": f.service_code,
        "closed_at": f.closed_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "last_error": f.last_error,
    })
}

fn review_json(r: &Review) -> Value {
    json!({"action": r.action, "value": r.value, "actor": r.actor,
           "at": r.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "note": r.note})
}

/// The status after reviewers and the filer: dismissed, fixed, filed,
/// confirmed, else the pipeline's.
fn effective_status(v: &ClusterView, review: Option<&Review>, filing: Option<&Filing>) -> String {
    use bump_filing::FilingState as S;
    match (review.map(|r| r.action.as_str()), filing.map(|f| f.state)) {
        (Some("dismiss"), _) => "dismissed".into(),
        (Some("fixed"), _) | (_, Some(S::Closed)) => "fixed".into(),
        (_, Some(S::Filed | S::Token | S::Posting)) => "filed".into(),
        (Some("confirm"), _) => "confirmed".into(),
        _ => v.cluster.status.as_str().to_owned(),
    }
}

/// A cluster's summary; `review` and `filing` are its latest.
pub(crate) fn summary_json(v: &ClusterView, review: Option<&Review>, filing: Option<&Filing>) -> Value {
    let c = &v.cluster;
    let (class, prob, source) = match review.filter(|r| r.action == "reclassify") {
        Some(r) => (r.value.clone().unwrap_or_default(), 1.0, "review"),
        None => (v.class.class.clone(), v.class.probability, v.class.source.as_str()),
    };
    json!({
        "cluster_id": c.cluster_id,
        "lat": c.lat, "lon": c.lon,
        "class": class, "class_probability": num(prob), "class_source": source,
        "status": c.status.as_str().to_owned(),
        "effective_status": effective_status(v, review, filing),
        "confidence": num(c.confidence),
        "hits": c.hits, "trips": c.trips, "support_trips": c.support_trips,
        "devices": c.devices, "passes": c.passes,
        "hit_rate": num(c.hit_rate),
        "magnitude_median_mps2": num(c.magnitude_median_mps2),
        "magnitude_p90_mps2": num(c.magnitude_p90_mps2),
        "first_seen": iso(c.first_seen), "last_seen": iso(c.last_seen),
        "heading_deg": num(c.heading_deg),
        "jurisdiction_id": v.jurisdiction_id,
        "known": v.known.as_ref().map(|k| json!({"asset_id": k.asset_id, "kind": k.kind, "distance_m": k.distance_m})),
        "review": review.map(review_json),
        "filing": filing.map(filing_json),
    })
}

/// Latest review and filing per cluster.
async fn decisions(state: &AppState) -> Result<(BTreeMap<String, Review>, BTreeMap<String, Filing>), Response> {
    let reviews = state
        .store
        .latest_reviews()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| (r.cluster_id.clone(), r))
        .collect();
    let mut filings = BTreeMap::new();
    for f in state.store.filings().await.map_err(internal)? {
        filings.insert(f.cluster_id.clone(), f);
    }
    Ok((reviews, filings))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ClusterQuery {
    class: Option<String>,
    status: Option<String>,
    min_confidence: Option<f64>,
    jurisdiction: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
}

fn parse_when(s: &str, field: &str, end_of_day: bool) -> Result<f64, Response> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        #[allow(clippy::cast_precision_loss, reason = "seconds since 1970 fit f64")]
        return Ok(t.timestamp() as f64);
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("{field}: expected YYYY-MM-DD or an ISO 8601 date-time, got {s:?}"),
            Some(field),
        )
    })?;
    let t = if end_of_day {
        d.and_hms_opt(23, 59, 59)
    } else {
        d.and_hms_opt(0, 0, 0)
    };
    #[allow(clippy::cast_precision_loss, reason = "seconds since 1970 fit f64")]
    Ok(t.map_or(0.0, |t| Utc.from_utc_datetime(&t).timestamp() as f64))
}

pub(crate) async fn clusters(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ClusterQuery>,
) -> ApiResult {
    user(&state, &headers).await?;
    let since = q
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_when(s, "since", false))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_when(s, "until", true))
        .transpose()?;
    if let Some(m) = q.min_confidence
        && !(0.0..=1.0).contains(&m)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "min_confidence must be between 0 and 1",
            Some("min_confidence"),
        ));
    }
    let (reviews, filings) = decisions(&state).await?;
    let snap = state.snapshot();
    let all: Vec<Value> = snap
        .clusters
        .iter()
        .map(|v| {
            summary_json(
                v,
                reviews.get(&v.cluster.cluster_id),
                filings.get(&v.cluster.cluster_id),
            )
        })
        .filter(|s| {
            let want = |key: &str, q: &Option<String>| {
                q.as_deref()
                    .filter(|x| !x.is_empty() && *x != "all")
                    .is_none_or(|x| s[key] == x)
            };
            want("class", &q.class)
                && q.status
                    .as_deref()
                    .filter(|x| !x.is_empty() && *x != "all")
                    .is_none_or(|x| s["effective_status"] == x || s["status"] == x)
                && want("jurisdiction_id", &q.jurisdiction)
                && q.min_confidence
                    .is_none_or(|m| s["confidence"].as_f64().is_some_and(|c| c >= m))
                && since.is_none_or(|t| {
                    snap.get(s["cluster_id"].as_str().unwrap_or_default())
                        .is_some_and(|v| v.cluster.last_seen >= t)
                })
                && until.is_none_or(|t| {
                    snap.get(s["cluster_id"].as_str().unwrap_or_default())
                        .is_some_and(|v| v.cluster.last_seen <= t)
                })
        })
        .collect();
    let total = all.len();
    let limit = q.limit.unwrap_or(1000).min(10_000);
    Ok(Json(json!({"clusters": all.into_iter().take(limit).collect::<Vec<_>>(), "total": total})).into_response())
}

async fn detail(state: &AppState, id: &str) -> ApiResult {
    let snap = state.snapshot();
    let v = snap
        .get(id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, &format!("no cluster {id:?}"), None))?;
    let (reviews, _) = decisions(state).await?;
    let all_filings: Vec<Filing> = state
        .store
        .filings()
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|f| f.cluster_id == id)
        .collect();
    let mut s = summary_json(v, reviews.get(id), all_filings.last());
    // Evidence near the cluster: its bumps only.
    let ids: Vec<String> = v.cluster.bump_ids.iter().map(ToString::to_string).collect();
    let bumps = state.store.bumps_with_ids(&ids).await.map_err(internal)?;
    let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
    let mut mags = Vec::new();
    let mut best: Option<(f64, &bump_store::StoredBump)> = None;
    for b in &bumps {
        if let Some(day) = iso(b.t).as_str().map(|d| d[..10].to_owned()) {
            *per_day.entry(day).or_default() += 1;
        }
        if let Ok(o) = serde_json::from_str::<bump_cluster::BumpObs>(&b.obs) {
            mags.push(o.peak_mps2);
            // The example is the bump closest to the median magnitude.
            let d = (o.peak_mps2 - v.cluster.magnitude_median_mps2).abs();
            if b.trace.is_some() && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, b));
            }
        }
    }
    let trace = best.and_then(|(_, b)| {
        let t: bump_pipeline::Trace = serde_json::from_str(b.trace.as_deref()?).ok()?;
        Some(
            json!({"sample_rate_hz": t.sample_rate_hz, "t0": iso(t.t0), "peak_offset_s": b.t - t.t0,
                    "values_mps2": t.values_mps2}),
        )
    });
    // Passes per day, from coverage of the cluster's cell and its ring.
    let mut passes: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    if let Some(cell) = bump_cluster::cell_of_cluster_id(&v.cluster.cluster_id) {
        let near: Vec<String> = cell
            .grid_disk::<Vec<_>>(state.cfg.cluster.pass_k)
            .into_iter()
            .map(|c| c.to_string())
            .collect();
        for (trip, _, t) in state.store.coverage_in(&near).await.map_err(internal)? {
            if let Some(day) = iso(t).as_str().map(|d| d[..10].to_owned()) {
                passes.entry(day).or_default().insert(trip);
            }
        }
    }
    let history: Vec<Value> = state
        .store
        .audit_log()
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|(_, _, action, subject, _)| subject == id && action.starts_with("review."))
        .map(|(at, actor, action, _, detail)| {
            json!({"action": action.trim_start_matches("review."), "value": detail, "actor": actor, "at": at, "note": Value::Null})
        })
        .collect();
    s["hits_per_day"] = json!(
        per_day
            .iter()
            .map(|(d, n)| json!({"day": d, "hits": n}))
            .collect::<Vec<_>>()
    );
    s["passes_per_day"] = json!(
        passes
            .iter()
            .map(|(d, t)| json!({"day": d, "passes": t.len()}))
            .collect::<Vec<_>>()
    );
    s["magnitudes_mps2"] = json!(mags);
    s["example_trace"] = trace.unwrap_or(Value::Null);
    s["reviews"] = json!(history);
    s["filings"] = json!(all_filings.iter().map(filing_json).collect::<Vec<_>>());
    Ok(Json(s).into_response())
}

pub(crate) async fn cluster(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    user(&state, &headers).await?;
    detail(&state, &id).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct Action {
    action: String,
    class: Option<String>,
    note: Option<String>,
}

pub(crate) async fn act(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(a): Json<Action>,
) -> ApiResult {
    let u = user(&state, &headers).await?;
    if u.role != "reviewer" && u.role != "admin" {
        return Err(error(StatusCode::FORBIDDEN, "reviewers and admins only", None));
    }
    let snap = state.snapshot();
    let v = snap
        .get(&id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, &format!("no cluster {id:?}"), None))?;
    let note = a
        .note
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.chars().take(2000).collect::<String>());
    let value = match a.action.as_str() {
        "confirm" | "dismiss" | "fixed" => None,
        "reclassify" | "known" => {
            let class = a.class.clone().filter(|c| !c.is_empty());
            match (a.action.as_str(), class) {
                ("reclassify", None) => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "reclassify needs a class",
                        Some("class"),
                    ));
                }
                (_, Some(c)) if !CLASSES.contains(&c.as_str()) => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        &format!("unknown class {c:?} (one of {})", CLASSES.join(", ")),
                        Some("class"),
                    ));
                }
                (_, c) => c,
            }
        }
        other => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                &format!("unknown action {other:?} (confirm, dismiss, reclassify, known, fixed)"),
                Some("action"),
            ));
        }
    };
    if a.action == "known" {
        let kind = value.clone().unwrap_or_else(|| v.class.class.clone());
        state
            .store
            .add_known(&format!("review-{id}"), &kind, v.cluster.lat, v.cluster.lon, &u.name)
            .await
            .map_err(internal)?;
    }
    state
        .store
        .add_review(&Review {
            cluster_id: id.clone(),
            action: a.action.clone(),
            value,
            actor: u.name.clone(),
            at: Utc::now(),
            note,
        })
        .await
        .map_err(internal)?;
    if a.action == "known" {
        // The inventory changed: classification must be redone.
        let index = crate::pipeline::load_index(&state).await.map_err(internal)?;
        let snap = crate::pipeline::snapshot_of(&state, &index.0).await;
        state.set_snapshot(snap);
        state.recompute.notify_one();
    }
    if a.action == "confirm" {
        // Confirm and file: a filing round now rather than at the next tick,
        // awaited (up to 10 s) so the answer shows the filing; a slow
        // endpoint finishes in the background.
        let s = Arc::clone(&state);
        let round = tokio::spawn(async move { crate::pipeline::file_round(&s).await });
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), round).await;
    }
    detail(&state, &id).await
}

/// Resolution of the coverage layer (about 25 m cells).
const COVERAGE_RES: u8 = 11;

#[derive(Debug, Deserialize)]
pub(crate) struct Period {
    since: Option<String>,
    until: Option<String>,
}

pub(crate) async fn coverage(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<Period>,
) -> ApiResult {
    user(&state, &headers).await?;
    let since = p
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_when(s, "since", false))
        .transpose()?;
    let until = p
        .until
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_when(s, "until", true))
        .transpose()?;
    let res = h3o::Resolution::try_from(COVERAGE_RES).map_err(internal)?;
    let mut cells: BTreeMap<h3o::CellIndex, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (trip, covered) in state.store.coverage_by_trip().await.map_err(internal)? {
        for (cell, t) in covered {
            if since.is_some_and(|s| t < s) || until.is_some_and(|u| t > u) {
                continue;
            }
            if let Some(parent) = cell.parent(res) {
                cells.entry(parent).or_default().insert(trip.clone());
            }
        }
    }
    let out: Vec<Value> = cells
        .iter()
        .map(|(c, trips)| {
            let ll = h3o::LatLng::from(*c);
            json!({"cell": c.to_string(), "lat": ll.lat(), "lon": ll.lng(), "trips": trips.len()})
        })
        .collect();
    Ok(Json(json!({"resolution": COVERAGE_RES, "cells": out})).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct Limit {
    limit: Option<usize>,
}

pub(crate) async fn audit(State(state): State<Arc<AppState>>, headers: HeaderMap, Query(l): Query<Limit>) -> ApiResult {
    let u = user(&state, &headers).await?;
    if u.role != "admin" {
        return Err(error(StatusCode::FORBIDDEN, "admins only", None));
    }
    let log = state.store.audit_log().await.map_err(internal)?;
    let n = l.limit.unwrap_or(200).min(10_000);
    let entries: Vec<Value> = log
        .iter()
        .rev()
        .take(n)
        .map(|(at, actor, action, subject, detail)| json!({"at": at, "actor": actor, "action": action, "subject": subject, "detail": detail}))
        .collect();
    Ok(Json(json!({"entries": entries})).into_response())
}
