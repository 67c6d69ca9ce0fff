//! The entry point: decode once, render every recipe.
//!
//! Steps per image:
//! 1. `probe::open`: format, header, limits (size, pixels, sides, frames).
//! 2. Plan every recipe on the *displayed* size ([`fit_dimensions`]); a
//!    recipe over the limits fails here, before any decoding.
//! 3. Choose the decode: for JPEG the smallest DCT scale (1/8, 1/4, 1/2,
//!    else 1/1) that still leaves every recipe [`DCT_GAP`] times the pixels
//!    it outputs; estimate the memory that decode needs and check it
//!    against `memory_budget`; decode (first frame for animations) and
//!    normalise to 8-bit RGB/RGBA, CMYK converted to RGB.
//! 4. Per recipe: resize the stored pixels to the matching stored size
//!    (centre crop for cover) -> convert the embedded ICC profile to sRGB
//!    -> apply the EXIF orientation -> flatten alpha for JPEG -> encode,
//!    lowering JPEG quality if `max_bytes` asks. Everything in step 4 runs
//!    on thumbnail-sized images.

use fast_image_resize::Resizer;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::colour::ToSrgb;
use crate::error::ImagingError;
use crate::geometry::fit_dimensions;
use crate::jpeg;
use crate::limits::Limits;
use crate::orient;
use crate::pixels::{self, Pixels};
use crate::probe::{map_image_error, map_jpeg_error, open, Decoder};
use crate::recipe::{Fit, Recipe};
use crate::reduce::{reduce, Reduced};
use crate::resize::{reduce_factors, resize, source_region, Crop};
use crate::stream;

/// JPEG decode scales are chosen so the decoded image keeps at least this
/// many times the output's pixels per axis (in the region a recipe uses),
/// leaving the final Lanczos3 pass enough to work with. Pillow's
/// `thumbnail` uses 2.0 (`reducing_gap`); 1.5 lets 4000-px photos take
/// the 1/8 path for 300-px thumbnails (see docs/benchmarks.md for the
/// quality this gives, SSIM against a full-resolution Lanczos reference).
pub const DCT_GAP: f64 = 1.25;

/// Fixed allowance for codec state (Huffman and LZW tables, row buffers,
/// zlib window, the resizer's coefficient tables, encoder buffers).
const CODEC_OVERHEAD_BYTES: u64 = 2 << 20;

/// One rendered thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Name of the recipe it was made by; part of the output key.
    pub recipe: String,
    /// That recipe's version, stored with the output so stale thumbnails can
    /// be found and re-rendered.
    pub recipe_version: u32,
    /// Output width in pixels, as displayed.
    pub width: u32,
    /// Output height in pixels, as displayed.
    pub height: u32,
    /// Encoding of `bytes`; gives the content type and extension.
    pub format: crate::recipe::OutputFormat,
    /// The encoded thumbnail.
    pub bytes: Vec<u8>,
}

/// One recipe's geometry, decided before decoding.
struct Plan<'r> {
    recipe: &'r Recipe,
    /// Output size as displayed.
    width: u32,
    height: u32,
    /// The same size in stored orientation (what the resizer produces).
    stored_width: u32,
    stored_height: u32,
    crop: Crop,
}

impl Plan<'_> {
    /// The box reduction of a `(w, h)` source this recipe allows: as much
    /// as leaves the Lanczos pass at least 2x (see `resize`).
    fn reduce_factors(&self, (w, h): (u32, u32)) -> (u32, u32) {
        let dst = (self.stored_width, self.stored_height);
        let region = source_region((f64::from(w), f64::from(h)), dst, self.crop);
        reduce_factors(&region, dst)
    }

    /// Whether a decode at `1/denom` of the stored `(w, h)` still leaves
    /// `DCT_GAP` times the output in the region this recipe uses.
    fn allows_denom(&self, (w, h): (u32, u32), denom: u32) -> bool {
        let (w, h) = (f64::from(w), f64::from(h));
        let (tw, th) = (f64::from(self.stored_width), f64::from(self.stored_height));
        let (rw, rh) = match self.crop {
            Crop::None => (w, h),
            Crop::Centre => (w.min(h * tw / th), h.min(w * th / tw)),
        };
        let d = f64::from(denom);
        rw / d >= DCT_GAP * tw && rh / d >= DCT_GAP * th
    }
}

