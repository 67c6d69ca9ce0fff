//! Generators of hostile inputs: small files whose headers lie about what
//! decoding them would take. Plain std code, so the host's wasm tests
//! (`crates/host/tests/hostile_images.rs`) include this same file.

#![allow(dead_code)] // each test binary uses a different subset

/// CRC-32 (IEEE), as PNG chunks need.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Appends one PNG chunk.
pub fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A PNG whose header claims `width` x `height` 8-bit RGB and whose one
/// IDAT chunk is `idat`.
pub fn png_with_idat(width: u32, height: u32, idat: &[u8]) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(&mut png, b"IDAT", idat);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// The same PNG with its header saying Adam7-interlaced (IHDR CRC fixed):
/// interlaced PNGs cannot be decoded a row at a time, so the engine budgets
/// them as whole images.
pub fn png_interlaced(png: &[u8]) -> Vec<u8> {
    let mut out = png.to_vec();
    // Signature (8), IHDR length and type (8), then width, height, depth,
    // colour, compression, filter, interlace: the flag is byte 28.
    out[28] = 1;
    let crc = crc32(&out[12..29]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}

/// A structurally valid PNG of a few dozen bytes whose header claims
/// `width` x `height` RGB pixels; its IDAT is empty, so any attempt to
/// decode pixels fails with a decode error.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    png_with_idat(width, height, &[])
}

/// A PNG bomb: `width` x `height` RGB whose IDAT is a zlib stream that
/// inflates to `inflated` zero bytes (1 KiB of file per ~160 KiB of
/// output), so the header, not the file size, tells the true cost.
/// `inflated` equal to `height * (1 + 3 * width)` is exactly a black image.
pub fn png_zero_bomb(width: u32, height: u32, inflated: u64) -> Vec<u8> {
    png_with_idat(width, height, &zlib_zeros(inflated))
}

/// A zlib stream of `n` zero bytes: one fixed-Huffman deflate block of a
/// literal 0 followed by length-258, distance-1 matches (13 bits each).
pub fn zlib_zeros(n: u64) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.bits(1, 1); // BFINAL
    w.bits(1, 2); // BTYPE = 01, fixed Huffman
    let mut left = n;
    if left > 0 {
        w.huffman(0b0011_0000, 8); // literal 0
        left -= 1;
    }
    while left >= 258 {
        w.huffman(0b1100_0101, 8); // length code 285 = 258
        w.huffman(0, 5); // distance code 0 = 1
        left -= 258;
    }
    for _ in 0..left {
        w.huffman(0b0011_0000, 8);
    }
    w.huffman(0, 7); // end of block (256)
    let mut out = vec![0x78, 0x01];
    out.extend(w.finish());
    // Adler-32 of n zeros: a stays 1, b adds 1 per byte.
    let b = u32::try_from(n % 65_521).unwrap_or(0);
    out.extend_from_slice(&((b << 16) | 1).to_be_bytes());
    out
}

/// Deflate's LSB-first bit packing.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// Writes `count` bits of `value`, least significant first.
    fn bits(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// Writes a Huffman code, which deflate stores most significant first.
    fn huffman(&mut self, code: u32, len: u32) {
        let reversed = code.reverse_bits() >> (32 - len);
        self.bits(reversed, len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// A GIF header claiming a `width` x `height` screen and frame, with no
/// image data.
pub fn gif_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0, 0, 0]); // no global palette
    gif.push(0x2C); // image descriptor
    gif.extend_from_slice(&[0, 0, 0, 0]);
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.push(0);
    gif.extend_from_slice(&[2, 0, 0x3B]);
    gif
}

/// A valid animated GIF of `frames` 1x1 frames (about 20 bytes each).
pub fn gif_with_frames(frames: usize) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[1, 0, 1, 0, 0x80, 0, 0]); // 1x1 screen, 2-colour table
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00");
    for _ in 0..frames {
        gif.extend_from_slice(&[0x21, 0xF9, 4, 0, 10, 0, 0, 0]); // 0.1 s
        gif.push(0x2C);
        gif.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0, 0]);
        gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]);
    }
    gif.push(0x3B);
    gif
}

/// `jpeg` with an APP1 segment carrying `payload` inserted after SOI. The
/// length field is `declared` if given (to make it lie), else the truth.
pub fn jpeg_with_app1(jpeg: &[u8], payload: &[u8], declared: Option<u16>) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    let len = declared.unwrap_or_else(|| u16::try_from(payload.len() + 2).unwrap_or(u16::MAX));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// EXIF payloads that must not matter: junk, an IFD claiming 65535
/// entries, offsets pointing far outside, an orientation of 200, an IFD
/// that points at itself.
pub fn garbage_exif_payloads() -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    // Not TIFF at all.
    payloads.push(b"Exif\0\0\x13\x37garbage garbage garbage".to_vec());
    // Little-endian TIFF, IFD at offset 8 claiming 65535 entries.
    let mut many = b"Exif\0\0II\x2A\0\x08\0\0\0".to_vec();
    many.extend_from_slice(&[0xFF, 0xFF]);
    many.extend_from_slice(&[0x12, 0x01, 0x03, 0x00]);
    payloads.push(many);
    // IFD offset far past the end.
    payloads.push(b"Exif\0\0MM\0\x2A\xFF\xFF\xFF\xF0".to_vec());
    // Orientation entry with value 200.
    let mut bad_value = b"Exif\0\0MM\0\x2A\0\0\0\x08\0\x01".to_vec();
    bad_value.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0, 200, 0, 0]);
    bad_value.extend_from_slice(&[0, 0, 0, 0]);
    payloads.push(bad_value);
    // Next-IFD pointer pointing back at the same IFD (a loop).
    let mut looped = b"Exif\0\0II\x2A\0\x08\0\0\0\x00\x00".to_vec();
    looped.extend_from_slice(&8u32.to_le_bytes());
    payloads.push(looped);
    payloads
}

/// A deterministic pseudo-random generator for mutation tests.
pub struct Lcg(pub u64);

impl Lcg {
    /// Next value in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// `bytes` with a few random bytes overwritten, a random span deleted or
/// the tail cut, chosen by `rng`.
pub fn mutate(bytes: &[u8], rng: &mut Lcg) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match rng.below(3) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(out.len());
                out[i] = rng.below(256) as u8;
            }
        }
        1 => {
            let start = rng.below(out.len());
            let end = (start + 1 + rng.below(64)).min(out.len());
            out.drain(start..end);
        }
        _ => out.truncate(rng.below(out.len()).max(1)),
    }
    out
}
