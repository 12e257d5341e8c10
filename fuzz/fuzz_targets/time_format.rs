//! Any pattern and value: parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern, value) = text.split_once('\n').unwrap_or(("%Y-%m-%d %H:%M:%S,%f", &text));
    if let Ok(f) = pattern.parse::<bump_pipeline::TimeFormat>() {
        let _ = f.parse_datetime(value);
    }
});
