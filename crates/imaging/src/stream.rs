//! Row-by-row decoding into a [`Reducer`], for the formats whose decoders
//! can give rows: PNG (the `png` crate's `next_row`), uncompressed BMP (rows
//! read straight from the file) and strip TIFF (the `tiff` crate's
//! `read_chunk`). The full-size image never exists, so memory is the
//! reduced image plus a row or a strip, and every source sample costs one
//! conversion and one add.
//!
//! Measured in wasm on the corpus (engine bench): the 16-bit PNG needed
//! 39.8 MiB of linear memory (16-bit image, then an 8-bit copy) and the LZW
//! TIFF 30.5 MiB; `mate_Blinds.bmp` (1920x1200, 24-bit) spent most of its
//! 20 ms in the `image` crate's per-pixel BMP reader and copies.
//!
//! Each function returns `None` when the file is a variant it does not
//! stream (interlaced PNG, compressed or paletted BMP, tiled or planar or
//! unusual TIFF); the caller then decodes the whole image with the `image`
//! crate as before. Both paths give the same pixels (tests compare them).

use std::io::Cursor;

use crate::error::ImagingError;
use crate::reduce::{Reduced, Reducer};

/// Bytes a streaming decode needs besides its input: the reducer, a few
/// rows of the source (decoder scratch and converted rows) and, for TIFF,
/// one strip.
pub(crate) fn estimate(width: u32, height: u32, (kx, ky): (u32, u32), row_bytes: u64) -> u64 {
    Reducer::memory(width, height, kx, ky, true) + 4 * row_bytes + u64::from(width) * 8
}

/// Whether the header alone shows a file will stream (non-interlaced PNG,
/// 24-bit uncompressed BMP), so the cheap [`estimate`] applies before any
/// decoding (probe uses it too). TIFF only shows it once its directory is
/// read, so it is budgeted as a whole image until then.
pub(crate) fn streams(format: &str, bytes: &[u8]) -> bool {
    match format {
        // IHDR is the first chunk: interlace method at byte 28.
        "png" => bytes.get(12..16) == Some(b"IHDR") && bytes.get(28) == Some(&0),
        "bmp" => bmp_layout(bytes).is_some(),
        "webp" => crate::webp::streams(bytes),
        _ => false,
    }
}

/// Streams a non-interlaced PNG; `None` for interlaced ones.
pub(crate) fn png(
    bytes: &[u8],
    factors: (u32, u32),
    max_alloc: u64,
) -> Option<Result<Reduced, ImagingError>> {
    let err = |e: png::DecodingError| ImagingError::Decode(format!("png: {e}"));
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: usize::try_from(max_alloc).unwrap_or(usize::MAX),
        },
    );
    // Palette to RGB(A) (tRNS as alpha), low bit depths to 8; 16-bit is
    // kept and rounded below (STRIP_16 would truncate).
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = match decoder.read_info() {
        Ok(r) => r,
        Err(e) => return Some(Err(err(e))),
    };
    if reader.info().interlaced {
        return None;
    }
    let (width, height) = (reader.info().width, reader.info().height);
    let (color, depth) = reader.output_color_type();
    let channels = color.samples();
    let deep = depth == png::BitDepth::Sixteen;
    let alpha = matches!(color, png::ColorType::Rgba | png::ColorType::GrayscaleAlpha);
    let mut reducer = Reducer::new(width, height, factors.0, factors.1, alpha);
    let mut row8 = vec![0u8; width as usize * if alpha { 4 } else { 3 }];
    loop {
        let row = match reader.next_row() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Some(Err(err(e))),
        };
        let data = row.data();
        if !deep && (channels == 3 || channels == 4) {
            reducer.push(data);
            continue;
        }
        let sample = |i: usize| -> u8 {
            if deep {
                let v = u16::from_be_bytes([data[2 * i], data[2 * i + 1]]);
                to_8bit(v)
            } else {
                data[i]
            }
        };
        let n = data.len() / if deep { 2 } else { 1 } / channels;
        let px = n.min(width as usize);
        match channels {
            1 => {
                for (x, out) in row8.chunks_exact_mut(3).take(px).enumerate() {
                    out.fill(sample(x));
                }
            }
            2 => {
                for (x, out) in row8.chunks_exact_mut(4).take(px).enumerate() {
                    let v = sample(2 * x);
                    out.copy_from_slice(&[v, v, v, sample(2 * x + 1)]);
                }
            }
            c => {
                let ch = if alpha { 4 } else { 3 };
                for (x, out) in row8.chunks_exact_mut(ch).take(px).enumerate() {
                    for (i, o) in out.iter_mut().enumerate() {
                        *o = sample(c * x + i);
                    }
                }
            }
        }
        reducer.push(&row8);
    }
    Some(Ok(reducer.finish()))
}

