//! Errors as the client classifies them, the retry policy of reads (and the
//! single try of POST), and the per-client circuit breaker, against injected
//! faults of the test server.

use std::time::{Duration, Instant};

use bump_open311::{AttributeValue, BreakerConfig, Error, ErrorClass, Format, NewRequest, RequestQuery, RetryPolicy};
use bump_open311_server::{Fault, FaultRule, Route, TestServer};

use crate::common::{FORMATS, client, client_with, config, hits_to, no_retry, pothole, server};

fn rule(route: Route, fault: Fault, times: u32) -> FaultRule {
    FaultRule { route, fault, times }
}

fn statuses(server: &TestServer) -> Vec<u16> {
    server.hits().iter().map(|h| h.status).collect()
}

fn descriptions(err: &Error) -> Vec<String> {
    match err {
        Error::Status { errors, .. } => errors.iter().map(|e| e.description.clone()).collect(),
        other => panic!("an HTTP status error, not {other:?}"),
    }
}

// ------------------------------------------------------- refused or wrong

#[tokio::test]
async fn an_invalid_request_is_refused_before_anything_is_sent() {
    let server = server();
    let client = client(&server, Format::Json);
    for (lat, long) in [
        (90.5, 0.0),
        (-91.0, 0.0),
        (0.0, 180.01),
        (f64::NAN, 0.0),
        (0.0, f64::INFINITY),
    ] {
        let err = client
            .post_request(&NewRequest {
                lat,
                long,
                ..pothole("x")
            })
            .await
            .expect_err("not a WGS84 position");
        assert_eq!(err.class(), ErrorClass::Invalid, "({lat}, {long}): {err}");
        assert!(err.to_string().contains("not a WGS84 coordinate"), "{err}");
    }
    let err = client
        .post_request(&NewRequest {
            service_code: "  ".into(),
            ..pothole("x")
        })
        .await
        .expect_err("no service code");
    assert_eq!(err.class(), ErrorClass::Invalid);
    let mut cfg = config(&server, Format::Json);
    cfg.api_key = None;
    let err = client_with(cfg).post_request(&pothole("x")).await.expect_err("no key");
    assert_eq!(err.class(), ErrorClass::Invalid);
    assert!(
        server.hits().is_empty(),
        "nothing reached the server: {:?}",
        server.hits()
    );
}

#[tokio::test]
async fn a_wrong_key_is_forbidden_and_posted_once() {
    let server = server();
    for format in FORMATS {
        let mut cfg = config(&server, format);
        cfg.api_key = Some("not-the-key".into());
        let err = client_with(cfg).post_request(&pothole("x")).await.expect_err("403");
        assert_eq!(err.class(), ErrorClass::Forbidden, "{err}");
        assert_eq!(err.status(), Some(403));
        assert!(
            descriptions(&err).iter().any(|d| d.contains("Invalid api_key")),
            "{format:?}: {err}"
        );
        assert!(
            !err.to_string().contains("not-the-key"),
            "the key stays out of messages: {err}"
        );
    }
    assert_eq!(hits_to(&server, "POST", "").len(), 2, "one POST per format");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn an_unknown_service_code_is_not_found() {
    let server = server();
    for format in FORMATS {
        let client = client(&server, format);
        let err = client
            .post_request(&NewRequest {
                service_code: "NOPE".into(),
                ..pothole("x")
            })
            .await
            .expect_err("404");
        assert_eq!(err.class(), ErrorClass::NotFound, "{err}");
        assert!(descriptions(&err).iter().any(|d| d.contains("NOPE")), "{err}");
        let err = client.service_definition("NOPE").await.expect_err("404");
        assert_eq!(err.class(), ErrorClass::NotFound, "{err}");
    }
    assert_eq!(statuses(&server), [404, 404, 404, 404], "none retried");
}

#[tokio::test]
async fn the_servers_validation_errors_come_back_with_their_codes() {
    let server = server();
    for format in FORMATS {
        let err = client(&server, format)
            .post_request(&NewRequest {
                attributes: vec![
                    ("SIZE".into(), AttributeValue::Single("huge".into())),
                    ("DEPTH_CM".into(), AttributeValue::Single("deep".into())),
                ],
                ..pothole("x")
            })
            .await
            .expect_err("400");
        assert_eq!(err.class(), ErrorClass::BadRequest, "{err}");
        let Error::Status { errors, .. } = &err else {
            panic!("status error: {err}")
        };
        assert_eq!(errors.len(), 2, "{format:?}: {errors:?}");
        assert!(errors.iter().all(|e| e.code == "ATTR_INVALID"), "{errors:?}");
        assert!(errors[0].description.contains("huge"), "{errors:?}");
    }
    assert_eq!(statuses(&server), [400, 400]);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn reads_answered_400_403_or_404_are_not_retried() {
    for status in [400, 401, 403, 404, 410] {
        let server = server();
        server.push_fault(rule(Route::Services, Fault::Status(status), 10));
        let err = client(&server, Format::Json).services().await.expect_err("fault");
        assert_eq!(err.status(), Some(status), "{err}");
        assert!(!err.class().is_transient(), "{status}: {:?}", err.class());
        assert_eq!(server.hits().len(), 1, "{status}: tried once");
    }
}

// --------------------------------------------------------------- retries

#[tokio::test]
async fn a_read_answered_503_twice_succeeds_on_the_third_try() {
    let server = server();
    let client = client(&server, Format::Json);
    let id = client
        .post_request(&pothole("x"))
        .await
        .expect("created")
        .service_request_id
        .expect("id");
    server.push_fault(rule(Route::GetRequests, Fault::Status(503), 2));
    let found = client.requests(&RequestQuery::default()).await.expect("third try");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].service_request_id.as_deref(), Some(id.as_str()));
    let gets: Vec<u16> = hits_to(&server, "GET", "/requests.json")
        .iter()
        .map(|h| h.status)
        .collect();
    assert_eq!(gets, [503, 503, 200]);
}

