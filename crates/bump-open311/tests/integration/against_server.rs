//! The client against the strict test server over real sockets: discovery,
//! both formats, POST and read back, tokens, jurisdictions, 90-day windows,
//! paging, single requests and the key probe.

use std::collections::HashSet;
use std::time::Duration;

use bump_open311::client::MAX_WINDOW;
use bump_open311::model::parse_datetime;
use bump_open311::{
    AttributeValue, Client, Datatype, Error, ErrorClass, Format, NewRequest, RequestQuery, RequestStatus, ServiceKind,
    TokenState,
};
use bump_open311_server::{Hit, Quirk, ServerConfig, ServiceConfig, ServiceKind as ServerKind};
use chrono::{DateTime, TimeDelta, Utc};

use crate::common::{
    FORMATS, JURISDICTION, KEY, assert_no_empty_query_parameter, casting, client, client_with, config, hits_to, param,
    pothole, server, start, two_jurisdictions,
};

/// A description with what XML must escape, non-ASCII and line breaks of
/// both kinds.
const TRICKY: &str =
    "Deep hole & loose gravel <near> the \"bus\" stop's kerb\nsecond line\r\nthird: café, Straße, 坑 🚧";

fn ids(list: &[bump_open311::ServiceRequest]) -> Vec<String> {
    list.iter()
        .map(|r| r.service_request_id.clone().expect("every listed request has an id"))
        .collect()
}

async fn post_realtime(client: &Client, description: &str) -> String {
    client
        .post_request(&pothole(description))
        .await
        .expect("a valid pothole is accepted")
        .service_request_id
        .expect("a realtime service answers an id")
}

// ---------------------------------------------------------------- discovery

#[tokio::test]
async fn discovery_in_json_names_the_production_endpoint_and_prefers_json() {
    let server = server();
    let d = Client::discover(&server.discovery_url(), Duration::from_secs(5))
        .await
        .expect("discovery reads");
    let e = d
        .georeport_v2("production")
        .expect("a production GeoReport v2 endpoint");
    assert_eq!(e.url, server.base_url());
    assert_eq!(e.best_format(), Format::Json);
    assert!(e.formats.iter().any(|f| f == "text/xml"), "{:?}", e.formats);
    assert!(d.georeport_v2("test").is_none());
    assert_eq!(d.changeset.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert!(d.contact.is_some() && d.key_service.is_some(), "{d:?}");
    // The endpoint it names works.
    let services = client(&server, e.best_format()).services().await.expect("services");
    assert_eq!(services.len(), 2);
}

#[tokio::test]
async fn discovery_in_xml_reads_the_same() {
    let server = server();
    let url = server.discovery_url().replace(".json", ".xml");
    let d = Client::discover(&url, Duration::from_secs(5))
        .await
        .expect("discovery reads");
    let e = d.georeport_v2("production").expect("endpoint");
    assert_eq!(e.url, server.base_url());
    assert_eq!(e.formats, ["text/xml", "application/json"]);
    assert_eq!(e.best_format(), Format::Json);
}

#[tokio::test]
async fn discovery_of_an_xml_only_server_prefers_xml() {
    let server = start(ServerConfig {
        json: false,
        ..ServerConfig::example(JURISDICTION, KEY)
    });
    let url = server.discovery_url().replace(".json", ".xml");
    let d = Client::discover(&url, Duration::from_secs(5))
        .await
        .expect("discovery reads");
    let e = d.georeport_v2("production").expect("endpoint");
    assert_eq!(e.best_format(), Format::Xml);
    assert_eq!(client(&server, Format::Xml).services().await.expect("xml").len(), 2);
    let err = client(&server, Format::Json)
        .services()
        .await
        .expect_err("JSON is not served");
    assert_eq!(err.class(), ErrorClass::NotFound, "{err}");
}

// ------------------------------------------------------ services, definition

#[tokio::test]
async fn service_list_in_both_formats() {
    let server = server();
    for format in FORMATS {
        let services = client(&server, format).services().await.expect("services");
        let codes: Vec<&str> = services.iter().map(|s| s.service_code.as_str()).collect();
        assert_eq!(codes, ["REQPOTHL", "REQCASTG"], "{format:?}");
        let p = &services[0];
        assert_eq!(p.service_name.as_deref(), Some("Pothole"), "{format:?}");
        assert_eq!(
            p.description.as_deref(),
            Some("A hole or depression in the road surface.")
        );
        assert!(p.metadata, "{format:?}");
        assert_eq!(p.kind, ServiceKind::Realtime, "{format:?}");
        assert_eq!(p.keywords.as_deref(), Some("pothole, road, surface"));
        assert_eq!(p.group.as_deref(), Some("Streets"));
        let c = &services[1];
        assert!(!c.metadata, "{format:?}");
        assert_eq!(c.kind, ServiceKind::Batch, "{format:?}");
        assert_eq!(c.service_name.as_deref(), Some("Sunk casting or manhole"));
    }
}

#[tokio::test]
async fn service_definition_in_both_formats() {
    let server = server();
    for format in FORMATS {
        let d = client(&server, format)
            .service_definition("REQPOTHL")
            .await
            .expect("definition");
        assert_eq!(d.service_code, "REQPOTHL");
        let codes: Vec<&str> = d.attributes.iter().map(|a| a.code.as_str()).collect();
        assert_eq!(codes, ["SIZE", "DEPTH_CM", "SEEN_AT"], "{format:?}");
        let types: Vec<&Datatype> = d.attributes.iter().map(|a| &a.datatype).collect();
        assert_eq!(
            types,
            [&Datatype::Singlevaluelist, &Datatype::Number, &Datatype::Datetime],
            "{format:?}"
        );
        assert!(d.attributes.iter().all(|a| a.variable && !a.required), "{format:?}");
        let orders: Vec<Option<u32>> = d.attributes.iter().map(|a| a.order).collect();
        assert_eq!(orders, [Some(1), Some(2), Some(3)], "{format:?}");
        let size = &d.attributes[0];
        assert_eq!(size.description.as_deref(), Some("How large is the pothole?"));
        assert_eq!(size.datatype_description, None);
        let keys: Vec<&str> = size.values.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["small", "medium", "large"], "{format:?}");
        assert_eq!(size.values[1].1, "Medium (up to a wheel)");
        assert!(d.attributes[1].values.is_empty() && d.attributes[2].values.is_empty());
    }
}

