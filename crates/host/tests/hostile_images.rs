//! Hostile images through the real thumbnail component
//! (`target/wasm32-wasip2/release/thumbnailer_core.wasm`, built by
//! `make build`): each gets its typed `reject`, never a trap, and the
//! instance's peak linear memory stays under the memory budget the engine
//! was given. The inputs come from the imaging crate's generators
//! (`crates/imaging/tests/common/hostile.rs`), which its native tests use
//! too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

mod common;
#[path = "../../imaging/tests/common/hostile.rs"]
mod hostile;

use std::path::PathBuf;

use common::root;

use hostile::{
    garbage_exif_payloads, gif_claiming, gif_with_frames, jpeg_with_app1, png_claiming,
    png_interlaced, png_zero_bomb,
};
use thumbflow::cores::{CallError, ImageLimits, Recipe};
use thumbflow::{InvocationLimits, Runtime, ThumbnailerCore};

/// The budget the engine is told to stay within.
const BUDGET: u64 = 64 << 20;

fn wasm() -> PathBuf {
    let path = root().join("target/wasm32-wasip2/release/thumbnailer_core.wasm");
    assert!(
        path.exists(),
        "{} is missing: run `make build` first",
        path.display()
    );
    path
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/images").join(name)).expect("fixture")
}

fn limits() -> ImageLimits {
    ImageLimits {
        max_pixels: 100_000_000,
        max_side: 16_384,
        max_input_bytes: 64 << 20,
        max_frames: 10_000,
        memory_budget: BUDGET,
    }
}

/// The runtime every test loads the component into: instances may grow
/// to 256 MiB, so only the engine's own budget keeps them small.
fn runtime() -> Runtime {
    Runtime::new(InvocationLimits {
        memory_bytes: 256 << 20,
        ..InvocationLimits::default()
    })
    .unwrap()
}

/// Renders `image` in a fresh instance and returns the number of outputs
/// (or the error) and the instance's peak linear memory.
fn render(
    core: &ThumbnailerCore<'_>,
    image: &[u8],
    spec: &str,
) -> (Result<usize, CallError>, usize) {
    let recipes: Vec<Recipe> = core.parse_recipes(spec).unwrap();
    let (result, peak) = core.render_measured(image, &recipes, &limits());
    (result.map(|r| r.len()), peak)
}

/// Asserts a typed reject whose message contains `needle`, under budget.
fn assert_rejected(core: &ThumbnailerCore<'_>, what: &str, image: &[u8], needle: &str) {
    let (result, peak) = render(core, image, "");
    match result {
        Err(CallError::Reject(message)) => {
            assert!(message.contains(needle), "{what}: {message}");
        }
        other => panic!("{what}: expected a reject mentioning {needle:?}, got {other:?}"),
    }
    assert!(
        (peak as u64) < BUDGET,
        "{what}: peak linear memory {peak} bytes is over the {BUDGET} byte budget"
    );
}

#[test]
fn hostile_images_rejected_under_budget() {
    let runtime = runtime();
    let core = ThumbnailerCore::load(&runtime, &wasm()).unwrap();
    assert_rejected(
        &core,
        "PNG claiming 100000x100000",
        &png_claiming(100_000, 100_000),
        "max_side",
    );
    assert_rejected(
        &core,
        "interlaced PNG whose IDAT inflates to 192 MB",
        &png_interlaced(&png_zero_bomb(8000, 8000, 8000 * (1 + 3 * 8000))),
        "memory_budget",
    );
    assert_rejected(
        &core,
        "GIF with a 65535x65535 screen",
        &gif_claiming(65_535, 65_535),
        "max_side",
    );
    assert_rejected(
        &core,
        "GIF with a 10000x10000 screen",
        &gif_claiming(10_000, 10_000),
        "memory_budget",
    );
    assert_rejected(
        &core,
        "GIF with 10500 frames",
        &gif_with_frames(10_500),
        "max_frames",
    );
    let progressive = fixture("rocket_progressive.jpg");
    assert_rejected(
        &core,
        "truncated progressive JPEG",
        &progressive[..progressive.len() / 2],
        "truncated",
    );
    let clean = fixture("rocket.jpg");
    assert_rejected(
        &core,
        "JPEG with an APP1 running past the end",
        &jpeg_with_app1(&clean[..200], b"Exif\0\0MM", Some(60_000)),
        "cannot decode",
    );
}

