//! Every quirk's shapes.

use bump_open311_server::Quirk;
use serde_json::json;

use crate::support::{KEY, assert_xml, example, file_pothole, get, post, pothole, start, xml_text};

#[tokio::test]
async fn numeric_ids_are_json_numbers() {
    let server = start(example());
    server.set_quirk(Some(Quirk::NumericIds));
    let answer = post(&server, "requests.json", &pothole("")).await;
    assert_eq!(answer.json()[0]["service_request_id"], json!(293944));
    assert_eq!(server.requests()[0].service_request_id, "293944");
    let listed = get(&server, "requests/293944.json").await;
    assert_eq!(listed.json()[0]["service_request_id"], json!(293944));
    let token = post(
        &server,
        "requests.json",
        &format!("api_key={KEY}&service_code=REQCASTG&lat=1&long=1"),
    )
    .await;
    assert_eq!(token.json()[0]["token"], json!(12345));
    let xml = get(&server, "requests/293944.xml").await;
    assert_eq!(xml_text(&xml.body, "service_request_id"), "293944");
    server.set_quirk(None);
    assert_eq!(
        get(&server, "requests/293944.json").await.json()[0]["service_request_id"],
        json!("293944")
    );
    assert_eq!(
        file_pothole(&server, "").await,
        "SR-000002",
        "string ids again, same sequence"
    );
}

#[tokio::test]
async fn wrapped_lists_like_fixmystreet() {
    let server = start(example());
    server.set_quirk(Some(Quirk::WrappedLists));
    let services = get(&server, "services.json").await.json();
    assert_eq!(services["services"].as_array().map(Vec::len), Some(2), "{services}");
    let created = post(&server, "requests.json", &pothole("")).await.json();
    assert_eq!(created["service_requests"][0]["service_request_id"], "SR-000001");
    let listed = get(&server, "requests.json").await.json();
    assert_eq!(listed["service_requests"][0]["status"], "open");
    let definition = get(&server, "services/REQPOTHL.json").await.json();
    assert_eq!(definition["service_code"], "REQPOTHL", "objects are not wrapped");
    assert!(
        get(&server, "services.xml").await.body.contains("<services>"),
        "XML unchanged"
    );
}

#[tokio::test]
async fn all_strings() {
    let server = start(example());
    server.set_quirk(Some(Quirk::AllStrings));
    let services = get(&server, "services.json").await.json();
    assert_eq!(services[0]["metadata"], "true");
    assert_eq!(services[1]["metadata"], "false");
    file_pothole(&server, "").await;
    let listed = get(&server, "requests.json").await.json();
    assert_eq!(listed[0]["lat"], "42.358431");
    assert_eq!(listed[0]["long"], "-71.059773");
    assert!(listed[0]["status_notes"].is_null(), "null stays null");
    let definition = get(&server, "services/REQPOTHL.json").await.json();
    assert_eq!(definition["attributes"][0]["order"], "1");
    assert_eq!(definition["attributes"][0]["required"], "false");
}

#[tokio::test]
async fn xml_simple_arrays() {
    let server = start(example());
    server.set_quirk(Some(Quirk::XmlSimpleArrays));
    let created = post(&server, "requests.json", &pothole("")).await.json();
    assert_eq!(
        created["requests"][0]["request"][0]["service_request_id"],
        json!(["SR-000001"]),
        "{created}"
    );
    let listed = get(&server, "requests.json").await.json();
    let request = &listed["requests"][0]["request"][0];
    assert_eq!(request["status"], json!(["open"]));
    assert_eq!(request["lat"], json!([42.358431]));
    assert!(request.get("status_notes").is_none(), "empty elements are left out");
    let services = get(&server, "services.json").await.json();
    assert_eq!(
        services["services"][0]["service"][1]["service_code"],
        json!(["REQCASTG"])
    );
    let discovery = crate::support::get_url(&server.discovery_url()).await.json();
    assert_eq!(
        discovery["discovery"][0]["endpoints"][0]["endpoint"][0]["formats"][0]["format"],
        json!(["text/xml", "application/json"])
    );
}

#[tokio::test]
async fn xml_root_requests() {
    let server = start(example());
    server.set_quirk(Some(Quirk::XmlRootRequests));
    file_pothole(&server, "").await;
    let listed = get(&server, "requests.xml").await;
    assert_xml(&listed);
    assert!(
        listed.body.contains("\n<requests>\n  <request>\n") && listed.body.ends_with("</requests>\n"),
        "{}",
        listed.body
    );
    assert!(!listed.body.contains("service_requests"));
    let created = post(&server, "requests.xml", &pothole("")).await;
    assert!(created.body.contains("\n<requests>\n"));
    assert!(get(&server, "services.xml").await.body.contains("\n<services>\n"));
}

#[tokio::test]
async fn odd_errors() {
    let server = start(example());
    server.set_quirk(Some(Quirk::OddErrors));
    let json = post(&server, "requests.json", "api_key=bad").await;
    assert_eq!(json.status, 403);
    assert_eq!(
        json.json(),
        json!({"code": 403, "detail": ["Invalid api_key received -- can't proceed with create_request."]})
    );
    let xml = post(&server, "requests.xml", "api_key=bad").await;
    assert_eq!(xml.status, 403);
    assert!(
        xml.body
            .contains("\n<error>Invalid api_key received -- can&apos;t proceed with create_request.</error>"),
        "{}",
        xml.body
    );
    assert!(!xml.body.contains("<errors>"));
    let several = post(&server, "requests.json", &format!("api_key={KEY}")).await;
    assert_eq!(several.json()["detail"].as_array().map(Vec::len), Some(2));
    assert_eq!(get(&server, "services.json").await.status, 200, "successes unchanged");
}
