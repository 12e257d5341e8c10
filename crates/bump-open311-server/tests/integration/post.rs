//! POST Service Request: success in both formats, and every validation rule.

use bump_open311_server::ServerConfig;

use crate::support::{
    KEY, assert_json, assert_xml, client, example, file_pothole, get, post, pothole, rich_config, send, start,
    xml_text, xml_texts,
};

#[tokio::test]
async fn realtime_post_answers_an_id_that_get_then_finds() {
    let server = start(example());
    let body = pothole(
        "address_string=1+City+Hall+Sq%2C+Boston&description=Deep+one&device_id=bump-1&media_url=https%3A%2F%2Fm.example%2F1.jpg\
         &attribute%5BSIZE%5D=large&attribute%5BDEPTH_CM%5D=7.5&attribute%5BSEEN_AT%5D=2026-11-20T14%3A03%3A11-05%3A00",
    );
    let answer = post(&server, "requests.json", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_json(&answer);
    let json = answer.json();
    let list = json.as_array().expect("array with one object");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["service_request_id"], "SR-000001");
    assert!(list[0]["service_notice"].is_string());
    assert!(list[0]["account_id"].is_null());
    assert!(list[0].get("token").is_none(), "no token beside an id");

    let stored = server.requests();
    assert_eq!(stored.len(), 1);
    let request = &stored[0];
    assert_eq!(request.service_request_id, "SR-000001");
    assert_eq!(request.jurisdiction_id, "example.org");
    assert_eq!(request.service_name, "Pothole");
    assert_eq!(request.status, "open");
    assert_eq!(request.lat, Some(42.358431));
    assert_eq!(request.long, Some(-71.059773));
    assert_eq!(request.address_string.as_deref(), Some("1 City Hall Sq, Boston"));
    assert_eq!(request.device_id.as_deref(), Some("bump-1"));
    assert_eq!(request.media_url.as_deref(), Some("https://m.example/1.jpg"));
    assert_eq!(request.requested_datetime, request.updated_datetime);
    assert_eq!(request.requested_datetime.timestamp_subsec_nanos(), 0, "whole seconds");
    assert!(request.form.iter().all(|(k, _)| k != "api_key"), "api_key is not kept");
    assert!(
        request
            .form
            .contains(&("service_code".to_owned(), "REQPOTHL".to_owned()))
    );
    assert_eq!(
        request.attributes,
        [
            ("SIZE".to_owned(), "large".to_owned()),
            ("DEPTH_CM".to_owned(), "7.5".to_owned()),
            ("SEEN_AT".to_owned(), "2026-11-20T14:03:11-05:00".to_owned())
        ]
    );

    let one = get(&server, "requests/SR-000001.json").await;
    assert_eq!(one.status, 200);
    let item = &one.json()[0];
    assert_eq!(item["service_request_id"], "SR-000001");
    assert_eq!(item["status"], "open");
    assert_eq!(item["service_code"], "REQPOTHL");
    assert_eq!(item["service_name"], "Pothole");
    assert_eq!(item["description"], "Deep one");
    assert_eq!(item["address"], "1 City Hall Sq, Boston");
    assert_eq!(item["lat"], 42.358431);
    assert_eq!(item["long"], -71.059773);
    assert_eq!(item["media_url"], "https://m.example/1.jpg");
    let written = item["requested_datetime"].as_str().expect("datetime");
    assert!(written.ends_with('Z') && written.len() == 20, "{written}");
    for absent in [
        "status_notes",
        "agency_responsible",
        "service_notice",
        "expected_datetime",
        "address_id",
        "zipcode",
    ] {
        assert!(item[absent].is_null(), "{absent} is null");
    }
    let keys: Vec<&String> = item.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 17, "every spec field is present: {keys:?}");

    let window = get(&server, "requests.json").await;
    assert_eq!(window.status, 200);
    assert_eq!(window.json()[0]["service_request_id"], "SR-000001");
}

#[tokio::test]
async fn realtime_post_in_xml() {
    let server = start(example());
    let answer = post(&server, "requests.xml", &pothole("")).await;
    assert_eq!(answer.status, 200);
    assert_xml(&answer);
    assert!(
        answer.body.contains("\n<service_requests>\n  <request>\n"),
        "{}",
        answer.body
    );
    assert_eq!(xml_text(&answer.body, "service_request_id"), "SR-000001");
    assert_eq!(xml_text(&answer.body, "account_id"), "");
    let again = file_pothole(&server, "").await;
    assert_eq!(again, "SR-000002", "ids are sequential per server");
    let list = get(&server, "requests/SR-000001.xml").await;
    assert_xml(&list);
    assert_eq!(xml_texts(&list.body, "request").len(), 1);
    assert_eq!(xml_text(&list.body, "address"), "");
    assert_eq!(xml_text(&list.body, "lat"), "42.358431");
}