#[tokio::test]
async fn a_service_without_metadata_has_no_definition() {
    let server = server();
    for format in FORMATS {
        let err = client(&server, format)
            .service_definition("REQCASTG")
            .await
            .expect_err("no definition");
        assert_eq!(err.class(), ErrorClass::NotFound, "{err}");
    }
    assert_eq!(server.hits().len(), 2, "a 404 is not retried");
}

// ------------------------------------------------------- POST and read back

#[tokio::test]
async fn realtime_post_reads_back_and_closes_in_both_formats() {
    let server = server();
    for format in FORMATS {
        let client = client(&server, format);
        let mut req = pothole(TRICKY);
        req.attributes = vec![
            ("SIZE".into(), AttributeValue::Single("large".into())),
            ("DEPTH_CM".into(), AttributeValue::Single("7.5".into())),
            ("SEEN_AT".into(), AttributeValue::Single("2026-03-01T08:30:00Z".into())),
        ];
        let reply = client.post_request(&req).await.expect("accepted");
        let id = reply.service_request_id.clone().expect("realtime answers an id");
        assert_eq!(reply.token, None, "{format:?}");
        assert_eq!(
            reply.service_notice.as_deref(),
            Some("Pothole requests are usually reviewed within 2 business days.")
        );
        assert_eq!(reply.account_id, None);

        let stored = server
            .requests()
            .into_iter()
            .find(|r| r.service_request_id == id)
            .expect("stored");
        assert_eq!(
            stored.attributes,
            [
                ("SIZE".to_owned(), "large".to_owned()),
                ("DEPTH_CM".to_owned(), "7.5".to_owned()),
                ("SEEN_AT".to_owned(), "2026-03-01T08:30:00Z".to_owned())
            ]
        );
        assert_eq!(stored.description.as_deref(), Some(TRICKY), "sent as is");
        assert!(!stored.form.iter().any(|(k, _)| k == "api_key"));

        let listed = client
            .requests(&RequestQuery {
                ids: vec![id.clone()],
                ..RequestQuery::default()
            })
            .await
            .expect("by id");
        assert_eq!(ids(&listed), std::slice::from_ref(&id), "{format:?}");
        let one = client.request(&id).await.expect("read").expect("found");
        assert_eq!(one, listed[0], "{format:?}: both calls read the same");
        assert_eq!(one.status, Some(RequestStatus::Open), "{format:?}");
        assert_eq!(one.status_raw.as_deref(), Some("open"));
        assert_eq!(one.description.as_deref(), Some(TRICKY), "{format:?}");
        assert_eq!(one.service_code.as_deref(), Some("REQPOTHL"));
        assert_eq!(one.service_name.as_deref(), Some("Pothole"));
        let lat = one.lat.expect("lat");
        let long = one.long.expect("long");
        assert!((lat - 42.358_431).abs() < 1e-9, "{format:?}: {lat}");
        assert!((long - -71.059_774).abs() < 1e-9, "{format:?}: {long}");
        let requested = one.requested_datetime.expect("requested_datetime");
        assert_eq!(requested.with_timezone(&Utc), stored.requested_datetime);
        assert_eq!(one.updated_datetime, one.requested_datetime);
        assert_eq!(one.status_notes, None);
        assert!(one.media_url.is_empty());

        let closed_at = parse_datetime("2026-04-02T09:15:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert!(server.close_request(&id, closed_at, "Filled & rolled"));
        let closed = client.request(&id).await.expect("read").expect("found");
        assert_eq!(closed.status, Some(RequestStatus::Closed), "{format:?}");
        assert_eq!(
            closed.updated_datetime.map(|t| t.with_timezone(&Utc)),
            Some(closed_at),
            "{format:?}"
        );
        assert_eq!(closed.status_notes.as_deref(), Some("Filled & rolled"));
        let by_status = client
            .requests(&RequestQuery {
                status: Some(RequestStatus::Closed),
                ..RequestQuery::default()
            })
            .await
            .expect("closed ones");
        assert!(ids(&by_status).contains(&id), "{format:?}");
    }
    assert_no_empty_query_parameter(&server);
}

#[tokio::test]
async fn a_long_description_is_cut_to_what_the_server_accepts() {
    let server = server();
    let long = "pothole ".repeat(700);
    let id = post_realtime(&client(&server, Format::Json), &long).await;
    let stored = server.requests().into_iter().next().expect("stored");
    assert_eq!(stored.service_request_id, id);
    let d = stored.description.expect("description");
    assert!(d.chars().count() <= 4000, "{}", d.chars().count());
    assert!(d.ends_with('…'), "the cut is marked");
}

#[tokio::test]
async fn a_blackbox_service_answers_neither_id_nor_token_in_json() {
    let server = start(blackbox_server());
    let reply = client(&server, Format::Json)
        .post_request(&blackbox_request())
        .await
        .expect("accepted");
    assert_eq!((reply.service_request_id, reply.token), (None, None));
    assert_eq!(server.requests().len(), 1, "created");
}

#[tokio::test]
async fn a_blackbox_service_answers_neither_id_nor_token_in_xml() {
    let server = start(blackbox_server());
    let reply = client(&server, Format::Xml).post_request(&blackbox_request()).await;
    assert_eq!(server.requests().len(), 1, "created");
    let reply = reply.expect("the POST succeeded on the server");
    assert_eq!((reply.service_request_id, reply.token), (None, None));
}

fn blackbox_server() -> ServerConfig {
    let mut config = ServerConfig::example(JURISDICTION, KEY);
    config.jurisdictions[0].services.push(ServiceConfig {
        service_code: "REQGRAFF".into(),
        service_name: "Graffiti".into(),
        kind: ServerKind::Blackbox,
        ..ServiceConfig::default()
    });
    config
}

fn blackbox_request() -> NewRequest {
    NewRequest {
        service_code: "REQGRAFF".into(),
        ..pothole("Tag on the bridge")
    }
}

// ------------------------------------------------------------------ tokens

#[tokio::test]
async fn a_batch_token_is_pending_for_the_configured_polls_then_resolves() {
    for format in FORMATS {
        let server = start(ServerConfig {
            token_polls: 3,
            ..ServerConfig::example(JURISDICTION, KEY)
        });
        let client = client(&server, format);
        let reply = client.post_request(&casting()).await.expect("accepted");
        assert_eq!(reply.service_request_id, None, "{format:?}");
        let token = reply.token.expect("a batch service answers a token");
        assert!(server.requests().is_empty(), "not visible until resolved");
        for poll in 0..3 {
            assert_eq!(
                client.token(&token).await.expect("poll"),
                TokenState::Pending,
                "{format:?} poll {poll}"
            );
        }
        let TokenState::Resolved(id) = client.token(&token).await.expect("poll") else {
            panic!("{format:?}: resolved after 3 pending polls");
        };
        assert_eq!(
            client.token(&token).await.expect("poll"),
            TokenState::Resolved(id.clone()),
            "stays resolved"
        );
        let r = client.request(&id).await.expect("read").expect("now visible");
        assert_eq!(r.service_code.as_deref(), Some("REQCASTG"));
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_pending_token_answered_as_http_400_is_still_pending() {
    for format in FORMATS {
        let server = server();
        server.set_quirk(Some(Quirk::PendingTokenAs400));
        let client = client(&server, format);
        let token = client
            .post_request(&casting())
            .await
            .expect("accepted")
            .token
            .expect("token");
        for _ in 0..2 {
            assert_eq!(client.token(&token).await.expect("not an error"), TokenState::Pending);
        }
        assert!(
            matches!(client.token(&token).await, Ok(TokenState::Resolved(_))),
            "{format:?}"
        );
        let statuses: Vec<u16> = hits_to(&server, "GET", &format!(".{}", format.ext()))
            .iter()
            .map(|h| h.status)
            .collect();
        assert_eq!(
            statuses,
            [400, 400, 200],
            "{format:?}: one GET per poll, no retry of the 400"
        );
    }
}

/// The client cannot tell an unknown token from one not yet known: a 404 is
/// read as pending, so callers bound the wait (the filer gives up after
/// `token_timeout_s`).
#[tokio::test]
async fn an_unknown_token_reads_as_pending() {
    let server = server();
    for format in FORMATS {
        assert_eq!(
            client(&server, format)
                .token("TKN-999999")
                .await
                .expect("404 is pending"),
            TokenState::Pending
        );
    }
    assert!(server.hits().iter().all(|h| h.status == 404));
}

// ----------------------------------------------------------- jurisdictions

#[tokio::test]
async fn a_client_with_a_jurisdiction_works_on_a_multi_jurisdiction_server() {
    let server = start(two_jurisdictions());
    for format in FORMATS {
        let mut cfg = config(&server, format);
        cfg.jurisdiction_id = Some("b.example".into());
        cfg.api_key = Some("key-b".into());
        let client = client_with(cfg);
        assert_eq!(client.services().await.expect("services").len(), 2);
        client.service_definition("REQPOTHL").await.expect("definition");
        let id = post_realtime(&client, "in b").await;
        assert!(client.request(&id).await.expect("read").is_some());
        let token = client
            .post_request(&casting())
            .await
            .expect("batch")
            .token
            .expect("token");
        assert_eq!(client.token(&token).await.expect("poll"), TokenState::Pending);
        let listed = client.requests(&RequestQuery::default()).await.expect("list");
        assert!(ids(&listed).contains(&id));
    }
    assert!(server.requests().iter().all(|r| r.jurisdiction_id == "b.example"));
    for r in server.requests() {
        assert!(
            r.form.contains(&("jurisdiction_id".to_owned(), "b.example".to_owned())),
            "{:?}",
            r.form
        );
    }
    for hit in server.hits().iter().filter(|h| h.method == "GET") {
        assert_eq!(param(hit, "jurisdiction_id").as_deref(), Some("b.example"), "{hit:?}");
    }
    assert_no_empty_query_parameter(&server);
}

#[tokio::test]
async fn a_client_without_a_jurisdiction_gets_the_servers_400() {
    let server = start(two_jurisdictions());
    for format in FORMATS {
        let mut cfg = config(&server, format);
        cfg.api_key = Some("key-a".into());
        let client = client_with(cfg);
        let err = client.services().await.expect_err("jurisdiction required");
        assert_eq!(err.class(), ErrorClass::BadRequest, "{err}");
        let Error::Status { status, errors, .. } = &err else {
            panic!("an HTTP status error: {err}");
        };
        assert_eq!(*status, 400);
        assert!(
            errors
                .iter()
                .any(|e| e.description.contains("jurisdiction_id was not provided")),
            "{format:?}: {errors:?}"
        );
        assert!(err.to_string().contains("jurisdiction_id was not provided"), "{err}");
        let err = client
            .post_request(&pothole("x"))
            .await
            .expect_err("required for POST too");
        assert_eq!(err.status(), Some(400), "{err}");
    }
    assert_eq!(server.hits().len(), 4, "a 400 is never retried");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_blank_jurisdiction_or_blank_fields_are_never_sent_empty() {
    let server = server();
    for format in FORMATS {
        let mut cfg = config(&server, format);
        cfg.jurisdiction_id = Some("  ".into());
        let client = client_with(cfg);
        client.services().await.expect("services");
        client.service_definition("REQPOTHL").await.expect("definition");
        let req = NewRequest {
            address_string: Some(String::new()),
            device_id: Some("  ".into()),
            media_url: Some(String::new()),
            attributes: vec![
                ("SIZE".into(), AttributeValue::Single(String::new())),
                ("DEPTH_CM".into(), AttributeValue::Multi(vec![String::new()])),
                (String::new(), AttributeValue::Single("x".into())),
            ],
            ..pothole("blank fields")
        };
        let id = client
            .post_request(&req)
            .await
            .expect("accepted by a server that refuses empty parameters")
            .service_request_id
            .expect("id");
        client.request(&id).await.expect("read").expect("found");
        client
            .requests(&RequestQuery {
                status: Some(RequestStatus::Open),
                service_codes: vec!["REQPOTHL".into()],
                start: Some(Utc::now() - TimeDelta::days(1)),
                page_size: Some(10),
                ..RequestQuery::default()
            })
            .await
            .expect("list");
        let token = client
            .post_request(&casting())
            .await
            .expect("batch")
            .token
            .expect("token");
        client.token(&token).await.expect("poll");
    }
    assert!(server.hits().iter().all(|h| h.status == 200), "{:?}", server.hits());
    assert_no_empty_query_parameter(&server);
    for r in server.requests() {
        assert!(
            r.form.iter().all(|(k, v)| !k.is_empty() && !v.trim().is_empty()),
            "{:?}",
            r.form
        );
        assert!(!r.form.iter().any(|(k, _)| k == "jurisdiction_id"));
    }
}

#[tokio::test]
async fn blank_entries_of_a_query_are_never_sent_empty() {
    let server = server();
    let client = client(&server, Format::Json);
    let by_code = client
        .requests(&RequestQuery {
            service_codes: vec![String::new()],
            ..RequestQuery::default()
        })
        .await;
    let by_id = client
        .requests(&RequestQuery {
            ids: vec![String::new()],
            ..RequestQuery::default()
        })
        .await;
    assert_no_empty_query_parameter(&server);
    by_code.expect("an empty code list is no filter");
    by_id.expect("an empty id finds nothing");
}

// ------------------------------------------------------- windows and pages

fn hit_window(hit: &Hit) -> (DateTime<Utc>, DateTime<Utc>) {
    let read = |key: &str| {
        let text = param(hit, key).unwrap_or_else(|| panic!("{key} in {}", hit.query));
        parse_datetime(&text)
            .unwrap_or_else(|| panic!("{key}={text} is a date-time"))
            .with_timezone(&Utc)
    };
    (read("start_date"), read("end_date"))
}

#[tokio::test]
async fn a_span_over_90_days_is_split_into_windows_of_at_most_90_days() {
    let server = server();
    let client = client(&server, Format::Json);
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(post_realtime(&client, &format!("hole {i}")).await);
    }
    let start = Utc::now() - TimeDelta::days(200);
    let found = client
        .requests(&RequestQuery {
            start: Some(start),
            ..RequestQuery::default()
        })
        .await
        .expect("listed");
    assert_eq!(ids(&found), created, "each once, in order");
    let gets = hits_to(&server, "GET", "/requests.json");
    assert_eq!(gets.len(), 3, "200 days in 90-day windows: {gets:?}");
    let windows: Vec<_> = gets.iter().map(hit_window).collect();
    for (s, e) in &windows {
        assert!(*s <= *e && *e - *s <= MAX_WINDOW, "{s} .. {e}");
    }
    // Ranges are inclusive, so the next window starts one second later.
    assert!(
        windows.windows(2).all(|w| w[0].1 + TimeDelta::seconds(1) == w[1].0),
        "contiguous, not overlapping: {windows:?}"
    );
    assert!((windows[0].0 - start).abs() < TimeDelta::seconds(1), "starts at start");
    assert!(gets.iter().all(|h| h.status == 200));
}

#[tokio::test]
async fn a_request_on_a_window_boundary_is_returned_once() {
    let server = server();
    let client = client(&server, Format::Json);
    let id = post_realtime(&client, "on the boundary").await;
    let at = server.requests()[0].requested_datetime;
    let found = client
        .requests(&RequestQuery {
            start: Some(at - TimeDelta::days(90)),
            end: Some(at + TimeDelta::days(90)),
            ..RequestQuery::default()
        })
        .await
        .expect("listed");
    assert_eq!(hits_to(&server, "GET", "/requests.json").len(), 2);
    assert_eq!(ids(&found), [id], "once");
}

#[tokio::test]
async fn an_end_without_a_start_is_the_90_days_before_it() {
    let server = server();
    let client = client(&server, Format::Json);
    let id = post_realtime(&client, "recent").await;
    let end = Utc::now() + TimeDelta::minutes(1);
    let found = client
        .requests(&RequestQuery {
            end: Some(end),
            ..RequestQuery::default()
        })
        .await
        .expect("listed");
    assert_eq!(ids(&found), [id]);
    let gets = hits_to(&server, "GET", "/requests.json");
    assert_eq!(gets.len(), 1, "{gets:?}");
    let (s, e) = hit_window(&gets[0]);
    assert!((e - end).abs() < TimeDelta::seconds(1), "ends at end: {e}");
    assert_eq!(e - s, MAX_WINDOW, "{s} .. {e}");
}

#[tokio::test]
async fn pages_of_two_return_five_requests_exactly_once() {
    for format in FORMATS {
        let server = server();
        let client = client(&server, format);
        let mut created = Vec::new();
        for i in 0..5 {
            created.push(post_realtime(&client, &format!("hole {i}")).await);
        }
        let found = client
            .requests(&RequestQuery {
                page_size: Some(2),
                ..RequestQuery::default()
            })
            .await
            .expect("listed");
        assert_eq!(ids(&found), created, "{format:?}");
        let unique: HashSet<String> = ids(&found).into_iter().collect();
        assert_eq!(unique.len(), 5);
        let gets = hits_to(&server, "GET", &format!("/requests.{}", format.ext()));
        let pages: Vec<(Option<String>, Option<String>)> =
            gets.iter().map(|h| (param(h, "page"), param(h, "page_size"))).collect();
        let two = || Some("2".to_owned());
        assert_eq!(
            pages,
            [
                (Some("1".to_owned()), two()),
                (Some("2".to_owned()), two()),
                (Some("3".to_owned()), two())
            ],
            "{format:?}: stops after the short page"
        );
    }
}

#[tokio::test]
async fn paging_stops_on_an_empty_page_and_within_each_window() {
    let server = server();
    let client = client(&server, Format::Json);
    let mut created = Vec::new();
    for i in 0..4 {
        created.push(post_realtime(&client, &format!("hole {i}")).await);
    }
    let found = client
        .requests(&RequestQuery {
            page_size: Some(2),
            start: Some(Utc::now() - TimeDelta::days(100)),
            ..RequestQuery::default()
        })
        .await
        .expect("listed");
    assert_eq!(ids(&found), created);
    let gets = hits_to(&server, "GET", "/requests.json");
    // Window 1 (the 10 oldest days): one empty page; window 2: 2 + 2 + empty.
    let pages: Vec<String> = gets.iter().map(|h| param(h, "page").expect("page")).collect();
    assert_eq!(pages, ["1", "1", "2", "3"], "{gets:?}");
}

#[tokio::test]
async fn ids_are_listed_and_filters_apply() {
    let server = server();
    let client = client(&server, Format::Xml);
    let a = post_realtime(&client, "a").await;
    let b = post_realtime(&client, "b").await;
    let token = client
        .post_request(&casting())
        .await
        .expect("batch")
        .token
        .expect("token");
    for _ in 0..3 {
        client.token(&token).await.expect("poll");
    }
    let both = client
        .requests(&RequestQuery {
            ids: vec![b.clone(), a.clone(), "SR-999999".into()],
            ..RequestQuery::default()
        })
        .await
        .expect("by ids");
    assert_eq!(ids(&both), [a.clone(), b.clone()], "unknown ids are just absent");
    let potholes = client
        .requests(&RequestQuery {
            service_codes: vec!["REQPOTHL".into()],
            ..RequestQuery::default()
        })
        .await
        .expect("by code");
    assert_eq!(ids(&potholes), [a, b]);
    let castings = client
        .requests(&RequestQuery {
            service_codes: vec!["REQCASTG".into()],
            ..RequestQuery::default()
        })
        .await
        .expect("by code");
    assert_eq!(castings.len(), 1);
    assert_eq!(castings[0].description.as_deref(), Some("Manhole cover sunk 3 cm"));
    assert!(
        client
            .requests(&RequestQuery {
                status: Some(RequestStatus::Closed),
                ..RequestQuery::default()
            })
            .await
            .expect("none closed")
            .is_empty()
    );
    let chunked: Vec<String> = (0..120).map(|i| format!("SR-{i:06}")).collect();
    let before = server.hits().len();
    let found = client
        .requests(&RequestQuery {
            ids: chunked,
            ..RequestQuery::default()
        })
        .await
        .expect("chunks");
    assert_eq!(found.len(), 3, "SR-000001..3 are among the 120 ids");
    let sizes: Vec<usize> = server.hits()[before..]
        .iter()
        .map(|h| param(h, "service_request_id").expect("ids").split(',').count())
        .collect();
    assert_eq!(sizes, [50, 50, 20], "120 ids in chunks of 50");
}

// ---------------------------------------------------------- one request

#[tokio::test]
async fn an_unknown_request_id_is_none() {
    let server = server();
    for format in FORMATS {
        assert_eq!(
            client(&server, format)
                .request("SR-424242")
                .await
                .expect("not an error"),
            None
        );
    }
    let hits = server.hits();
    assert_eq!(hits.len(), 4, "the 404 and the fallback, per format: {hits:?}");
    assert!(hits[0].path.ends_with("/requests/SR-424242.json") && hits[0].status == 404);
    assert!(hits[1].path.ends_with("/requests.json"));
    assert_eq!(param(&hits[1], "service_request_id").as_deref(), Some("SR-424242"));
}

#[tokio::test]
async fn an_id_that_needs_escaping_stays_one_path_segment() {
    let server = server();
    let client = client(&server, Format::Json);
    assert_eq!(client.request("SR 1/../x").await.expect("not an error"), None);
    let first = &server.hits()[0];
    assert_eq!(first.path, "/open311/v2/requests/SR%201%2F..%2Fx.json");
}

// ------------------------------------------------------------- probe_key

#[tokio::test]
async fn probe_key_tells_a_good_key_from_a_bad_one_and_creates_nothing() {
    let server = server();
    for format in FORMATS {
        let good = client(&server, format);
        assert!(good.probe_key(42.35, -71.06).await.expect("answered"), "{format:?}");
        let mut cfg = config(&server, format);
        cfg.api_key = Some("wrong".into());
        assert!(!client_with(cfg).probe_key(42.35, -71.06).await.expect("answered"));
    }
    assert!(server.requests().is_empty(), "nothing created");
    let statuses: Vec<u16> = server.hits().iter().map(|h| h.status).collect();
    assert_eq!(statuses, [404, 403, 404, 403], "one POST each, not retried");
    assert!(server.hits().iter().all(|h| h.method == "POST"));
    let err = client(&server, Format::Json)
        .probe_key(95.0, 0.0)
        .await
        .expect_err("invalid position");
    assert_eq!(err.class(), ErrorClass::Invalid);
    assert_eq!(server.hits().len(), 4, "not sent");
}

#[tokio::test]
async fn probe_key_does_not_accept_a_wrong_key_refused_for_its_jurisdiction() {
    let server = start(two_jurisdictions());
    let mut cfg = config(&server, Format::Json);
    cfg.api_key = Some("wrong".into());
    let no_jurisdiction = client_with(cfg.clone()).probe_key(42.35, -71.06).await;
    cfg.jurisdiction_id = Some("nowhere.example".into());
    let unknown_jurisdiction = client_with(cfg).probe_key(42.35, -71.06).await;
    assert!(
        !matches!(no_jurisdiction, Ok(true)),
        "key never checked (400 jurisdiction missing): {no_jurisdiction:?}"
    );
    assert!(
        !matches!(unknown_jurisdiction, Ok(true)),
        "key never checked (404 jurisdiction unknown): {unknown_jurisdiction:?}"
    );
}
