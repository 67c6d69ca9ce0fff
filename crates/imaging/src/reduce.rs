//! Integer box reduction fed one row at a time, so a decoder that produces
//! rows never holds the full-size image.
//!
//! A 300 px thumbnail of a 2560x1600 PNG needs at most 600 px of it
//! (Lanczos is given a 2x margin, as Pillow's `reducing_gap` does): the
//! decoder pushes each decoded row into a [`Reducer`], which adds it to one
//! band of column sums and emits an output row every `ky` rows. Memory is
//! the reduced image plus a row of sums; the 16-bit PNG of the corpus went
//! from 39.8 MiB of linear memory (full 16-bit image, then an 8-bit copy)
//! to a few MiB, and the work per source sample is one add.
//!
//! Colour is weighted by alpha (premultiplied sums), so colour under
//! transparent pixels never bleeds into the average; an image whose alpha
//! turns out fully opaque comes out as RGB.

use image::{RgbImage, RgbaImage};

use crate::pixels::Pixels;

/// A reduced image and the size of the source in its pixels (fractional
/// when the last block of a row or column was partial), which the resize
/// step uses to map the source exactly.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reduced {
    pub pixels: Pixels,
    pub extent: (f64, f64),
}

impl Reduced {
    /// Pixels that stand for themselves (no reduction).
    pub(crate) fn whole(pixels: Pixels) -> Self {
        let (w, h) = pixels.dimensions();
        Self {
            pixels,
            extent: (f64::from(w), f64::from(h)),
        }
    }
}

/// Averages `kx` x `ky` blocks of rows pushed in order; partial blocks at
/// the right and bottom edges average what they have.
pub(crate) struct Reducer {
    width: usize,
    height: usize,
    kx: usize,
    ky: usize,
    alpha: bool,
    /// Column sums of the current band: per sample for RGB; colour times
    /// alpha, and alpha, for RGBA.
    column: Vec<u32>,
    /// Rows added to the current band.
    band_rows: usize,
    /// Rows pushed so far.
    rows: usize,
    /// Every alpha sample pushed was 255.
    opaque: bool,
    out: Vec<u8>,
}

impl Reducer {
    /// A reducer for a `width` x `height` source of packed RGB (or RGBA if
    /// `alpha`) rows, by `kx` x `ky` (each at least 1).
    pub(crate) fn new(width: u32, height: u32, kx: u32, ky: u32, alpha: bool) -> Self {
        let (width, height) = (width as usize, height as usize);
        let (kx, ky) = ((kx as usize).max(1), (ky as usize).max(1));
        let ch = if alpha { 4 } else { 3 };
        let (ow, oh) = (width.div_ceil(kx), height.div_ceil(ky));
        Self {
            width,
            height,
            kx,
            ky,
            alpha,
            column: vec![0; width * ch],
            band_rows: 0,
            rows: 0,
            opaque: true,
            out: Vec::with_capacity(ow * oh * ch),
        }
    }

    /// Bytes this reducer allocates, for memory budgets.
    pub(crate) fn memory(width: u32, height: u32, kx: u32, ky: u32, alpha: bool) -> u64 {
        let ch: u64 = if alpha { 4 } else { 3 };
        let (w, h) = (u64::from(width), u64::from(height));
        let (kx, ky) = (u64::from(kx.max(1)), u64::from(ky.max(1)));
        w * ch * 4 + w.div_ceil(kx) * h.div_ceil(ky) * ch
    }

    /// Adds the next source row (`width` pixels of RGB, or RGBA); extra
    /// bytes are ignored, a short row counts as far as it goes, rows past
    /// the height are ignored.
    pub(crate) fn push(&mut self, row: &[u8]) {
        if self.rows >= self.height {
            return;
        }
        if self.alpha {
            self.opaque &= add_premultiplied(&mut self.column, row);
        } else {
            add_row(&mut self.column, row);
        }
        self.rows += 1;
        self.band_rows += 1;
        if self.band_rows == self.ky || self.rows == self.height {
            self.emit();
        }
    }

    /// Emits the output row of the current band and starts the next.
    fn emit(&mut self) {
        let rows = self.band_rows as u64;
        if self.alpha {
            for block in self.column.chunks(self.kx * 4) {
                let n = (block.len() / 4) as u64 * rows;
                let mut sum = [0u64; 4];
                for px in block.chunks_exact(4) {
                    for (s, &v) in sum.iter_mut().zip(px) {
                        *s += u64::from(v);
                    }
                }
                let alpha = sum[3];
                for s in &sum[..3] {
                    self.out
                        .push(if alpha == 0 { 0 } else { div_round(*s, alpha) });
                }
                self.out.push(div_round(alpha, n));
            }
        } else {
            for block in self.column.chunks(self.kx * 3) {
                let n = (block.len() / 3) as u64 * rows;
                let mut rgb = [0u64; 3];
                for px in block.chunks_exact(3) {
                    rgb[0] += u64::from(px[0]);
                    rgb[1] += u64::from(px[1]);
                    rgb[2] += u64::from(px[2]);
                }
                self.out.extend(rgb.map(|s| div_round(s, n)));
            }
        }
        self.column.fill(0);
        self.band_rows = 0;
    }

