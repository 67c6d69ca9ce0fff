//! Colour management: embedded ICC profiles to sRGB with `moxcms` (pure
//! Rust, builds for wasm32), and CMYK to RGB.
//!
//! - RGB sources with a profile (Adobe RGB, Display P3, ProPhoto, ...) are
//!   converted on the finished thumbnail: a per-pixel transform on 300x200
//!   pixels instead of 20 million. Resampling happens in the source's
//!   encoding instead of sRGB's, a difference far below what 8-bit output
//!   shows (both are gamma-encoded spaces; neither is linear light).
//! - CMYK has to become RGB before resampling (the resizer works on RGB),
//!   so it is converted on the decoded image, which for JPEG is already
//!   shrunk by DCT scaling. With a CMYK profile the conversion goes through
//!   it; without one it is the naive `(1 - C)(1 - K)` that Pillow uses.
//! - A profile that cannot be parsed, or that does not describe the
//!   pixels (a gray profile on a colour image), is ignored: the pixels are
//!   taken as sRGB, as browsers do, rather than failing the image.

use std::sync::Arc;

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformExecutor, TransformOptions};

use crate::pixels::Pixels;

/// An 8-bit transform from an embedded profile to sRGB.
type Transform = Arc<dyn TransformExecutor<u8> + Send + Sync>;

/// Converts RGB or RGBA pixels from an embedded RGB profile to sRGB.
pub(crate) struct ToSrgb {
    rgb: Option<Transform>,
    rgba: Option<Transform>,
}

impl ToSrgb {
    /// A converter for `icc`, or `None` when the profile is unusable or not
    /// an RGB profile (nothing to do then).
    pub(crate) fn new(icc: &[u8]) -> Option<Self> {
        let source = ColorProfile::new_from_slice(icc).ok()?;
        if source.color_space != DataColorSpace::Rgb {
            return None;
        }
        let srgb = ColorProfile::new_srgb();
        let options = TransformOptions::default();
        let rgb = source
            .create_transform_8bit(Layout::Rgb, &srgb, Layout::Rgb, options)
            .ok();
        let rgba = source
            .create_transform_8bit(Layout::Rgba, &srgb, Layout::Rgba, options)
            .ok();
        (rgb.is_some() || rgba.is_some()).then_some(Self { rgb, rgba })
    }

    /// Converts `pixels` in place (alpha untouched); leaves them as they
    /// are if the transform fails.
    pub(crate) fn apply(&self, pixels: &mut Pixels) {
        let (raw, transform) = match pixels {
            Pixels::Rgb(img) => (&mut **img, &self.rgb),
            Pixels::Rgba(img) => (&mut **img, &self.rgba),
        };
        if let Some(t) = transform {
            let mut out = vec![0u8; raw.len()];
            if t.transform(raw, &mut out).is_ok() {
                raw.copy_from_slice(&out);
            }
        }
    }
}

/// Converts Adobe-convention (inverted, 255 = no ink) CMYK to RGB: through
/// `icc` when it is a usable CMYK profile, else naively.
pub(crate) fn cmyk_to_rgb(inverted: &[u8], icc: Option<&[u8]>) -> Vec<u8> {
    if let Some(rgb) = icc.and_then(|icc| cmyk_via_profile(inverted, icc)) {
        return rgb;
    }
    inverted
        .chunks_exact(4)
        .flat_map(|p| {
            let k = u32::from(p[3]);
            [p[0], p[1], p[2]].map(|c| ((u32::from(c) * k + 127) / 255) as u8)
        })
        .collect()
}

fn cmyk_via_profile(inverted: &[u8], icc: &[u8]) -> Option<Vec<u8>> {
    let source = ColorProfile::new_from_slice(icc).ok()?;
    if source.color_space != DataColorSpace::Cmyk {
        return None;
    }
    let transform = source
        .create_transform_8bit(
            Layout::Rgba,
            &ColorProfile::new_srgb(),
            Layout::Rgb,
            TransformOptions::default(),
        )
        .ok()?;
    // ICC CMYK counts ink (0 = none): undo the Adobe inversion.
    let ink: Vec<u8> = inverted.iter().map(|v| 255 - v).collect();
    let mut rgb = vec![0u8; ink.len() / 4 * 3];
    transform.transform(&ink, &mut rgb).ok()?;
    Some(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn colour_naive_cmyk() {
        // No ink -> white; full K -> black; C only -> cyan.
        let px = [
            255, 255, 255, 255, 0, 0, 0, 0, 0, 255, 255, 255, 128, 128, 128, 255,
        ];
        assert_eq!(
            cmyk_to_rgb(&px, None),
            vec![255, 255, 255, 0, 0, 0, 0, 255, 255, 128, 128, 128]
        );
        // A profile that is not CMYK falls back to the naive formula.
        let srgb = ColorProfile::new_srgb().encode().unwrap();
        assert_eq!(cmyk_to_rgb(&px[..4], Some(&srgb)), vec![255, 255, 255]);
    }

    #[test]
    fn colour_srgb_profile_is_identity_and_p3_is_not() {
        let srgb = ColorProfile::new_srgb().encode().unwrap();
        let mut px = Pixels::Rgb(RgbImage::from_pixel(2, 1, Rgb([200, 100, 50])));
        ToSrgb::new(&srgb).unwrap().apply(&mut px);
        let Pixels::Rgb(img) = &px else { panic!() };
        for (a, b) in img.get_pixel(0, 0).0.iter().zip([200u8, 100, 50]) {
            assert!(a.abs_diff(b) <= 1, "{:?}", img.get_pixel(0, 0));
        }
        // P3 pure green is outside sRGB: red goes to 0, green stays max.
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let mut px = Pixels::Rgb(RgbImage::from_pixel(1, 1, Rgb([0, 255, 0])));
        ToSrgb::new(&p3).unwrap().apply(&mut px);
        let Pixels::Rgb(img) = &px else { panic!() };
        let p = img.get_pixel(0, 0);
        assert!(p[1] == 255 && p[0] == 0, "{p:?}");
        // A P3 mid-tone red becomes a more saturated sRGB red.
        let mut px = Pixels::Rgb(RgbImage::from_pixel(1, 1, Rgb([200, 60, 60])));
        ToSrgb::new(&p3).unwrap().apply(&mut px);
        let Pixels::Rgb(img) = &px else { panic!() };
        let p = img.get_pixel(0, 0);
        assert!(p[0] > 210 && p[1] < 60, "{p:?}");
    }

    #[test]
    fn colour_garbage_profile_is_ignored() {
        assert!(ToSrgb::new(b"not a profile").is_none());
        assert!(ToSrgb::new(&[]).is_none());
    }
}
