//! The one error type of the crate.
//!
//! Every variant describes bad input or a bad recipe: the same bytes and the
//! same recipe fail the same way every time, so nothing here is worth
//! retrying (see [`ImagingError::is_retryable`]). Messages name the thing that
//! is wrong and, where there is one, the knob that changes the outcome.

use thiserror::Error;

/// Why an image could not be probed or rendered.
///
/// The component maps every variant to a "reject" stage error: the caller
/// should record the failure and move on, not retry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImagingError {
    /// The encoded input is bigger than `Limits::max_input_bytes`; checked
    /// before looking at a single byte of it.
    #[error(
        "input is {bytes} bytes, over the limit of {max} bytes: raise max_input_bytes to accept it"
    )]
    InputTooLarge {
        /// Size of the input in bytes.
        bytes: u64,
        /// The configured `max_input_bytes`.
        max: u64,
    },

    /// The bytes are not an image format this engine decodes (jpeg, png,
    /// gif, webp, bmp, tiff); the text says what was seen instead.
    #[error("unsupported image format: {0}")]
    UnsupportedFormat(String),

    /// The header declares more pixels than `Limits::max_pixels`; rejected
    /// before any pixel buffer is allocated.
    #[error(
        "image is {width}x{height} = {} pixels, over the limit of {max_pixels}: raise max_pixels to accept it",
        u64::from(*width) * u64::from(*height)
    )]
    TooManyPixels {
        /// Stored width from the header.
        width: u32,
        /// Stored height from the header.
        height: u32,
        /// The configured `max_pixels`.
        max_pixels: u64,
    },

    /// The header declares a side longer than `Limits::max_side`; rejected
    /// before any pixel buffer is allocated.
    #[error("image is {width}x{height}, a side is over the limit of {max_side}: raise max_side to accept it")]
    SideTooLong {
        /// Stored width from the header.
        width: u32,
        /// Stored height from the header.
        height: u32,
        /// The configured `max_side`.
        max_side: u32,
    },

    /// An animation declares more frames than `Limits::max_frames`
    /// (counted from block and chunk headers before decoding; only the
    /// first frame would be rendered anyway).
    #[error("animation declares {frames} frames, over the limit of {max_frames}: raise max_frames to accept it")]
    TooManyFrames {
        /// Frames counted so far (counting stops just past the limit).
        frames: u64,
        /// The configured `max_frames`.
        max_frames: u32,
    },

    /// Decoding would need more memory than `Limits::memory_budget`,
    /// estimated from the header (size, colour type, decode scale) before
    /// any pixel buffer exists.
    #[error("decoding needs about {needed} bytes of memory, over the budget of {budget} bytes: raise memory_budget (or max_pixels for smaller images)")]
    OverMemoryBudget {
        /// Estimated bytes the decode and resize would allocate.
        needed: u64,
        /// The configured `memory_budget`.
        budget: u64,
    },

    /// A recipe's `max_bytes` cannot be met: even the lowest JPEG quality
    /// (or the lossless encoding, which has no quality knob) is bigger.
    #[error("recipe {recipe:?}: the smallest encoding is {bytes} bytes, over max_bytes {max_bytes}: raise max_bytes or shrink the box")]
    ThumbnailTooLarge {
        /// The recipe whose limit was missed.
        recipe: String,
        /// Size of the smallest encoding tried.
        bytes: u64,
        /// The recipe's `max_bytes`.
        max_bytes: u32,
    },

    /// The input claims a supported format but is truncated or corrupt.
    #[error("cannot decode image: {0}")]
    Decode(String),

    /// Producing the output failed (resizing or encoding); the message names
    /// the recipe.
    #[error("cannot produce thumbnail: {0}")]
    Encode(String),

    /// A recipe (or a recipe spec string) is malformed or asks for an output
    /// the limits forbid; the message names the bad part.
    #[error("invalid recipe: {0}")]
    InvalidRecipe(String),
}

impl ImagingError {
    /// Whether trying the same call again could succeed.
    ///
    /// Always `false`: every failure here comes from the input bytes or the
    /// recipe, and bad input never gets better. Exists so callers map errors
    /// to "reject" vs "retry" in one place instead of guessing per variant.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::InputTooLarge { .. }
            | Self::UnsupportedFormat(_)
            | Self::TooManyPixels { .. }
            | Self::SideTooLong { .. }
            | Self::TooManyFrames { .. }
            | Self::OverMemoryBudget { .. }
            | Self::ThumbnailTooLarge { .. }
            | Self::Decode(_)
            | Self::Encode(_)
            | Self::InvalidRecipe(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_never_retryable() {
        let all = [
            ImagingError::InputTooLarge { bytes: 2, max: 1 },
            ImagingError::UnsupportedFormat("x".into()),
            ImagingError::TooManyPixels {
                width: 2,
                height: 2,
                max_pixels: 1,
            },
            ImagingError::SideTooLong {
                width: 2,
                height: 2,
                max_side: 1,
            },
            ImagingError::TooManyFrames {
                frames: 2,
                max_frames: 1,
            },
            ImagingError::OverMemoryBudget {
                needed: 2,
                budget: 1,
            },
            ImagingError::ThumbnailTooLarge {
                recipe: "x".into(),
                bytes: 2,
                max_bytes: 1,
            },
            ImagingError::Decode("x".into()),
            ImagingError::Encode("x".into()),
            ImagingError::InvalidRecipe("x".into()),
        ];
        for err in all {
            assert!(!err.is_retryable(), "{err}");
        }
    }

    #[test]
    fn error_message_names_the_knob() {
        let err = ImagingError::TooManyPixels {
            width: 100_000,
            height: 100_000,
            max_pixels: 100_000_000,
        };
        let text = err.to_string();
        assert!(text.contains("10000000000 pixels"), "{text}");
        assert!(text.contains("max_pixels"), "{text}");
    }
}