/// Renders every recipe for one image, decoding it only once.
///
/// Fails as a whole on the first error: bad input (see [`probe`](crate::probe())),
/// an invalid recipe, duplicate recipe names, an output size over
/// `limits`, a decode over `memory_budget`, or a `max_bytes` that cannot be
/// met. An empty recipe list is an error too (nothing would be stored).
pub fn render(
    bytes: &[u8],
    recipes: &[Recipe],
    limits: &Limits,
) -> Result<Vec<Rendered>, ImagingError> {
    validate_recipes(recipes)?;
    let opened = open(bytes, limits)?;
    let format = opened.info.format.clone();
    let orientation = opened.orientation;
    let stored = (opened.info.width, opened.info.height);
    let (shown_w, shown_h) = orient::displayed_size(stored.0, stored.1, orientation);

    let plans = recipes
        .iter()
        .map(|recipe| plan(recipe, (shown_w, shown_h), orientation, limits))
        .collect::<Result<Vec<_>, _>>()?;

    let icc = opened.icc;
    // The box reduction every recipe allows (at least 2x left for Lanczos).
    let factors = plans
        .iter()
        .map(|p| p.reduce_factors(stored))
        .fold((u32::MAX, u32::MAX), |(a, b), (x, y)| (a.min(x), b.min(y)));
    let (source, rgb_profile) = match opened.decoder {
        Decoder::Jpeg(frame) => {
            check_jpeg_complete(bytes)?;
            let denom = [8, 4, 2]
                .into_iter()
                .find(|&d| plans.iter().all(|p| p.allows_denom(stored, d)))
                .unwrap_or(1);
            if denom == 1 && frame.components != 4 {
                // Full size: the `image` crate's decoder (zune-jpeg) is
                // faster than ours there, and no scaling is needed.
                limits.check_memory(jpeg_estimate(bytes, &frame, 1))?;
                let mut reader =
                    ImageReader::with_format(std::io::Cursor::new(bytes), ImageFormat::Jpeg);
                reader.limits(limits.decoder_limits());
                let decoder = reader
                    .into_decoder()
                    .map_err(|e| map_image_error(&format, e))?;
                (Reduced::whole(decode_with(decoder, &format)?), icc)
            } else {
                limits.check_memory(jpeg_estimate(bytes, &frame, denom))?;
                let decoded = jpeg::decode(bytes, denom).map_err(|e| map_jpeg_error(&e))?;
                let cmyk = frame.components == 4;
                let pixels = pixels::from_jpeg(decoded, icc.as_deref()).ok_or_else(|| {
                    ImagingError::Decode("jpeg: decoder returned a short buffer".to_owned())
                })?;
                // The last block row and column may be partial: the
                // decoded image stands for exactly 1/denom of the source.
                let d = f64::from(denom);
                let extent = (f64::from(stored.0) / d, f64::from(stored.1) / d);
                // A CMYK profile was used up by the conversion to RGB.
                (Reduced { pixels, extent }, if cmyk { None } else { icc })
            }
        }
        Decoder::Image(decoder) => {
            let whole_estimate = image_estimate(decoder.as_ref());
            let row_bytes = decoder.total_bytes() / u64::from(stored.1.max(1));
            drop(decoder);
            // (plus, for WebP, the decoder's copy of its partitions)
            let streaming = stream::estimate(stored.0, stored.1, factors, row_bytes)
                + if format == "webp" {
                    bytes.len() as u64
                } else {
                    0
                };
            let alloc = limits.decoder_limits().max_alloc.unwrap_or(u64::MAX);
            // Files the header shows will stream are budgeted for that;
            // others for a whole image, checked before it is decoded.
            limits.check_memory(if stream::streams(&format, bytes) {
                streaming
            } else {
                streaming.min(whole_estimate)
            })?;
            let streamed = match format.as_str() {
                "png" => stream::png(bytes, factors, alloc).transpose()?,
                "bmp" => stream::bmp(bytes, factors),
                "tiff" => stream::tiff(bytes, factors, alloc).transpose()?,
                "webp" => crate::webp::decode(bytes, factors).transpose()?,
                _ => None,
            };
            let source = match streamed {
                Some(reduced) => reduced,
                None => {
                    limits.check_memory(whole_estimate)?;
                    let pixels = if format == "webp" {
                        decode_webp(bytes, limits)?
                    } else {
                        decode_whole(bytes, &format, limits)?
                    };
                    reduce(pixels, factors.0, factors.1)
                }
            };
            (source, icc)
        }
    };
    let to_srgb = rgb_profile.as_deref().and_then(ToSrgb::new);

    let mut resizer = Resizer::new();
    let mut out = Vec::with_capacity(plans.len());
    for plan in &plans {
        let recipe = plan.recipe;
        let mut resized = resize(
            &mut resizer,
            &source,
            plan.stored_width,
            plan.stored_height,
            plan.crop,
        )
        .map_err(|e| {
            ImagingError::Encode(format!(
                "recipe {:?}: resizing to {}x{}: {e}",
                recipe.name, plan.width, plan.height
            ))
        })?;
        if let Some(t) = &to_srgb {
            t.apply(&mut resized);
        }
        let shown = pixels::normalize(orient::apply(resized.into_dynamic(), orientation));
        let encoded = crate::encode::encode(shown, recipe)?;
        out.push(Rendered {
            recipe: recipe.name.clone(),
            recipe_version: recipe.version,
            width: plan.width,
            height: plan.height,
            format: recipe.format,
            bytes: encoded,
        });
    }
    Ok(out)
}