/// The pixel rows of a 24-bit `BI_RGB` BMP: data, width, height, and
/// whether the rows are stored bottom-up.
fn bmp_layout(bytes: &[u8]) -> Option<(&[u8], u32, u32, bool)> {
    let u32_at = |at: usize| -> Option<u32> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u16_at = |at: usize| -> Option<u16> {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    if bytes.get(0..2) != Some(b"BM") {
        return None;
    }
    let offset = u32_at(10)? as usize;
    if u32_at(14)? < 40 {
        return None;
    }
    let width = u32_at(18)? as i32;
    let height = u32_at(22)? as i32;
    if u16_at(26)? != 1 || u16_at(28)? != 24 || u32_at(30)? != 0 || width <= 0 || height == 0 {
        return None;
    }
    let (w, h) = (width.unsigned_abs(), height.unsigned_abs());
    let stride = (w as usize * 3).div_ceil(4) * 4;
    let end = offset.checked_add(stride.checked_mul(h as usize)?)?;
    Some((bytes.get(offset..end)?, w, h, height > 0))
}

/// A 16-bit sample to 8 bits, rounded (as `pixels::normalize` does).
fn to_8bit(v: u16) -> u8 {
    ((u32::from(v) * 255 + 32_767) / 65_535) as u8
}

/// Streams an uncompressed 24-bit BMP (`BI_RGB`, bottom-up or top-down);
/// `None` for anything else.
pub(crate) fn bmp(bytes: &[u8], factors: (u32, u32)) -> Option<Reduced> {
    let (data, w, h, bottom_up) = bmp_layout(bytes)?;
    let stride = (w as usize * 3).div_ceil(4) * 4;
    let mut reducer = Reducer::new(w, h, factors.0, factors.1, false);
    let mut rgb = vec![0u8; w as usize * 3];
    for y in 0..h as usize {
        // Positive heights are stored bottom row first.
        let stored = if bottom_up { h as usize - 1 - y } else { y };
        let row = &data[stored * stride..stored * stride + w as usize * 3];
        for (out, bgr) in rgb.chunks_exact_mut(3).zip(row.chunks_exact(3)) {
            out.copy_from_slice(&[bgr[2], bgr[1], bgr[0]]);
        }
        reducer.push(&rgb);
    }
    Some(reducer.finish())
}

/// Streams a strip TIFF of 8-bit RGB/RGBA/gray or 16-bit RGB, chunky
/// planar configuration, strip by strip; `None` for anything else.
pub(crate) fn tiff(
    bytes: &[u8],
    factors: (u32, u32),
    max_alloc: u64,
) -> Option<Result<Reduced, ImagingError>> {
    use tiff::decoder::{ChunkType, Decoder, DecodingResult, Limits};
    use tiff::tags::Tag;
    use tiff::ColorType;

    let err = |e: tiff::TiffError| ImagingError::Decode(format!("tiff: {e}"));
    let mut limits = Limits::default();
    let cap = usize::try_from(max_alloc).unwrap_or(usize::MAX);
    limits.decoding_buffer_size = cap;
    limits.intermediate_buffer_size = cap;
    let mut decoder = match Decoder::new(Cursor::new(bytes)) {
        Ok(d) => d.with_limits(limits),
        Err(e) => return Some(Err(err(e))),
    };
    if decoder.get_chunk_type() != ChunkType::Strip {
        return None;
    }
    // 1 = chunky (samples interleaved); planar TIFFs go the whole-image way.
    if decoder
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .ok()
        .flatten()
        .is_some_and(|p| p != 1)
    {
        return None;
    }
    let (width, height) = decoder.dimensions().ok()?;
    let (channels, alpha, deep) = match decoder.colortype().ok()? {
        ColorType::RGB(8) => (3, false, false),
        ColorType::RGBA(8) => (4, true, false),
        ColorType::Gray(8) => (1, false, false),
        ColorType::RGB(16) => (3, false, true),
        _ => return None,
    };
    // WhiteIsZero gray (photometric 0) is inverted by the image crate's
    // path; leave it there.
    if channels == 1
        && decoder
            .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
            .ok()
            .flatten()
            != Some(1)
    {
        return None;
    }
    let strips = decoder.strip_count().ok()?;
    let rows_per_strip = decoder.chunk_dimensions().1.max(1) as usize;
    let w = width as usize;
    let mut reducer = Reducer::new(width, height, factors.0, factors.1, alpha);
    let mut rgb = vec![0u8; w * 3];
    for strip in 0..strips {
        let data = match decoder.read_chunk(strip) {
            Ok(d) => d,
            Err(e) => return Some(Err(err(e))),
        };
        match (&data, deep) {
            (DecodingResult::U8(samples), false) => {
                let stride = w * channels;
                for row in samples.chunks_exact(stride).take(rows_per_strip) {
                    if channels == 1 {
                        for (out, &v) in rgb.chunks_exact_mut(3).zip(row) {
                            out.fill(v);
                        }
                        reducer.push(&rgb);
                    } else {
                        reducer.push(row);
                    }
                }
            }
            (DecodingResult::U16(samples), true) => {
                for row in samples.chunks_exact(w * 3).take(rows_per_strip) {
                    for (out, &v) in rgb.iter_mut().zip(row) {
                        *out = to_8bit(v);
                    }
                    reducer.push(&rgb);
                }
            }
            _ => return None,
        }
    }
    Some(Ok(reducer.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixels::{self, Pixels};
    use crate::reduce::reduce;
    use image::{DynamicImage, ImageFormat};

    /// The `image` crate's whole-image decode, normalised and reduced the
    /// same way: the reference every streamed decode must equal.
    fn reference(bytes: &[u8], factors: (u32, u32)) -> Reduced {
        let image = image::load_from_memory(bytes).unwrap();
        reduce(pixels::normalize(image), factors.0, factors.1)
    }

    /// Asserts two decodes show the same picture: same size and extent,
    /// same samples, colour under fully transparent pixels ignored (the
    /// reducer stores it as 0, a whole-image decode keeps what the file had).
    fn assert_same(got: &Reduced, want: &Reduced, label: &str) {
        fn visible(p: &Pixels) -> Vec<u8> {
            match p {
                Pixels::Rgb(img) => img.as_raw().clone(),
                Pixels::Rgba(img) => img
                    .pixels()
                    .flat_map(|p| if p[3] == 0 { [0; 4] } else { p.0 })
                    .collect(),
            }
        }
        assert_eq!(got.extent, want.extent, "{label}: extent");
        assert_eq!(
            got.pixels.dimensions(),
            want.pixels.dimensions(),
            "{label}: size"
        );
        assert_eq!(
            std::mem::discriminant(&got.pixels),
            std::mem::discriminant(&want.pixels),
            "{label}: alpha"
        );
        let (a, b) = (visible(&got.pixels), visible(&want.pixels));
        let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert_eq!(differ, 0, "{label}: {differ} of {} samples differ", a.len());
    }

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn sample_rgba(w: u32, h: u32) -> image::RgbaImage {
        image::RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([
                (x * 7 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x + y) % 256) as u8,
                if (x / 3 + y) % 4 == 0 { 90 } else { 255 },
            ])
        })
    }

    #[test]
    fn stream_png_every_colour_type_matches_image_crate() {
        let rgba = DynamicImage::ImageRgba8(sample_rgba(37, 23));
        let variants = [
            rgba.clone(),
            DynamicImage::ImageRgb8(rgba.to_rgb8()),
            DynamicImage::ImageLuma8(rgba.to_luma8()),
            DynamicImage::ImageLumaA8(rgba.to_luma_alpha8()),
            DynamicImage::ImageRgb16(rgba.to_rgb16()),
            DynamicImage::ImageRgba16(rgba.to_rgba16()),
        ];
        for (i, image) in variants.iter().enumerate() {
            let bytes = encode(image, ImageFormat::Png);
            for factors in [(1, 1), (2, 3), (5, 5)] {
                let got = png(&bytes, factors, u64::MAX).unwrap().unwrap();
                assert_same(
                    &got,
                    &reference(&bytes, factors),
                    &format!("variant {i} {factors:?}"),
                );
            }
        }
    }

    #[test]
    fn stream_png_palette_fixture_matches_image_crate() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/images/rocket_palette_trns.png"
        ))
        .unwrap();
        for factors in [(1, 1), (2, 2)] {
            let got = png(&bytes, factors, u64::MAX).unwrap().unwrap();
            assert!(matches!(got.pixels, Pixels::Rgba(_)));
            assert_same(&got, &reference(&bytes, factors), "palette fixture");
        }
    }

    #[test]
    fn stream_bmp_matches_image_crate_both_row_orders() {
        let rgb = DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(sample_rgba(33, 17)).to_rgb8());
        let bytes = encode(&rgb, ImageFormat::Bmp);
        for factors in [(1, 1), (3, 2)] {
            let got = bmp(&bytes, factors).unwrap();
            assert_same(&got, &reference(&bytes, factors), &format!("{factors:?}"));
        }
        // Top-down: negative height, rows in display order.
        let mut flipped = bytes.clone();
        let h = i32::from_le_bytes(flipped[22..26].try_into().unwrap());
        flipped[22..26].copy_from_slice(&(-h).to_le_bytes());
        let stride = (33 * 3usize).div_ceil(4) * 4;
        let offset = u32::from_le_bytes(flipped[10..14].try_into().unwrap()) as usize;
        let rows: Vec<Vec<u8>> = bytes[offset..offset + stride * 17]
            .chunks(stride)
            .rev()
            .map(<[u8]>::to_vec)
            .collect();
        flipped[offset..offset + stride * 17].copy_from_slice(&rows.concat());
        assert_same(
            &bmp(&flipped, (1, 1)).unwrap(),
            &bmp(&bytes, (1, 1)).unwrap(),
            "top-down",
        );
        // 32-bit BMPs are not streamed.
        let rgba = DynamicImage::ImageRgba8(sample_rgba(8, 8));
        assert!(bmp(&encode(&rgba, ImageFormat::Bmp), (1, 1)).is_none());
    }

    #[test]
    fn stream_tiff_matches_image_crate() {
        let rgba = DynamicImage::ImageRgba8(sample_rgba(41, 29));
        for image in [
            rgba.clone(),
            DynamicImage::ImageRgb8(rgba.to_rgb8()),
            DynamicImage::ImageLuma8(rgba.to_luma8()),
            DynamicImage::ImageRgb16(rgba.to_rgb16()),
        ] {
            let bytes = encode(&image, ImageFormat::Tiff);
            for factors in [(1, 1), (4, 3)] {
                let got = tiff(&bytes, factors, u64::MAX).unwrap().unwrap();
                assert_same(
                    &got,
                    &reference(&bytes, factors),
                    &format!("{:?}", image.color()),
                );
            }
        }
        let fixture = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/images/rocket.tiff"
        ))
        .unwrap();
        let got = tiff(&fixture, (2, 2), u64::MAX).unwrap().unwrap();
        assert_same(&got, &reference(&fixture, (2, 2)), "rocket.tiff");
    }

    /// Every PNG, BMP and TIFF of the shared corpus (16-bit, palette with
    /// tRNS, RGBA, LZW strips), when present; skipped loudly otherwise.
    #[test]
    fn stream_corpus_matches_image_crate() {
        use std::io::Write as _;
        let dir = std::env::var_os("THUMBFLOW_CORPUS").map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
            std::path::PathBuf::from,
        );
        let Ok(entries) = std::fs::read_dir(&dir) else {
            let _ = writeln!(
                std::io::stderr(),
                "corpus not found at {}: streaming decoder comparison skipped",
                dir.display()
            );
            return;
        };
        let mut checked = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).unwrap();
            let factors = (3, 3);
            let got = match name.rsplit('.').next() {
                Some("png") => png(&bytes, factors, u64::MAX).map(Result::unwrap),
                Some("bmp") => bmp(&bytes, factors),
                Some("tif") | Some("tiff") => tiff(&bytes, factors, u64::MAX).map(Result::unwrap),
                _ => continue,
            };
            let got = got.unwrap_or_else(|| panic!("{name}: not streamed"));
            assert_same(&got, &reference(&bytes, factors), &name);
            checked += 1;
        }
        assert!(checked > 0);
    }
}