#[tokio::test]
async fn a_read_gives_up_after_max_attempts() {
    let server = server();
    server.push_fault(rule(Route::Any, Fault::Status(502), 10));
    let mut cfg = config(&server, Format::Xml);
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        ..cfg.retry
    };
    let err = client_with(cfg).services().await.expect_err("502 three times");
    assert_eq!(err.class(), ErrorClass::Server, "{err}");
    assert_eq!(err.status(), Some(502));
    assert_eq!(statuses(&server), [502, 502, 502]);
}

/// A functional check that `Retry-After` is honoured (not a speed limit).
#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let server = server();
    server.push_fault(rule(Route::Services, Fault::RateLimited { retry_after_s: 1 }, 1));
    let client = client(&server, Format::Json);
    let t0 = Instant::now();
    let services = client.services().await.expect("after the wait");
    let waited = t0.elapsed();
    assert_eq!(services.len(), 2);
    assert!(waited >= Duration::from_millis(900), "waited only {waited:?}");
    assert_eq!(statuses(&server), [429, 200]);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_returned_at_once() {
    let server = server();
    server.push_fault(rule(Route::Services, Fault::RateLimited { retry_after_s: 3600 }, 1));
    let err = client(&server, Format::Json)
        .services()
        .await
        .expect_err("too long a wait");
    assert_eq!(err.class(), ErrorClass::RateLimited, "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(server.hits().len(), 1);
}

#[tokio::test]
async fn an_html_500_names_the_page_title() {
    let server = server();
    server.push_fault(rule(Route::Any, Fault::Html500, 1));
    let mut cfg = config(&server, Format::Json);
    cfg.retry = no_retry();
    let err = client_with(cfg).services().await.expect_err("500");
    assert_eq!(err.class(), ErrorClass::Server);
    assert!(err.to_string().contains("Server Error (500)"), "{err}");
    // With retries the next try succeeds.
    server.push_fault(rule(Route::Any, Fault::Html500, 1));
    assert_eq!(
        client(&server, Format::Json).services().await.expect("retried").len(),
        2
    );
}

#[tokio::test]
async fn a_hang_longer_than_the_timeout_is_a_timeout() {
    let server = server();
    server.push_fault(rule(Route::Services, Fault::Hang(Duration::from_secs(3)), 1));
    let mut cfg = config(&server, Format::Json);
    cfg.timeout = Duration::from_millis(300);
    cfg.retry = no_retry();
    let t0 = Instant::now();
    let err = client_with(cfg.clone()).services().await.expect_err("timeout");
    assert_eq!(err.class(), ErrorClass::Timeout, "{err}");
    assert!(matches!(err, Error::Timeout { timeout, .. } if timeout == Duration::from_millis(300)));
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "gave up before the server answered"
    );
    // A read that timed out is retried, and the retry is answered.
    server.push_fault(rule(Route::Services, Fault::Hang(Duration::from_secs(3)), 1));
    cfg.retry = crate::common::fast_retry();
    assert_eq!(client_with(cfg).services().await.expect("retried").len(), 2);
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_is_fine() {
    let server = server();
    server.push_fault(rule(Route::Services, Fault::Slow(Duration::from_millis(100)), 1));
    let mut cfg = config(&server, Format::Xml);
    cfg.timeout = Duration::from_millis(1_000);
    cfg.retry = no_retry();
    assert_eq!(client_with(cfg).services().await.expect("slow").len(), 2);
}

#[tokio::test]
async fn a_post_is_tried_once_even_on_503() {
    let server = server();
    server.push_fault(rule(Route::PostRequest, Fault::Status(503), 5));
    let err = client(&server, Format::Json)
        .post_request(&pothole("x"))
        .await
        .expect_err("503");
    assert_eq!(err.class(), ErrorClass::Server);
    assert_eq!(server.hits().len(), 1, "no retry of a POST");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_post_that_commits_then_fails_is_not_retried() {
    let server = server();
    server.push_fault(rule(Route::PostRequest, Fault::CommitThenStatus(500), 1));
    let err = client(&server, Format::Json)
        .post_request(&pothole("committed"))
        .await
        .expect_err("500 after commit");
    assert_eq!(err.class(), ErrorClass::Server, "{err}");
    assert_eq!(server.requests().len(), 1, "the request exists on the server");
    assert_eq!(hits_to(&server, "POST", "").len(), 1, "no blind retry");
}

#[tokio::test]
async fn a_post_that_commits_then_hangs_times_out_once() {
    let server = server();
    server.push_fault(rule(
        Route::PostRequest,
        Fault::CommitThenHang(Duration::from_secs(3)),
        1,
    ));
    let mut cfg = config(&server, Format::Xml);
    cfg.timeout = Duration::from_millis(300);
    let err = client_with(cfg)
        .post_request(&pothole("committed"))
        .await
        .expect_err("timeout");
    assert_eq!(err.class(), ErrorClass::Timeout, "{err}");
    assert_eq!(server.requests().len(), 1, "created although the client timed out");
    assert_eq!(server.hits().len(), 1, "no blind retry");
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let gone = server();
    let cfg = config(&gone, Format::Json);
    drop(gone);
    let err = client_with(cfg).services().await.expect_err("nobody listens");
    assert_eq!(err.class(), ErrorClass::Transport, "{err}");
}

// ------------------------------------------------------- circuit breaker

fn breaker_config(server: &TestServer, open_ms: u64) -> bump_open311::EndpointConfig {
    let mut cfg = config(server, Format::Json);
    cfg.retry = no_retry();
    cfg.breaker = BreakerConfig {
        failure_threshold: 2,
        open_ms,
    };
    cfg
}

#[tokio::test]
async fn two_failures_open_the_breaker_and_the_next_call_fails_fast() {
    let failing = server();
    let healthy = server();
    failing.push_fault(rule(Route::Any, Fault::Status(503), 100));
    let client = client_with(breaker_config(&failing, 60_000));
    let other = client_with(breaker_config(&healthy, 60_000));
    for _ in 0..2 {
        let err = client.services().await.expect_err("503");
        assert_eq!(err.class(), ErrorClass::Server, "{err}");
    }
    let t0 = Instant::now();
    let err = client.services().await.expect_err("open");
    assert_eq!(err.class(), ErrorClass::CircuitOpen, "{err}");
    assert!(t0.elapsed() < Duration::from_millis(200), "fails fast");
    let Error::CircuitOpen { failures, retry_in, .. } = &err else {
        panic!("CircuitOpen: {err}")
    };
    assert_eq!(*failures, 2, "{err}");
    assert!(*retry_in > Duration::from_secs(50), "{retry_in:?}");
    assert!(err.retry_after().is_some());
    let err = client.post_request(&pothole("x")).await.expect_err("open for POST too");
    assert_eq!(err.class(), ErrorClass::CircuitOpen, "{err}");
    assert_eq!(failing.hits().len(), 2, "nothing reached the server once open");
    // Clones share the breaker; another client to another server does not.
    let err = client.clone().services().await.expect_err("shared");
    assert_eq!(err.class(), ErrorClass::CircuitOpen);
    assert_eq!(other.services().await.expect("another endpoint works").len(), 2);
    other
        .post_request(&pothole("elsewhere"))
        .await
        .expect("filed elsewhere");
    assert_eq!(healthy.requests().len(), 1);
}

#[tokio::test]
async fn client_errors_do_not_open_the_breaker() {
    let server = server();
    server.push_fault(rule(Route::Services, Fault::Status(400), 3));
    let client = client_with(breaker_config(&server, 60_000));
    for _ in 0..3 {
        assert_eq!(
            client.services().await.expect_err("400").class(),
            ErrorClass::BadRequest
        );
    }
    assert_eq!(client.services().await.expect("still closed").len(), 2);
    assert_eq!(statuses(&server), [400, 400, 400, 200]);
}

#[tokio::test]
async fn a_successful_trial_after_the_open_time_closes_the_breaker() {
    let server = server();
    server.push_fault(rule(Route::Services, Fault::Status(500), 2));
    let client = client_with(breaker_config(&server, 150));
    for _ in 0..2 {
        client.services().await.expect_err("500");
    }
    assert_eq!(
        client.services().await.expect_err("open").class(),
        ErrorClass::CircuitOpen
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.services().await.expect("trial call").len(), 2);
    assert_eq!(client.services().await.expect("closed").len(), 2);
    assert_eq!(statuses(&server), [500, 500, 200, 200]);
}

#[tokio::test]
async fn a_failed_trial_reopens_the_breaker_for_longer() {
    let server = server();
    server.push_fault(rule(Route::Services, Fault::Status(500), 3));
    let client = client_with(breaker_config(&server, 150));
    for _ in 0..2 {
        client.services().await.expect_err("500");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        client.services().await.expect_err("trial fails").class(),
        ErrorClass::Server
    );
    let err = client.services().await.expect_err("open again");
    assert!(
        matches!(err, Error::CircuitOpen { retry_in, .. } if retry_in > Duration::from_millis(150)),
        "twice as long: {err}"
    );
    assert_eq!(server.hits().len(), 3);
}

#[tokio::test]
async fn every_fast_failure_reports_the_failures_that_opened_the_breaker() {
    let server = server();
    server.push_fault(rule(Route::Any, Fault::Status(503), 10));
    let client = client_with(breaker_config(&server, 60_000));
    for _ in 0..2 {
        client.services().await.expect_err("503");
    }
    for attempt in 0..3 {
        let err = client.services().await.expect_err("open");
        assert!(
            matches!(err, Error::CircuitOpen { failures: 2, .. }),
            "fast failure {attempt}: {err}"
        );
    }
}

#[tokio::test]
async fn a_read_whose_own_retries_open_the_breaker_returns_the_real_error() {
    let server = server();
    server.push_fault(rule(Route::Any, Fault::Status(503), 10));
    let mut cfg = breaker_config(&server, 60_000);
    cfg.retry = RetryPolicy {
        max_attempts: 4,
        base_delay_ms: 10,
        max_delay_ms: 100,
    };
    let client = client_with(cfg);
    let err = client.services().await.expect_err("503");
    assert_eq!(err.status(), Some(503), "the server's answer, not the breaker's: {err}");
    assert_eq!(server.hits().len(), 2, "no retry once the breaker opened");
    let err = client.services().await.expect_err("open");
    assert!(matches!(err, Error::CircuitOpen { failures: 2, .. }), "{err}");
}

#[tokio::test]
async fn a_half_open_breaker_lets_one_trial_through() {
    let server = server();
    server.push_fault(rule(Route::Any, Fault::Status(503), 2));
    let client = client_with(breaker_config(&server, 150));
    for _ in 0..2 {
        client.services().await.expect_err("503");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (a, b, c) = tokio::join!(client.services(), client.services(), client.services());
    let results = [a, b, c];
    let passed = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(Error::CircuitOpen { .. })))
        .count();
    assert_eq!((passed, refused), (1, 2), "{results:?}");
    assert_eq!(server.hits().len(), 3, "one trial reached the server");
    assert_eq!(client.services().await.expect("closed").len(), 2);
}
