//! Cheap walks over container structure, before any decoder runs: how
//! many frames an animation declares, and how big a GIF's frames claim to
//! be.
//!
//! Only the first frame is ever rendered, but a hostile file can declare
//! millions of frames, or a tiny logical screen with a 65535x65535 frame
//! inside. These walks read block and chunk headers only (no LZW, no
//! zlib), so their cost is a fraction of reading the file once.

use crate::error::ImagingError;
use crate::limits::Limits;

/// Checks what an animated container declares against `limits`: frame
/// count (GIF image descriptors, APNG `acTL`, WebP `ANMF` chunks) and,
/// for GIF, every frame's size. Other formats pass unchanged.
pub(crate) fn check(format: &str, bytes: &[u8], limits: &Limits) -> Result<(), ImagingError> {
    let frames = match format {
        "gif" => gif_frames(bytes, limits)?,
        "png" => apng_frames(bytes),
        "webp" => webp_frames(bytes),
        _ => return Ok(()),
    };
    if frames > u64::from(limits.max_frames) {
        return Err(ImagingError::TooManyFrames {
            frames,
            max_frames: limits.max_frames,
        });
    }
    Ok(())
}

/// Width and height as the container header states them, for formats
/// whose header is at a fixed place (PNG IHDR, GIF logical screen, BMP
/// info header): checked before a codec sees them, because on wasm32 a
/// codec's own size arithmetic can overflow `usize` first and report
/// "memory limit exceeded" instead of the size.
pub(crate) fn header_dimensions(format: &str, bytes: &[u8]) -> Option<(u32, u32)> {
    let be = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let le16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let le32 = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]).unsigned_abs())
    };
    match format {
        "png" if bytes.get(12..16) == Some(b"IHDR") => Some((be(16)?, be(20)?)),
        "gif" => Some((le16(6)?, le16(8)?)),
        // BITMAPINFOHEADER and later (not the 12-byte OS/2 core header).
        "bmp" if le32(14).is_some_and(|size| size >= 40) => Some((le32(18)?, le32(22)?)),
        _ => None,
    }
}

/// Counts GIF image descriptors, stopping as soon as the count is over
/// the limit; checks each frame's declared size like an image's. A
/// truncated file just ends the count (the decoder reports the damage).
fn gif_frames(bytes: &[u8], limits: &Limits) -> Result<u64, ImagingError> {
    let mut frames = 0u64;
    let Some(&packed) = bytes.get(10) else {
        return Ok(0);
    };
    let mut pos = 13;
    if packed & 0x80 != 0 {
        pos += 3 << ((packed & 7) + 1);
    }
    loop {
        match bytes.get(pos) {
            Some(0x2C) => {
                let Some(desc) = bytes.get(pos + 1..pos + 10) else {
                    return Ok(frames);
                };
                let width = u32::from(u16::from_le_bytes([desc[4], desc[5]]));
                let height = u32::from(u16::from_le_bytes([desc[6], desc[7]]));
                limits.check_dimensions(width, height)?;
                frames += 1;
                if frames > u64::from(limits.max_frames) {
                    return Ok(frames);
                }
                pos += 10;
                if desc[8] & 0x80 != 0 {
                    pos += 3 << ((desc[8] & 7) + 1);
                }
                pos += 1; // LZW minimum code size
                pos = skip_sub_blocks(bytes, pos);
            }
            Some(0x21) => pos = skip_sub_blocks(bytes, pos + 2),
            _ => return Ok(frames), // trailer, garbage or end of data
        }
    }
}

/// Skips a chain of GIF data sub-blocks (length byte, data) up to and
/// including the zero-length terminator.
fn skip_sub_blocks(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(&len) = bytes.get(pos) {
        pos += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    pos
}

/// Frame count from an APNG's `acTL` chunk (before the image data); 1 for
/// a plain PNG.
fn apng_frames(bytes: &[u8]) -> u64 {
    let mut pos = 8;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        match &head[4..8] {
            b"acTL" => {
                return bytes.get(pos + 8..pos + 12).map_or(1, |n| {
                    u64::from(u32::from_be_bytes([n[0], n[1], n[2], n[3]]))
                });
            }
            b"IDAT" | b"IEND" => break,
            _ => pos = pos.saturating_add(12).saturating_add(len),
        }
    }
    1
}

