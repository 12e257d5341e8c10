//! Service discovery in both formats.

use bump_open311_server::ServerConfig;

use crate::support::{assert_json, assert_xml, example, get_url, start, xml_text, xml_texts};

#[tokio::test]
async fn discovery_json_points_at_the_base_url() {
    let server = start(example());
    let answer = get_url(&server.discovery_url()).await;
    assert_eq!(answer.status, 200);
    assert_json(&answer);
    let json = answer.json();
    for field in ["changeset", "contact", "key_service"] {
        assert!(json[field].is_string(), "{field} in {json}");
    }
    let endpoints = json["endpoints"].as_array().expect("endpoints array");
    assert_eq!(endpoints.len(), 1);
    let endpoint = &endpoints[0];
    assert_eq!(endpoint["specification"], "http://wiki.open311.org/GeoReport_v2");
    assert_eq!(endpoint["url"], server.base_url().as_str());
    assert_eq!(endpoint["type"], "production");
    assert!(endpoint["changeset"].is_string());
    assert_eq!(endpoint["formats"], serde_json::json!(["text/xml", "application/json"]));
    assert!(server.base_url().ends_with("/open311/v2/"));
}

#[tokio::test]
async fn discovery_xml_has_the_same_fields() {
    let server = start(example());
    let answer = get_url(&server.discovery_url().replace(".json", ".xml")).await;
    assert_eq!(answer.status, 200);
    assert_xml(&answer);
    assert!(answer.body.contains("\n<discovery>\n"), "{}", answer.body);
    assert_eq!(xml_text(&answer.body, "url"), server.base_url());
    assert_eq!(
        xml_text(&answer.body, "specification"),
        "http://wiki.open311.org/GeoReport_v2"
    );
    assert_eq!(xml_text(&answer.body, "type"), "production");
    assert_eq!(xml_texts(&answer.body, "format"), ["text/xml", "application/json"]);
    assert_eq!(xml_texts(&answer.body, "changeset").len(), 2);
    for tag in ["contact", "key_service", "endpoints", "endpoint", "formats"] {
        assert_eq!(xml_texts(&answer.body, tag).len(), 1, "{tag}");
    }
}

#[tokio::test]
async fn without_json_only_xml_is_listed_and_served() {
    let server = start(ServerConfig {
        json: false,
        ..example()
    });
    let answer = get_url(&server.discovery_url().replace(".json", ".xml")).await;
    assert_eq!(xml_texts(&answer.body, "format"), ["text/xml"]);
    let answer = get_url(&server.discovery_url()).await;
    assert_eq!(answer.status, 404);
    assert_xml(&answer);
    assert_eq!(xml_text(&answer.body, "code"), "404");
    let answer = get_url(&format!("{}services.json", server.base_url())).await;
    assert_eq!(answer.status, 404);
    assert_xml(&answer);
}
