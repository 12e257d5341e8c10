//! Reads every file of the shared Open311 reference folder (spec-shaped
//! payloads, real servers' fixtures, quirks) through the client's readers.
//! Skips when the folder is absent.

use std::path::{Path, PathBuf};

use bump_open311::decode::{DecodeError, Document, decode};
use bump_open311::error::parse_error_body;
use bump_open311::model::{read_discovery, read_post_reply, read_requests, read_service_definition, read_services};

fn folder() -> Option<PathBuf> {
    let dir = bump_fixtures::shared_open311();
    if dir.is_none() {
        eprintln!("skipped: the shared Open311 reference folder is absent");
    }
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn doc(dir: &Path, rel: &str) -> Document {
    decode(&read(&dir.join(rel))).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn spec_shaped_payloads_read_as_the_spec_says() {
    let Some(dir) = folder() else { return };
    for f in ["discovery.json", "discovery.xml"] {
        let d = read_discovery(&doc(&dir, &format!("spec-shaped/{f}"))).expect(f);
        let e = d.georeport_v2("test").expect("a test endpoint");
        assert_eq!(e.best_format(), bump_open311::Format::Json, "{f}");
    }
    for f in ["services.json", "services.xml"] {
        let s = read_services(&doc(&dir, &format!("spec-shaped/{f}"))).expect(f);
        assert!(s.iter().any(|s| s.service_code == "REQPOTHL"), "{f}: {s:?}");
    }
    for f in ["service-definition-REQPOTHL.json", "service-definition-REQPOTHL.xml"] {
        let d = read_service_definition(&doc(&dir, &format!("spec-shaped/{f}"))).expect(f);
        assert_eq!(d.service_code, "REQPOTHL");
        let sev = d.attributes.iter().find(|a| a.code == "SEVERITY").expect("SEVERITY");
        assert!(sev.required);
        assert_eq!(sev.values.len(), 3, "{f}");
        assert!(d.attributes.windows(2).all(|w| w[0].order <= w[1].order));
    }
    for f in ["post-response-realtime.json", "post-response-realtime.xml"] {
        let r = read_post_reply(&doc(&dir, &format!("spec-shaped/{f}"))).expect(f);
        assert!(r.service_request_id.is_some() && r.token.is_none(), "{f}: {r:?}");
    }
    for f in ["post-response-token.json", "post-response-token.xml"] {
        let r = read_post_reply(&doc(&dir, &format!("spec-shaped/{f}"))).expect(f);
        assert!(r.token.is_some() && r.service_request_id.is_none(), "{f}: {r:?}");
    }
    let pending = read_requests(&doc(&dir, "spec-shaped/token-response-pending.xml")).expect("pending");
    assert!(pending[0].service_request_id.is_none() && pending[0].token.is_some());
    let resolved = read_requests(&doc(&dir, "spec-shaped/token-response-resolved.json")).expect("resolved");
    assert!(resolved[0].service_request_id.is_some());
    for f in ["requests.json", "requests.xml"] {
        let r = read_requests(&doc(&dir, &format!("spec-shaped/{f}"))).expect(f);
        assert!(!r.is_empty(), "{f}");
        assert!(
            r.iter()
                .all(|r| r.service_request_id.is_some() && r.status.is_some() && r.requested_datetime.is_some()),
            "{f}: {r:?}"
        );
    }
    for f in ["requests-empty.json", "requests-empty.xml"] {
        assert!(
            read_requests(&doc(&dir, &format!("spec-shaped/{f}")))
                .expect(f)
                .is_empty(),
            "{f}"
        );
    }
    for (f, status) in [
        ("error-403-invalid-api-key.json", 403),
        ("error-403-invalid-api-key.xml", 403),
        ("error-404-service-code.xml", 404),
        ("error-400-multiple.json", 400),
    ] {
        let e = parse_error_body(status, &read(&dir.join("spec-shaped").join(f)));
        assert!(
            !e.is_empty() && e.iter().all(|e| !e.description.is_empty()),
            "{f}: {e:?}"
        );
    }
    assert!(parse_error_body(400, &read(&dir.join("spec-shaped/error-400-multiple.json"))).len() >= 2);
}

#[test]
fn every_quirk_is_read_or_rejected_clearly() {
    let Some(dir) = folder() else { return };
    let q = |f: &str| read(&dir.join("quirks").join(f));
    // Leading zeros: repaired into the string they were meant to be.
    let r = read_requests(&decode(&q("q01-leading-zero-number.json.invalid")).expect("repaired")).expect("q01");
    assert_eq!(r[0].service_code.as_deref(), Some("006"));
    assert_eq!(r[0].service_request_id.as_deref(), Some("638344"));
    let r = read_post_reply(&decode(&q("q02-numeric-ids.json")).expect("q02")).expect("q02");
    assert_eq!(
        (r.service_request_id.as_deref(), r.token.as_deref()),
        (Some("293944"), Some("12345"))
    );
    let r = read_requests(&decode(&q("q03-fixmystreet-server-wrapped.json")).expect("q03")).expect("q03");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].agency_responsible.as_deref(), Some("Westminster City Council"));
    let s = read_services(&decode(&q("q03b-fixmystreet-services-wrapped.json")).expect("q03b")).expect("q03b");
    assert_eq!(s[0].service_code, "Potholes");
    assert!(!s[0].metadata);
    let r = read_requests(&decode(&q("q04-xmlsimple-array-wrapped.json")).expect("q04")).expect("q04");
    assert_eq!(r[0].service_request_id.as_deref(), Some("12345"));
    assert_eq!(r[0].lat, Some(51.501_009));
    // Spark strings: a service and a request mixed in one list; both read.
    let d = decode(&q("q05-spark-json-strings.json")).expect("q05");
    let r = read_requests(&d).expect("q05");
    assert_eq!(r[1].lat, Some(42.3318));
    assert!(r[1].requested_datetime.is_some());
    assert!(!read_services(&d).expect("q05").is_empty());
    for (f, status, needle) in [
        ("q06a-error-object-drf.json", 400, "NOPE is invalid"),
        ("q06b-error-object-drf-list.json", 400, "Invalid API key"),
        ("q06c-error-bare.xml", 403, "Invalid api_key"),
        ("q06d-error-wrong-root.xml", 400, "NOPE is invalid"),
        ("q06e-error-json-message-field.json", 400, "Missing required attribute"),
        ("q06f-html-500.html", 500, "Server Error (500)"),
    ] {
        let e = parse_error_body(status, &q(f));
        assert!(e.iter().any(|e| e.description.contains(needle)), "{f}: {e:?}");
    }
    assert!(matches!(
        decode(&q("q06f-html-500.html")),
        Err(DecodeError::Html { .. })
    ));
    let r = read_requests(&decode(&q("q07-xml-root-requests.xml")).expect("q07")).expect("q07");
    assert_eq!(r[0].service_request_id.as_deref(), Some("ogohkjkr"));
    for line in q("q08-datetime-variants.txt").lines() {
        let value = line.split('#').next().unwrap_or_default().trim();
        if !value.is_empty() {
            assert!(bump_open311::model::parse_datetime(value).is_some(), "{value}");
        }
    }
    let d = read_service_definition(&decode(&q("q09-boston-attribute-oddities.json")).expect("q09")).expect("q09");
    assert_eq!(d.attributes.len(), 3);
    assert!(matches!(d.attributes[0].datatype, bump_open311::Datatype::Other(_)));
    assert!(
        d.attributes[2].values.is_empty(),
        "values sent as a number read as none"
    );
    let r = read_requests(&decode(&q("q10-media-url-array.json")).expect("q10")).expect("q10");
    assert!(r[0].media_url[0].starts_with("https://"));
    let r = read_requests(&decode(&q("q11-request-without-id.json")).expect("q11")).expect("q11");
    assert_eq!(
        r[0].service_request_id, None,
        "a request without id is read, without id"
    );
    let e = decode(&q("q12-available-servers.json.invalid")).expect_err("q12 is invalid JSON");
    assert!(e.to_string().contains("malformed JSON"), "{e}");
    // Nothing in the folder is left out.
    let n = std::fs::read_dir(dir.join("quirks")).expect("quirks").count();
    assert_eq!(n, 18, "a new quirk file needs a case here");
}

