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

/// Resizes `src` to `width` x `height`. A same-size, uncropped request is a
/// plain copy. Errors are internal (buffer sizes) and carry a message.
pub(crate) fn resize(
    resizer: &mut Resizer,
    src: &Pixels,
    width: u32,
    height: u32,
    crop: Crop,
) -> Result<Pixels, String> {
    if src.dimensions() == (width, height) && crop == Crop::None {
        return Ok(src.clone());
    }
    let (src_w, src_h) = src.dimensions();
    // The part of the source that ends up in the output, in source pixels.
    let region = match crop {
        Crop::None => CropBox {
            left: 0.0,
            top: 0.0,
            width: f64::from(src_w),
            height: f64::from(src_h),
        },
        Crop::Centre => {
            CropBox::fit_src_into_dst_size(src_w, src_h, width, height, Some((0.5, 0.5)))
        }
    };
    let (kx, ky) = reduce_factors(&region, (width, height));
    let reduced;
    let src = if kx > 1 || ky > 1 {
        reduced = box_reduce(src, kx, ky);
        &reduced
    } else {
        src
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
fn reduce_factors(region: &CropBox, (dst_w, dst_h): (u32, u32)) -> (u32, u32) {
    let factor = |region: f64, dst: u32| {
        let k = (region / f64::from(dst.max(1)) / REDUCING_GAP).floor();
        // `as` saturates; k is finite and non-negative here.
        (k as u32).max(1)
    };
    (factor(region.width, dst_w), factor(region.height, dst_h))
}

/// Averages `kx` x `ky` blocks (partial blocks at the right and bottom edges
/// average what they have). RGBA is averaged with colour weighted by alpha.
fn box_reduce(src: &Pixels, kx: u32, ky: u32) -> Pixels {
    let (w, h) = src.dimensions();
    let (ow, oh) = (w.div_ceil(kx), h.div_ceil(ky));
    let dims = (w as usize, h as usize, kx as usize, ky as usize);
    match src {
        Pixels::Rgb(img) => {
            let buf = reduce_rgb(img.as_raw(), dims);
            RgbImage::from_raw(ow, oh, buf).map_or_else(|| Pixels::Rgb(img.clone()), Pixels::Rgb)
        }
        Pixels::Rgba(img) => {
            let buf = reduce_rgba(img.as_raw(), dims);
            RgbaImage::from_raw(ow, oh, buf).map_or_else(|| Pixels::Rgba(img.clone()), Pixels::Rgba)
        }
    }
}

/// Box-averages packed RGB rows; `(w, h, kx, ky)` as in [`box_reduce`].
fn reduce_rgb(raw: &[u8], (w, h, kx, ky): (usize, usize, usize, usize)) -> Vec<u8> {
    let (ow, oh) = (w.div_ceil(kx), h.div_ceil(ky));
    let mut out = Vec::with_capacity(ow * oh * 3);
    // Column sums over one band of `ky` rows, per sample (<= 255 * ky).
    let mut column = vec![0u32; w * 3];
    for band in raw.chunks(w * 3 * ky) {
        column.fill(0);
        for row in band.chunks_exact(w * 3) {
            add_row(&mut column, row);
        }
        let rows = (band.len() / (w * 3)) as u64;
        for block in column.chunks(kx * 3) {
            let n = (block.len() / 3) as u64 * rows;
            let mut rgb = [0u64; 3];
            for px in block.chunks_exact(3) {
                rgb[0] += u64::from(px[0]);
                rgb[1] += u64::from(px[1]);
                rgb[2] += u64::from(px[2]);
            }
            out.extend(rgb.map(|s| div_round(s, n)));
        }
    }
    out
}

/// `column[i] += row[i]`: the hot loop of the RGB box step (one add per
/// source sample). An index loop over equal-length slices: bounds checks
/// are hoisted and it vectorises in release, and it has no per-sample
/// iterator calls in unoptimised test builds.
fn add_row(column: &mut [u32], row: &[u8]) {
    let n = column.len().min(row.len());
    let (column, row) = (&mut column[..n], &row[..n]);
    let mut i = 0;
    while i < n {
        column[i] += u32::from(row[i]);
        i += 1;
    }
}

/// Box-averages packed RGBA rows with alpha-weighted colour.
fn reduce_rgba(raw: &[u8], (w, h, kx, ky): (usize, usize, usize, usize)) -> Vec<u8> {
    let (ow, oh) = (w.div_ceil(kx), h.div_ceil(ky));
    let mut out = Vec::with_capacity(ow * oh * 4);
    // Column sums over one band of `ky` rows: colour * alpha and alpha.
    let mut column = vec![0u64; w * 4];
    for band in raw.chunks(w * 4 * ky) {
        column.fill(0);
        for row in band.chunks_exact(w * 4) {
            add_row_premultiplied(&mut column, row);
        }
        let rows = (band.len() / (w * 4)) as u64;
        for block in column.chunks(kx * 4) {
            let n = (block.len() / 4) as u64 * rows;
            let mut sum = [0u64; 4];
            for px in block.chunks_exact(4) {
                for (s, v) in sum.iter_mut().zip(px) {
                    *s += v;
                }
            }
            let alpha = sum[3];
            for s in &sum[..3] {
                out.push(if alpha == 0 { 0 } else { div_round(*s, alpha) });
            }
            out.push(div_round(alpha, n));
        }
    }
    out
}

/// `column += premultiplied(row)` for RGBA; see [`add_row`].
fn add_row_premultiplied(column: &mut [u64], row: &[u8]) {
    let n = column.len().min(row.len()) / 4 * 4;
    let (column, row) = (&mut column[..n], &row[..n]);
    let mut i = 0;
    while i < n {
        let a = u64::from(row[i + 3]);
        column[i] += u64::from(row[i]) * a;
        column[i + 1] += u64::from(row[i + 1]) * a;
        column[i + 2] += u64::from(row[i + 2]) * a;
        column[i + 3] += a;
        i += 4;
    }
}

/// `n / d` rounded to nearest, as a channel value (`n / d` is at most 255).
fn div_round(n: u64, d: u64) -> u8 {
    u8::try_from((n + d / 2) / d.max(1)).unwrap_or(u8::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, Rgba};

    #[test]
    fn resize_uniform_colour_stays_uniform() {
        let src = Pixels::Rgb(RgbImage::from_pixel(97, 61, Rgb([10, 120, 230])));
        for (w, h) in [(13, 7), (5, 3), (1, 1)] {
            let out = resize(&mut Resizer::new(), &src, w, h, Crop::None).unwrap();
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
                &Pixels::Rgba(src.clone()),
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
        let Pixels::Rgb(out) =
            resize(&mut Resizer::new(), &Pixels::Rgb(src), 5, 5, Crop::Centre).unwrap()
        else {
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
            let Pixels::Rgb(two_step) = resize(&mut resizer, &src, 100, 60, crop).unwrap() else {
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

    #[test]
    fn resize_box_reduce_averages_blocks_and_edges() {
        // 5x3 RGB, factor 2x2: blocks of 4, 2 (right column), 2 (bottom
        // row) and 1 pixel.
        let src = RgbImage::from_fn(5, 3, |x, y| {
            let v = u8::try_from(10 * (y * 5 + x)).unwrap();
            Rgb([v, 0, 255])
        });
        let Pixels::Rgb(out) = box_reduce(&Pixels::Rgb(src), 2, 2) else {
            panic!("alpha appeared");
        };
        assert_eq!(out.dimensions(), (3, 2));
        let reds: Vec<u8> = out.pixels().map(|p| p[0]).collect();
        // (0+10+50+60)/4=30, (20+30+70+80)/4=50, (40+90)/2=65,
        // (100+110)/2=105, (120+130)/2=125, 140.
        assert_eq!(reds, [30, 50, 65, 105, 125, 140]);
        assert!(out.pixels().all(|p| p[1] == 0 && p[2] == 255));
    }

    #[test]
    fn resize_box_reduce_weights_colour_by_alpha() {
        let mut src = RgbaImage::from_pixel(2, 1, Rgba([0, 255, 0, 0]));
        src.put_pixel(0, 0, Rgba([200, 0, 0, 100]));
        let Pixels::Rgba(out) = box_reduce(&Pixels::Rgba(src), 2, 1) else {
            panic!("alpha lost");
        };
        assert_eq!(out.get_pixel(0, 0), &Rgba([200, 0, 0, 50]));
        let clear = RgbaImage::from_pixel(2, 2, Rgba([9, 9, 9, 0]));
        let Pixels::Rgba(out) = box_reduce(&Pixels::Rgba(clear), 2, 2) else {
            panic!("alpha lost");
        };
        assert_eq!(out.get_pixel(0, 0), &Rgba([0, 0, 0, 0]));
    }
}
