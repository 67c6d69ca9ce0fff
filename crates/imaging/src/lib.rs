//! thumbflow's thumbnail engine: image bytes in, thumbnails out.
//!
//! A plain Rust library with no wasm or bindings dependency, so every
//! decision is tested natively; the thumbnailer component is a thin wrapper
//! that converts WIT types (`wit/thumbnail.wit`) and calls [`render()`].
//!
//! The default recipe reproduces the classic AWS Lambda + Pillow thumbnail
//! (inside 300x300, aspect kept, never upscaled, JPEG) and fixes what that
//! code got wrong: EXIF orientation, alpha, palette/gray/16-bit/CMYK inputs,
//! animated GIFs, and decompression bombs.
//!
//! Modules, in pipeline order:
//! - [`recipe`]: [`Recipe`], [`Fit`], [`OutputFormat`] and the compact spec
//!   parser [`parse_recipes`] (`thumb=300x300,jpeg,q82;small=64x64,cover,webp`).
//! - [`limits`]: [`Limits`] on input bytes, pixels and side length.
//! - [`probe`](mod@probe): header-only [`probe()`] -> [`SourceInfo`]; rejects over-limit
//!   images before any pixel buffer exists.
//! - [`geometry`]: [`fit_dimensions`], the fit math (round to nearest, min 1 px).
//! - `orient`: the 8 EXIF orientations, applied to the finished thumbnail.
//! - `pixels`: normalising decoded images to 8-bit RGB/RGBA, alpha flattening.
//! - `resize`: SIMD resampling with `fast_image_resize` (Lanczos3, centre crop).
//! - `encode`: JPEG / PNG / lossless WebP output.
//! - [`render`](mod@render): the entry point [`render()`] -> [`Rendered`], decode once,
//!   render every recipe.
//! - [`error`]: [`ImagingError`]; nothing in it is retryable.

#![deny(missing_docs)]

mod encode;
pub mod error;
pub mod geometry;
pub mod limits;
mod orient;
mod pixels;
pub mod probe;
pub mod recipe;
pub mod render;
mod resize;

pub use error::ImagingError;
pub use geometry::fit_dimensions;
pub use limits::Limits;
pub use probe::{probe, SourceInfo};
pub use recipe::{parse_recipes, Fit, OutputFormat, Recipe};
pub use render::{render, Rendered};
