//! Guards against hostile or oversized input.
//!
//! Every check here runs on numbers read from the header, before a pixel
//! buffer exists: a 100-byte PNG that claims to be 100000x100000 is rejected
//! without allocating 40 GB.

use crate::error::ImagingError;

/// Headroom on top of the largest decoded frame that codecs may allocate for
/// their own work (row buffers, LZW tables, ICC profiles, ...).
const CODEC_HEADROOM_BYTES: u64 = 64 * 1024 * 1024;

/// Worst-case bytes per decoded pixel (16-bit RGBA).
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// Limits an input must meet before it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest width × height accepted, read from the header before decoding;
    /// bounds the memory one decode can take.
    pub max_pixels: u64,
    /// Largest width or height accepted; stops "1 × 10⁹" strips that pass
    /// `max_pixels` but still blow up per-row buffers.
    pub max_side: u32,
    /// Largest encoded input accepted, in bytes; checked before parsing.
    pub max_input_bytes: u64,
    /// Most frames an animated input may declare (only the first is
    /// rendered); counted from container headers before decoding, so a GIF
    /// of a million frames is turned away in microseconds.
    pub max_frames: u32,
    /// Most memory a decode and resize may need, in bytes, estimated from
    /// the header and the chosen decode scale before anything is
    /// allocated; also the `image` decoders' allocation cap. Keep it below
    /// the memory limit of the instance (with room for the input itself),
    /// so over-budget input is a typed error instead of a trap.
    pub memory_budget: u64,
}

impl Default for Limits {
    /// 100 megapixels, 16384 px per side, 64 MiB of input, 10000 frames
    /// and a 1 GiB memory budget: room for any camera photo, far below
    /// what a wasm instance can address.
    fn default() -> Self {
        Self {
            max_pixels: 100_000_000,
            max_side: 16_384,
            max_input_bytes: 64 * 1024 * 1024,
            max_frames: 10_000,
            memory_budget: 1 << 30,
        }
    }
}

impl Limits {
    /// Rejects input whose encoded size is over `max_input_bytes`.
    pub(crate) fn check_input_len(&self, len: usize) -> Result<(), ImagingError> {
        let bytes = u64::try_from(len).unwrap_or(u64::MAX);
        if bytes > self.max_input_bytes {
            return Err(ImagingError::InputTooLarge {
                bytes,
                max: self.max_input_bytes,
            });
        }
        Ok(())
    }

    /// Rejects header dimensions over `max_side` or `max_pixels`.
    pub(crate) fn check_dimensions(&self, width: u32, height: u32) -> Result<(), ImagingError> {
        if width > self.max_side || height > self.max_side {
            return Err(ImagingError::SideTooLong {
                width,
                height,
                max_side: self.max_side,
            });
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(ImagingError::TooManyPixels {
                width,
                height,
                max_pixels: self.max_pixels,
            });
        }
        Ok(())
    }

    /// Rejects a decode whose estimated memory is over `memory_budget`.
    pub(crate) fn check_memory(&self, needed: u64) -> Result<(), ImagingError> {
        if needed > self.memory_budget {
            return Err(ImagingError::OverMemoryBudget {
                needed,
                budget: self.memory_budget,
            });
        }
        Ok(())
    }

    /// The `image` crate limits matching these: strict width/height caps and
    /// an allocation budget of the largest frame we accept at 16-bit RGBA
    /// plus codec headroom.
    pub(crate) fn decoder_limits(&self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.max_side);
        limits.max_image_height = Some(self.max_side);
        limits.max_alloc = Some(self.alloc_budget().min(self.memory_budget));
        limits
    }

    /// The allocation budget alone, for opening a decoder before its
    /// dimensions are known (so they can be reported as typed errors, not
    /// as a codec's "memory limit exceeded"); not capped by the memory
    /// budget, which is checked on the estimate right after.
    pub(crate) fn alloc_only_limits(&self) -> image::Limits {
        let mut limits = image::Limits::no_limits();
        limits.max_alloc = Some(self.alloc_budget());
        limits
    }

    fn alloc_budget(&self) -> u64 {
        self.max_pixels
            .saturating_mul(MAX_BYTES_PER_PIXEL)
            .saturating_add(CODEC_HEADROOM_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_values() {
        let l = Limits::default();
        assert_eq!(l.max_pixels, 100_000_000);
        assert_eq!(l.max_side, 16_384);
        assert_eq!(l.max_input_bytes, 64 * 1024 * 1024);
        assert_eq!(l.max_frames, 10_000);
        assert_eq!(l.memory_budget, 1 << 30);
        assert!(l.check_memory(1 << 30).is_ok());
        assert_eq!(
            l.check_memory((1 << 30) + 1),
            Err(ImagingError::OverMemoryBudget {
                needed: (1 << 30) + 1,
                budget: 1 << 30
            })
        );
    }

    #[test]
    fn limits_side_checked_before_pixels() {
        let l = Limits {
            max_pixels: 100,
            max_side: 50,
            max_input_bytes: 10,
            ..Limits::default()
        };
        assert!(l.check_dimensions(50, 2).is_ok());
        assert!(l.check_dimensions(10, 10).is_ok());
        assert!(matches!(
            l.check_dimensions(51, 1),
            Err(ImagingError::SideTooLong {
                width: 51,
                height: 1,
                max_side: 50
            })
        ));
        assert!(matches!(
            l.check_dimensions(11, 10),
            Err(ImagingError::TooManyPixels {
                width: 11,
                height: 10,
                max_pixels: 100
            })
        ));
        assert!(l.check_input_len(10).is_ok());
        assert!(matches!(
            l.check_input_len(11),
            Err(ImagingError::InputTooLarge { bytes: 11, max: 10 })
        ));
    }

    #[test]
    fn limits_decoder_budget_saturates() {
        let l = Limits {
            max_pixels: u64::MAX,
            memory_budget: u64::MAX,
            ..Limits::default()
        };
        assert_eq!(l.decoder_limits().max_alloc, Some(u64::MAX));
        let d = Limits::default().decoder_limits();
        assert_eq!(d.max_image_width, Some(16_384));
        assert_eq!(d.max_alloc, Some(800_000_000 + 64 * 1024 * 1024));
        // The memory budget caps the codecs' allocations too.
        let tight = Limits {
            memory_budget: 100 << 20,
            ..Limits::default()
        };
        assert_eq!(tight.decoder_limits().max_alloc, Some(100 << 20));
    }
}
