//! The batch token flow.

use bump_open311_server::{Quirk, ServerConfig};

use crate::support::{KEY, example, get, post, start, xml_text};

fn casting() -> String {
    format!("api_key={KEY}&service_code=REQCASTG&lat=42.35&long=-71.06&description=sunk")
}

#[tokio::test]
async fn a_token_is_pending_for_token_polls_then_resolves() {
    let server = start(example());
    let answer = post(&server, "requests.json", &casting()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let json = answer.json();
    assert_eq!(json.as_array().map(Vec::len), Some(1));
    assert!(json[0].get("service_request_id").is_none(), "no id beside a token");
    let token = json[0]["token"].as_str().expect("token").to_owned();
    assert!(server.requests().is_empty(), "not created until the token resolves");
    assert_eq!(get(&server, "requests.json").await.body, "[]");

    for poll in 0..2 {
        let pending = get(&server, &format!("tokens/{token}.json")).await;
        assert_eq!(pending.status, 200, "poll {poll}");
        assert!(pending.json()[0]["service_request_id"].is_null());
        assert_eq!(pending.json()[0]["token"], token.as_str());
    }
    assert!(server.requests().is_empty());
    let resolved = get(&server, &format!("tokens/{token}.json")).await;
    assert_eq!(resolved.status, 200);
    assert_eq!(resolved.json()[0]["service_request_id"], "SR-000001");
    assert_eq!(resolved.json()[0]["token"], token.as_str());
    let stored = server.requests();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].token.as_deref(), Some(token.as_str()));
    assert_eq!(stored[0].description.as_deref(), Some("sunk"));
    assert_eq!(
        get(&server, "requests.json").await.json()[0]["service_request_id"],
        "SR-000001"
    );
    let again = get(&server, &format!("tokens/{token}.xml")).await;
    assert_eq!(
        xml_text(&again.body, "service_request_id"),
        "SR-000001",
        "stable once resolved"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn pending_and_resolved_in_xml_and_unknown_tokens() {
    let server = start(ServerConfig {
        token_polls: 1,
        ..example()
    });
    let answer = post(&server, "requests.xml", &casting()).await;
    let token = xml_text(&answer.body, "token");
    assert!(!answer.body.contains("service_request_id"));
    let pending = get(&server, &format!("tokens/{token}.xml")).await;
    assert_eq!(pending.status, 200);
    assert!(
        pending.body.contains("<service_request_id></service_request_id>"),
        "{}",
        pending.body
    );
    assert_eq!(xml_text(&pending.body, "token"), token);
    let resolved = get(&server, &format!("tokens/{token}.xml")).await;
    assert_eq!(xml_text(&resolved.body, "service_request_id"), "SR-000001");
    let unknown = get(&server, "tokens/NOPE.json").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_codes(), ["404"]);
}

#[tokio::test]
async fn zero_polls_resolves_on_the_first_poll() {
    let server = start(ServerConfig {
        token_polls: 0,
        ..example()
    });
    let token = post(&server, "requests.json", &casting()).await.json()[0]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let answer = get(&server, &format!("tokens/{token}.json")).await;
    assert_eq!(answer.json()[0]["service_request_id"], "SR-000001");
}

#[tokio::test]
async fn pending_as_400_like_fixmystreets_mock() {
    let server = start(example());
    server.set_quirk(Some(Quirk::PendingTokenAs400));
    let token = xml_text(&post(&server, "requests.xml", &casting()).await.body, "token");
    for _ in 0..2 {
        let pending = get(&server, &format!("tokens/{token}.xml")).await;
        assert_eq!(pending.status, 400);
        assert!(
            pending.body.contains("<service_request_id></service_request_id>"),
            "{}",
            pending.body
        );
        assert!(!pending.body.contains("<errors>"));
    }
    let resolved = get(&server, &format!("tokens/{token}.xml")).await;
    assert_eq!(resolved.status, 200);
    assert_eq!(xml_text(&resolved.body, "service_request_id"), "SR-000001");
}
