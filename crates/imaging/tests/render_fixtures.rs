//! Renders the committed fixtures (`tests/fixtures/images`, public-domain and
//! CC0 photos) through the public API and checks what a user would see:
//! output sizes, orientation, colours, alpha, and typed errors for bad input.

// Test helpers outside #[test] fns: a panic is how they report failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::hostile::{gif_claiming, png_claiming};
use common::{decode, decode_rgb, decode_rgba, fixture, mad, mad_where, render_one, thumb_rgb};
use image::metadata::Orientation;
use image::{ColorType, DynamicImage, GenericImageView, RgbImage};
use thumbflow_imaging::{
    fit_dimensions, probe, render, Fit, ImagingError, Limits, OutputFormat, Recipe,
};

/// Tolerance for "the same picture" after resampling and JPEG re-encoding.
const SAME: f64 = 4.0;

fn recipe(spec: &str) -> Recipe {
    let mut recipes = thumbflow_imaging::parse_recipes(spec).unwrap();
    assert_eq!(recipes.len(), 1);
    recipes.remove(0)
}

fn orient(img: &RgbImage, o: Orientation) -> RgbImage {
    let mut d = DynamicImage::ImageRgb8(img.clone());
    d.apply_orientation(o);
    d.to_rgb8()
}

// --- EXIF orientation -------------------------------------------------------

#[test]
fn orientation_all_eight_variants_display_like_upright() {
    let upright = thumb_rgb(&fixture("upright.jpg"));
    assert_eq!(
        upright.dimensions(),
        fit_dimensions(480, 270, &Recipe::default())
    );
    assert_eq!(upright.dimensions(), (300, 169));
    for n in 1..=8u8 {
        let bytes = fixture(&format!("orient{n}.jpg"));
        let info = probe(&bytes, &Limits::default()).unwrap();
        assert_eq!(info.orientation, n, "orient{n}.jpg tag");
        assert_eq!(
            info.displayed_size(),
            (480, 270),
            "orient{n}.jpg displayed size"
        );
        let got = thumb_rgb(&bytes);
        assert_eq!(got.dimensions(), upright.dimensions(), "orient{n}.jpg size");
        let d = mad(&got, &upright);
        assert!(
            d < SAME,
            "orient{n}.jpg differs from upright: mean abs diff {d:.2}"
        );
    }
}

#[test]
fn orientation_comparison_catches_wrong_transforms() {
    // The comparison above must be able to fail: a mirrored or half-turned
    // upright thumbnail is far beyond the tolerance...
    let upright = thumb_rgb(&fixture("upright.jpg"));
    for wrong in [
        Orientation::FlipHorizontal,
        Orientation::FlipVertical,
        Orientation::Rotate180,
    ] {
        let d = mad(&orient(&upright, wrong), &upright);
        assert!(d > 4.0 * SAME, "{wrong:?} is too similar: {d:.2}");
    }
    // ...and so is a variant rendered as stored, ignoring its tag.
    for n in [2u8, 3, 4] {
        let stored = image::load_from_memory(&fixture(&format!("orient{n}.jpg")))
            .unwrap()
            .resize_exact(300, 169, image::imageops::FilterType::Lanczos3)
            .to_rgb8();
        let d = mad(&stored, &upright);
        assert!(
            d > 4.0 * SAME,
            "orient{n}.jpg as stored is too similar: {d:.2}"
        );
    }
}

#[test]
fn orientation_fit_uses_displayed_coordinates() {
    // 480x270 stored with tag 6 displays as 270x480: a 100x50 exact box is
    // filled in displayed coordinates, and cover crops the displayed image.
    let bytes = fixture("orient6.jpg");
    let upright = fixture("upright.jpg");
    for spec in [
        "t=100x50,exact,png",
        "t=100x50,cover,png",
        "t=50x100,inside,png",
    ] {
        let r = recipe(spec);
        let a = render_one(&bytes, &r);
        let b = render_one(&upright, &r);
        assert_eq!((a.width, a.height), (b.width, b.height), "{spec}");
        let d = mad(&decode_rgb(&a.bytes), &decode_rgb(&b.bytes));
        assert!(d < SAME, "{spec}: mean abs diff {d:.2}");
    }
}

// --- alpha ------------------------------------------------------------------

