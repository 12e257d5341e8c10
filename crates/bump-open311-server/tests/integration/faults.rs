//! Every fault, the queue order, and the hit log.

use std::time::{Duration, Instant};

use bump_open311_server::{Fault, FaultRule, Hit, Quirk, Route};

use crate::support::{
    assert_json, assert_xml, client_with_timeout, example, file_pothole, get, post, pothole, start, xml_text,
};

#[tokio::test]
async fn status_fault_answers_a_spec_error_body_in_the_requested_format() {
    let server = start(example());
    server.push_fault(FaultRule {
        route: Route::Services,
        fault: Fault::Status(503),
        times: 2,
    });
    let first = get(&server, "services.json").await;
    assert_eq!(first.status, 503);
    assert_json(&first);
    assert_eq!(first.error_codes(), ["503"]);
    let second = get(&server, "services.xml").await;
    assert_eq!(second.status, 503);
    assert_xml(&second);
    assert_eq!(xml_text(&second.body, "code"), "503");
    assert_eq!(get(&server, "services.json").await.status, 200, "used up after `times`");
    let statuses: Vec<u16> = server.hits().iter().map(|h| h.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
}

#[tokio::test]
async fn the_first_matching_rule_in_the_queue_applies() {
    let server = start(example());
    server.push_fault(FaultRule::once(Route::GetRequest, Fault::Status(500)));
    server.push_fault(FaultRule {
        route: Route::Any,
        fault: Fault::Status(502),
        times: 2,
    });
    server.push_fault(FaultRule::once(Route::Services, Fault::Status(504)));
    assert_eq!(
        get(&server, "services.json").await.status,
        502,
        "Any is ahead of Services"
    );
    assert_eq!(get(&server, "requests/SR-1.json").await.status, 500);
    assert_eq!(get(&server, "requests/SR-1.json").await.status, 502);
    assert_eq!(get(&server, "services.json").await.status, 504);
    assert_eq!(get(&server, "services.json").await.status, 200);
    assert_eq!(get(&server, "requests/SR-1.json").await.status, 404);
}

#[tokio::test]
async fn commit_faults_only_match_posts() {
    let server = start(example());
    server.push_fault(FaultRule::once(Route::Any, Fault::CommitThenStatus(500)));
    assert_eq!(get(&server, "services.json").await.status, 200);
    assert_eq!(post(&server, "requests.json", &pothole("")).await.status, 500);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn html_500() {
    let server = start(example());
    server.push_fault(FaultRule::once(Route::PostRequest, Fault::Html500));
    let answer = post(&server, "requests.json", &pothole("")).await;
    assert_eq!(answer.status, 500);
    assert!(answer.content_type.starts_with("text/html"));
    assert!(answer.body.contains("<title>Server Error (500)</title>"));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn rate_limited_sends_retry_after() {
    let server = start(example());
    server.push_fault(FaultRule::once(
        Route::GetRequests,
        Fault::RateLimited { retry_after_s: 7 },
    ));
    let answer = get(&server, "requests.json").await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.headers["retry-after"], "7");
    assert_eq!(answer.error_codes(), ["429"]);
    assert_eq!(get(&server, "requests.json").await.status, 200);
}

#[tokio::test]
async fn a_hang_outlasts_the_client_and_creates_nothing() {
    let server = start(example());
    server.push_fault(FaultRule::once(
        Route::PostRequest,
        Fault::Hang(Duration::from_millis(600)),
    ));
    let impatient = client_with_timeout(Duration::from_millis(150));
    let result = impatient
        .post(format!("{}requests.json", server.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pothole(""))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    // Recorded on arrival with the status it would answer.
    assert_eq!(server.hits()[0].status, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        server.requests().is_empty(),
        "the abandoned request was never processed"
    );
    assert_eq!(file_pothole(&server, "").await, "SR-000001", "the retry files once");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_hang_a_patient_client_waits_out_is_answered_normally() {
    let server = start(example());
    server.push_fault(FaultRule::once(
        Route::Discovery,
        Fault::Hang(Duration::from_millis(200)),
    ));
    let started = Instant::now();
    let answer = crate::support::get_url(&server.discovery_url()).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(answer.status, 200);
    assert_eq!(server.hits()[0].status, 200);
}

#[tokio::test]
async fn slow_answers_normally_after_the_delay() {
    let server = start(example());
    server.push_fault(FaultRule::once(
        Route::Services,
        Fault::Slow(Duration::from_millis(250)),
    ));
    let started = Instant::now();
    let answer = get(&server, "services.json").await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json().as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn commit_then_status_creates_but_reports_failure() {
    let server = start(example());
    server.push_fault(FaultRule::once(Route::PostRequest, Fault::CommitThenStatus(502)));
    let answer = post(&server, "requests.json", &pothole("description=marker-1")).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.error_codes(), ["502"]);
    assert_eq!(server.requests().len(), 1, "created all the same");
    let listed = get(&server, "requests.json").await;
    assert_eq!(listed.json()[0]["description"], "marker-1", "visible to GET");
    // A POST that fails validation gets its real error, and the rule is spent.
    server.push_fault(FaultRule::once(Route::PostRequest, Fault::CommitThenStatus(502)));
    let invalid = post(&server, "requests.json", "api_key=wrong").await;
    assert_eq!(invalid.status, 403);
    assert_eq!(post(&server, "requests.json", &pothole("")).await.status, 200);
}

#[tokio::test]
async fn commit_then_hang_creates_while_the_client_times_out() {
    let server = start(example());
    server.push_fault(FaultRule::once(
        Route::PostRequest,
        Fault::CommitThenHang(Duration::from_millis(800)),
    ));
    let impatient = client_with_timeout(Duration::from_millis(150));
    let result = impatient
        .post(format!("{}requests.json", server.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(pothole("device_id=bump-7"))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    let stored = server.requests();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].device_id.as_deref(), Some("bump-7"));
    assert_eq!(server.hits()[0].status, 200);
}

#[tokio::test]
async fn odd_error_bodies_apply_to_faults_too() {
    let server = start(example());
    server.set_quirk(Some(Quirk::OddErrors));
    server.push_fault(FaultRule::once(Route::Services, Fault::Status(500)));
    let answer = get(&server, "services.json").await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.json()["code"], 500);
}

#[tokio::test]
async fn hits_record_method_path_query_and_status() {
    let server = start(example());
    get(&server, "services.json?jurisdiction_id=example.org").await;
    post(&server, "requests.xml", "api_key=bad").await;
    get(&server, "nothing.json").await;
    let admin = crate::support::get_url(&format!("http://{}/_admin/hits", server.addr())).await;
    assert_eq!(admin.status, 200);
    let hits = server.hits();
    assert_eq!(
        hits,
        [
            Hit {
                method: "GET".to_owned(),
                path: "/open311/v2/services.json".to_owned(),
                query: "jurisdiction_id=example.org".to_owned(),
                status: 200
            },
            Hit {
                method: "POST".to_owned(),
                path: "/open311/v2/requests.xml".to_owned(),
                query: String::new(),
                status: 403
            },
            Hit {
                method: "GET".to_owned(),
                path: "/open311/v2/nothing.json".to_owned(),
                query: String::new(),
                status: 404
            },
        ]
    );
    assert_eq!(
        admin.json().as_array().map(Vec::len),
        Some(3),
        "admin routes are not hits"
    );
}