#[test]
fn hostile_png_idat_longer_than_image_stays_bounded() {
    // 64x64 header, 64 MiB of inflated data: bounded work and memory.
    let runtime = runtime();
    let core = ThumbnailerCore::load(&runtime, &wasm()).unwrap();
    let (result, peak) = render(&core, &png_zero_bomb(64, 64, 64 << 20), "");
    assert!(
        !matches!(result, Err(CallError::Trap(_))),
        "trapped: {result:?}"
    );
    assert!((peak as u64) < BUDGET, "peak {peak}");
}

#[test]
fn hostile_garbage_exif_still_renders() {
    let runtime = runtime();
    let core = ThumbnailerCore::load(&runtime, &wasm()).unwrap();
    let clean = fixture("rocket.jpg");
    for payload in garbage_exif_payloads() {
        let (result, peak) = render(&core, &jpeg_with_app1(&clean, &payload, None), "");
        assert_eq!(result.unwrap(), 1, "{payload:?}");
        assert!((peak as u64) < BUDGET, "peak {peak}");
    }
}

/// A 20-megapixel (5472x3648, a common camera size) photo-like JPEG,
/// baseline or progressive 4:2:0: smooth gradients plus fine texture, so
/// every scan carries real coefficients.
fn synthetic_20_megapixel_jpeg(progressive: bool) -> Vec<u8> {
    let (w, h) = (5472u16, 3648u16);
    let mut rgb = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..u32::from(h) {
        for x in 0..u32::from(w) {
            let grain = ((x * 7 + y * 13) % 17) as u8;
            rgb.extend_from_slice(&[
                (x * 255 / u32::from(w)) as u8 ^ grain,
                (y * 255 / u32::from(h)) as u8,
                ((x + y) % 256) as u8 ^ grain,
            ]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.set_progressive(progressive);
    encoder
        .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// Issue 4's memory target, on every run: a 20 MP JPEG, baseline and
/// progressive, renders the default thumbnail with the instance's peak
/// linear memory under 64 MiB (the input itself, about 10 MB, included).
#[test]
fn memory_synthetic_20_megapixel_jpeg_under_64_mib() {
    let runtime = runtime();
    let core = ThumbnailerCore::load(&runtime, &wasm()).unwrap();
    for progressive in [false, true] {
        let bytes = synthetic_20_megapixel_jpeg(progressive);
        let (result, peak) = render(&core, &bytes, "");
        assert_eq!(result.unwrap(), 1, "progressive: {progressive}");
        assert!(
            peak < 64 << 20,
            "progressive {progressive}: peak linear memory {} MiB for {} input bytes",
            peak >> 20,
            bytes.len()
        );
    }
}

#[test]
fn memory_20_megapixel_jpeg_under_64_mib() {
    // The corpus is not committed; skip loudly when it is absent.
    let dir = std::env::var_os("THUMBFLOW_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    let runtime = runtime();
    let core = ThumbnailerCore::load(&runtime, &wasm()).unwrap();
    let mut checked = 0;
    for name in [
        "lomiri_Kleiber_by_Lukas_Baubkus.jpg",
        "lomiri_Kleiber_progressive.jpg",
    ] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        let (result, peak) = render(&core, &bytes, "");
        assert_eq!(result.unwrap(), 1, "{name}");
        assert!(
            peak < 64 << 20,
            "{name}: peak linear memory {} MiB",
            peak >> 20
        );
        checked += 1;
    }
    if checked == 0 {
        common::skip(
            "corpus",
            &format!(
                "corpus not found at {}: 20 MP memory check skipped (set THUMBFLOW_CORPUS)",
                dir.display()
            ),
        );
    }
}
