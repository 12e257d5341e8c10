//! The response shapes of real servers, served by the test server's quirks
//! and read through the client end to end.

use std::time::Duration;

use bump_open311::{Client, Datatype, Error, ErrorClass, Format, RequestQuery, RequestStatus, ServiceKind, TokenState};
use bump_open311_server::{Quirk, TestServer};
use chrono::{TimeDelta, Utc};

use crate::common::{FORMATS, casting, client, client_with, config, pothole, server};

fn quirky(quirk: Quirk) -> TestServer {
    let s = server();
    s.set_quirk(Some(quirk));
    s
}

/// Everything but discovery and the service definition; returns the ids of
/// the realtime request and of the resolved batch one.
async fn round_trip(server: &TestServer, format: Format) -> (String, String) {
    let what = format!("{:?} {format:?}", server.state().quirk());
    let client = client(server, format);

    let services = client.services().await.expect("services");
    let codes: Vec<&str> = services.iter().map(|s| s.service_code.as_str()).collect();
    assert_eq!(codes, ["REQPOTHL", "REQCASTG"], "{what}");
    assert!(services[0].metadata && !services[1].metadata, "{what}: {services:?}");
    assert_eq!(
        (&services[0].kind, &services[1].kind),
        (&ServiceKind::Realtime, &ServiceKind::Batch),
        "{what}"
    );
    assert_eq!(services[0].service_name.as_deref(), Some("Pothole"), "{what}");

    let empty = client
        .requests(&RequestQuery {
            ids: vec!["SR-999999".into()],
            ..RequestQuery::default()
        })
        .await
        .expect("an empty list");
    assert!(empty.is_empty(), "{what}: {empty:?}");

    let reply = client.post_request(&pothole("a & b < c")).await.expect("post");
    let id = reply.service_request_id.expect("id");
    assert!(reply.service_notice.is_some(), "{what}");

    let listed = client
        .requests(&RequestQuery {
            ids: vec![id.clone()],
            ..RequestQuery::default()
        })
        .await
        .expect("by id");
    assert_eq!(listed.len(), 1, "{what}");
    let one = client.request(&id).await.expect("read").expect("found");
    assert_eq!(one, listed[0], "{what}");
    assert_eq!(one.service_request_id.as_deref(), Some(id.as_str()));
    assert_eq!(one.status, Some(RequestStatus::Open), "{what}");
    assert_eq!(one.description.as_deref(), Some("a & b < c"), "{what}");
    assert!(
        one.lat.is_some_and(|l| (l - 42.358_431).abs() < 1e-9),
        "{what}: {one:?}"
    );
    assert!(
        one.long.is_some_and(|l| (l - -71.059_774).abs() < 1e-9),
        "{what}: {one:?}"
    );
    assert!(one.requested_datetime.is_some(), "{what}");

    let by_window = client
        .requests(&RequestQuery {
            start: Some(Utc::now() - TimeDelta::days(120)),
            page_size: Some(1),
            ..RequestQuery::default()
        })
        .await
        .expect("by window, paged");
    assert!(by_window.contains(&listed[0]), "{what}: {by_window:?}");
    let mut seen: Vec<&str> = by_window
        .iter()
        .filter_map(|r| r.service_request_id.as_deref())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), by_window.len(), "{what}: each once");

    let token = client
        .post_request(&casting())
        .await
        .expect("batch")
        .token
        .expect("token");
    let mut resolved = None;
    for _ in 0..3 {
        match client.token(&token).await.expect("poll") {
            TokenState::Pending => {}
            TokenState::Resolved(id) => {
                resolved = Some(id);
                break;
            }
        }
    }
    let resolved = resolved.expect("resolved within 3 polls");
    assert!(client.request(&resolved).await.expect("read").is_some(), "{what}");
    (id, resolved)
}

