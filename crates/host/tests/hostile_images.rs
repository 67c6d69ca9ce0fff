//! Hostile images through the real thumbnail component
//! (`target/wasm32-wasip2/release/thumbnailer_core.wasm`, built by
//! `make build`): each gets its typed `reject`, never a trap, and the
//! instance's peak linear memory stays under the memory budget the engine
//! was given. The inputs come from the imaging crate's generators
//! (`crates/imaging/tests/common/hostile.rs`), which its native tests use
//! too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

#[path = "../../imaging/tests/common/hostile.rs"]
mod hostile;

use std::path::PathBuf;

use hostile::{
    garbage_exif_payloads, gif_claiming, gif_with_frames, jpeg_with_app1, png_claiming,
    png_zero_bomb,
};
use thumbflow::cores::{CallError, ImageLimits, Recipe};
use thumbflow::{InvocationLimits, Runtime, ThumbnailerCore};

/// The budget the engine is told to stay within.
const BUDGET: u64 = 64 << 20;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

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

/// Renders `image` in a fresh instance (256 MiB allowed, so only the
/// engine's own budget keeps it small) and returns the result and the
/// peak linear memory.
fn render(image: &[u8], spec: &str) -> (Result<usize, CallError>, usize) {
    let runtime = Runtime::new(InvocationLimits {
        memory_bytes: 256 << 20,
        ..InvocationLimits::default()
    })
    .unwrap();
    let core = ThumbnailerCore::load(&runtime, &wasm()).unwrap();
    let recipes: Vec<Recipe> = core.parse_recipes(spec).unwrap();
    let (result, peak) = core.render_measured(image, &recipes, &limits());
    (result.map(|r| r.len()), peak)
}

/// Asserts a typed reject whose message contains `needle`, under budget.
fn assert_rejected(what: &str, image: &[u8], needle: &str) {
    let (result, peak) = render(image, "");
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
    assert_rejected(
        "PNG claiming 100000x100000",
        &png_claiming(100_000, 100_000),
        "max_side",
    );
    assert_rejected(
        "PNG whose IDAT inflates to 192 MB",
        &png_zero_bomb(8000, 8000, 8000 * (1 + 3 * 8000)),
        "memory_budget",
    );
    assert_rejected(
        "GIF with a 65535x65535 screen",
        &gif_claiming(65_535, 65_535),
        "max_side",
    );
    assert_rejected(
        "GIF with a 10000x10000 screen",
        &gif_claiming(10_000, 10_000),
        "memory_budget",
    );
    assert_rejected(
        "GIF with 10500 frames",
        &gif_with_frames(10_500),
        "max_frames",
    );
    let progressive = fixture("images/rocket_progressive.jpg");
    assert_rejected(
        "truncated progressive JPEG",
        &progressive[..progressive.len() / 2],
        "truncated",
    );
    let clean = fixture("images/rocket.jpg");
    assert_rejected(
        "JPEG with an APP1 running past the end",
        &jpeg_with_app1(&clean[..200], b"Exif\0\0MM", Some(60_000)),
        "cannot decode",
    );
}

#[test]
fn hostile_png_idat_longer_than_image_stays_bounded() {
    // 64x64 header, 64 MiB of inflated data: bounded work and memory.
    let (result, peak) = render(&png_zero_bomb(64, 64, 64 << 20), "");
    assert!(
        !matches!(result, Err(CallError::Trap(_))),
        "trapped: {result:?}"
    );
    assert!((peak as u64) < BUDGET, "peak {peak}");
}

#[test]
fn hostile_garbage_exif_still_renders() {
    let clean = fixture("images/rocket.jpg");
    for payload in garbage_exif_payloads() {
        let (result, peak) = render(&jpeg_with_app1(&clean, &payload, None), "");
        assert_eq!(result.unwrap(), 1, "{payload:?}");
        assert!((peak as u64) < BUDGET, "peak {peak}");
    }
}

#[test]
fn memory_20_megapixel_jpeg_under_64_mib() {
    // The corpus is not committed; skip loudly when it is absent.
    let dir = std::env::var_os("THUMBFLOW_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    let mut checked = 0;
    for name in [
        "lomiri_Kleiber_by_Lukas_Baubkus.jpg",
        "lomiri_Kleiber_progressive.jpg",
    ] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        let (result, peak) = render(&bytes, "");
        assert_eq!(result.unwrap(), 1, "{name}");
        assert!(
            peak < 64 << 20,
            "{name}: peak linear memory {} MiB",
            peak >> 20
        );
        checked += 1;
    }
    if checked == 0 {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "corpus not found at {}: 20 MP memory check skipped (set THUMBFLOW_CORPUS)",
            dir.display()
        );
    }
}