/// Output geometry of one recipe for a source displayed as `shown`.
fn plan<'r>(
    recipe: &'r Recipe,
    shown: (u32, u32),
    orientation: Orientation,
    limits: &Limits,
) -> Result<Plan<'r>, ImagingError> {
    let (w, h) = fit_dimensions(shown.0, shown.1, recipe);
    limits.check_dimensions(w, h).map_err(|e| {
        ImagingError::InvalidRecipe(format!(
            "recipe {:?} asks for a {w}x{h} output, over the limits: {e}",
            recipe.name
        ))
    })?;
    // The same size in stored orientation (a quarter turn swaps sides
    // both ways), so the orientation can be applied after resizing.
    let (stored_width, stored_height) = orient::displayed_size(w, h, orientation);
    Ok(Plan {
        recipe,
        width: w,
        height: h,
        stored_width,
        stored_height,
        crop: if recipe.fit == Fit::Cover {
            Crop::Centre
        } else {
            Crop::None
        },
    })
}

/// Opens `bytes` again with the `image` crate and decodes the first frame
/// (the path for files the streaming decoders do not take).
fn decode_whole(bytes: &[u8], format: &str, limits: &Limits) -> Result<Pixels, ImagingError> {
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImagingError::Decode(format!("{format}: {e}")))?;
    reader.limits(limits.decoder_limits());
    let decoder = reader
        .into_decoder()
        .map_err(|e| map_image_error(format, e))?;
    decode_with(decoder, format)
}

/// Decodes the first frame with an `image` crate decoder and normalises it.
fn decode_with(decoder: impl ImageDecoder, format: &str) -> Result<Pixels, ImagingError> {
    let decoded = DynamicImage::from_decoder(decoder).map_err(|e| map_image_error(format, e))?;
    Ok(pixels::normalize(decoded))
}

/// Decodes a WebP's first frame with `image-webp` directly: the `image`
/// wrapper always upsamples lossy chroma bilinearly, which costs time
/// (about 7% of the decode) and buys nothing for an image about to be
/// shrunk several times over; here it is replicated instead.
fn decode_webp(bytes: &[u8], limits: &Limits) -> Result<Pixels, ImagingError> {
    let err = |e: image_webp::DecodingError| ImagingError::Decode(format!("webp: {e}"));
    let mut decoder = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).map_err(err)?;
    decoder.set_memory_limit(usize::try_from(limits.memory_budget).unwrap_or(usize::MAX));
    decoder.set_lossy_upsampling(image_webp::UpsamplingMethod::Simple);
    let (w, h) = decoder.dimensions();
    let size = decoder.output_buffer_size().ok_or_else(|| {
        ImagingError::Decode("webp: image too large for this platform".to_owned())
    })?;
    let mut buf = vec![0u8; size];
    decoder.read_image(&mut buf).map_err(err)?;
    let image = if decoder.has_alpha() {
        image::RgbaImage::from_raw(w, h, buf).map(DynamicImage::ImageRgba8)
    } else {
        image::RgbImage::from_raw(w, h, buf).map(DynamicImage::ImageRgb8)
    };
    image
        .map(pixels::normalize)
        .ok_or_else(|| ImagingError::Decode("webp: decoder returned a short buffer".to_owned()))
}

/// Memory a JPEG decode at `1/denom` needs: our decoder's buffers (or, at
/// full size, zune-jpeg's copy of the input and its planes), the RGB
/// result, resize headroom and codec overhead.
pub(crate) fn jpeg_estimate(bytes: &[u8], frame: &jpeg::FrameInfo, denom: u32) -> u64 {
    let d = u64::from(denom);
    let rgb = u64::from(frame.width).div_ceil(d) * u64::from(frame.height).div_ceil(d) * 3;
    let input_copy = if denom == 1 { bytes.len() as u64 } else { 0 };
    frame.decode_bytes(denom) + input_copy + rgb + rgb / 4 + CODEC_OVERHEAD_BYTES
}

