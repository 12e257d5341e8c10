//! Any bytes as an upload: parse and validate must never panic, and an
//! accepted batch must survive a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = bump_core::TripBatch::from_json(data) {
        let again = serde_json::to_vec(&b).expect("serialise");
        let b2 = bump_core::TripBatch::from_json(&again).expect("round trip");
        assert_eq!(b.len(), b2.len());
        let _ = b.samples();
    }
});
