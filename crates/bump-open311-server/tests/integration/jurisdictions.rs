//! `jurisdiction_id` with one and with several jurisdictions.

use bump_open311_server::{JurisdictionConfig, ServerConfig};

use crate::support::{KEY, example, get, post, pothole, start};

fn two_cities() -> ServerConfig {
    let mut config = example();
    let mut second = config.jurisdictions[0].clone();
    second.jurisdiction_id = "brooklinema.gov".to_owned();
    second.api_key = "brookline-key".to_owned();
    config.jurisdictions.push(second);
    config
}

#[tokio::test]
async fn with_several_jurisdictions_the_id_is_required_everywhere() {
    let server = start(two_cities());
    for path in [
        "services.json",
        "services/REQPOTHL.json",
        "requests.json",
        "requests/SR-000001.json",
        "tokens/T.json",
    ] {
        let answer = get(&server, path).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert!(answer.errors()[0].1.contains("jurisdiction_id"), "{path}");
        let sep = if path.contains('?') { '&' } else { '?' };
        let answer = get(&server, &format!("{path}{sep}jurisdiction_id=nowhere.example")).await;
        assert_eq!(answer.status, 404, "{path}");
    }
    let answer = post(&server, "requests.json", &pothole("")).await;
    assert_eq!(answer.status, 400, "POST without jurisdiction_id");
    let answer = post(&server, "requests.json", &pothole("jurisdiction_id=nowhere.example")).await;
    assert_eq!(answer.status, 404);
    assert_eq!(
        get(&server, "services.json?jurisdiction_id=brooklinema.gov")
            .await
            .status,
        200
    );
    // Discovery is not per jurisdiction.
    assert_eq!(crate::support::get_url(&server.discovery_url()).await.status, 200);
}

#[tokio::test]
async fn keys_and_requests_belong_to_their_jurisdiction() {
    let server = start(two_cities());
    let answer = post(&server, "requests.json", &pothole("jurisdiction_id=brooklinema.gov")).await;
    assert_eq!(answer.status, 403, "example.org's key is not Brookline's");
    let body = "api_key=brookline-key&jurisdiction_id=brooklinema.gov&service_code=REQPOTHL&address_string=Main+St";
    let answer = post(&server, "requests.json", body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(server.requests()[0].jurisdiction_id, "brooklinema.gov");
    let here = get(&server, "requests.json?jurisdiction_id=brooklinema.gov").await;
    assert_eq!(here.json().as_array().map(Vec::len), Some(1));
    let there = get(&server, "requests.json?jurisdiction_id=example.org").await;
    assert_eq!(there.json().as_array().map(Vec::len), Some(0));
    let by_id = get(&server, "requests/SR-000001.json?jurisdiction_id=example.org").await;
    assert_eq!(by_id.status, 404);
}

#[tokio::test]
async fn with_one_jurisdiction_the_id_is_optional_but_must_match() {
    let server = start(example());
    assert_eq!(get(&server, "services.json").await.status, 200);
    assert_eq!(
        get(&server, "services.json?jurisdiction_id=example.org").await.status,
        200
    );
    let answer = get(&server, "services.json?jurisdiction_id=other.example").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.error_codes(), ["404"]);
    let answer = post(&server, "requests.json", &pothole("jurisdiction_id=other.example")).await;
    assert_eq!(answer.status, 404);
    let answer = post(&server, "requests.json", &pothole("jurisdiction_id=example.org")).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn with_no_jurisdiction_every_call_needs_one_that_does_not_exist() {
    let server = start(ServerConfig {
        jurisdictions: Vec::<JurisdictionConfig>::new(),
        ..example()
    });
    assert_eq!(get(&server, "services.json").await.status, 400);
    assert_eq!(
        post(&server, "requests.json", &format!("api_key={KEY}&jurisdiction_id=x"))
            .await
            .status,
        404
    );
}
