//! Resampling: an integer box pre-shrink for large factors, then Lanczos3
//! with `fast_image_resize` (SIMD on x86-64 SSE4.1/AVX2, aarch64 NEON and
//! wasm32 `simd128`, enabled in `.cargo/config.toml`).
//!
//! Why two steps: a 20 MP photo shrunk to 300 px is a ~20x reduction, where
//! a Lanczos3 kernel spans ~120 source pixels per output pixel per axis.
//! Averaging whole `k x k` blocks first costs about one add per source
//! sample and gives the same picture, as long as enough of the reduction is
//! left for the Lanczos pass: like Pillow's `thumbnail` (`reducing_gap=2.0`),
//! the box step stops while at least 2x remains. The box step weights colour
//! by alpha, and so does `fast_image_resize`, so colour hidden under
//! transparent pixels never bleeds into edges. Resampling happens in sRGB
//! space, as Pillow does.
//!
//! The box step is plain integer code: cheap in release, and tolerable in
//! unoptimised test builds, where the generic SIMD resizer (monomorphised into
//! this crate, so built at this crate's opt-level) runs ~100x slower than in
//! release.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{CropBox, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{RgbImage, RgbaImage};

use crate::pixels::Pixels;
use crate::reduce::{reduce, Reduced};

/// The box pre-shrink leaves at least this factor for the Lanczos pass.
const REDUCING_GAP: f64 = 2.0;

/// How the source maps onto the output rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crop {
    /// Scale the whole source to the output size.
    None,
    /// Centre-crop the source to the output's aspect ratio first.
    Centre,
}

/// Resizes `src` to `width` x `height`. A same-size, uncropped request of
/// an unreduced image is a plain copy. Errors are internal (buffer sizes)
/// and carry a message.
pub(crate) fn resize(
    resizer: &mut Resizer,
    src: &Reduced,
    width: u32,
    height: u32,
    crop: Crop,
) -> Result<Pixels, String> {
    let dims = src.pixels.dimensions();
    let whole = (f64::from(dims.0), f64::from(dims.1));
    if dims == (width, height) && crop == Crop::None && src.extent == whole {
        return Ok(src.pixels.clone());
    }
    // The part of the source that ends up in the output, in `src` pixels.
    let region = source_region(src.extent, (width, height), crop);
    let (kx, ky) = reduce_factors(&region, (width, height));
    let reduced;
    let src = if kx > 1 || ky > 1 {
        reduced = reduce(src.pixels.clone(), kx, ky);
        &reduced.pixels
    } else {
        &src.pixels
    };
    // The same region in (possibly reduced) pixels; fractional on purpose,
    // so partial edge blocks only count for the part that is real.
    let (fx, fy) = (f64::from(kx), f64::from(ky));
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(
            region.left / fx,
            region.top / fy,
            region.width / fx,
            region.height / fy,
        );
    match src {
        Pixels::Rgb(img) => {
            let buf = run(
                resizer,
                img.as_raw(),
                img.dimensions(),
                PixelType::U8x3,
                (width, height),
                &options,
            )?;
            RgbImage::from_raw(width, height, buf)
                .map(Pixels::Rgb)
                .ok_or_else(|| "resizer returned a short RGB buffer".to_owned())
        }
        Pixels::Rgba(img) => {
            let buf = run(
                resizer,
                img.as_raw(),
                img.dimensions(),
                PixelType::U8x4,
                (width, height),
                &options,
            )?;
            RgbaImage::from_raw(width, height, buf)
                .map(Pixels::Rgba)
                .ok_or_else(|| "resizer returned a short RGBA buffer".to_owned())
        }
    }
}

/// The region of a source `extent` (in its pixels) that a `dst` output
/// shows: all of it, or the centred crop with the output's aspect ratio.
pub(crate) fn source_region((w, h): (f64, f64), (dst_w, dst_h): (u32, u32), crop: Crop) -> CropBox {
    match crop {
        Crop::None => CropBox {
            left: 0.0,
            top: 0.0,
            width: w,
            height: h,
        },
        Crop::Centre => {
            let ratio = f64::from(dst_w.max(1)) / f64::from(dst_h.max(1));
            let (cw, ch) = if w / h.max(f64::MIN_POSITIVE) > ratio {
                (h * ratio, h)
            } else {
                (w, w / ratio)
            };
            CropBox {
                left: (w - cw) / 2.0,
                top: (h - ch) / 2.0,
                width: cw,
                height: ch,
            }
        }
    }
}

fn run(
    resizer: &mut Resizer,
    raw: &[u8],
    (src_w, src_h): (u32, u32),
    pixel_type: PixelType,
    (dst_w, dst_h): (u32, u32),
    options: &ResizeOptions,
) -> Result<Vec<u8>, String> {
    let src = ImageRef::new(src_w, src_h, raw, pixel_type).map_err(|e| e.to_string())?;
    let mut dst = Image::new(dst_w, dst_h, pixel_type);
    resizer
        .resize(&src, &mut dst, options)
        .map_err(|e| e.to_string())?;
    Ok(dst.into_vec())
}

