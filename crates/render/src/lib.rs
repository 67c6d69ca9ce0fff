//! The decisions behind `render-http`, thumbflow's synchronous thumbnail
//! endpoint: `POST /render?recipe=NAME=WxH,...` with an image as the body
//! answers the thumbnail itself. Everything here is plain Rust, tested
//! natively; the component (`components/render-http`) only moves bytes
//! between `wasi:http` and the thumbnail engine.
//!
//! Modules:
//! - [`request`]: which requests are renders, the recipe spec they ask for
//!   (the engine's `parse-recipes` syntax, [`DEFAULT_RECIPES`] when absent),
//!   the body limit and the image check before the engine runs;
//! - [`error`]: [`RenderError`], every way a render fails, with its HTTP
//!   status and JSON body; engine rejects are classified by
//!   [`error::classify`] into the pipeline's typed errors (415 not an
//!   image, 413 over a limit, 422 corrupt);
//! - [`answer`]: the response: one thumbnail as the body with its size
//!   headers, several as `multipart/mixed`.

#![deny(missing_docs)]

pub mod answer;
pub mod error;
pub mod request;

pub use answer::{answer, Answer, Thumbnail};
pub use error::{classify, ErrorKind, RenderError};
pub use request::{check_body, parse_request, RenderRequest};

/// The recipe rendered when the request names none: spin.toml's default
/// `recipes`, so `/render` and the pipeline make the same thumbnail.
pub const DEFAULT_RECIPES: &str = "thumb=300x300,jpeg,q68";

/// Largest request body accepted, in bytes: spin.toml's default
/// `max_object_bytes`, the largest original the pipeline takes.
pub const MAX_BODY_BYTES: u64 = 67_108_864;

/// The guards the engine checks before decoding (its `limits` record):
/// the pipeline's defaults, since render-http reads no Spin variables
/// (it imports nothing but WASI, so it runs on any `wasi:http` host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineLimits {
    /// Largest width × height, from the header (spin.toml's `max_pixels`).
    pub max_pixels: u64,
    /// Largest width or height (the thumbnailer's `MAX_SIDE`).
    pub max_side: u32,
    /// Largest encoded input, in bytes ([`MAX_BODY_BYTES`]).
    pub max_input_bytes: u64,
    /// Most frames an animation may declare (the thumbnailer's `MAX_FRAMES`).
    pub max_frames: u32,
    /// Most memory one decode may need (spin.toml's `max_decode_bytes`).
    pub memory_budget: u64,
}

/// The limits render-http gives the engine.
pub const LIMITS: EngineLimits = EngineLimits {
    max_pixels: 100_000_000,
    max_side: 16_384,
    max_input_bytes: MAX_BODY_BYTES,
    max_frames: 10_000,
    memory_budget: 402_653_184,
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The defaults here are spin.toml's, so the two cannot drift apart.
    #[test]
    fn defaults_are_spin_toml_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spin.toml");
        let manifest: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
        let default = |name: &str| {
            manifest["variables"][name]["default"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(default("recipes"), DEFAULT_RECIPES);
        assert_eq!(default("max_object_bytes"), MAX_BODY_BYTES.to_string());
        assert_eq!(default("max_pixels"), LIMITS.max_pixels.to_string());
        assert_eq!(
            default("max_decode_bytes"),
            LIMITS.memory_budget.to_string()
        );
    }
}
