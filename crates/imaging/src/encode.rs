//! Encoding finished pixels with the `image` crate's pure-Rust encoders.
//!
//! - JPEG: `JpegEncoder::new_with_quality`, baseline; alpha must already be
//!   flattened (see `pixels::flatten`).
//! - PNG: default compression, RGB or RGBA as the pixels are.
//! - WebP: lossless only (the `image` crate has no lossy WebP encoder); fine
//!   for thumbnails, but larger than a lossy WebP would be.
//!
//! No metadata is written: the pixels are already upright, so an EXIF
//! orientation tag would only make viewers rotate them again.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder};

use crate::pixels::{flatten, Pixels};
use crate::recipe::{OutputFormat, Recipe};

/// Encodes `pixels` as the recipe's format; errors carry a message naming
/// the format.
pub(crate) fn encode(pixels: Pixels, recipe: &Recipe) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let result = match recipe.format {
        OutputFormat::Jpeg => {
            let rgb = flatten(pixels, recipe.background);
            JpegEncoder::new_with_quality(&mut out, recipe.quality).write_image(
                rgb.as_raw(),
                rgb.width(),
                rgb.height(),
                ExtendedColorType::Rgb8,
            )
        }
        OutputFormat::Png => {
            let (raw, w, h, color) = layout(&pixels);
            PngEncoder::new(&mut out).write_image(raw, w, h, color)
        }
        OutputFormat::Webp => {
            let (raw, w, h, color) = layout(&pixels);
            WebPEncoder::new_lossless(&mut out).write_image(raw, w, h, color)
        }
    };
    result.map_err(|e| format!("encoding {}: {e}", recipe.format.extension()))?;
    Ok(out)
}

fn layout(pixels: &Pixels) -> (&[u8], u32, u32, ExtendedColorType) {
    match pixels {
        Pixels::Rgb(img) => (
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        ),
        Pixels::Rgba(img) => (
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgba8,
        ),
    }
}