/// Integer box factors per axis: as large as possible while the source
/// region stays at least `REDUCING_GAP` times the output.
pub(crate) fn reduce_factors(region: &CropBox, (dst_w, dst_h): (u32, u32)) -> (u32, u32) {
    let factor = |region: f64, dst: u32| {
        let k = (region / f64::from(dst.max(1)) / REDUCING_GAP).floor();
        // `as` saturates; k is finite and non-negative here.
        (k as u32).max(1)
    };
    (factor(region.width, dst_w), factor(region.height, dst_h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, Rgba};

    #[test]
    fn resize_uniform_colour_stays_uniform() {
        let src = Pixels::Rgb(RgbImage::from_pixel(97, 61, Rgb([10, 120, 230])));
        for (w, h) in [(13, 7), (5, 3), (1, 1)] {
            let out = resize(
                &mut Resizer::new(),
                &Reduced::whole(src.clone()),
                w,
                h,
                Crop::None,
            )
            .unwrap();
            assert_eq!(
                out,
                Pixels::Rgb(RgbImage::from_pixel(w, h, Rgb([10, 120, 230])))
            );
        }
    }

    #[test]
    fn resize_hidden_colour_does_not_bleed() {
        // Left half opaque red, right half fully transparent green; sizes
        // with and without the box pre-shrink.
        let src = RgbaImage::from_fn(400, 100, |x, _| {
            if x < 200 {
                Rgba([255, 0, 0, 255])
            } else {
                Rgba([0, 255, 0, 0])
            }
        });
        for (w, h) in [(100, 25), (10, 5)] {
            let Pixels::Rgba(out) = resize(
                &mut Resizer::new(),
                &Reduced::whole(Pixels::Rgba(src.clone())),
                w,
                h,
                Crop::None,
            )
            .unwrap() else {
                panic!("alpha lost");
            };
            for p in out.pixels().filter(|p| p[3] > 0) {
                assert!(p[1] < 8, "green bled into {p:?} at {w}x{h}");
            }
        }
    }

    #[test]
    fn resize_centre_crop_keeps_middle() {
        // 30x10: left third blue, middle third white, right third blue.
        let src = RgbImage::from_fn(30, 10, |x, _| {
            if (10..20).contains(&x) {
                Rgb([255, 255, 255])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let Pixels::Rgb(out) = resize(
            &mut Resizer::new(),
            &Reduced::whole(Pixels::Rgb(src)),
            5,
            5,
            Crop::Centre,
        )
        .unwrap() else {
            panic!("alpha appeared");
        };
        // Lanczos taps reach a little past the crop edge (ringing), but an
        // off-centre crop would be mostly blue (red channel near 0).
        assert!(out.pixels().all(|p| p[0] > 200), "{out:?}");
    }

    #[test]
    fn resize_reduce_factors_leave_gap_for_lanczos() {
        let whole = |w: u32, h: u32| CropBox {
            left: 0.0,
            top: 0.0,
            width: f64::from(w),
            height: f64::from(h),
        };
        assert_eq!(reduce_factors(&whole(6028, 3391), (300, 169)), (10, 10));
        assert_eq!(reduce_factors(&whole(599, 400), (300, 200)), (1, 1));
        assert_eq!(reduce_factors(&whole(1199, 800), (300, 200)), (1, 2));
        assert_eq!(reduce_factors(&whole(1200, 800), (300, 200)), (2, 2));
        assert_eq!(reduce_factors(&whole(6000, 1000), (100, 100)), (30, 5));
        // Cover: the factor follows the cropped region, not the whole width.
        let centre = CropBox::fit_src_into_dst_size(6000, 1000, 100, 100, Some((0.5, 0.5)));
        assert_eq!(reduce_factors(&centre, (100, 100)), (5, 5));
    }

    #[test]
    fn resize_with_and_without_pre_shrink_agree() {
        // Gradients plus a wave with a period of ~8 output pixels: the
        // box + Lanczos result must match a Lanczos-only resize closely.
        let src = RgbImage::from_fn(1200, 900, |x, y| {
            let (fx, fy) = (f64::from(x), f64::from(y));
            let wave = 128.0
                + 100.0
                    * (fx / 97.0 * std::f64::consts::TAU).sin()
                    * (fy / 131.0 * std::f64::consts::TAU).cos();
            Rgb([
                u8::try_from(x * 255 / 1199).unwrap(),
                u8::try_from(y * 255 / 899).unwrap(),
                wave.round() as u8,
            ])
        });
        let src = Pixels::Rgb(src);
        let mut resizer = Resizer::new();
        for crop in [Crop::None, Crop::Centre] {
            let Pixels::Rgb(two_step) =
                resize(&mut resizer, &Reduced::whole(src.clone()), 100, 60, crop).unwrap()
            else {
                panic!("alpha appeared");
            };
            let Pixels::Rgb(direct) = run_direct(&src, 100, 60, crop) else {
                panic!("alpha appeared");
            };
            let diff: u64 = two_step
                .as_raw()
                .iter()
                .zip(direct.as_raw())
                .map(|(&a, &b)| u64::from(a.abs_diff(b)))
                .sum();
            let mean = diff as f64 / two_step.as_raw().len() as f64;
            assert!(mean < 1.5, "{crop:?}: mean abs diff {mean:.2}");
        }
    }

    /// Lanczos3 only, no pre-shrink: the reference for the two-step path.
    fn run_direct(src: &Pixels, width: u32, height: u32, crop: Crop) -> Pixels {
        let Pixels::Rgb(img) = src else {
            panic!("RGB only");
        };
        let mut options =
            ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
        if crop == Crop::Centre {
            options = options.fit_into_destination(Some((0.5, 0.5)));
        }
        let buf = run(
            &mut Resizer::new(),
            img.as_raw(),
            img.dimensions(),
            PixelType::U8x3,
            (width, height),
            &options,
        )
        .unwrap();
        Pixels::Rgb(RgbImage::from_raw(width, height, buf).unwrap())
    }
}