#[test]
fn alpha_flattened_onto_white_for_jpeg() {
    let out = render_one(&fixture("chelsea_rgba.png"), &Recipe::default());
    assert_eq!((out.width, out.height), (200, 133), "never upscaled");
    assert_eq!(out.format, OutputFormat::Jpeg);
    let img = decode_rgb(&out.bytes);
    // Corners are fully transparent (with magenta hidden under alpha 0).
    for (x, y) in [(0, 0), (199, 0), (0, 132), (199, 132), (5, 5)] {
        let p = img.get_pixel(x, y);
        assert!(
            p.0.iter().all(|&c| c >= 245),
            "corner ({x},{y}) is {p:?}, want white"
        );
    }
    // The opaque centre is the cat, not white.
    let centre = img.get_pixel(100, 66);
    assert!(centre.0.iter().any(|&c| c < 230), "centre is {centre:?}");
    // No hidden magenta anywhere.
    assert!(
        !img.pixels().any(|p| p[0] > 200 && p[1] < 80 && p[2] > 200),
        "hidden colour leaked into the JPEG"
    );
}

#[test]
fn alpha_flattened_onto_recipe_background() {
    let out = render_one(&fixture("chelsea_rgba.png"), &recipe("t=300x300,bg=1040a0"));
    let p = *decode_rgb(&out.bytes).get_pixel(0, 0);
    for (got, want) in p.0.iter().zip([0x10u8, 0x40, 0xa0]) {
        assert!(got.abs_diff(want) <= 4, "corner {p:?}, want 1040a0");
    }
}

#[test]
fn alpha_kept_for_png_and_webp() {
    for spec in ["t=300x300,png", "t=300x300,webp"] {
        let out = render_one(&fixture("chelsea_rgba.png"), &recipe(spec));
        let img = decode_rgba(&out.bytes);
        assert_eq!(img.dimensions(), (200, 133), "{spec}");
        assert_eq!(
            img.get_pixel(0, 0)[3],
            0,
            "{spec}: corner must stay transparent"
        );
        assert_eq!(
            img.get_pixel(100, 66)[3],
            255,
            "{spec}: centre must stay opaque"
        );
        assert!(decode(&out.bytes).color().has_alpha(), "{spec}");
    }
}

#[test]
fn alpha_png_of_opaque_source_has_no_alpha_channel() {
    let out = render_one(&fixture("rocket.jpg"), &recipe("t=100x100,png"));
    assert_eq!(decode(&out.bytes).color(), ColorType::Rgb8);
}

// --- colour types -----------------------------------------------------------

#[test]
fn palette_png_with_trns_decodes_to_right_colours() {
    let bytes = fixture("rocket_palette_trns.png");
    let got = thumb_rgb(&bytes);
    let reference = thumb_rgb(&fixture("rocket.jpg"));
    assert_eq!(got.dimensions(), (300, 201));
    // The left quarter is transparent in the fixture: white in the JPEG.
    let quarter = 300 / 4;
    let opaque = mad_where(&got, &reference, |x, _| x > quarter + 3);
    assert!(
        opaque < 6.0,
        "opaque part differs from the RGB original: {opaque:.2}"
    );
    let white = RgbImage::from_pixel(300, 201, image::Rgb([255, 255, 255]));
    let transparent = mad_where(&got, &white, |x, _| x + 3 < quarter);
    assert!(
        transparent < 2.0,
        "transparent part is not white: {transparent:.2}"
    );
    // And PNG output keeps that transparency.
    let png = render_one(&bytes, &recipe("t=300x300,png"));
    assert_eq!(decode_rgba(&png.bytes).get_pixel(10, 100)[3], 0);
}

#[test]
fn gray_jpeg_renders_neutral_gray() {
    let got = thumb_rgb(&fixture("rocket_gray.jpg"));
    assert!(
        got.pixels()
            .all(|p| p[0].abs_diff(p[1]) <= 2 && p[1].abs_diff(p[2]) <= 2),
        "gray input gained colour"
    );
    // Pillow's (ITU-R 601) luma, which made the gray fixture.
    let mut luma = thumb_rgb(&fixture("rocket.jpg"));
    for p in luma.pixels_mut() {
        let y =
            (299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]) + 500) / 1000;
        let y = u8::try_from(y).unwrap();
        *p = image::Rgb([y, y, y]);
    }
    let d = mad(&got, &luma);
    assert!(
        d < 6.0,
        "gray render differs from the original's luma: {d:.2}"
    );
}

