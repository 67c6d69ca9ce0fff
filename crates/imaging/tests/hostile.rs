//! Hostile input, generated here: headers that lie about size, bombs that
//! inflate past the memory budget, absurd frame counts, truncated and
//! mutated files, garbage EXIF. Each must end in its typed error (or, for
//! harmless lies like a broken EXIF block, a normal thumbnail), never a
//! panic: in the component a panic is a trap. The same files are run
//! through the wasm component with memory measured in
//! `crates/host/tests/hostile_images.rs`.

// Test helpers outside #[test] fns: a panic is how they report failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::hostile::{
    garbage_exif_payloads, gif_claiming, gif_with_frames, jpeg_with_app1, mutate, png_claiming,
    png_interlaced, png_zero_bomb, Lcg,
};
use common::{decode_rgb, fixture, mad, render_one};
use thumbflow_imaging::{parse_recipes, probe, render, ImagingError, Limits, Recipe};

/// A budget small enough to matter: 64 MiB.
fn tight() -> Limits {
    Limits {
        memory_budget: 64 << 20,
        ..Limits::default()
    }
}

fn thumb() -> Vec<Recipe> {
    vec![Recipe::default()]
}

#[test]
fn hostile_png_header_claiming_100000_squared() {
    let bomb = png_claiming(100_000, 100_000);
    assert!(bomb.len() < 100);
    // The side check wins over the codec's own allocation cap, with any budget.
    for limits in [Limits::default(), tight()] {
        let err = render(&bomb, &thumb(), &limits).unwrap_err();
        assert_eq!(
            err,
            ImagingError::SideTooLong {
                width: 100_000,
                height: 100_000,
                max_side: 16_384
            }
        );
    }
}

