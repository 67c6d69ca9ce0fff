//! Helpers shared by the integration tests: fixture paths, decoding of
//! rendered thumbnails, and the pixel comparison used for "looks the same".

#![allow(dead_code)] // each test binary uses a different subset

pub mod hostile;

use std::path::PathBuf;

use image::{DynamicImage, RgbImage, RgbaImage};
use thumbflow_imaging::{render, Limits, Recipe, Rendered};

/// `<workspace>/tests/fixtures/images`.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images")
}

/// Bytes of one committed fixture.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

/// Renders `bytes` with one recipe and returns the single output.
pub fn render_one(bytes: &[u8], recipe: &Recipe) -> Rendered {
    let mut out = render(bytes, std::slice::from_ref(recipe), &Limits::default())
        .unwrap_or_else(|e| panic!("render failed: {e}"));
    assert_eq!(out.len(), 1);
    out.remove(0)
}

/// Renders with the default recipe and decodes the JPEG to RGB.
pub fn thumb_rgb(bytes: &[u8]) -> RgbImage {
    let r = render_one(bytes, &Recipe::default());
    let img = decode_rgb(&r.bytes);
    assert_eq!((img.width(), img.height()), (r.width, r.height));
    img
}

/// Decodes an output as RGB (outputs carry no EXIF, so no orientation).
pub fn decode_rgb(bytes: &[u8]) -> RgbImage {
    decode(bytes).to_rgb8()
}

/// Decodes an output as RGBA.
pub fn decode_rgba(bytes: &[u8]) -> RgbaImage {
    decode(bytes).to_rgba8()
}

/// Decodes an output in its own colour type.
pub fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).unwrap_or_else(|e| panic!("decoding output: {e}"))
}

/// Mean absolute difference per channel (0..=255) of two equally sized
/// images: the tolerance measure for "looks the same".
pub fn mad(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "compared images differ in size"
    );
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// Mean absolute difference over the pixels where `keep(x, y)` holds.
pub fn mad_where(a: &RgbImage, b: &RgbImage, keep: impl Fn(u32, u32) -> bool) -> f64 {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "compared images differ in size"
    );
    let (mut total, mut n) = (0u64, 0u64);
    for (x, y, p) in a.enumerate_pixels() {
        if keep(x, y) {
            let q = b.get_pixel(x, y);
            for c in 0..3 {
                total += u64::from(p[c].abs_diff(q[c]));
            }
            n += 3;
        }
    }
    assert!(n > 0, "no pixels selected");
    total as f64 / n as f64
}