#[test]
fn sixteen_bit_png_matches_eight_bit_original() {
    let bytes = fixture("rocket16.png");
    assert_eq!(
        image::load_from_memory(&bytes).unwrap().color(),
        ColorType::Rgb16
    );
    let got = thumb_rgb(&bytes);
    assert_eq!(got.dimensions(), (160, 107));
    let d = mad(&got, &thumb_rgb(&fixture("rocket.bmp")));
    assert!(d < 2.0, "16-bit render differs from the 8-bit one: {d:.2}");
}

#[test]
fn cmyk_jpeg_matches_rgb_original_not_inverted() {
    let bytes = fixture("rocket_cmyk.jpg");
    assert_eq!(probe(&bytes, &Limits::default()).unwrap().format, "jpeg");
    let got = thumb_rgb(&bytes);
    let reference = thumb_rgb(&fixture("rocket.jpg"));
    let d = mad(&got, &reference);
    assert!(d < 6.0, "CMYK render differs from the RGB original: {d:.2}");
    let mut inverted = reference.clone();
    image::imageops::invert(&mut inverted);
    let inv = mad(&got, &inverted);
    assert!(
        inv > 10.0 * d.max(1.0),
        "CMYK render looks inverted: {inv:.2}"
    );
}

#[test]
fn icc_display_p3_png_converted_like_littlecms() {
    // Same size as the source: no resampling, so the only change is the
    // colour conversion, compared with LittleCMS's (made by the fixture
    // script from the same pixels and profile).
    let reference = decode_rgb(&fixture("rocket_p3.srgb.png"));
    let out = render_one(&fixture("rocket_p3.png"), &recipe("t=320x320,png"));
    let got = decode_rgb(&out.bytes);
    let d = mad(&got, &reference);
    assert!(
        d < 1.0,
        "P3 PNG differs from the LittleCMS conversion: {d:.2}"
    );
    // Ignoring the profile would be visibly off: the check can fail.
    let untagged = decode_rgb(&render_one(&fixture("rocket.bmp"), &recipe("t=320x320,png")).bytes);
    let plain = decode_rgb(&fixture("rocket_p3.png"));
    assert!(mad(&plain, &reference) > 2.0 * d.max(1.0));
    assert_eq!(untagged.dimensions(), (160, 107));
}

#[test]
fn icc_display_p3_jpeg_converted_like_littlecms() {
    // LittleCMS's conversion of the JPEG as libjpeg (Pillow) decodes it.
    let reference = decode_rgb(&fixture("rocket_p3_jpg.srgb.png"));
    // Full size (zune-jpeg path) and a DCT-scaled thumbnail (our decoder).
    let out = render_one(&fixture("rocket_p3.jpg"), &recipe("t=320x320,png"));
    let d = mad(&decode_rgb(&out.bytes), &reference);
    let unconverted = mad(&decode_rgb(&fixture("rocket_p3.jpg")), &reference);
    assert!(
        d < 1.5,
        "P3 JPEG differs from the LittleCMS conversion: {d:.2}"
    );
    assert!(unconverted > 2.0 * d, "{unconverted:.2} vs {d:.2}");
    let small = render_one(&fixture("rocket_p3.jpg"), &recipe("t=80x80,png"));
    let want = DynamicImage::ImageRgb8(reference)
        .resize_exact(
            small.width,
            small.height,
            image::imageops::FilterType::Lanczos3,
        )
        .to_rgb8();
    let d = mad(&decode_rgb(&small.bytes), &want);
    assert!(d < 4.0, "scaled P3 JPEG differs from the reference: {d:.2}");
}

#[test]
fn gif_animated_renders_first_frame() {
    let bytes = fixture("animated.gif");
    assert_eq!(probe(&bytes, &Limits::default()).unwrap().format, "gif");
    let got = thumb_rgb(&bytes);
    let first = thumb_rgb(&fixture("rocket.bmp"));
    let d = mad(&got, &first);
    assert!(d < 6.0, "GIF render differs from frame 1: {d:.2}");
    // Frames 2 and 3 are the negative and the mirror image.
    let mut negative = first.clone();
    image::imageops::invert(&mut negative);
    assert!(mad(&got, &negative) > 10.0 * d.max(1.0));
    let mirror = image::imageops::flip_horizontal(&first);
    assert!(mad(&got, &mirror) > 3.0 * d.max(1.0));
}

