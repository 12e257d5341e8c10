//! Helpers shared by the integration tests: a small HTTP client and a tiny XML reader.

use std::time::Duration;

use bump_open311_server::{AttributeConfig, ServerConfig, ServiceConfig, ServiceKind, TestServer};
use serde_json::Value;

pub(crate) const KEY: &str = "test-key";
pub(crate) const JURISDICTION: &str = "example.org";

/// A GET or POST answer, read in full.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The error array of a spec error body, as (code as text, description).
    pub(crate) fn errors(&self) -> Vec<(String, String)> {
        let json = self.json();
        let list = json
            .as_array()
            .unwrap_or_else(|| panic!("error body is not an array: {}", self.body));
        list.iter()
            .map(|e| {
                let code = match &e["code"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let description = e["description"].as_str().expect("description is a string").to_owned();
                (code, description)
            })
            .collect()
    }

    pub(crate) fn error_codes(&self) -> Vec<String> {
        self.errors().into_iter().map(|(code, _)| code).collect()
    }
}

pub(crate) fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(10))
}

pub(crate) fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().expect("client")
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("body");
    Answer {
        status,
        content_type,
        headers,
        body,
    }
}

/// GET `base_url() + path` (path like `services.json?x=1`).
pub(crate) async fn get(server: &TestServer, path: &str) -> Answer {
    get_url(&format!("{}{path}", server.base_url())).await
}

pub(crate) async fn get_url(url: &str) -> Answer {
    read(client().get(url).send().await.expect("GET")).await
}

/// POST a form body (already encoded) to `base_url() + path`.
pub(crate) async fn post(server: &TestServer, path: &str, body: &str) -> Answer {
    let response = client()
        .post(format!("{}{path}", server.base_url()))
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST");
    read(response).await
}

pub(crate) async fn send(request: reqwest::RequestBuilder) -> Answer {
    read(request.send().await.expect("request")).await
}

/// A valid pothole POST body with the given extra parameters appended.
pub(crate) fn pothole(extra: &str) -> String {
    let base = format!("api_key={KEY}&service_code=REQPOTHL&lat=42.358431&long=-71.059773");
    if extra.is_empty() {
        base
    } else {
        format!("{base}&{extra}")
    }
}

/// Files a pothole and returns its id.
pub(crate) async fn file_pothole(server: &TestServer, extra: &str) -> String {
    let answer = post(server, "requests.json", &pothole(extra)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()[0]["service_request_id"].as_str().expect("id").to_owned()
}

pub(crate) fn example() -> ServerConfig {
    ServerConfig::example(JURISDICTION, KEY)
}

pub(crate) fn start(config: ServerConfig) -> TestServer {
    TestServer::start(config).expect("server starts")
}

/// The example plus a blackbox service and one with a required singlevaluelist, a
/// multivaluelist and a text attribute.
pub(crate) fn rich_config() -> ServerConfig {
    let mut config = example();
    let services = &mut config.jurisdictions[0].services;
    services.push(ServiceConfig {
        service_code: "GRAFFITI".to_owned(),
        service_name: "Graffiti".to_owned(),
        kind: ServiceKind::Blackbox,
        ..ServiceConfig::default()
    });
    services.push(ServiceConfig {
        service_code: "ROADDMG".to_owned(),
        service_name: "Road damage".to_owned(),
        attributes: vec![
            AttributeConfig {
                code: "SEVERITY".to_owned(),
                datatype: "singlevaluelist".to_owned(),
                required: true,
                order: 1,
                values: vec![
                    ("1".to_owned(), "Minor".to_owned()),
                    ("3".to_owned(), "Severe".to_owned()),
                ],
                ..AttributeConfig::default()
            },
            AttributeConfig {
                code: "LANES".to_owned(),
                datatype: "multivaluelist".to_owned(),
                order: 2,
                values: vec![
                    ("L".to_owned(), "Left".to_owned()),
                    ("C".to_owned(), "Center".to_owned()),
                    ("R".to_owned(), "Right".to_owned()),
                ],
                ..AttributeConfig::default()
            },
            AttributeConfig {
                code: "NOTE".to_owned(),
                datatype: "text".to_owned(),
                order: 3,
                ..AttributeConfig::default()
            },
        ],
        ..ServiceConfig::default()
    });
    config
}

/// The texts of every `<tag>…</tag>` (entities decoded), in document order. Enough for the
/// flat documents Open311 uses; `<tag/>` counts as empty.
pub(crate) fn xml_texts(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let empty = format!("<{tag}/>");
    let mut found = Vec::new();
    let mut rest = xml;
    loop {
        let next_open = rest.find(&open);
        let next_empty = rest.find(&empty);
        let open_first = match (next_open, next_empty) {
            (Some(o), Some(e)) => o < e,
            (open, _) => open.is_some(),
        };
        match (next_open, next_empty) {
            (Some(o), _) if open_first => {
                let after = &rest[o + open.len()..];
                let end = after.find(&close).unwrap_or_else(|| panic!("no {close} in {xml}"));
                found.push(unescape(&after[..end]));
                rest = &after[end + close.len()..];
            }
            (_, Some(e)) => {
                found.push(String::new());
                rest = &rest[e + empty.len()..];
            }
            _ => return found,
        }
    }
}

pub(crate) fn xml_text(xml: &str, tag: &str) -> String {
    xml_texts(xml, tag)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}

pub(crate) fn assert_xml(answer: &Answer) {
    assert!(
        answer.content_type.starts_with("text/xml; charset=utf-8"),
        "content type {}",
        answer.content_type
    );
    assert!(
        answer.body.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
        "{}",
        answer.body
    );
}

pub(crate) fn assert_json(answer: &Answer) {
    assert_eq!(answer.content_type, "application/json; charset=utf-8");
}
