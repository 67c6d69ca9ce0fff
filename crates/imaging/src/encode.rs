//! Encoding finished pixels.
//!
//! - JPEG: our baseline encoder (`crate::jpeg::encode`, Huffman tables
//!   built per image), 4:4:4: at equal bytes it scored a higher SSIM than
//!   4:2:0 on the corpus at every quality from 50 to 90 (at thumbnail size
//!   every chroma sample shows); alpha must already be flattened (see
//!   `pixels::flatten`).
//! - PNG: default compression, RGB or RGBA as the pixels are.
//! - WebP: lossless only (the `image` crate has no lossy WebP encoder); fine
//!   for thumbnails, but larger than a lossy WebP would be.
//!
//! - `max_bytes`: JPEG quality is lowered by binary search until the
//!   output fits; see [`encode`].
//!
//! No metadata is written: the pixels are already upright, so an EXIF
//! orientation tag would only make viewers rotate them again.

use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};

use crate::error::ImagingError;
use crate::jpeg::encode::{encode_rgb, EncodeOptions};
use crate::pixels::{flatten, Pixels};
use crate::recipe::{OutputFormat, Recipe};

/// Encodes `pixels` as the recipe's format, honouring `max_bytes`.
///
/// JPEG over `max_bytes` is re-encoded at lower qualities, found by binary
/// search over `1..quality` (at most 7 more encodes of a thumbnail-sized
/// image): the result is the highest quality that fits. If even quality 1
/// does not fit, or a lossless output (PNG, WebP: no quality to lower) is
/// over the limit, the recipe fails with [`ImagingError::ThumbnailTooLarge`]
/// rather than silently storing something bigger than asked.
pub(crate) fn encode(pixels: Pixels, recipe: &Recipe) -> Result<Vec<u8>, ImagingError> {
    let failed = |e: image::ImageError| {
        ImagingError::Encode(format!(
            "recipe {:?}: encoding {}: {e}",
            recipe.name,
            recipe.format.extension()
        ))
    };
    let too_large = |bytes: usize, max_bytes: u32| ImagingError::ThumbnailTooLarge {
        recipe: recipe.name.clone(),
        bytes: bytes as u64,
        max_bytes,
    };
    match recipe.format {
        OutputFormat::Jpeg => {
            let rgb = flatten(pixels, recipe.background);
            let failed = |e: String| {
                ImagingError::Encode(format!("recipe {:?}: encoding jpg: {e}", recipe.name))
            };
            let first = jpeg(&rgb, recipe.quality).map_err(failed)?;
            let Some(max) = recipe.max_bytes else {
                return Ok(first);
            };
            if first.len() <= max as usize {
                return Ok(first);
            }
            let (mut lo, mut hi) = (1u8, recipe.quality.saturating_sub(1));
            let mut best: Option<Vec<u8>> = None;
            let mut smallest = first.len();
            while lo <= hi {
                let q = lo + (hi - lo) / 2;
                let out = jpeg(&rgb, q).map_err(failed)?;
                smallest = smallest.min(out.len());
                if out.len() <= max as usize {
                    best = Some(out);
                    lo = q + 1;
                } else if q == 1 {
                    break;
                } else {
                    hi = q - 1;
                }
            }
            best.ok_or_else(|| too_large(smallest, max))
        }
        OutputFormat::Png | OutputFormat::Webp => {
            let (raw, w, h, color) = layout(&pixels);
            let mut out = Vec::new();
            if recipe.format == OutputFormat::Png {
                PngEncoder::new(&mut out).write_image(raw, w, h, color)
            } else {
                WebPEncoder::new_lossless(&mut out).write_image(raw, w, h, color)
            }
            .map_err(failed)?;
            match recipe.max_bytes {
                Some(max) if out.len() > max as usize => Err(too_large(out.len(), max)),
                _ => Ok(out),
            }
        }
    }
}

/// JPEG of `rgb` at `quality` with our encoder (`crate::jpeg::encode`):
/// baseline, 4:4:4. (Progressive with spectral selection only was 0.2% to
/// 1% smaller on the corpus: not worth the slower decode for viewers.)
fn jpeg(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let options = EncodeOptions {
        quality,
        progressive: false,
    };
    encode_rgb(rgb.as_raw(), rgb.width(), rgb.height(), options)
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

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// Noise compresses badly: a good test of size limits.
    fn noisy() -> Pixels {
        let mut seed = 12_345u32;
        Pixels::Rgb(RgbImage::from_fn(120, 80, |_, _| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let v = (seed >> 16) as u8;
            Rgb([v, v.wrapping_mul(3), v.wrapping_add(90)])
        }))
    }

    fn recipe(format: OutputFormat, max_bytes: Option<u32>) -> Recipe {
        Recipe {
            format,
            max_bytes,
            quality: 90,
            ..Recipe::default()
        }
    }

    #[test]
    fn encode_max_bytes_lowers_jpeg_quality_to_fit() {
        let full = encode(noisy(), &recipe(OutputFormat::Jpeg, None)).unwrap();
        let max = u32::try_from(full.len() / 2).unwrap();
        let small = encode(noisy(), &recipe(OutputFormat::Jpeg, Some(max))).unwrap();
        assert!(small.len() <= max as usize, "{} > {max}", small.len());
        // The highest quality that fits: one step up would not.
        let q = (1..90u8)
            .rev()
            .find(|&q| jpeg(&flatten(noisy(), [255; 3]), q).unwrap().len() <= max as usize)
            .unwrap();
        assert_eq!(small, jpeg(&flatten(noisy(), [255; 3]), q).unwrap());
        // Already small enough: untouched.
        let same = encode(noisy(), &recipe(OutputFormat::Jpeg, Some(u32::MAX))).unwrap();
        assert_eq!(same, full);
    }

    #[test]
    fn encode_max_bytes_unreachable_is_typed_error() {
        let err = encode(noisy(), &recipe(OutputFormat::Jpeg, Some(100))).unwrap_err();
        match err {
            ImagingError::ThumbnailTooLarge {
                recipe,
                bytes,
                max_bytes,
            } => {
                assert_eq!((recipe.as_str(), max_bytes), ("thumb", 100));
                // The smallest size the search met: at most quality 1's
                // (the encoder's q1 and q2 tables both clamp at 255, and
                // q2 can come out a few bytes smaller).
                let q1 = jpeg(&flatten(noisy(), [255; 3]), 1).unwrap().len() as u64;
                assert!(bytes > 100 && bytes <= q1, "reports {bytes}, q1 is {q1}");
            }
            other => panic!("{other:?}"),
        }
        for format in [OutputFormat::Png, OutputFormat::Webp] {
            let err = encode(noisy(), &recipe(format, Some(100))).unwrap_err();
            assert!(
                matches!(err, ImagingError::ThumbnailTooLarge { .. }),
                "{err}"
            );
        }
    }
}