#[test]
fn other_containers_decode_to_same_picture() {
    let small = thumb_rgb(&fixture("rocket.bmp"));
    for name in ["rocket.tiff", "rocket16.png"] {
        let d = mad(&thumb_rgb(&fixture(name)), &small);
        assert!(d < 2.0, "{name}: {d:.2}");
    }
    let big = thumb_rgb(&fixture("rocket.jpg"));
    let d = mad(&thumb_rgb(&fixture("rocket.webp")), &big);
    assert!(d < 6.0, "rocket.webp: {d:.2}");
}

#[test]
fn probe_reports_format_size_and_orientation() {
    let cases = [
        ("rocket.jpg", "jpeg", 320, 214, 1),
        ("rocket_palette_trns.png", "png", 320, 214, 1),
        ("animated.gif", "gif", 160, 107, 1),
        ("rocket.webp", "webp", 320, 214, 1),
        ("rocket.bmp", "bmp", 160, 107, 1),
        ("rocket.tiff", "tiff", 160, 107, 1),
        ("orient6.jpg", "jpeg", 270, 480, 6),
    ];
    for (name, format, width, height, orientation) in cases {
        let info = probe(&fixture(name), &Limits::default()).unwrap();
        assert_eq!(
            (
                info.format.as_str(),
                info.width,
                info.height,
                info.orientation
            ),
            (format, width, height, orientation),
            "{name}"
        );
    }
}

// --- recipes ----------------------------------------------------------------

#[test]
fn render_every_recipe_from_one_decode() {
    let recipes = thumbflow_imaging::parse_recipes(
        "thumb=300x300;sq=64x64,cover,webp,v2;wide=100x20,exact,png",
    )
    .unwrap();
    let out = render(&fixture("rocket.jpg"), &recipes, &Limits::default()).unwrap();
    let summary: Vec<_> = out
        .iter()
        .map(|r| {
            (
                r.recipe.as_str(),
                r.recipe_version,
                r.width,
                r.height,
                r.format,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("thumb", 1, 300, 201, OutputFormat::Jpeg),
            ("sq", 2, 64, 64, OutputFormat::Webp),
            ("wide", 1, 100, 20, OutputFormat::Png),
        ]
    );
    for r in &out {
        assert_eq!(
            decode(&r.bytes).dimensions(),
            (r.width, r.height),
            "{}",
            r.recipe
        );
        let format = image::guess_format(&r.bytes).unwrap();
        assert_eq!(
            format.to_mime_type(),
            r.format.content_type(),
            "{}",
            r.recipe
        );
    }
}

#[test]
fn render_cover_is_centre_crop() {
    // Cover of the 160x107 rocket into a square is its middle 107x107,
    // scaled: compare with that middle cut out and resized by hand.
    let out = render_one(&fixture("rocket.bmp"), &recipe("t=80x80,cover,png"));
    let got = decode_rgb(&out.bytes);
    let src = image::load_from_memory(&fixture("rocket.bmp")).unwrap();
    let (w, h) = (src.width(), src.height());
    let middle = src.crop_imm((w - h) / 2, 0, h, h);
    let want = middle
        .resize_exact(80, 80, image::imageops::FilterType::Lanczos3)
        .to_rgb8();
    let d = mad(&got, &want);
    assert!(d < 3.0, "cover is not the centre crop: {d:.2}");
    let left = src
        .crop_imm(0, 0, h, h)
        .resize_exact(80, 80, image::imageops::FilterType::Lanczos3)
        .to_rgb8();
    assert!(
        mad(&got, &left) > 2.0 * d.max(1.0),
        "left crop is as close as the centre"
    );
}

#[test]
fn render_upscale_only_when_asked() {
    let bytes = fixture("rocket.bmp"); // 160x107
    let plain = render_one(&bytes, &recipe("t=320x320"));
    assert_eq!((plain.width, plain.height), (160, 107));
    let up = render_one(&bytes, &recipe("t=320x320,upscale"));
    assert_eq!((up.width, up.height), (320, 214));
    assert_eq!(decode(&up.bytes).dimensions(), (320, 214));
}

#[test]
fn render_rejects_output_over_limits() {
    let r = Recipe {
        width: 20_000,
        height: 20_000,
        fit: Fit::Exact,
        upscale: true,
        ..Recipe::default()
    };
    let err = render(&fixture("rocket.bmp"), &[r], &Limits::default()).unwrap_err();
    assert!(
        matches!(err, ImagingError::InvalidRecipe(ref t) if t.contains("20000x20000")),
        "{err}"
    );
}

#[test]
fn render_rejects_hand_built_invalid_recipe() {
    let r = Recipe {
        quality: 0,
        ..Recipe::default()
    };
    let err = render(&fixture("rocket.bmp"), &[r], &Limits::default()).unwrap_err();
    assert!(matches!(err, ImagingError::InvalidRecipe(_)), "{err}");
}

// --- limits and bad input ---------------------------------------------------

#[test]
fn limits_huge_png_header_rejected_before_decoding() {
    let bomb = png_claiming(100_000, 100_000);
    assert!(bomb.len() < 100);
    let err = probe(&bomb, &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        ImagingError::SideTooLong {
            width: 100_000,
            height: 100_000,
            max_side: 16_384
        }
    );
    let wide_sides = Limits {
        max_side: u32::MAX,
        ..Limits::default()
    };
    let err = render(&bomb, &[Recipe::default()], &wide_sides).unwrap_err();
    assert_eq!(
        err,
        ImagingError::TooManyPixels {
            width: 100_000,
            height: 100_000,
            max_pixels: 100_000_000
        }
    );
    // Within limits the same few bytes reach the decoder, which fails: so
    // the errors above really came from the header check.
    let small = png_claiming(100, 100);
    assert!(probe(&small, &Limits::default()).is_ok());
    let err = render(&small, &[Recipe::default()], &Limits::default()).unwrap_err();
    assert!(matches!(err, ImagingError::Decode(_)), "{err}");
}

#[test]
fn limits_huge_gif_header_rejected_before_decoding() {
    let bomb = gif_claiming(65_535, 65_535);
    let err = probe(&bomb, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, ImagingError::SideTooLong { width: 65_535, .. }),
        "{err}"
    );
    let wide_sides = Limits {
        max_side: u32::MAX,
        ..Limits::default()
    };
    let err = render(&bomb, &[Recipe::default()], &wide_sides).unwrap_err();
    assert!(
        matches!(err, ImagingError::TooManyPixels { width: 65_535, .. }),
        "{err}"
    );
}

