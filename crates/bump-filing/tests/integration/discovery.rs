use bump_filing::Registry;
use bump_open311::Format;
use bump_open311_server::{ServerConfig, TestServer};

fn registry(discovery: &str, extra: &str) -> Registry {
    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature",
            "geometry":{{"type":"Polygon","coordinates":[[[-71.2,42.0],[-71.0,42.0],[-71.0,42.2],[-71.2,42.2],[-71.2,42.0]]]}},
            "properties":{{"name":"City","jurisdiction_id":"city.example","discovery":"{discovery}",
                           "api_key_env":"CITY_KEY","service_codes":{{"pothole":"REQPOTHL"}}{extra}}}}}]}}"#
    );
    Registry::from_geojson(&text, "registry").expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_and_endpoint_come_from_discovery_unless_given() {
    let s = TestServer::start(ServerConfig::example("city.example", "k")).expect("server");
    let mut r = registry(&s.discovery_url(), "");
    assert_eq!(r.jurisdictions[0].endpoint, None);
    assert!(r.discover(std::time::Duration::from_secs(5)).await.is_empty());
    let j = &r.jurisdictions[0];
    assert_eq!(j.format, Format::Json, "the server lists application/json");
    assert_eq!(j.endpoint.as_deref(), Some(s.base_url().as_str()));
    // A format the registry gives wins.
    let mut r = registry(&s.discovery_url(), r#","format":"xml""#);
    assert!(r.discover(std::time::Duration::from_secs(5)).await.is_empty());
    assert_eq!(r.jurisdictions[0].format, Format::Xml);
    // XML only: XML.
    let mut cfg = ServerConfig::example("city.example", "k");
    cfg.json = false;
    let xml_only = TestServer::start(cfg).expect("server");
    let url = xml_only.discovery_url().replace(".json", ".xml");
    let mut r = registry(&url, "");
    assert!(r.discover(std::time::Duration::from_secs(5)).await.is_empty());
    assert_eq!(r.jurisdictions[0].format, Format::Xml);
    // A discovery that fails is reported and changes nothing.
    let mut r = registry("http://127.0.0.1:9/discovery.json", "");
    let problems = r.discover(std::time::Duration::from_secs(2)).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(r.jurisdictions[0].endpoint, None);
}