#[tokio::test]
async fn api_key_missing_or_wrong_is_403() {
    let server = start(example());
    let missing = post(&server, "requests.json", "service_code=REQPOTHL&lat=1&long=1").await;
    assert_eq!(missing.status, 403);
    assert_eq!(missing.error_codes(), ["403"]);
    let wrong = post(
        &server,
        "requests.xml",
        "api_key=nope&service_code=REQPOTHL&lat=1&long=1",
    )
    .await;
    assert_eq!(wrong.status, 403);
    assert_xml(&wrong);
    assert_eq!(xml_text(&wrong.body, "code"), "403");
    assert!(xml_text(&wrong.body, "description").contains("api_key"));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn several_errors_come_in_one_body() {
    let server = start(rich_config());
    let answer = post(&server, "requests.json", &format!("api_key={KEY}")).await;
    assert_eq!(answer.status, 400);
    let errors = answer.errors();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].1.contains("service_code"));
    assert!(errors[1].1.contains("location"));

    let answer = post(
        &server,
        "requests.json",
        &format!("api_key={KEY}&service_code=ROADDMG&lat=95&long=0"),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_codes(), ["400", "ATTR_REQUIRED"], "{}", answer.body);
    assert!(answer.errors()[1].1.contains("SEVERITY"));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn unknown_service_code_is_404() {
    let server = start(example());
    let answer = post(
        &server,
        "requests.json",
        &format!("api_key={KEY}&service_code=NOPE&lat=1&long=1"),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.error_codes(), ["404"]);
    let answer = post(
        &server,
        "requests.xml",
        &format!("api_key={KEY}&service_code=NOPE&lat=1&long=1"),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(xml_text(&answer.body, "description"), "service_code NOPE not found");
}

#[tokio::test]
async fn location_rules() {
    let server = start(example());
    let base = format!("api_key={KEY}&service_code=REQPOTHL");
    for bad in [
        "lat=42.3",
        "long=-71.0",
        "lat=91&long=0",
        "lat=0&long=181",
        "lat=north&long=west",
        "lat=NaN&long=1",
        "",
    ] {
        let answer = post(&server, "requests.json", &format!("{base}&{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert_eq!(answer.error_codes(), ["400"], "{bad}");
    }
    let answer = post(
        &server,
        "requests.json",
        &format!("{base}&lat=1&long=2000&address_string=Main+St"),
    )
    .await;
    assert_eq!(answer.status, 400, "lat/long must be valid even with an address");
    for good in ["address_string=1+Main+St", "address_id=A-77", "lat=-90&long=180"] {
        let answer = post(&server, "requests.json", &format!("{base}&{good}")).await;
        assert_eq!(answer.status, 200, "{good}: {}", answer.body);
    }
    let by_id = get(&server, "requests/SR-000002.json").await;
    assert_eq!(by_id.json()[0]["address_id"], "A-77");
    assert!(by_id.json()[0]["lat"].is_null());
}

#[tokio::test]
async fn attribute_values_are_checked_against_the_definition() {
    let server = start(example());
    for bad in [
        "attribute%5BSIZE%5D=huge",
        "attribute%5BDEPTH_CM%5D=deep",
        "attribute%5BSEEN_AT%5D=2026-11-20T14%3A03%3A11",
        "attribute%5BSEEN_AT%5D=yesterday",
        "attribute%5BCOLOUR%5D=red",
        "attribute%5BSIZE%5D%5B%5D=small",
        "attribute%5BSIZE%5D=small&attribute%5BSIZE%5D=large",
        "attribute%5BSIZE=small",
    ] {
        let answer = post(&server, "requests.json", &pothole(bad)).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert_eq!(answer.errors().len(), 1, "{bad}");
        assert!(answer.error_codes()[0].starts_with("ATTR_"), "{bad}: {}", answer.body);
    }
    let answer = post(
        &server,
        "requests.json",
        &pothole("attribute%5BSIZE%5D=huge&attribute%5BDEPTH_CM%5D=x"),
    )
    .await;
    assert_eq!(answer.error_codes(), ["ATTR_INVALID", "ATTR_INVALID"]);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn required_and_multivalued_attributes() {
    let server = start(rich_config());
    let base = format!("api_key={KEY}&service_code=ROADDMG&address_string=Main+St");
    let answer = post(&server, "requests.json", &base).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_codes(), ["ATTR_REQUIRED"]);
    let answer = post(
        &server,
        "requests.json",
        &format!("{base}&attribute%5BLANES%5D%5B%5D=L&attribute%5BSEVERITY%5D=3&attribute%5BLANES%5D%5B%5D=X"),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(answer.errors()[0].1.contains("LANES"));
    let answer = post(
        &server,
        "requests.json",
        &format!("{base}&attribute%5BLANES%5D%5B%5D=L&attribute%5BSEVERITY%5D=3&attribute%5BLANES%5D%5B%5D=C&attribute%5BNOTE%5D=a%0Ab"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let pairs: Vec<(&str, &str)> = vec![("LANES", "L"), ("SEVERITY", "3"), ("LANES", "C"), ("NOTE", "a\nb")];
    let stored = &server.requests()[0];
    let got: Vec<(&str, &str)> = stored
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, pairs);
}

#[tokio::test]
async fn description_is_limited_to_4000_characters() {
    let server = start(example());
    let at_limit = "é".repeat(4000);
    let answer = post(
        &server,
        "requests.json",
        &pothole(&format!("description={}", "%C3%A9".repeat(4000))),
    )
    .await;
    assert_eq!(answer.status, 200, "4000 characters (8000 bytes) are fine");
    assert_eq!(server.requests()[0].description.as_deref(), Some(at_limit.as_str()));
    let answer = post(
        &server,
        "requests.json",
        &pothole(&format!("description={}", "a".repeat(4001))),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(answer.errors()[0].1.contains("4000"));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn empty_parameters_are_refused_by_default() {
    let server = start(example());
    let answer = post(&server, "requests.json", &pothole("jurisdiction_id=&description=")).await;
    assert_eq!(answer.status, 400);
    let errors = answer.errors();
    assert_eq!(errors.len(), 2);
    assert!(errors[0].1.contains("jurisdiction_id") && errors[1].1.contains("description"));
    let answer = get(&server, "services.json?jurisdiction_id=").await;
    assert_eq!(answer.status, 400);
    let answer = get(&server, "requests.xml?status=").await;
    assert_eq!(answer.status, 400);
    assert_xml(&answer);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn empty_parameters_count_as_absent_when_allowed() {
    let server = start(ServerConfig {
        reject_empty_params: false,
        ..example()
    });
    let answer = post(
        &server,
        "requests.json",
        &pothole("jurisdiction_id=&description=&attribute%5BSIZE%5D="),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stored = &server.requests()[0];
    assert_eq!(stored.description, None);
    assert!(stored.attributes.is_empty());
    assert!(
        stored.form.contains(&("description".to_owned(), String::new())),
        "the raw form keeps it"
    );
    assert_eq!(get(&server, "services.json?jurisdiction_id=").await.status, 200);
}

#[tokio::test]
async fn the_body_must_be_form_urlencoded_but_the_query_string_counts() {
    let server = start(example());
    let url = format!("{}requests.json", server.base_url());
    let answer = send(
        client()
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"service_code":"REQPOTHL"}"#),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(answer.errors()[0].1.contains("x-www-form-urlencoded"));
    let answer = send(client().post(&url).body(pothole(""))).await;
    assert_eq!(answer.status, 400, "no content type");
    let answer = send(client().post(format!("{url}?{}", pothole("description=from+query")))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(server.requests()[0].description.as_deref(), Some("from query"));
}

#[tokio::test]
async fn descriptions_are_escaped_in_xml() {
    let server = start(example());
    let id = file_pothole(
        &server,
        "description=Fish+%26+chips+%3Cb%3Ebig%3C%2Fb%3E+%22quoted%22+it%27s%0D%0Anext",
    )
    .await;
    let answer = get(&server, &format!("requests/{id}.xml")).await;
    assert!(
        answer.body.contains(
            "<description>Fish &amp; chips &lt;b&gt;big&lt;/b&gt; &quot;quoted&quot; it&apos;s&#13;\nnext</description>"
        ),
        "{}",
        answer.body
    );
    assert_eq!(
        xml_text(&answer.body, "description"),
        "Fish & chips <b>big</b> \"quoted\" it's\r\nnext"
    );
    let json = get(&server, &format!("requests/{id}.json")).await;
    assert_eq!(
        json.json()[0]["description"],
        "Fish & chips <b>big</b> \"quoted\" it's\r\nnext"
    );
}

#[tokio::test]
async fn blackbox_answers_an_empty_request_but_creates_it() {
    let server = start(rich_config());
    let body = format!("api_key={KEY}&service_code=GRAFFITI&address_string=Main+St");
    let answer = post(&server, "requests.json", &body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), serde_json::json!([{}]));
    let answer = post(&server, "requests.xml", &body).await;
    assert_eq!(xml_texts(&answer.body, "request"), ["\n  "], "{}", answer.body);
    assert!(!answer.body.contains("service_request_id") && !answer.body.contains("token"));
    assert_eq!(server.requests().len(), 2);
    let listed = get(&server, "requests.json?service_code=GRAFFITI").await;
    assert_eq!(listed.json().as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let server = start(example());
    let answer = get(&server, "nothing.json").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.error_codes(), ["404"]);
    let answer = get(&server, "request/SR-000001.json").await;
    assert_eq!(answer.status, 404, "the Swagger's singular path is not the spec's");
    let answer = get(&server, "services").await;
    assert_eq!(answer.status, 404);
    assert_xml(&answer);
    let answer = get(&server, "requests/SR-999999.json").await;
    assert_eq!(answer.status, 404);
    assert!(answer.errors()[0].1.contains("SR-999999"));
    let answer = send(client().put(format!("{}requests.json", server.base_url()))).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.headers["allow"], "GET, HEAD, POST");
    assert_eq!(answer.error_codes(), ["405"]);
    let answer = post(&server, "services.xml", "").await;
    assert_eq!(answer.status, 405);
    assert_xml(&answer);
}