#[test]
fn limits_apply_at_the_boundary() {
    let bytes = fixture("rocket.jpg"); // 320x214
    let exact = Limits {
        max_pixels: 320 * 214,
        max_side: 320,
        ..Limits::default()
    };
    assert!(render(&bytes, &[Recipe::default()], &exact).is_ok());
    let fewer = Limits {
        max_pixels: 320 * 214 - 1,
        ..exact
    };
    assert!(matches!(
        probe(&bytes, &fewer),
        Err(ImagingError::TooManyPixels { .. })
    ));
    let shorter = Limits {
        max_side: 319,
        ..exact
    };
    assert!(matches!(
        probe(&bytes, &shorter),
        Err(ImagingError::SideTooLong { .. })
    ));
    let small_input = Limits {
        max_input_bytes: 1000,
        ..exact
    };
    let err = render(&bytes, &[Recipe::default()], &small_input).unwrap_err();
    assert_eq!(
        err,
        ImagingError::InputTooLarge {
            bytes: bytes.len() as u64,
            max: 1000
        }
    );
}

#[test]
fn decode_truncated_jpeg_is_typed_error() {
    let bytes = fixture("rocket.jpg");
    // Header intact: probe is fine, render is not.
    let half = &bytes[..bytes.len() / 2];
    assert!(probe(half, &Limits::default()).is_ok());
    let err = render(half, &[Recipe::default()], &Limits::default()).unwrap_err();
    assert!(
        matches!(err, ImagingError::Decode(ref t) if t.contains("truncated")),
        "{err}"
    );
    // Cut inside the headers: probe fails too.
    let err = probe(&bytes[..40], &Limits::default()).unwrap_err();
    assert!(matches!(err, ImagingError::Decode(_)), "{err}");
}

#[test]
fn decode_truncated_png_is_typed_error() {
    let bytes = fixture("rocket_palette_trns.png");
    let err = render(
        &bytes[..bytes.len() / 2],
        &[Recipe::default()],
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ImagingError::Decode(_)), "{err}");
}

