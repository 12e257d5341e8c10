//! Any UTF-8 body: decoding it, every Open311 reader and the error-body
//! parser must never panic, whatever a server sends.
#![no_main]

use bump_open311::decode::{all_strings, decode, html_title, items};
use bump_open311::error::parse_error_body;
use bump_open311::model::{read_discovery, read_post_reply, read_requests, read_service_definition, read_services};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(doc) = decode(text) {
        if let Ok(d) = read_discovery(&doc) {
            let _ = d.georeport_v2("production").map(|e| e.best_format());
        }
        let _ = read_services(&doc);
        let _ = read_service_definition(&doc);
        let _ = read_post_reply(&doc);
        if let Ok(list) = read_requests(&doc) {
            for r in list {
                assert!(r.lat.is_none_or(|x| (-90.0..=90.0).contains(&x)));
                assert!(r.long.is_none_or(|x| (-180.0..=180.0).contains(&x)));
            }
        }
        let _ = items(&doc.value);
        let _ = all_strings(&doc.value);
    }
    for status in [400, 403, 404, 429, 500] {
        for e in parse_error_body(status, text) {
            assert!(!e.code.is_empty());
        }
    }
    let _ = html_title(text);
});
