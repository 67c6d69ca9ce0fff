//! Inverse DCT straight to a reduced size: an `n` x `n` block of output
//! samples (n = 8, 4, 2 or 1) from the low-frequency `n` x `n` corner of
//! the 8x8 coefficients, as libjpeg's scaled IDCT (`jidctred.c`) does.
//!
//! Each output sample is the full IDCT's low-frequency part evaluated at
//! the centre of the 8/n x 8/n source area it stands for; for n = 1 that
//! is the DC term, the exact mean of the block. Frequencies the smaller
//! grid cannot carry are dropped, which is the anti-aliasing filter.

use std::f32::consts::PI;

/// Basis tables for one output size.
pub(super) struct Idct {
    /// Samples per block side.
    n: usize,
    /// `basis[x * n + u] = C(u) / 2 * cos((2x + 1) u pi / 2n)`.
    basis: Vec<f32>,
}

impl Idct {
    pub(super) fn new(n: usize) -> Self {
        let mut basis = vec![0f32; n * n];
        for x in 0..n {
            for u in 0..n {
                let c = if u == 0 { 0.5f32.sqrt() } else { 1.0 };
                let angle = ((2 * x + 1) * u) as f32 * PI / (2 * n) as f32;
                basis[x * n + u] = 0.5 * c * angle.cos();
            }
        }
        Self { n, basis }
    }

    /// Samples per block side.
    pub(super) fn n(&self) -> usize {
        self.n
    }

    /// Transforms dequantized coefficients (natural order, 8x8, only the
    /// top-left `n` x `n` read) into `n` x `n` samples written to `out`
    /// at `offset`, rows `stride` apart, level-shifted and clamped.
    /// `ac` says whether any AC coefficient in that corner is non-zero; a
    /// flat block is just its DC value.
    #[inline]
    pub(super) fn run(
        &self,
        coefs: &[f32; 64],
        ac: bool,
        out: &mut [u8],
        offset: usize,
        stride: usize,
    ) {
        if !ac || self.n == 1 {
            let v = to_sample(coefs[0] / 8.0);
            for y in 0..self.n {
                let start = offset + y * stride;
                if let Some(line) = out.get_mut(start..start + self.n) {
                    line.fill(v);
                }
            }
            return;
        }
        match self.n {
            2 => self.run_n::<2>(coefs, out, offset, stride),
            4 => self.run_n::<4>(coefs, out, offset, stride),
            _ => self.run_n::<8>(coefs, out, offset, stride),
        }
    }

    /// The separable transform for one size; `N` constant so the loops
    /// unroll and vectorise.
    #[inline]
    fn run_n<const N: usize>(
        &self,
        coefs: &[f32; 64],
        out: &mut [u8],
        offset: usize,
        stride: usize,
    ) {
        let mut basis = [[0f32; N]; N];
        for (x, row) in basis.iter_mut().enumerate() {
            row.copy_from_slice(&self.basis[x * N..x * N + N]);
        }
        // Rows first: tmp[v][x] = sum_u F[v][u] * basis[x][u].
        let mut tmp = [[0f32; N]; N];
        for v in 0..N {
            let mut row = [0f32; N];
            row.copy_from_slice(&coefs[v * 8..v * 8 + N]);
            for x in 0..N {
                let mut s = 0.0;
                for u in 0..N {
                    s += row[u] * basis[x][u];
                }
                tmp[v][x] = s;
            }
        }
        // Then columns: out[y][x] = sum_v basis[y][v] * tmp[v][x].
        for (y, by) in basis.iter().enumerate() {
            let mut line = [0f32; N];
            for (b, t) in by.iter().zip(&tmp) {
                for (l, tv) in line.iter_mut().zip(t) {
                    *l += b * tv;
                }
            }
            let start = offset + y * stride;
            if let Some(dst) = out.get_mut(start..start + N) {
                for (d, v) in dst.iter_mut().zip(line) {
                    *d = to_sample(v);
                }
            }
        }
    }
}

/// Level shift (+128), round and clamp to a sample.
#[inline]
pub(super) fn to_sample(v: f32) -> u8 {
    // `as` saturates, so NaN and out-of-range values clamp.
    (v + 128.5).clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forward DCT as JPEG defines it, for checking the inverse.
    fn fdct(block: &[f32; 64]) -> [f32; 64] {
        let mut out = [0f32; 64];
        for v in 0..8 {
            for u in 0..8 {
                let cu = if u == 0 { 0.5f32.sqrt() } else { 1.0 };
                let cv = if v == 0 { 0.5f32.sqrt() } else { 1.0 };
                let mut s = 0.0;
                for y in 0..8 {
                    for x in 0..8 {
                        s += (block[y * 8 + x] - 128.0)
                            * (((2 * x + 1) * u) as f32 * PI / 16.0).cos()
                            * (((2 * y + 1) * v) as f32 * PI / 16.0).cos();
                    }
                }
                out[v * 8 + u] = 0.25 * cu * cv * s;
            }
        }
        out
    }

    fn sample_block() -> [f32; 64] {
        let mut b = [0f32; 64];
        for (i, p) in b.iter_mut().enumerate() {
            let (x, y) = ((i % 8) as f32, (i / 8) as f32);
            *p = 40.0 + 6.0 * x + 3.0 * y + if (x + y) % 3.0 == 0.0 { 4.0 } else { 0.0 };
        }
        b
    }

    #[test]
    fn idct_full_size_inverts_fdct() {
        let block = sample_block();
        let coefs = fdct(&block);
        let mut out = [0u8; 64];
        Idct::new(8).run(&coefs, true, &mut out, 0, 8);
        for (o, b) in out.iter().zip(block) {
            assert!((f32::from(*o) - b).abs() <= 1.0, "{o} vs {b}");
        }
    }

    #[test]
    fn idct_reduced_sizes_are_block_averages() {
        let block = sample_block();
        let coefs = fdct(&block);
        for n in [1usize, 2, 4] {
            let mut out = vec![0u8; n * n];
            Idct::new(n).run(&coefs, true, &mut out, 0, n);
            let k = 8 / n;
            for y in 0..n {
                for x in 0..n {
                    let mut mean = 0.0;
                    for yy in 0..k {
                        for xx in 0..k {
                            mean += block[(y * k + yy) * 8 + x * k + xx];
                        }
                    }
                    mean /= (k * k) as f32;
                    let got = f32::from(out[y * n + x]);
                    // Smooth content: the reduced IDCT is close to the mean.
                    assert!(
                        (got - mean).abs() <= 6.0,
                        "n={n} ({x},{y}): {got} vs {mean}"
                    );
                }
            }
        }
        let mut dc = [0u8; 1];
        Idct::new(1).run(&coefs, false, &mut dc, 0, 1);
        let mean = block.iter().sum::<f32>() / 64.0;
        assert!((f32::from(dc[0]) - mean).abs() <= 0.5);
    }
}