/// Memory an `image` crate decode needs: its output buffer, the 8-bit
/// RGB(A) copy `normalize` makes when the colour type differs, a second
/// frame buffer for GIF (frame + canvas), resize headroom and overhead.
pub(crate) fn image_estimate(decoder: &dyn ImageDecoder) -> u64 {
    let (w, h) = decoder.dimensions();
    let pixels = u64::from(w) * u64::from(h);
    let decoded = decoder.total_bytes();
    let normalized = if decoder.color_type() == image::ColorType::Rgb8 {
        0
    } else {
        pixels * 4
    };
    let gif_frame = if decoder.color_type() == image::ColorType::Rgba8 {
        decoded
    } else {
        0
    };
    decoded + normalized + gif_frame + pixels + CODEC_OVERHEAD_BYTES
}

fn validate_recipes(recipes: &[Recipe]) -> Result<(), ImagingError> {
    if recipes.is_empty() {
        return Err(ImagingError::InvalidRecipe(
            "no recipes to render: pass at least one (parse_recipes(\"\") gives the default)"
                .to_owned(),
        ));
    }
    for (i, recipe) in recipes.iter().enumerate() {
        recipe.validate()?;
        if recipes[..i].iter().any(|r| r.name == recipe.name) {
            return Err(ImagingError::InvalidRecipe(format!(
                "duplicate recipe name {:?}: outputs would overwrite each other",
                recipe.name
            )));
        }
    }
    Ok(())
}

/// Rejects a JPEG whose entropy-coded data never reaches an end-of-image
/// marker: an interrupted upload. zune-jpeg (as configured by `image`)
/// decodes such files "successfully", filling the missing part with grey.
///
/// Walks the marker segments to the first start-of-scan, then looks for
/// `FF D9` after it. Inside scan data `FF` bytes are stuffed (`FF 00`), so
/// `FF D9` there can only be the real marker; data appended after EOI (e.g.
/// motion-photo video) is fine.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), ImagingError> {
    let truncated = || {
        ImagingError::Decode(
            "jpeg: truncated input (no end-of-image marker after the image data)".to_owned(),
        )
    };
    let mut pos = 2; // after SOI
    let scan_start = loop {
        let (Some(&byte), Some(&marker)) = (bytes.get(pos), bytes.get(pos + 1)) else {
            return Err(truncated());
        };
        if byte != 0xFF {
            // Extraneous bytes between segments: decoders skip them, so do we.
            pos += 1;
            continue;
        }
        match marker {
            // Fill bytes before a marker.
            0xFF => pos += 1,
            // Standalone markers without a length.
            0x00 | 0x01 | 0xD0..=0xD7 => pos += 2,
            0xD9 => return Err(truncated()),
            _ => {
                let Some(len) = bytes.get(pos + 2..pos + 4) else {
                    return Err(truncated());
                };
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                pos += 2 + len.max(2);
                if marker == 0xDA {
                    break pos;
                }
            }
        }
    };
    let rest = bytes.get(scan_start..).unwrap_or_default();
    // Searched from the end, where EOI almost always is.
    if rest.windows(2).rev().any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(truncated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_rejects_empty_recipe_list() {
        let err = render(b"irrelevant", &[], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ImagingError::InvalidRecipe(ref t) if t.contains("no recipes")),
            "{err}"
        );
    }

    #[test]
    fn render_rejects_duplicate_recipe_names() {
        let r = Recipe::default();
        let err = render(b"irrelevant", &[r.clone(), r], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ImagingError::InvalidRecipe(ref t) if t.contains("duplicate")),
            "{err}"
        );
    }

    #[test]
    fn render_jpeg_completeness_check() {
        // SOI, APP0 (len 4), SOS (len 3), data with a stuffed FF 00, EOI.
        let full = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xFF, 0xD9, 0xFF, 0xDA, 0x00, 0x03, 0x00, 0x12,
            0xFF, 0x00, 0x34, 0xFF, 0xD9,
        ];
        assert!(check_jpeg_complete(&full).is_ok());
        // The FF D9 inside APP0's payload does not count; cut the real one.
        assert!(check_jpeg_complete(&full[..full.len() - 2]).is_err());
        assert!(check_jpeg_complete(&full[..8]).is_err());
        let mut appended = full.to_vec();
        appended.extend_from_slice(b"trailing video");
        assert!(check_jpeg_complete(&appended).is_ok());
        // Stray bytes between segments are skipped, not fatal.
        let mut padded = full[..8].to_vec();
        padded.extend_from_slice(&[0x00, 0x00]);
        padded.extend_from_slice(&full[8..]);
        assert!(check_jpeg_complete(&padded).is_ok());
    }
}
