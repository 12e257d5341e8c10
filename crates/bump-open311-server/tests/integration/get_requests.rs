//! GET Service Requests: filters, the 90-day window, paging, closing.

use chrono::{Duration, TimeZone, Utc};

use crate::support::{example, file_pothole, get, rich_config, start, xml_text, xml_texts};

fn ids(answer: &crate::support::Answer) -> Vec<String> {
    answer
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["service_request_id"].as_str().expect("id").to_owned())
        .collect()
}

fn w3(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[tokio::test]
async fn the_window_is_at_most_90_days_and_needs_a_zone() {
    let server = start(example());
    file_pothole(&server, "").await;
    let now = Utc::now();
    let start = w3(now - Duration::days(91));
    let end = w3(now + Duration::hours(1));
    let answer = get(&server, &format!("requests.json?start_date={start}&end_date={end}")).await;
    assert_eq!(answer.status, 400);
    assert!(answer.errors()[0].1.contains("90 days"));
    let start = w3(now - Duration::days(89));
    let answer = get(&server, &format!("requests.json?start_date={start}&end_date={end}")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(ids(&answer), ["SR-000001"]);
    let answer = get(&server, "requests.json?start_date=2026-01-01T00:00:00").await;
    assert_eq!(answer.status, 400, "no zone");
    let answer = get(
        &server,
        "requests.json?start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(answer.status, 400, "end before start");
    let answer = get(&server, "requests.json?start_date=2026-01-01&status=pending").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.errors().len(), 2, "both problems: {}", answer.body);
    // A past window misses today's request; only an end date means the 90 days before it.
    let past = w3(now - Duration::days(30));
    assert!(ids(&get(&server, &format!("requests.json?end_date={past}")).await).is_empty());
    assert!(ids(&get(&server, &format!("requests.json?start_date={past}")).await).len() == 1);
    let offset = (now - Duration::hours(1)).with_timezone(&chrono::FixedOffset::west_opt(5 * 3600).expect("offset"));
    let since = offset.format("%Y-%m-%dT%H:%M:%S%:z").to_string().replace('+', "%2B");
    assert_eq!(
        ids(&get(&server, &format!("requests.json?start_date={since}")).await),
        ["SR-000001"]
    );
}

#[tokio::test]
async fn filters_by_status_code_and_id() {
    let server = start(rich_config());
    let first = file_pothole(&server, "").await;
    let second = file_pothole(&server, "").await;
    let answer = crate::support::post(
        &server,
        "requests.json",
        &format!("api_key={}&service_code=GRAFFITI&address_string=x", crate::support::KEY),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(server.close_request(&first, Utc::now(), "Filled"));

    assert_eq!(
        ids(&get(&server, "requests.json?status=closed").await),
        [first.as_str()]
    );
    assert_eq!(
        ids(&get(&server, "requests.json?status=open").await),
        [second.clone(), "SR-000003".to_owned()]
    );
    assert_eq!(ids(&get(&server, "requests.json?status=open,closed").await).len(), 3);
    assert_eq!(get(&server, "requests.json?status=fixed").await.status, 400);
    assert_eq!(
        ids(&get(&server, "requests.json?service_code=GRAFFITI").await),
        ["SR-000003"]
    );
    assert_eq!(
        ids(&get(&server, "requests.json?service_code=REQPOTHL,GRAFFITI").await).len(),
        3
    );
    assert!(ids(&get(&server, "requests.json?service_code=NOPE").await).is_empty());
    // service_request_id overrides everything else, even filters that would exclude it.
    let answer = get(
        &server,
        &format!("requests.json?service_request_id={second},SR-000003,SR-777&status=closed&start_date=bad"),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(ids(&answer), [second, "SR-000003".to_owned()]);
}

#[tokio::test]
async fn pages_of_the_extension() {
    let server = start(example());
    for _ in 0..5 {
        file_pothole(&server, "").await;
    }
    let page = |n: u32| format!("requests.json?page_size=2&page={n}");
    assert_eq!(ids(&get(&server, &page(1)).await), ["SR-000001", "SR-000002"]);
    assert_eq!(ids(&get(&server, &page(2)).await), ["SR-000003", "SR-000004"]);
    assert_eq!(ids(&get(&server, &page(3)).await), ["SR-000005"]);
    assert!(ids(&get(&server, &page(4)).await).is_empty());
    assert_eq!(
        ids(&get(&server, "requests.json?page=2").await).len(),
        0,
        "default page size 1000"
    );
    assert_eq!(ids(&get(&server, "requests.json?page_size=1000").await).len(), 5);
    for bad in ["page_size=1001", "page=0", "page_size=0", "page=two"] {
        assert_eq!(get(&server, &format!("requests.json?{bad}")).await.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn closing_changes_status_notes_and_updated_datetime() {
    let server = start(example());
    let id = file_pothole(&server, "").await;
    let closed_at = Utc::now() + Duration::hours(2);
    let closed_at = Utc.timestamp_opt(closed_at.timestamp(), 0).single().expect("time");
    assert!(server.close_request(&id, closed_at, "Case resolved & filled"));
    assert!(!server.close_request("SR-999", closed_at, "no such request"));
    let stored = &server.requests()[0];
    assert_eq!(stored.status, "closed");
    assert_eq!(stored.updated_datetime, closed_at);
    assert_ne!(stored.requested_datetime, closed_at);
    let answer = get(&server, &format!("requests/{id}.json")).await;
    let item = &answer.json()[0];
    assert_eq!(item["status"], "closed");
    assert_eq!(item["status_notes"], "Case resolved & filled");
    assert_eq!(item["updated_datetime"], w3(closed_at));
    let xml = get(&server, &format!("requests/{id}.xml")).await;
    assert_eq!(xml_text(&xml.body, "status_notes"), "Case resolved & filled");
    assert_eq!(xml_texts(&xml.body, "updated_datetime"), [w3(closed_at)]);
}

#[tokio::test]
async fn empty_lists_in_both_formats() {
    let server = start(example());
    let json = get(&server, "requests.json").await;
    assert_eq!(json.body, "[]");
    let xml = get(&server, "requests.xml").await;
    assert!(
        xml.body.ends_with("<service_requests>\n</service_requests>\n"),
        "{}",
        xml.body
    );
}
