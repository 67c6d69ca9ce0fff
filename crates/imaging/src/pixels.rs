//! Decoded pixels in the two layouts the rest of the pipeline handles:
//! 8-bit RGB and 8-bit RGBA.
//!
//! Whatever the decoder produced is normalised here, once per image:
//! - palette PNG/GIF: expanded by the decoders (tRNS becomes alpha);
//! - gray and gray+alpha: replicated to RGB / RGBA;
//! - 16-bit and float: reduced to 8 bits (rounded);
//! - CMYK JPEG (Adobe APP14, plain or YCCK): our decoder returns the
//!   samples in the Adobe convention (inverted), which is what Photoshop,
//!   libjpeg, ImageMagick and Pillow write; `colour::cmyk_to_rgb` turns
//!   them into RGB through the embedded CMYK profile, or naively without
//!   one. CMYK TIFF is converted naively by the `image` crate's decoder;
//! - an alpha channel that is fully opaque is dropped, so opaque PNGs take
//!   the cheaper RGB path and JPEG output needs no flattening.
//!
//! Alpha is flattened onto the recipe background only for JPEG output, after
//! resizing (the resizer weights colour by alpha, so the result is the same
//! as flattening first, at a fraction of the cost).

use image::{DynamicImage, Rgb, RgbImage, RgbaImage};

use crate::jpeg::{JpegImage, JpegPixels};

/// Decoded pixels, 8 bits per channel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pixels {
    /// No (or fully opaque) alpha.
    Rgb(RgbImage),
    /// Some pixel is not fully opaque.
    Rgba(RgbaImage),
}

impl Pixels {
    /// Width and height in pixels.
    pub(crate) fn dimensions(&self) -> (u32, u32) {
        match self {
            Self::Rgb(img) => img.dimensions(),
            Self::Rgba(img) => img.dimensions(),
        }
    }

    /// Wraps the pixels for `image` operations (orientation).
    pub(crate) fn into_dynamic(self) -> DynamicImage {
        match self {
            Self::Rgb(img) => DynamicImage::ImageRgb8(img),
            Self::Rgba(img) => DynamicImage::ImageRgba8(img),
        }
    }
}

/// Normalises any decoded image to [`Pixels`].
pub(crate) fn normalize(image: DynamicImage) -> Pixels {
    match image {
        DynamicImage::ImageRgb8(img) => Pixels::Rgb(img),
        // 16-bit RGB (common in PNG and TIFF from editors): one tight loop
        // instead of the generic per-pixel conversion, ~5x faster in wasm.
        DynamicImage::ImageRgb16(img) => {
            let (w, h) = img.dimensions();
            let raw: Vec<u8> = img.as_raw().iter().map(|&v| to_8bit(v)).collect();
            RgbImage::from_raw(w, h, raw).map_or_else(
                || Pixels::Rgb(DynamicImage::ImageRgb16(img).into_rgb8()),
                Pixels::Rgb,
            )
        }
        other if other.color().has_alpha() => {
            let rgba = other.into_rgba8();
            if rgba.pixels().all(|p| p[3] == u8::MAX) {
                Pixels::Rgb(DynamicImage::ImageRgba8(rgba).into_rgb8())
            } else {
                Pixels::Rgba(rgba)
            }
        }
        other => Pixels::Rgb(other.into_rgb8()),
    }
}

/// A 16-bit sample to 8 bits, rounded.
fn to_8bit(v: u16) -> u8 {
    ((u32::from(v) * 255 + 32_767) / 65_535) as u8
}

