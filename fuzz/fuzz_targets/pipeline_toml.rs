//! Any configuration text: loading never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bump_pipeline::PipelineConfig::from_toml(&String::from_utf8_lossy(data), "fuzz");
});
