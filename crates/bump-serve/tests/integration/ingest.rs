use std::io::Write;

use crate::support::{Server, device_of, fixture_lines};

async fn raw(
    s: &Server,
    token: Option<&str>,
    ctype: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, serde_json::Value, Option<String>) {
    let mut rb = s
        .http
        .post(format!("{}/api/v1/batches", s.url))
        .header("content-type", ctype)
        .body(body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(e) = encoding {
        rb = rb.header("content-encoding", e);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap_or_default(),
        retry,
    )
}

/// The batch of `line` with one reading changed: the same key, other content.
fn with_other_content(line: &str) -> String {
    let mut changed: serde_json::Value = serde_json::from_str(line).unwrap();
    changed["accel"]["z"][0] = serde_json::json!(1.5);
    changed.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_upload_is_counted_once_and_a_changed_one_refused() {
    let s = Server::start(|_| {}).await;
    let line = &fixture_lines()[0];
    let (st, v) = s.upload(line).await;
    assert_eq!((st, v["duplicate"].as_bool()), (202, Some(false)), "{v}");
    let (st, v) = s.upload(line).await;
    assert_eq!((st, v["duplicate"].as_bool()), (202, Some(true)), "{v}");
    // The same key with other content.
    let (st, v) = s.upload(&with_other_content(line)).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["field"], "seq");
    assert_eq!(s.metric("streetbump_batches_accepted_total ").await, 1.0);
    assert_eq!(s.metric("streetbump_batches_duplicate_total ").await, 1.0);
    // Each of the three answers took one write transaction, timed.
    assert_eq!(
        s.metric("streetbump_store_write_seconds_count{op=\"put_batches\"} ")
            .await,
        3.0
    );
    assert!(
        s.metric("streetbump_store_write_seconds_max{op=\"put_batches\"} ")
            .await
            > 0.0
    );
    s.stop().await;
}

/// A batch stored by a server from before content digests (its digest
/// taken over the canonical JSON) is still recognised when retried, and a
/// different batch under its key is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stored_with_the_old_digest_is_recognised_when_retried() {
    let s = Server::start(|_| {}).await;
    let line = &fixture_lines()[0];
    let batch = bump_core::TripBatch::from_json(line.as_bytes()).unwrap();
    let canonical = serde_json::to_vec(&batch).unwrap();
    let old = bump_serve::auth::digest(&canonical);
    assert!(!old.starts_with(bump_serve::auth::BATCH_DIGEST_PREFIX));
    s.store
        .put_batch(
            batch.trip_id.as_str(),
            batch.seq,
            batch.device_id.as_str(),
            batch.is_final,
            &canonical,
            &old,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let (st, v) = s.upload(line).await;
    assert_eq!((st, v["duplicate"].as_bool()), (202, Some(true)), "{v}");
    let (st, v) = s.upload(&with_other_content(line)).await;
    assert_eq!(st, 409, "{v}");
    // A retry reformatted is the same batch too.
    let reformatted = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(line).unwrap()).unwrap();
    let (st, v) = s.upload(&reformatted).await;
    assert_eq!((st, v["duplicate"].as_bool()), (202, Some(true)), "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_upload_gets_its_status_and_names_the_problem() {
    let s = Server::start(|c| c.serve.max_body_bytes = 256 * 1024).await;
    let line = fixture_lines()[0].clone();
    let token = s.tokens[&device_of(&line)].clone();
    let other = s.tokens.values().find(|t| **t != token).unwrap().clone();
    let json = "application/json";
    // No token, unknown token.
    assert_eq!(raw(&s, None, json, None, line.clone().into_bytes()).await.0, 401);
    assert_eq!(
        raw(&s, Some("nope"), json, None, line.clone().into_bytes()).await.0,
        401
    );
    // Another device's token.
    let (st, v, _) = raw(&s, Some(&other), json, None, line.clone().into_bytes()).await;
    assert_eq!((st, v["field"].as_str()), (403, Some("device_id")), "{v}");
    // Not JSON.
    assert_eq!(
        raw(&s, Some(&token), "text/csv", None, line.clone().into_bytes())
            .await
            .0,
        415
    );
    assert_eq!(
        raw(&s, Some(&token), json, Some("br"), line.clone().into_bytes())
            .await
            .0,
        415
    );
    // Truncated JSON.
    let (st, v, _) = raw(&s, Some(&token), json, None, line.as_bytes()[..line.len() / 2].to_vec()).await;
    assert_eq!((st, v["field"].as_str()), (400, Some("body")), "{v}");
    // Valid JSON, invalid batch: the field is named.
    let mut bad: serde_json::Value = serde_json::from_str(&line).unwrap();
    bad["gps"][0]["lat"] = serde_json::json!(123.0);
    let (st, v, _) = raw(&s, Some(&token), json, None, bad.to_string().into_bytes()).await;
    assert_eq!(st, 422, "{v}");
    assert!(v["field"].as_str().unwrap().starts_with("gps[0]"), "{v}");
    let mut bad: serde_json::Value = serde_json::from_str(&line).unwrap();
    bad["schema"] = serde_json::json!("other/1");
    let (st, v, _) = raw(&s, Some(&token), json, None, bad.to_string().into_bytes()).await;
    assert_eq!((st, v["field"].as_str()), (422, Some("schema")), "{v}");
    // Too large, plain and as a gzip bomb.
    assert_eq!(raw(&s, Some(&token), json, None, vec![b' '; 300 * 1024]).await.0, 413);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![b' '; 4 << 20]).unwrap();
    let bomb = e.finish().unwrap();
    assert_eq!(raw(&s, Some(&token), json, Some("gzip"), bomb).await.0, 413);
    // Nothing was stored, everything was counted.
    assert_eq!(s.metric("streetbump_batches_accepted_total ").await, 0.0);
    assert_eq!(
        s.metric("streetbump_batches_rejected_total{reason=\"unauthorized\"} ")
            .await,
        2.0
    );
    // And a good one, gzip-compressed, still goes through.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(line.as_bytes()).unwrap();
    let (st, v, _) = raw(&s, Some(&token), json, Some("gzip"), e.finish().unwrap()).await;
    assert_eq!(st, 202, "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_answers_503_with_retry_after() {
    // Trips wait for their final batch (an hour), so the backlog only grows.
    let s = Server::start(|c| c.serve.max_pending_batches = 2).await;
    let firsts: Vec<String> = fixture_lines()
        .into_iter()
        .filter(|l| l.contains("\"final\":false"))
        .take(3)
        .collect();
    assert_eq!(s.upload(&firsts[0]).await.0, 202);
    assert_eq!(s.upload(&firsts[1]).await.0, 202);
    let line = &firsts[2];
    let (st, _, retry) = raw(
        &s,
        Some(&s.tokens[&device_of(line)]),
        "application/json",
        None,
        line.clone().into_bytes(),
    )
    .await;
    assert_eq!(st, 503);
    assert_eq!(retry.as_deref(), Some("30"));
    s.stop().await;
}
