//! Any text as an Open311 date-time: parsing never panics, and what it reads
//! (with a four-digit year, all RFC 3339 can write) writes back out and reads
//! as the same instant.
#![no_main]

use bump_open311::model::{parse_datetime, w3_datetime};
use libfuzzer_sys::fuzz_target;

/// A year written with four digits, not a sign and five or more.
fn four_digit_year(written: &str) -> bool {
    written.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(t) = parse_datetime(&text) else {
        return;
    };
    let rfc = t.to_rfc3339();
    if four_digit_year(&rfc) {
        assert_eq!(parse_datetime(&rfc), Some(t), "{text:?} -> {rfc}");
    }
    let w3 = w3_datetime(t.to_utc());
    if four_digit_year(&w3) {
        let back = parse_datetime(&w3).expect("w3 output reads back");
        assert_eq!(back.timestamp(), t.timestamp(), "{text:?} -> {w3}");
    }
});
