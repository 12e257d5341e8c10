//! Property tests of the lenient readers: no input makes `decode`, the
//! `model::read_*` readers, `parse_error_body` or `parse_datetime` panic,
//! whether it is any string or one built from the pieces JSON and XML are
//! made of; and well-formed JSON reads back as itself.

use bump_open311::decode::{Document, all_strings, decode, html_title, items};
use bump_open311::error::{parse_error_body, parse_retry_after};
use bump_open311::model::{
    RequestStatus, parse_datetime, read_discovery, read_post_reply, read_requests, read_service_definition,
    read_services,
};
use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::Value;

/// Everything a body goes through in the client.
fn read_everything(text: &str) {
    if let Ok(doc) = decode(text) {
        read_document(&doc);
    }
    for status in [400, 401, 403, 404, 429, 500, 502] {
        let errors = parse_error_body(status, text);
        for e in &errors {
            assert!(!e.code.is_empty(), "{text:?}: {errors:?}");
        }
    }
    let _ = html_title(text);
    let _ = parse_datetime(text);
    let _ = RequestStatus::parse(text);
    let _ = parse_retry_after(text, Utc::now());
}

fn read_document(doc: &Document) {
    let _ = read_discovery(doc).map(|d| {
        let e = d
            .georeport_v2("production")
            .map(bump_open311::model::DiscoveryEndpoint::best_format);
        (d, e)
    });
    let _ = read_services(doc);
    let _ = read_service_definition(doc);
    let _ = read_post_reply(doc);
    if let Ok(list) = read_requests(doc) {
        for r in list {
            assert!(r.lat.is_none_or(|x| (-90.0..=90.0).contains(&x)), "{r:?}");
            assert!(r.long.is_none_or(|x| (-180.0..=180.0).contains(&x)), "{r:?}");
        }
    }
    let _ = items(&doc.value);
    let _ = all_strings(&doc.value);
}

const NAMES: &[&str] = &[
    "service_request_id",
    "service_requests",
    "request",
    "requests",
    "services",
    "service",
    "service_code",
    "service_definition",
    "attributes",
    "attribute",
    "values",
    "value",
    "key",
    "name",
    "token",
    "status",
    "description",
    "code",
    "errors",
    "error",
    "detail",
    "message",
    "discovery",
    "endpoints",
    "endpoint",
    "formats",
    "format",
    "url",
    "specification",
    "lat",
    "long",
    "order",
    "metadata",
    "type",
    "media_url",
    "requested_datetime",
    "updated_datetime",
    "agency_responsible",
    "html",
    "title",
    "h1",
];

const FRAGMENTS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<?xml version=\"1.0\"?>",
    "<!doctype html>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "\"",
    "'",
    ":",
    ",",
    "[",
    "]",
    "{",
    "}",
    "0",
    "00",
    "006",
    "7",
    "42.35",
    "-71.06",
    "1e999",
    "-",
    ".",
    "e",
    " ",
    "\n",
    "\r",
    "\t",
    "\\",
    "\\u",
    "&amp;",
    "&#13;",
    "&#x1F6A7;",
    "&",
    ";",
    "=",
    "true",
    "false",
    "null",
    "NaN",
    "é",
    "坑",
    "🚧",
    "\u{feff}",
    "\u{0}",
    "T",
    "Z",
    "+02:00",
    "2026-11-27",
    "10:28:55",
];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_owned)
}

fn fragments() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
            2 => name(),
        ],
        0..80,
    )
    .prop_map(|v| v.concat())
}

fn scalar_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z &<>;#0-9\"'é\n]{0,12}",
        prop::sample::select(&["006", "293944", "42.358431", "-71.0", "true", "open", "closed", "1e400"][..])
            .prop_map(str::to_owned),
    ]
}

/// XML-like trees: elements named like Open311's, sometimes left unclosed or
/// self-closed, text with entities and markup characters.
fn xmlish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        scalar_text(),
        name().prop_map(|n| format!("<{n}/>")),
        name().prop_map(|n| format!("<{n}></{n}>")),
    ];
    let tree = leaf.prop_recursive(5, 48, 5, |inner| {
        (name(), prop::collection::vec(inner, 0..5), 0..8u8).prop_map(|(n, kids, close)| {
            let end = match close {
                0 => String::new(),
                1 => "</other>".to_owned(),
                _ => format!("</{n}>"),
            };
            format!("<{n}>{}{end}", kids.concat())
        })
    });
    (any::<bool>(), tree).prop_map(|(decl, t)| {
        if decl {
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{t}")
        } else {
            t
        }
    })
}

