//! Lossy WebP decoded straight to a box-reduced image, one macroblock row
//! at a time, without the VP8 loop filter.
//!
//! Why not `image-webp` as it is: it decodes the whole frame into full-size
//! planes, loop-filters it, then converts it to an RGB buffer: for the
//! corpus' 2560x3837 photo that is 48 MiB of linear memory and, in wasm,
//! 355 ms, of which the loop filter took about half (perf with wasmtime's
//! perf map: `should_filter_vertical`, `common_adjust_*`, `*_filter_*` 37% of
//! all samples) and the RGB conversion and copies another tenth. Its VP8
//! decoder is forked here (`vp8`, `bool_decoder`, `transform`; MIT OR
//! Apache-2.0, see their headers) with two changes:
//!
//! - rows are handed out per macroblock row and pushed into the
//!   [`Reducer`] as Y, Cb, Cr samples (chroma replicated, as
//!   `UpsamplingMethod::Simple` does); the reduced image is converted to RGB
//!   at the end, so the full-size picture never exists and the colour
//!   conversion runs on the thumbnail-sized image;
//! - the loop filter is skipped. VP8 intra prediction reads unfiltered
//!   pixels (the filter runs after the frame in `image-webp`, delayed by a
//!   row in libwebp), so skipping it changes no other pixel: what is lost
//!   is the smoothing of block edges, a few levels over a pixel or two on
//!   each side, which a reduction of 2x or more averages away (libwebp
//!   offers the same trade as `bypass_filtering`). Tests check the result
//!   against `image-webp`'s full decode.
//!
//! Only simple lossy files are taken: `VP8 ` alone or under `VP8X` without
//! alpha or animation. Lossless (`VP8L`), alpha and animated WebPs return
//! `None` and go through `image-webp` as before.

mod bool_decoder;
mod transform;
mod vp8;

use crate::error::ImagingError;
use crate::reduce::{Reduced, Reducer};

/// What can go wrong in the forked VP8 decoder.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodingError {
    /// The data ran out or could not be read.
    #[error("truncated or unreadable data: {0}")]
    IoError(#[from] std::io::Error),
    /// The frame tag's start code is wrong.
    #[error("invalid VP8 start code {0:02x?}")]
    Vp8MagicInvalid([u8; 3]),
    /// Something RFC 6386 allows that a WebP key frame does not use.
    #[error("unsupported: {0}")]
    UnsupportedFeature(String),
    /// A colour space other than YUV.
    #[error("invalid colour space {0}")]
    ColorSpaceInvalid(u8),
    /// A luma prediction mode out of range.
    #[error("invalid luma prediction mode {0}")]
    LumaPredictionModeInvalid(i8),
    /// A sub-block prediction mode out of range.
    #[error("invalid intra prediction mode {0}")]
    IntraPredictionModeInvalid(i8),
    /// A chroma prediction mode out of range.
    #[error("invalid chroma prediction mode {0}")]
    ChromaPredictionModeInvalid(i8),
    /// A partition too short to start the boolean decoder.
    #[error("partition too short")]
    NotEnoughInitData,
    /// The boolean decoder read past its partition.
    #[error("corrupt entropy-coded data")]
    BitStreamError,
}

/// The `VP8 ` chunk of a simple lossy WebP, or `None` for lossless, alpha
/// and animated files (and anything not a well-formed RIFF WebP).
fn lossy_chunk(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WEBP") {
        return None;
    }
    let mut pos = 12;
    let mut extended = false;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let fourcc = &head[0..4];
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let data = bytes.get(pos + 8..(pos + 8).checked_add(size)?)?;
        match fourcc {
            b"VP8 " => return Some(data),
            b"VP8X" if pos == 12 => {
                // Flags: 0x10 alpha, 0x02 animation.
                if data.first().is_none_or(|f| f & 0x12 != 0) {
                    return None;
                }
                extended = true;
            }
            b"ALPH" | b"ANIM" | b"ANMF" | b"VP8L" => return None,
            _ if !extended => return None,
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    None
}

/// Whether `bytes` is a WebP [`decode`] takes.
pub(crate) fn streams(bytes: &[u8]) -> bool {
    lossy_chunk(bytes).is_some()
}

