//! Header-only inspection: format, stored size, EXIF orientation.
//!
//! Opening an image here reads only headers (and metadata segments such as
//! EXIF and ICC); the limits are checked on those numbers before any pixel
//! buffer exists. JPEG headers are read by our own parser (`crate::jpeg`),
//! which also decodes them; other formats by the `image` crate's decoders,
//! with strict `image::Limits`. `render` opens images through the same
//! `open` so the two can never disagree about what is accepted.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ImageDecoder, ImageError, ImageFormat, ImageReader};

use crate::error::ImagingError;
use crate::limits::Limits;
use crate::{frames, jpeg, orient};

/// What the engine found in the source image's header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceInfo {
    /// Detected container format: `jpeg`, `png`, `gif`, `webp`, `bmp` or
    /// `tiff`; recorded with the original and used in logs.
    pub format: String,
    /// Stored width in pixels, before orientation.
    pub width: u32,
    /// Stored height in pixels, before orientation.
    pub height: u32,
    /// EXIF orientation 1..=8 (1 when absent or invalid); 5..=8 swap the
    /// displayed width and height.
    pub orientation: u8,
}

impl SourceInfo {
    /// Width and height as displayed (orientation applied): the size
    /// recipes are fitted against.
    pub fn displayed_size(&self) -> (u32, u32) {
        orient::displayed_size(self.width, self.height, orient::from_exif(self.orientation))
    }
}

/// Reads format, size and orientation from the header of `bytes`.
///
/// Rejects input over `limits` before any pixel buffer exists: encoded
/// size, pixel count, side length, declared frame count, and memory (the
/// cheapest decode the engine could do must fit `memory_budget`). Unknown
/// formats give [`ImagingError::UnsupportedFormat`] naming what was seen;
/// unreadable headers give [`ImagingError::Decode`].
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<SourceInfo, ImagingError> {
    let opened = open(bytes, limits)?;
    let needed = match &opened.decoder {
        Decoder::Jpeg(frame) => crate::render::jpeg_estimate(bytes, frame, 8),
        Decoder::Image(decoder) if crate::stream::streams(&opened.info.format, bytes) => {
            // The cheapest decode: streamed, reduced as far as any output
            // of at least one pixel allows.
            let (w, h) = decoder.dimensions();
            let row = decoder.total_bytes() / u64::from(h.max(1));
            crate::stream::estimate(w, h, (w / 2, h / 2), row)
        }
        Decoder::Image(decoder) => crate::render::image_estimate(decoder.as_ref()),
    };
    limits.check_memory(needed)?;
    Ok(opened.info)
}

/// How the pixels of an opened image will be decoded.
pub(crate) enum Decoder<'a> {
    /// Our scaled JPEG decoder (`crate::jpeg`); the header is parsed, the
    /// scale is chosen per render.
    Jpeg(jpeg::FrameInfo),
    /// An `image` crate decoder with strict limits already set.
    Image(Box<dyn ImageDecoder + 'a>),
}

/// An image whose header passed the limits, ready to decode pixels.
pub(crate) struct Opened<'a> {
    /// Where the pixels come from.
    pub decoder: Decoder<'a>,
    /// What the header said.
    pub info: SourceInfo,
    /// `info.orientation` as the `image` crate's type.
    pub orientation: Orientation,
    /// The embedded ICC profile, if any.
    pub icc: Option<Vec<u8>>,
}