#[test]
fn decode_never_panics_on_cut_or_corrupt_fixtures() {
    let names = [
        "rocket.jpg",
        "rocket_cmyk.jpg",
        "rocket_gray.jpg",
        "rocket_palette_trns.png",
        "rocket16.png",
        "chelsea_rgba.png",
        "animated.gif",
        "rocket.webp",
        "rocket.bmp",
        "rocket.tiff",
        "orient6.jpg",
    ];
    for name in names {
        let bytes = fixture(name);
        for cut in [1, 8, 16, 64, 300, bytes.len() / 3, bytes.len() - 10] {
            let result = render(&bytes[..cut], &[Recipe::default()], &Limits::default());
            if let Err(e) = result {
                assert!(
                    matches!(
                        e,
                        ImagingError::Decode(_) | ImagingError::UnsupportedFormat(_)
                    ),
                    "{name} cut at {cut}: {e:?}"
                );
            }
        }
        // Flip bytes in the middle of the data.
        let mut corrupt = bytes.clone();
        for i in (corrupt.len() / 2..corrupt.len()).step_by(97) {
            corrupt[i] ^= 0x5A;
        }
        if let Err(e) = render(&corrupt, &[Recipe::default()], &Limits::default()) {
            assert!(
                matches!(e, ImagingError::Decode(_)),
                "{name} corrupted: {e:?}"
            );
        }
    }
}

#[test]
fn decode_non_image_bytes_is_unsupported_format() {
    let html = b"<!DOCTYPE html><html><body>Not found</body></html>";
    let err = probe(html, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, ImagingError::UnsupportedFormat(ref t) if t.contains("3c 21 44 4f") && t.contains("<!DOCTYP")),
        "{err}"
    );
    let err = render(b"", &[Recipe::default()], &Limits::default()).unwrap_err();
    assert!(
        matches!(err, ImagingError::UnsupportedFormat(ref t) if t.contains("empty")),
        "{err}"
    );
    // A format `image` recognises but this engine does not decode.
    let qoi = b"qoif\0\0\0\x01\0\0\0\x01\x03\0";
    let err = probe(qoi, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, ImagingError::UnsupportedFormat(ref t) if t.contains("qoi")),
        "{err}"
    );
}

/// Our own JPEG decoder parses untrusted bytes, so it gets a seeded
/// mutation run on every test: random bytes of the committed JPEGs
/// (baseline, progressive, gray, CMYK) overwritten, at box sizes that pick
/// every DCT scale. A panic here would be a trap in the component; every
/// outcome must be a picture or a typed error.
#[test]
fn jpeg_decoder_survives_random_corruption() {
    let limits = Limits {
        max_pixels: 4_000_000,
        memory_budget: 64 << 20,
        ..Limits::default()
    };
    let boxes = [
        recipe("a=480x480"),
        recipe("b=200x200"),
        recipe("c=100x100"),
        recipe("d=40x40"),
    ];
    // xorshift64*: deterministic, so a failure reproduces.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut decoded = 0;
    for name in [
        "rocket.jpg",
        "rocket_progressive.jpg",
        "rocket_gray.jpg",
        "rocket_cmyk.jpg",
    ] {
        let original = fixture(name);
        for round in 0..150 {
            let mut bytes = original.clone();
            // Half the rounds hit the headers (tables, frame, scan
            // headers), where a bad length or index does the most damage.
            let span = if round % 2 == 0 {
                bytes.len().min(1024)
            } else {
                bytes.len()
            };
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % span;
                bytes[at] = next() as u8;
            }
            let recipe = &boxes[round % boxes.len()];
            match render(&bytes, std::slice::from_ref(recipe), &limits) {
                Ok(_) => decoded += 1,
                Err(e) => assert!(
                    matches!(
                        e,
                        ImagingError::Decode(_)
                            | ImagingError::UnsupportedFormat(_)
                            | ImagingError::TooManyPixels { .. }
                            | ImagingError::SideTooLong { .. }
                            | ImagingError::OverMemoryBudget { .. }
                    ),
                    "{name} round {round}: {e:?}"
                ),
            }
        }
    }
    // Most single-byte hits land in entropy-coded data and still decode.
    assert!(decoded > 100, "only {decoded} of 600 mutated files decoded");
}
