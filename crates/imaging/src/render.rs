//! The entry point: decode once, render every recipe.
//!
//! Steps per image: `probe::open` (limits checked on the header) ->
//! decode (first frame for animations) -> `pixels::normalize` to
//! 8-bit RGB/RGBA. Then per recipe: fit the *displayed* size
//! ([`fit_dimensions`]) -> resize the stored pixels to the matching stored
//! size (centre crop for cover) -> apply the EXIF orientation to the small
//! result -> flatten alpha for JPEG -> encode.

use fast_image_resize::Resizer;
use image::DynamicImage;

use crate::error::ImagingError;
use crate::geometry::fit_dimensions;
use crate::limits::Limits;
use crate::orient;
use crate::pixels;
use crate::probe::{map_image_error, open};
use crate::recipe::{Fit, OutputFormat, Recipe};
use crate::resize::{resize, Crop};

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
    pub format: OutputFormat,
    /// The encoded thumbnail.
    pub bytes: Vec<u8>,
}

/// Renders every recipe for one image, decoding it only once.
///
/// Fails as a whole on the first error: bad input (see [`probe`](crate::probe())),
/// an invalid recipe, duplicate recipe names, or an output size over
/// `limits`. An empty recipe list is an error too (nothing would be stored).
pub fn render(
    bytes: &[u8],
    recipes: &[Recipe],
    limits: &Limits,
) -> Result<Vec<Rendered>, ImagingError> {
    validate_recipes(recipes)?;
    let opened = open(bytes, limits)?;
    let format = opened.info.format.clone();
    let orientation = opened.orientation;
    if format == "jpeg" {
        check_jpeg_complete(bytes)?;
    }
    let decoded =
        DynamicImage::from_decoder(opened.decoder).map_err(|e| map_image_error(&format, e))?;
    let source = pixels::normalize(decoded);
    let (stored_w, stored_h) = source.dimensions();
    let (shown_w, shown_h) = orient::displayed_size(stored_w, stored_h, orientation);

    let mut resizer = Resizer::new();
    let mut out = Vec::with_capacity(recipes.len());
    for recipe in recipes {
        let (w, h) = fit_dimensions(shown_w, shown_h, recipe);
        limits.check_dimensions(w, h).map_err(|e| {
            ImagingError::InvalidRecipe(format!(
                "recipe {:?} asks for a {w}x{h} output, over the limits: {e}",
                recipe.name
            ))
        })?;
        // The same size in stored orientation (a quarter turn swaps sides
        // both ways), so the orientation can be applied after resizing.
        let (target_w, target_h) = orient::displayed_size(w, h, orientation);
        let crop = if recipe.fit == Fit::Cover {
            Crop::Centre
        } else {
            Crop::None
        };
        let resized = resize(&mut resizer, &source, target_w, target_h, crop).map_err(|e| {
            ImagingError::Encode(format!(
                "recipe {:?}: resizing to {w}x{h}: {e}",
                recipe.name
            ))
        })?;
        let shown = pixels::normalize(orient::apply(resized.into_dynamic(), orientation));
        let encoded = crate::encode::encode(shown, recipe)
            .map_err(|e| ImagingError::Encode(format!("recipe {:?}: {e}", recipe.name)))?;
        out.push(Rendered {
            recipe: recipe.name.clone(),
            recipe_version: recipe.version,
            width: w,
            height: h,
            format: recipe.format,
            bytes: encoded,
        });
    }
    Ok(out)
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