/// Detects the format, reads the header and checks the limits that need
/// no decode scale (size, pixels, sides, frames).
pub(crate) fn open<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Opened<'a>, ImagingError> {
    limits.check_input_len(bytes.len())?;
    if bytes.is_empty() {
        return Err(ImagingError::UnsupportedFormat(
            "empty input (0 bytes)".to_owned(),
        ));
    }
    let format = image::guess_format(bytes)
        .map_err(|_| ImagingError::UnsupportedFormat(describe_unknown(bytes)))?;
    let name = supported_name(format)?;
    if format == ImageFormat::Jpeg {
        let header = jpeg::header(bytes).map_err(|e| map_jpeg_error(&e))?;
        let frame = header.frame;
        limits.check_dimensions(frame.width, frame.height)?;
        let orientation = orient::from_exif(header.orientation);
        return Ok(Opened {
            decoder: Decoder::Jpeg(frame),
            info: SourceInfo {
                format: name.to_owned(),
                width: frame.width,
                height: frame.height,
                orientation: orientation.to_exif(),
            },
            orientation,
            icc: header.icc,
        });
    }
    // Frame counts and GIF frame sizes come from a walk over the
    // container's headers, before a decoder sees the data.
    if let Some((width, height)) = frames::header_dimensions(name, bytes) {
        limits.check_dimensions(width, height)?;
    }
    frames::check(name, bytes, limits)?;

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Dimension limits are checked by us (typed errors) once the header is
    // read; until then only the allocation budget applies.
    reader.limits(limits.alloc_only_limits());
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| map_image_error(name, e))?;
    let (width, height) = decoder.dimensions();
    limits.check_dimensions(width, height)?;
    decoder
        .set_limits(limits.decoder_limits())
        .map_err(|e| map_image_error(name, e))?;
    // A corrupt EXIF block must not cost the whole image: treat as upright.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    // Likewise an unreadable ICC profile: treat the pixels as sRGB.
    let icc = decoder.icc_profile().ok().flatten();

    Ok(Opened {
        decoder: Decoder::Image(Box::new(decoder)),
        info: SourceInfo {
            format: name.to_owned(),
            width,
            height,
            orientation: orientation.to_exif(),
        },
        orientation,
        icc,
    })
}

/// Maps our JPEG decoder's messages to error kinds: variants we do not
/// decode are unsupported, everything else is damage.
pub(crate) fn map_jpeg_error(message: &str) -> ImagingError {
    if message.starts_with("unsupported JPEG variant") {
        ImagingError::UnsupportedFormat(format!("jpeg: {message}"))
    } else {
        ImagingError::Decode(format!("jpeg: {message}"))
    }
}

/// Our name for a format we decode, or why we don't.
fn supported_name(format: ImageFormat) -> Result<&'static str, ImagingError> {
    match format {
        ImageFormat::Jpeg => Ok("jpeg"),
        ImageFormat::Png => Ok("png"),
        ImageFormat::Gif => Ok("gif"),
        ImageFormat::WebP => Ok("webp"),
        ImageFormat::Bmp => Ok("bmp"),
        ImageFormat::Tiff => Ok("tiff"),
        other => {
            let seen = other.extensions_str().first().copied().unwrap_or("unknown");
            Err(ImagingError::UnsupportedFormat(format!(
                "{seen} (detected from its signature); this engine decodes jpeg, png, gif, webp, bmp and tiff"
            )))
        }
    }
}

/// Says what unrecognised bytes look like, so a log line tells an HTML
/// error page from a HEIC photo from random data.
fn describe_unknown(bytes: &[u8]) -> String {
    // ISO-BMFF (HEIC, AVIF, MP4, ...): `....ftypBRND`.
    if let (Some(b"ftyp"), Some(brand)) = (bytes.get(4..8), bytes.get(8..12)) {
        let brand: String = brand.iter().map(|&b| char::from(b)).collect();
        return format!(
            "ISO media file with brand {:?} (HEIC/AVIF/video are not supported)",
            brand.trim()
        );
    }
    let head = &bytes[..bytes.len().min(8)];
    let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
    let text: String = head
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    format!(
        "unrecognised data ({} bytes) starting with {} ({text:?})",
        bytes.len(),
        hex.join(" ")
    )
}

/// Maps an `image` error for a known format to our error kinds.
pub(crate) fn map_image_error(format: &str, err: ImageError) -> ImagingError {
    match err {
        ImageError::Unsupported(e) => ImagingError::UnsupportedFormat(format!("{format}: {e}")),
        ImageError::Limits(e) => ImagingError::Decode(format!(
            "{format}: {e} (the decoder's allocation cap follows max_pixels and memory_budget)"
        )),
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImagingError::Decode(format!("{format}: truncated input ({e})"))
        }
        other => ImagingError::Decode(format!("{format}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_describes_unknown_bytes() {
        let text = describe_unknown(b"<!DOCTYPE html><html>");
        assert!(text.contains("3c 21 44 4f 43 54 59 50"), "{text}");
        assert!(text.contains("\"<!DOCTYP\""), "{text}");
        let heic = describe_unknown(b"\0\0\0\x18ftypheic\0\0\0\0");
        assert!(heic.contains("\"heic\""), "{heic}");
    }

    #[test]
    fn probe_names_known_but_unsupported_formats() {
        let err = supported_name(ImageFormat::Avif).unwrap_err();
        assert!(err.to_string().contains("avif"), "{err}");
        assert_eq!(supported_name(ImageFormat::WebP).unwrap(), "webp");
    }
}