/// Pixels from our JPEG decoder: gray replicated to RGB, CMYK converted
/// (through `icc` when it is a CMYK profile). `None` only if the decoder
/// returned a buffer of the wrong length, which it never does.
pub(crate) fn from_jpeg(img: JpegImage, icc: Option<&[u8]>) -> Option<Pixels> {
    let (w, h) = (img.width, img.height);
    let raw = match img.pixels {
        JpegPixels::Rgb(raw) => raw,
        JpegPixels::Gray(gray) => gray.iter().flat_map(|&v| [v, v, v]).collect(),
        JpegPixels::InvertedCmyk(cmyk) => crate::colour::cmyk_to_rgb(&cmyk, icc),
    };
    RgbImage::from_raw(w, h, raw).map(Pixels::Rgb)
}

/// Composites RGBA pixels over an opaque `background`, for formats without
/// alpha (JPEG). Without this, transparent areas would turn black (or show
/// whatever colour hides under alpha 0).
pub(crate) fn flatten(pixels: Pixels, background: [u8; 3]) -> RgbImage {
    match pixels {
        Pixels::Rgb(img) => img,
        Pixels::Rgba(img) => {
            let bg = background.map(u32::from);
            RgbImage::from_fn(img.width(), img.height(), |x, y| {
                let p = img.get_pixel(x, y);
                let a = u32::from(p[3]);
                let mix = |c: u8, b: u32| {
                    let v = (u32::from(c) * a + b * (255 - a) + 127) / 255;
                    u8::try_from(v).unwrap_or(u8::MAX)
                };
                Rgb([mix(p[0], bg[0]), mix(p[1], bg[1]), mix(p[2], bg[2])])
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, LumaA, Rgba};

    #[test]
    fn pixels_opaque_alpha_is_dropped() {
        let img = RgbaImage::from_pixel(2, 2, Rgba([1, 2, 3, 255]));
        assert_eq!(
            normalize(DynamicImage::ImageRgba8(img)),
            Pixels::Rgb(RgbImage::from_pixel(2, 2, Rgb([1, 2, 3])))
        );
    }

    #[test]
    fn pixels_translucent_alpha_is_kept() {
        let mut img = RgbaImage::from_pixel(2, 2, Rgba([1, 2, 3, 255]));
        img.put_pixel(1, 1, Rgba([1, 2, 3, 254]));
        assert!(matches!(
            normalize(DynamicImage::ImageRgba8(img)),
            Pixels::Rgba(_)
        ));
    }

    #[test]
    fn pixels_gray_and_16bit_become_rgb8() {
        let gray = ImageBuffer::from_pixel(1, 1, Luma([200u8]));
        assert_eq!(
            normalize(DynamicImage::ImageLuma8(gray)),
            Pixels::Rgb(RgbImage::from_pixel(1, 1, Rgb([200, 200, 200])))
        );
        let gray_alpha = ImageBuffer::from_pixel(1, 1, LumaA([100u8, 0]));
        assert_eq!(
            normalize(DynamicImage::ImageLumaA8(gray_alpha)),
            Pixels::Rgba(RgbaImage::from_pixel(1, 1, Rgba([100, 100, 100, 0])))
        );
        let deep = ImageBuffer::from_pixel(1, 1, Rgb([65535u16, 257 * 128, 0]));
        assert_eq!(
            normalize(DynamicImage::ImageRgb16(deep)),
            Pixels::Rgb(RgbImage::from_pixel(1, 1, Rgb([255, 128, 0])))
        );
    }

    #[test]
    fn pixels_flatten_blends_onto_background() {
        let mut img = RgbaImage::new(3, 1);
        img.put_pixel(0, 0, Rgba([255, 0, 255, 0])); // hidden magenta
        img.put_pixel(1, 0, Rgba([0, 0, 0, 255]));
        img.put_pixel(2, 0, Rgba([0, 0, 0, 128]));
        let flat = flatten(Pixels::Rgba(img), [10, 200, 30]);
        assert_eq!(flat.get_pixel(0, 0), &Rgb([10, 200, 30]));
        assert_eq!(flat.get_pixel(1, 0), &Rgb([0, 0, 0]));
        assert_eq!(flat.get_pixel(2, 0), &Rgb([5, 100, 15]));
    }
}