#[test]
fn hostile_png_idat_inflating_past_budget_rejected_from_header() {
    // 8000x8000 RGB: 192 MB of pixels from a ~1.2 MB file, interlaced, so
    // it can only be decoded whole: rejected before inflating anything.
    let bomb = png_interlaced(&png_zero_bomb(8000, 8000, 8000 * (1 + 3 * 8000)));
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    for result in [
        probe(&bomb, &tight()).map(|_| ()),
        render(&bomb, &thumb(), &tight()).map(|_| ()),
    ] {
        match result {
            Err(ImagingError::OverMemoryBudget { needed, budget }) => {
                assert_eq!(budget, 64 << 20);
                assert!(needed >= 192_000_000, "{needed}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn hostile_png_bomb_streams_within_budget() {
    // The same 192 MB image non-interlaced is decoded a row at a time into
    // the box reducer: it fits the 64 MiB budget and is simply black.
    let bomb = png_zero_bomb(8000, 8000, 8000 * (1 + 3 * 8000));
    probe(&bomb, &tight()).unwrap();
    let out = render(&bomb, &thumb(), &tight()).unwrap();
    assert_eq!((out[0].width, out[0].height), (300, 300));
    // Black, up to the default quality's DC rounding.
    assert!(decode_rgb(&out[0].bytes)
        .pixels()
        .all(|p| p.0.iter().all(|&v| v <= 2)));
    // The generator is honest: within a roomy budget a small one is a
    // black image too.
    let small = png_zero_bomb(600, 400, 400 * (1 + 3 * 600));
    let out = render_one(&small, &Recipe::default());
    assert_eq!((out.width, out.height), (300, 200));
    assert!(decode_rgb(&out.bytes)
        .pixels()
        .all(|p| p.0.iter().all(|&v| v <= 2)));
}

#[test]
fn hostile_png_idat_longer_than_its_image_is_bounded() {
    // The header says 64x64, the IDAT inflates to 64 MiB: the decoder
    // stops at the image's size (or reports the excess), never buffers it.
    let bomb = png_zero_bomb(64, 64, 64 << 20);
    match render(&bomb, &thumb(), &tight()) {
        Ok(out) => assert_eq!((out[0].width, out[0].height), (64, 64)),
        Err(e) => assert!(matches!(e, ImagingError::Decode(_)), "{e:?}"),
    }
}

#[test]
fn hostile_gif_huge_logical_screen() {
    let bomb = gif_claiming(65_535, 65_535);
    assert!(matches!(
        render(&bomb, &thumb(), &Limits::default()),
        Err(ImagingError::SideTooLong { width: 65_535, .. })
    ));
    // Within the side limit, 100 MP of RGBA canvas is over a 64 MiB budget.
    let big = gif_claiming(10_000, 10_000);
    assert!(matches!(
        probe(&big, &tight()),
        Err(ImagingError::OverMemoryBudget { .. })
    ));
    assert!(matches!(
        render(&big, &thumb(), &tight()),
        Err(ImagingError::OverMemoryBudget { .. })
    ));
}

#[test]
fn hostile_gif_absurd_frame_count() {
    let many = gif_with_frames(10_500);
    assert!(many.len() < 300_000);
    assert_eq!(
        render(&many, &thumb(), &Limits::default()).unwrap_err(),
        ImagingError::TooManyFrames {
            frames: 10_001,
            max_frames: 10_000
        }
    );
    // The same kind of file within the limit renders its first frame.
    let few = gif_with_frames(3);
    let out = render(&few, &thumb(), &Limits::default()).unwrap();
    assert_eq!((out[0].width, out[0].height), (1, 1));
}

#[test]
fn hostile_truncated_progressive_jpeg() {
    let bytes = fixture("rocket_progressive.jpg");
    assert!(probe(&bytes, &Limits::default()).is_ok());
    // Full size (zune-jpeg) and DCT-scaled (ours: 1/8 reads DC scans only).
    let recipes = [
        parse_recipes("t=300x300").unwrap(),
        parse_recipes("t=20x20").unwrap(),
    ];
    for recipes in &recipes {
        assert!(render(&bytes, recipes, &Limits::default()).is_ok());
        for cut in [
            bytes.len() / 10,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len() - 2,
        ] {
            let err = render(&bytes[..cut], recipes, &Limits::default()).unwrap_err();
            assert!(
                matches!(err, ImagingError::Decode(ref t) if t.contains("truncated")),
                "cut at {cut}: {err:?}"
            );
        }
    }
}

#[test]
fn hostile_garbage_exif_renders_upright() {
    let clean = fixture("rocket.jpg");
    let upright = decode_rgb(&render_one(&clean, &Recipe::default()).bytes);
    for payload in garbage_exif_payloads() {
        let bytes = jpeg_with_app1(&clean, &payload, None);
        let info = probe(&bytes, &Limits::default()).unwrap();
        assert_eq!(info.orientation, 1, "{payload:?}");
        let got = decode_rgb(&render_one(&bytes, &Recipe::default()).bytes);
        assert!(mad(&got, &upright) < 0.5, "{payload:?}");
    }
    // An APP1 whose length runs past the end of the file is damage.
    let lying = jpeg_with_app1(&clean[..200], b"Exif\0\0MM", Some(60_000));
    for result in [
        probe(&lying, &Limits::default()).map(|_| ()),
        render(&lying, &thumb(), &Limits::default()).map(|_| ()),
    ] {
        assert!(matches!(result, Err(ImagingError::Decode(_))), "{result:?}");
    }
}

#[test]
fn hostile_jpeg_frame_headers_over_limits() {
    // Patch rocket.jpg's SOF0 to claim other sizes.
    let clean = fixture("rocket.jpg");
    let sof = clean.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let claim = |w: u16, h: u16| {
        let mut b = clean.clone();
        b[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        b[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        b
    };
    assert!(matches!(
        probe(&claim(60_000, 60_000), &Limits::default()),
        Err(ImagingError::SideTooLong { .. })
    ));
    assert!(matches!(
        probe(&claim(16_000, 16_000), &Limits::default()),
        Err(ImagingError::TooManyPixels { .. })
    ));
    // Plausible size, data for a tiny image: the decode runs out of data
    // and says so instead of rendering 100 MP of grey.
    let err = render(&claim(10_000, 10_000), &thumb(), &Limits::default()).unwrap_err();
    assert!(matches!(err, ImagingError::Decode(_)), "{err:?}");
}

#[test]
fn hostile_mutated_files_never_panic() {
    let mut rng = Lcg(0x5EED);
    let recipes = parse_recipes("a=300x300;b=20x20,cover,png").unwrap();
    for name in [
        "rocket.jpg",
        "rocket_progressive.jpg",
        "rocket_cmyk.jpg",
        "rocket_gray.jpg",
        "rocket_palette_trns.png",
        "animated.gif",
        "rocket.webp",
        "rocket.bmp",
        "rocket.tiff",
    ] {
        let bytes = fixture(name);
        for _ in 0..60 {
            let mutated = mutate(&bytes, &mut rng);
            // Any typed outcome is fine; a panic fails the test.
            let _ = render(&mutated, &recipes, &tight());
        }
    }
}
