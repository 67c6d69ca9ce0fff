//! Writes the generated seed inputs of `fuzz/corpus/` (the rest are copies
//! of committed fixtures; see `fuzz/README.md`).
//!
//! Tiny images (33x17: partial blocks and MCUs on both axes) in every JPEG
//! variant our decoder handles, and one of each other format the probe
//! reads: small seeds keep every fuzz execution fast, and each variant
//! starts the fuzzer inside a different decoder path.
//!
//! Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds`

// A one-off generator: a panic is how it reports failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, RgbaImage};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

const W: u16 = 33;
const H: u16 = 17;

/// A gradient with some detail, so every coefficient band has data.
fn rgba() -> RgbaImage {
    RgbaImage::from_fn(W.into(), H.into(), |x, y| {
        let v = ((x * 7) ^ (y * 13)) as u8;
        image::Rgba([(x * 7) as u8, (y * 15) as u8, v, 128 + (x as u8 & 0x7f)])
    })
}

fn jpeg(color: ColorType, data: &[u8], set: impl FnOnce(&mut Encoder<&mut Vec<u8>>)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, 80);
    set(&mut enc);
    enc.encode(data, W, H, color).unwrap();
    out
}

fn other(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let rgba = rgba();
    let rgb = DynamicImage::ImageRgba8(rgba.clone()).to_rgb8();
    let gray = DynamicImage::ImageRgba8(rgba.clone()).to_luma8();
    // RGBA bytes read as CMYK: four independent channels.
    let cmyk = rgba.as_raw().as_slice();

    let jpegs = [
        ("gen-baseline-420.jpg", jpeg(ColorType::Rgb, &rgb, |_| {})),
        (
            "gen-baseline-444-restart.jpg",
            jpeg(ColorType::Rgb, &rgb, |e| {
                e.set_sampling_factor(SamplingFactor::R_4_4_4);
                e.set_restart_interval(2);
            }),
        ),
        (
            "gen-baseline-411-optimized.jpg",
            jpeg(ColorType::Rgb, &rgb, |e| {
                e.set_sampling_factor(SamplingFactor::R_4_1_1);
                e.set_optimized_huffman_tables(true);
            }),
        ),
        (
            "gen-progressive-420.jpg",
            jpeg(ColorType::Rgb, &rgb, |e| e.set_progressive(true)),
        ),
        (
            "gen-progressive-422-restart.jpg",
            jpeg(ColorType::Rgb, &rgb, |e| {
                e.set_progressive(true);
                e.set_sampling_factor(SamplingFactor::R_4_2_2);
                e.set_restart_interval(3);
            }),
        ),
        ("gen-gray.jpg", jpeg(ColorType::Luma, &gray, |_| {})),
        (
            "gen-gray-progressive.jpg",
            jpeg(ColorType::Luma, &gray, |e| e.set_progressive(true)),
        ),
        ("gen-cmyk.jpg", jpeg(ColorType::Cmyk, cmyk, |_| {})),
        (
            "gen-ycck-progressive.jpg",
            jpeg(ColorType::CmykAsYcck, cmyk, |e| e.set_progressive(true)),
        ),
    ];
    let img = DynamicImage::ImageRgba8(rgba);
    let others = [
        ("gen.png", other(&img, ImageFormat::Png)),
        ("gen.gif", other(&img, ImageFormat::Gif)),
        ("gen.webp", other(&img, ImageFormat::WebP)),
        ("gen.bmp", other(&img, ImageFormat::Bmp)),
        ("gen.tiff", other(&img, ImageFormat::Tiff)),
    ];

    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, bytes) in &jpegs {
        write(&corpus.join("jpeg_decode"), name, bytes);
        write(&corpus.join("probe"), name, bytes);
    }
    for (name, bytes) in &others {
        write(&corpus.join("probe"), name, bytes);
    }
    println!(
        "wrote {} seeds under {}",
        jpegs.len() * 2 + others.len(),
        corpus.display()
    );
}