/// Number of `ANMF` (animation frame) chunks in a WebP; 1 for a still.
fn webp_frames(bytes: &[u8]) -> u64 {
    let mut frames = 0u64;
    let mut pos = 12;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        if &head[0..4] == b"ANMF" {
            frames += 1;
        }
        pos = pos.saturating_add(8).saturating_add(len + (len & 1));
    }
    frames.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GIF with `n` 1x1 frames (each a descriptor, code size, one data
    /// sub-block and terminator).
    pub(crate) fn gif_with_frames(n: usize, frame_w: u16, frame_h: u16) -> Vec<u8> {
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[1, 0, 1, 0, 0x80, 0, 0]); // 1x1 screen, 2-colour table
        gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        for _ in 0..n {
            gif.extend_from_slice(&[0x21, 0xF9, 4, 0, 10, 0, 0, 0]); // GCE
            gif.push(0x2C);
            gif.extend_from_slice(&[0, 0, 0, 0]);
            gif.extend_from_slice(&frame_w.to_le_bytes());
            gif.extend_from_slice(&frame_h.to_le_bytes());
            gif.push(0);
            gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]);
        }
        gif.push(0x3B);
        gif
    }

    #[test]
    fn frames_gif_counted_and_limited() {
        let limits = Limits {
            max_frames: 5,
            ..Limits::default()
        };
        assert_eq!(gif_frames(&gif_with_frames(5, 1, 1), &limits).unwrap(), 5);
        assert!(check("gif", &gif_with_frames(5, 1, 1), &limits).is_ok());
        let err = check("gif", &gif_with_frames(100, 1, 1), &limits).unwrap_err();
        assert_eq!(
            err,
            ImagingError::TooManyFrames {
                frames: 6,
                max_frames: 5
            }
        );
        // A tiny screen hiding a huge frame.
        let err = check("gif", &gif_with_frames(1, 65_535, 65_535), &limits).unwrap_err();
        assert!(matches!(err, ImagingError::SideTooLong { .. }), "{err}");
        // Truncated: counts what is there.
        let cut = gif_with_frames(3, 1, 1);
        assert_eq!(gif_frames(&cut[..cut.len() - 12], &limits).unwrap(), 2);
    }

    #[test]
    fn frames_header_dimensions() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&7u32.to_be_bytes());
        assert_eq!(header_dimensions("png", &png), Some((100_000, 7)));
        let gif = gif_with_frames(1, 1, 1);
        assert_eq!(header_dimensions("gif", &gif), Some((1, 1)));
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 12]);
        bmp.extend_from_slice(&40u32.to_le_bytes());
        bmp.extend_from_slice(&3000i32.to_le_bytes());
        bmp.extend_from_slice(&(-2000i32).to_le_bytes());
        assert_eq!(header_dimensions("bmp", &bmp), Some((3000, 2000)));
        assert_eq!(header_dimensions("png", b"short"), None);
        assert_eq!(header_dimensions("tiff", &bmp), None);
    }

    #[test]
    fn frames_apng_and_webp_counted() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&[0, 0, 0, 13]);
        png.extend_from_slice(b"IHDR");
        png.extend_from_slice(&[0; 17]);
        png.extend_from_slice(&[0, 0, 0, 8]);
        png.extend_from_slice(b"acTL");
        png.extend_from_slice(&70_000u32.to_be_bytes());
        png.extend_from_slice(&[0; 8]);
        assert_eq!(apng_frames(&png), 70_000);
        assert!(matches!(
            check("png", &png, &Limits::default()),
            Err(ImagingError::TooManyFrames { frames: 70_000, .. })
        ));
        assert_eq!(apng_frames(&png[..33]), 1);

        let mut webp = b"RIFF\0\0\0\0WEBP".to_vec();
        for _ in 0..3 {
            webp.extend_from_slice(b"ANMF");
            webp.extend_from_slice(&3u32.to_le_bytes());
            webp.extend_from_slice(&[0, 0, 0, 0]); // 3 bytes + pad
        }
        assert_eq!(webp_frames(&webp), 3);
        assert_eq!(webp_frames(b"RIFF\0\0\0\0WEBPVP8 "), 1);
    }
}