/// JSON-like text: objects with Open311 keys, arrays, numbers with leading
/// zeros, strings with escapes; sometimes cut short.
fn jsonish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("006".to_owned()),
        Just("0".to_owned()),
        Just("-0.5e3".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        "\"[a-z0-9 :,<>\\[\\]{}]{0,10}\"",
        Just("\"\\\"\\\\\\n\\u00e9\"".to_owned()),
    ];
    let tree = leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((name(), inner), 0..5).prop_map(|v| {
                let fields: Vec<String> = v.into_iter().map(|(k, x)| format!("\"{k}\": {x}")).collect();
                format!("{{{}}}", fields.join(", "))
            }),
        ]
    });
    (tree, any::<prop::sample::Index>(), any::<bool>()).prop_map(|(t, cut, whole)| {
        if whole {
            t
        } else {
            let at = cut.index(t.len() + 1);
            // Cut on a character boundary.
            let at = (0..=at).rev().find(|&i| t.is_char_boundary(i)).unwrap_or(0);
            t[..at].to_owned()
        }
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e9..1.0e9f64).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(name(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn datetimes() -> impl Strategy<Value = DateTime<FixedOffset>> {
    (0i64..=253_402_000_000, 0u32..1_000_000_000, -(23 * 60)..=(23 * 60i32)).prop_map(|(secs, nanos, offset_min)| {
        let offset = FixedOffset::east_opt(offset_min * 60).expect("within a day");
        offset.from_utc_datetime(
            &DateTime::from_timestamp(secs, nanos)
                .expect("within chrono's range")
                .naive_utc(),
        )
    })
}

fn datetimeish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(
            &[
                "2026", "-", "11", "27", "T", " ", ":", "04", "31", "08", ".", "093384", "Z", "z", "+02:00", "-0800",
                "+", "60", "99", "0", "9999", "+275760", "24", "\u{0660}", "é",
            ][..],
        ),
        0..16,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_string_reads_without_panic(s in "\\PC{0,200}") {
        read_everything(&s);
    }

    #[test]
    fn any_unicode_reads_without_panic(s in any::<String>()) {
        read_everything(&s);
    }

    #[test]
    fn fragments_of_json_and_xml_read_without_panic(s in fragments()) {
        read_everything(&s);
    }

    #[test]
    fn xmlish_trees_read_without_panic(s in xmlish()) {
        read_everything(&s);
    }

    #[test]
    fn jsonish_text_reads_without_panic(s in jsonish()) {
        read_everything(&s);
    }

    #[test]
    fn well_formed_json_reads_back_as_itself(v in json_value()) {
        let text = serde_json::to_string(&v).expect("serialise");
        let doc = decode(&text).expect("valid JSON decodes");
        prop_assert_eq!(doc.root, None);
        prop_assert_eq!(doc.value, v);
    }

    #[test]
    fn blank_bodies_are_empty(s in "\u{feff}?[ \t\r\n]{0,8}") {
        prop_assert!(matches!(decode(&s), Err(bump_open311::decode::DecodeError::Empty)));
        prop_assert!(parse_error_body(500, &s).is_empty());
    }

    #[test]
    fn datetime_like_strings_parse_without_panic(s in datetimeish()) {
        if let Some(t) = parse_datetime(&s).filter(|t| (0..=9999).contains(&t.year())) {
            // Whatever was read is a real instant that writes back out
            // (RFC 3339 has four-digit years only).
            let again = parse_datetime(&t.to_rfc3339());
            prop_assert_eq!(again, Some(t), "{}", s);
            let utc = t.with_timezone(&Utc);
            if (0..=9999).contains(&utc.year()) {
                let w3 = bump_open311::model::w3_datetime(utc);
                prop_assert_eq!(parse_datetime(&w3).map(|b| b.timestamp()), Some(t.timestamp()), "{}", w3);
            }
        }
    }

    #[test]
    fn datetimes_in_the_forms_servers_use_read_back(t in datetimes()) {
        let forms = [
            t.to_rfc3339(),
            t.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
            t.format("%Y-%m-%d %H:%M:%S%.f%:z").to_string(),
        ];
        for form in forms {
            let back = parse_datetime(&form);
            prop_assert_eq!(back.map(|b| b.timestamp()), Some(t.timestamp()), "{}", form);
            prop_assert_eq!(back.map(|b| b.offset().local_minus_utc()), Some(t.offset().local_minus_utc()));
        }
        let utc = t.with_timezone(&Utc);
        let w3 = bump_open311::model::w3_datetime(utc);
        prop_assert_eq!(parse_datetime(&w3).map(|b| b.timestamp()), Some(utc.timestamp()), "{}", w3);
    }
}