async fn definition_reads(client: &Client) {
    let d = client.service_definition("REQPOTHL").await.expect("definition");
    assert_eq!(d.service_code, "REQPOTHL");
    let codes: Vec<&str> = d.attributes.iter().map(|a| a.code.as_str()).collect();
    assert_eq!(codes, ["SIZE", "DEPTH_CM", "SEEN_AT"]);
    assert_eq!(d.attributes[0].datatype, Datatype::Singlevaluelist);
    assert!(d.attributes.iter().all(|a| a.variable && !a.required), "{d:?}");
    assert_eq!(d.attributes[2].order, Some(3));
    assert_eq!(d.attributes[0].values.len(), 3);
}

async fn discovery_reads(server: &TestServer) {
    let d = Client::discover(&server.discovery_url(), Duration::from_secs(5))
        .await
        .expect("discovery");
    let e = d.georeport_v2("production").expect("endpoint");
    assert_eq!(e.url, server.base_url());
    assert_eq!(e.best_format(), Format::Json);
}

#[tokio::test]
async fn numeric_ids_read_as_strings() {
    let server = quirky(Quirk::NumericIds);
    let (id, resolved) = round_trip(&server, Format::Json).await;
    assert_eq!(id, "293944");
    assert_eq!(resolved, "293945");
    let token = client(&server, Format::Json)
        .post_request(&casting())
        .await
        .expect("batch")
        .token
        .expect("token");
    assert_eq!(token, "12346", "a numeric token reads as its digits");
    definition_reads(&client(&server, Format::Json)).await;
    discovery_reads(&server).await;
}

#[tokio::test]
async fn wrapped_lists_unwrap() {
    let server = quirky(Quirk::WrappedLists);
    round_trip(&server, Format::Json).await;
    definition_reads(&client(&server, Format::Json)).await;
    discovery_reads(&server).await;
}

#[tokio::test]
async fn all_strings_read_as_numbers_and_booleans() {
    let server = quirky(Quirk::AllStrings);
    round_trip(&server, Format::Json).await;
    definition_reads(&client(&server, Format::Json)).await;
    discovery_reads(&server).await;
}

#[tokio::test]
async fn xml_simple_arrays_read_through_requests_services_and_tokens() {
    let server = quirky(Quirk::XmlSimpleArrays);
    round_trip(&server, Format::Json).await;
}

#[tokio::test]
async fn xml_simple_arrays_read_through_the_definition_and_discovery() {
    let server = quirky(Quirk::XmlSimpleArrays);
    let definition = client(&server, Format::Json).service_definition("REQPOTHL").await;
    let discovery = Client::discover(&server.discovery_url(), Duration::from_secs(5)).await;
    assert!(
        definition.is_ok() && discovery.is_ok(),
        "definition: {definition:?}\ndiscovery: {discovery:?}"
    );
    definition_reads(&client(&server, Format::Json)).await;
    discovery_reads(&server).await;
}

#[tokio::test]
async fn a_requests_root_in_xml_reads() {
    let server = quirky(Quirk::XmlRootRequests);
    round_trip(&server, Format::Xml).await;
    definition_reads(&client(&server, Format::Xml)).await;
}

#[tokio::test]
async fn odd_error_bodies_still_reach_errors() {
    let server = quirky(Quirk::OddErrors);
    for format in FORMATS {
        let mut cfg = config(&server, format);
        cfg.api_key = Some("wrong".into());
        let err = client_with(cfg).post_request(&pothole("x")).await.expect_err("403");
        assert_eq!(err.class(), ErrorClass::Forbidden, "{err}");
        let Error::Status { errors, .. } = &err else {
            panic!("status error: {err}")
        };
        assert!(
            errors
                .iter()
                .any(|e| e.description.contains("Invalid api_key received")),
            "{format:?}: {errors:?}"
        );
        let err = client(&server, format)
            .service_definition("NOPE")
            .await
            .expect_err("404");
        assert_eq!(err.class(), ErrorClass::NotFound);
        assert!(
            err.to_string().contains("service_code NOPE not found"),
            "{format:?}: {err}"
        );
    }
    // Everything else is unchanged by this quirk.
    for format in FORMATS {
        round_trip(&server, format).await;
    }
}
