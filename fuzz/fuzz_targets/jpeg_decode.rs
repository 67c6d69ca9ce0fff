//! The engine's JPEG decode on arbitrary bytes, at every DCT scale.
//!
//! Our own decoder (`thumbflow_imaging`'s private `jpeg` module) is
//! reached the way the thumbnailer reaches it: through `render`, which
//! picks the decode scale from the recipes. The input's length picks the
//! scale (1/8, 1/4, 1/2 or 1/1, where 3-component files go to the `image`
//! crate's decoder), so each execution decodes once and a crash replays
//! from its file alone; the harness then builds a one-row `exact` recipe
//! that makes `render` choose that scale while keeping the resize and
//! encode after it negligible.
//! Limits are small (4 megapixels, 64 MiB) so the fuzzer explores parsing
//! and entropy decoding, not large allocations. Oracle: no panic, and a
//! success renders the one recipe asked for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use thumbflow_imaging::render::DCT_GAP;
use thumbflow_imaging::{probe, render, Fit, Limits, Recipe};

fuzz_target!(|bytes: &[u8]| {
    let limits = Limits {
        max_pixels: 4_000_000,
        max_side: 4_096,
        max_input_bytes: 1 << 20,
        max_frames: 100,
        memory_budget: 64 << 20,
    };
    let Ok(info) = probe(bytes, &limits) else {
        return;
    };
    if info.format != "jpeg" {
        return;
    }
    let (width, _) = info.displayed_size();
    let denom = [8u32, 4, 2, 1][bytes.len() % 4];
    // The widest output a decode at 1/denom still allows; as it is wider
    // than 1/(2*denom) allows, `render` picks exactly this scale (or a
    // finer one when the image is too small for it).
    let box_width = (f64::from(width) / (f64::from(denom) * DCT_GAP)).floor();
    let recipe = Recipe {
        width: (box_width as u32).max(1),
        height: 1,
        fit: Fit::Exact,
        ..Recipe::default()
    };
    if let Ok(out) = render(bytes, std::slice::from_ref(&recipe), &limits) {
        assert_eq!(out.len(), 1);
    }
});
