//! The header probe on arbitrary bytes: every uploaded object reaches it
//! first, in any of the six formats or none.
//!
//! Limits are small (4 megapixels, 64 MiB) so the fuzzer spends its time in
//! header parsing rather than in the allocations the limits exist to stop.
//! Oracle: no panic, and whatever is accepted is within those limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use thumbflow_imaging::{probe, Limits};

fuzz_target!(|bytes: &[u8]| {
    let limits = Limits {
        max_pixels: 4_000_000,
        max_side: 4_096,
        max_input_bytes: 1 << 20,
        max_frames: 100,
        memory_budget: 64 << 20,
    };
    if let Ok(info) = probe(bytes, &limits) {
        assert!(info.width <= limits.max_side && info.height <= limits.max_side);
        assert!(u64::from(info.width) * u64::from(info.height) <= limits.max_pixels);
        assert!((1..=8).contains(&info.orientation), "{info:?}");
    }
});