/// Splits a fixtures text file into (heading, body) blocks.
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            out.push((h.to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut()
            && !line.starts_with("HTTP/1.1")
        {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

#[test]
fn real_servers_fixtures_read_or_fail_clearly() {
    let Some(dir) = folder() else { return };
    let rw = dir.join("real-world");
    let services = read_services(&doc(&dir, "real-world/boston-311-services-subset.json")).expect("services");
    assert!(!services.is_empty());
    let defs = doc(&dir, "real-world/boston-311-service-metadata.json");
    let n = bump_open311::decode::items(&defs.value).len();
    assert!(n > 0);
    for item in bump_open311::decode::items(&defs.value) {
        let d = Document {
            root: None,
            value: item.clone(),
        };
        read_service_definition(&d).expect("each Boston definition");
    }
    let r = read_requests(&doc(&dir, "real-world/boston-311-request-detailed.json")).expect("boston request");
    assert_eq!(r[0].service_request_id.as_deref(), Some("200012223"));
    assert!(r[0].requested_datetime.is_some() && !r[0].media_url.is_empty());
    for f in [
        "massachusetts-endpoints.json",
        "open311-registry-servers.json",
        "boston-legacy-service-code-map.json",
    ] {
        decode(&read(&rw.join(f))).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    let mut seen = 0;
    for f in ["fixmystreet-client-test-responses.txt", "ruby-open311-gem-fixtures.txt"] {
        for (heading, body) in blocks(&read(&rw.join(f))) {
            if body.trim().is_empty() {
                continue;
            }
            seen += 1;
            match decode(&body) {
                Ok(d) => {
                    // Whatever it is, reading it as requests or errors never panics.
                    let _ = read_requests(&d);
                    let _ = read_post_reply(&d);
                }
                Err(e) => assert!(!e.to_string().is_empty(), "{heading}"),
            }
            assert!(
                !parse_error_body(400, &body).is_empty() || body.contains("service_requests"),
                "{heading}"
            );
            if heading.contains("empty id") || heading.contains("child elements") {
                let reply = read_post_reply(&decode(&body).expect("xml")).expect("reply");
                assert_eq!(reply.service_request_id, None, "{heading}: must count as a failure");
            }
            if heading.contains("Malformed") {
                assert!(decode(&body).is_err(), "{heading}");
                assert!(
                    parse_error_body(400, &body)[0].description.contains("error"),
                    "{heading}"
                );
            }
        }
    }
    assert!(seen >= 10, "{seen} blocks");
}