/// Decodes a simple lossy WebP reduced by `factors`; `None` when the file
/// is not one (see the module docs).
pub(crate) fn decode(bytes: &[u8], factors: (u32, u32)) -> Option<Result<Reduced, ImagingError>> {
    let chunk = lossy_chunk(bytes)?;
    let err = |e: DecodingError| ImagingError::Decode(format!("webp: {e}"));
    let mut reducer: Option<Reducer> = None;
    let mut row = Vec::new();
    let result = vp8::Vp8Decoder::decode_rows(std::io::Cursor::new(chunk), |frame, mby| {
        let (w, h) = (usize::from(frame.width), usize::from(frame.height));
        let reducer = reducer
            .get_or_insert_with(|| Reducer::new(w as u32, h as u32, factors.0, factors.1, false));
        let luma_stride = frame.ybuf.len() / 16;
        let chroma_stride = luma_stride / 2;
        row.resize(w * 3, 0);
        for y in 0..16 {
            if mby * 16 + y >= h {
                break;
            }
            let ys = &frame.ybuf[y * luma_stride..][..w];
            let us = &frame.ubuf[y / 2 * chroma_stride..][..chroma_stride];
            let vs = &frame.vbuf[y / 2 * chroma_stride..][..chroma_stride];
            for (x, (out, &l)) in row.chunks_exact_mut(3).zip(ys).enumerate() {
                out.copy_from_slice(&[l, us[x / 2], vs[x / 2]]);
            }
            reducer.push(&row);
        }
        Ok(())
    });
    if let Err(e) = result {
        return Some(Err(err(e)));
    }
    let mut reduced = reducer?.finish();
    if let crate::pixels::Pixels::Rgb(img) = &mut reduced.pixels {
        for p in img.pixels_mut() {
            let [y, u, v] = p.0;
            p.0 = [yuv_to_r(y, v), yuv_to_g(y, u, v), yuv_to_b(y, u)];
        }
    }
    Some(Ok(reduced))
}

// libwebp's YUV to RGB (`src/dsp/yuv.h`, 14-bit fixed point), as
// `image-webp` converts.
fn mulhi(v: u8, coeff: u16) -> i32 {
    ((u32::from(v) * u32::from(coeff)) >> 8) as i32
}

fn clip(v: i32) -> u8 {
    (v >> 6).clamp(0, 255) as u8
}

fn yuv_to_r(y: u8, v: u8) -> u8 {
    clip(mulhi(y, 19077) + mulhi(v, 26149) - 14234)
}

fn yuv_to_g(y: u8, u: u8, v: u8) -> u8 {
    clip(mulhi(y, 19077) - mulhi(u, 6419) - mulhi(v, 13320) + 8708)
}

fn yuv_to_b(y: u8, u: u8) -> u8 {
    clip(mulhi(y, 19077) + mulhi(u, 33050) - 17685)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixels::{self, Pixels};
    use crate::reduce::reduce;

    fn mean_abs_diff(a: &Reduced, b: &Reduced) -> f64 {
        let (Pixels::Rgb(a), Pixels::Rgb(b)) = (&a.pixels, &b.pixels) else {
            panic!("alpha");
        };
        assert_eq!(a.dimensions(), b.dimensions());
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| f64::from(x.abs_diff(y)))
            .sum::<f64>()
            / a.as_raw().len() as f64
    }

    /// `image-webp`'s full decode (loop filter, simple upsampling),
    /// reduced the same way.
    fn reference(bytes: &[u8], factors: (u32, u32)) -> Reduced {
        let mut decoder = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).unwrap();
        decoder.set_lossy_upsampling(image_webp::UpsamplingMethod::Simple);
        let (w, h) = decoder.dimensions();
        let mut buf = vec![0u8; decoder.output_buffer_size().unwrap()];
        decoder.read_image(&mut buf).unwrap();
        let img = image::RgbImage::from_raw(w, h, buf).unwrap();
        reduce(
            pixels::normalize(image::DynamicImage::ImageRgb8(img)),
            factors.0,
            factors.1,
        )
    }

    fn check(bytes: &[u8], name: &str) {
        for (factors, limit) in [((1, 1), 3.0), ((2, 2), 1.5), ((4, 4), 1.0)] {
            let got = decode(bytes, factors).unwrap().unwrap();
            let want = reference(bytes, factors);
            assert_eq!(got.extent, want.extent, "{name}");
            let d = mean_abs_diff(&got, &want);
            assert!(d < limit, "{name} {factors:?}: mean abs diff {d:.2}");
        }
    }

    #[test]
    fn webp_fixture_matches_image_webp() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/images/rocket.webp"
        ))
        .unwrap();
        check(&bytes, "rocket.webp");
    }

    #[test]
    fn webp_lossless_and_garbage_are_not_taken() {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
        let mut lossless = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut lossless, image::ImageFormat::WebP)
            .unwrap();
        assert!(decode(lossless.get_ref(), (1, 1)).is_none());
        assert!(decode(b"RIFF\x04\0\0\0WEBP", (1, 1)).is_none());
        // A lossy chunk of garbage is a typed error, not a panic.
        let mut bad = b"RIFF\x18\0\0\0WEBPVP8 \x0a\0\0\0".to_vec();
        bad.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x08, 0x00, 0x08, 0x00]);
        assert!(matches!(decode(&bad, (1, 1)), Some(Err(_)) | None));
    }

    /// The corpus' lossy WebP, when present; skipped loudly otherwise.
    #[test]
    fn webp_corpus_matches_image_webp() {
        use std::io::Write as _;
        let dir = std::env::var_os("THUMBFLOW_CORPUS").map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
            std::path::PathBuf::from,
        );
        let Ok(entries) = std::fs::read_dir(&dir) else {
            let _ = writeln!(
                std::io::stderr(),
                "corpus not found at {}: WebP decoder comparison skipped",
                dir.display()
            );
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".webp") {
                check(&std::fs::read(entry.path()).unwrap(), &name);
            }
        }
    }
}