    /// The reduced image; rows never pushed are black (transparent).
    pub(crate) fn finish(mut self) -> Reduced {
        while self.rows < self.height {
            let zero = vec![0u8; self.width * if self.alpha { 4 } else { 3 }];
            self.opaque = false;
            self.push(&zero);
        }
        let (ow, oh) = (
            self.width.div_ceil(self.kx) as u32,
            self.height.div_ceil(self.ky) as u32,
        );
        let extent = (
            self.width as f64 / self.kx as f64,
            self.height as f64 / self.ky as f64,
        );
        let pixels = if !self.alpha {
            RgbImage::from_raw(ow, oh, self.out).map(Pixels::Rgb)
        } else if self.opaque {
            let rgb: Vec<u8> = self
                .out
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            RgbImage::from_raw(ow, oh, rgb).map(Pixels::Rgb)
        } else {
            RgbaImage::from_raw(ow, oh, self.out).map(Pixels::Rgba)
        };
        Reduced {
            // The buffer is built to size; an empty image is the only way
            // `from_raw` could refuse, and it cannot happen here.
            pixels: pixels.unwrap_or_else(|| Pixels::Rgb(RgbImage::new(ow, oh))),
            extent,
        }
    }
}

/// `column[i] += row[i]`: the hot loop of the RGB box step (one add per
/// source sample). An index loop over equal-length slices: bounds checks
/// are hoisted and it vectorises.
fn add_row(column: &mut [u32], row: &[u8]) {
    let n = column.len().min(row.len());
    let (column, row) = (&mut column[..n], &row[..n]);
    for (c, &r) in column.iter_mut().zip(row) {
        *c += u32::from(r);
    }
}

/// `column += premultiplied(row)` for RGBA (colour times alpha, and
/// alpha); returns whether every alpha was 255.
fn add_premultiplied(column: &mut [u32], row: &[u8]) -> bool {
    let n = column.len().min(row.len()) / 4 * 4;
    let (column, row) = (&mut column[..n], &row[..n]);
    let mut opaque = true;
    for (c, p) in column.chunks_exact_mut(4).zip(row.chunks_exact(4)) {
        let a = u32::from(p[3]);
        opaque &= p[3] == u8::MAX;
        c[0] += u32::from(p[0]) * a;
        c[1] += u32::from(p[1]) * a;
        c[2] += u32::from(p[2]) * a;
        c[3] += a;
    }
    opaque
}

/// `n / d` rounded to nearest, as a channel value (`n / d` is at most 255).
fn div_round(n: u64, d: u64) -> u8 {
    u8::try_from((n + d / 2) / d.max(1)).unwrap_or(u8::MAX)
}

/// Reduces a whole image (the path for decoders that only give whole
/// images).
pub(crate) fn reduce(src: Pixels, kx: u32, ky: u32) -> Reduced {
    if kx <= 1 && ky <= 1 {
        return Reduced::whole(src);
    }
    let (w, h) = src.dimensions();
    let (raw, alpha) = match &src {
        Pixels::Rgb(img) => (img.as_raw(), false),
        Pixels::Rgba(img) => (img.as_raw(), true),
    };
    let stride = w as usize * if alpha { 4 } else { 3 };
    let mut reducer = Reducer::new(w, h, kx, ky, alpha);
    for row in raw.chunks_exact(stride.max(1)) {
        reducer.push(row);
    }
    reducer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, Rgba};

    #[test]
    fn reduce_averages_blocks_and_edges() {
        // 5x3 RGB, factor 2x2: blocks of 4, 2 (right column), 2 (bottom
        // row) and 1 pixel.
        let src = RgbImage::from_fn(5, 3, |x, y| {
            let v = u8::try_from(10 * (y * 5 + x)).unwrap();
            Rgb([v, 0, 255])
        });
        let out = reduce(Pixels::Rgb(src), 2, 2);
        assert_eq!(out.extent, (2.5, 1.5));
        let Pixels::Rgb(out) = out.pixels else {
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
    fn reduce_weights_colour_by_alpha() {
        let mut src = RgbaImage::from_pixel(2, 1, Rgba([0, 255, 0, 0]));
        src.put_pixel(0, 0, Rgba([200, 0, 0, 100]));
        let Pixels::Rgba(out) = reduce(Pixels::Rgba(src), 2, 1).pixels else {
            panic!("alpha lost");
        };
        assert_eq!(out.get_pixel(0, 0), &Rgba([200, 0, 0, 50]));
        let clear = RgbaImage::from_pixel(2, 2, Rgba([9, 9, 9, 0]));
        let Pixels::Rgba(out) = reduce(Pixels::Rgba(clear), 2, 2).pixels else {
            panic!("alpha lost");
        };
        assert_eq!(out.get_pixel(0, 0), &Rgba([0, 0, 0, 0]));
    }

    #[test]
    fn reduce_opaque_rgba_becomes_rgb() {
        let src = RgbaImage::from_pixel(4, 4, Rgba([1, 2, 3, 255]));
        let out = reduce(Pixels::Rgba(src), 2, 2);
        assert_eq!(
            out.pixels,
            Pixels::Rgb(RgbImage::from_pixel(2, 2, Rgb([1, 2, 3])))
        );
    }

    #[test]
    fn reduce_missing_rows_are_transparent() {
        let mut r = Reducer::new(2, 4, 1, 2, false);
        r.push(&[10; 6]);
        r.push(&[30; 6]);
        let Pixels::Rgb(out) = r.finish().pixels else {
            panic!("alpha appeared");
        };
        assert_eq!(out.as_raw(), &[20, 20, 20, 20, 20, 20, 0, 0, 0, 0, 0, 0]);
    }
}
