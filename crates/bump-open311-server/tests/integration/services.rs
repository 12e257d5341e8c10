//! Service list and service definitions.

use crate::support::{assert_json, assert_xml, example, get, start, xml_text, xml_texts};

#[tokio::test]
async fn services_json_lists_both_services() {
    let server = start(example());
    let answer = get(&server, "services.json").await;
    assert_eq!(answer.status, 200);
    assert_json(&answer);
    let json = answer.json();
    let list = json.as_array().expect("a bare array (Spark)");
    assert_eq!(list.len(), 2);
    let pothole = &list[0];
    assert_eq!(pothole["service_code"], "REQPOTHL");
    assert_eq!(pothole["service_name"], "Pothole");
    assert_eq!(pothole["metadata"], true);
    assert_eq!(pothole["type"], "realtime");
    assert!(pothole["keywords"].is_string(), "keywords is a string");
    assert!(pothole["group"].is_string() && pothole["description"].is_string());
    let casting = &list[1];
    assert_eq!(casting["service_code"], "REQCASTG");
    assert_eq!(casting["service_name"], "Sunk casting or manhole");
    assert_eq!(casting["metadata"], false);
    assert_eq!(casting["type"], "batch");
}

#[tokio::test]
async fn services_xml_uses_services_and_service_elements() {
    let server = start(example());
    let answer = get(&server, "services.xml").await;
    assert_eq!(answer.status, 200);
    assert_xml(&answer);
    assert!(answer.body.contains("\n<services>\n  <service>\n"), "{}", answer.body);
    assert_eq!(xml_texts(&answer.body, "service_code"), ["REQPOTHL", "REQCASTG"]);
    assert_eq!(xml_texts(&answer.body, "metadata"), ["true", "false"]);
    assert_eq!(xml_texts(&answer.body, "type"), ["realtime", "batch"]);
    assert_eq!(xml_texts(&answer.body, "group").len(), 2);
}

#[tokio::test]
async fn definition_json_lists_attributes_in_order() {
    let server = start(example());
    let answer = get(&server, "services/REQPOTHL.json").await;
    assert_eq!(answer.status, 200);
    let json = answer.json();
    assert_eq!(json["service_code"], "REQPOTHL");
    let attributes = json["attributes"].as_array().expect("attributes");
    let codes: Vec<&str> = attributes.iter().map(|a| a["code"].as_str().expect("code")).collect();
    assert_eq!(codes, ["SIZE", "DEPTH_CM", "SEEN_AT"]);
    let size = &attributes[0];
    assert_eq!(size["datatype"], "singlevaluelist");
    assert_eq!(size["required"], false);
    assert_eq!(size["variable"], true);
    assert_eq!(size["order"], 1);
    assert!(size["datatype_description"].is_null());
    let keys: Vec<&str> = size["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["small", "medium", "large"]);
    assert!(size["values"][0]["name"].is_string());
    assert_eq!(attributes[1]["datatype"], "number");
    assert!(attributes[1].get("values").is_none(), "no values for a number");
    assert_eq!(attributes[2]["datatype"], "datetime");
}

#[tokio::test]
async fn definition_xml() {
    let server = start(example());
    let answer = get(&server, "services/REQPOTHL.xml").await;
    assert_eq!(answer.status, 200);
    assert_xml(&answer);
    assert!(answer.body.contains("\n<service_definition>\n"), "{}", answer.body);
    assert_eq!(xml_text(&answer.body, "service_code"), "REQPOTHL");
    assert_eq!(xml_texts(&answer.body, "attribute").len(), 3);
    assert_eq!(xml_texts(&answer.body, "key"), ["small", "medium", "large"]);
    assert_eq!(xml_texts(&answer.body, "datatype_description"), ["", "", ""]);
}

#[tokio::test]
async fn definitions_only_exist_for_known_services_with_metadata() {
    let server = start(example());
    let unknown = get(&server, "services/NOPE.json").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_codes(), ["404"]);
    assert!(unknown.errors()[0].1.contains("NOPE"));
    let no_metadata = get(&server, "services/REQCASTG.xml").await;
    assert_eq!(no_metadata.status, 404);
    assert_xml(&no_metadata);
    assert_eq!(xml_text(&no_metadata.body, "code"), "404");
    assert!(no_metadata.body.contains("<errors>\n  <error>\n"));
}
