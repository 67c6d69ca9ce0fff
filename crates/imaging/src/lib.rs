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
//!   parser [`parse_recipes`]
//!   (`thumb=300x300,jpeg,q82,max=20k;small=64x64,cover,webp`).
//! - [`limits`]: [`Limits`] on input bytes, pixels, side length, animation
//!   frames and decode memory.
//! - [`probe`](mod@probe): header-only [`probe()`] -> [`SourceInfo`]; rejects
//!   over-limit images before any pixel buffer exists.
//! - `frames`: cheap walks over GIF/APNG/WebP structure: frame counts and
//!   GIF frame sizes, before a decoder runs.
//! - `jpeg`: our JPEG decoder, which decodes straight to 1/2, 1/4 or 1/8
//!   size with a scaled IDCT and, at 1/8, reads only the DC scans of a
//!   progressive file; CMYK/YCCK Adobe JPEGs included.
//!   PNG, BMP and strip TIFF decode row by row (`stream`), lossy WebP
//!   macroblock row by macroblock row (`webp`, a fork of `image-webp`'s VP8
//!   decoder without the loop filter), all into the box reducer (`reduce`),
//!   so the full-size image never exists; everything else decodes whole with
//!   the `image` crate's codecs.
//! - [`geometry`]: [`fit_dimensions`], the fit math (round to nearest, min 1 px).
//! - `pixels`: normalising decoded images to 8-bit RGB/RGBA, alpha flattening.
//! - `colour`: embedded ICC profiles to sRGB with `moxcms`, CMYK to RGB.
//! - `resize`: SIMD resampling with `fast_image_resize` (Lanczos3, centre crop).
//! - `orient`: the 8 EXIF orientations, applied to the finished thumbnail.
//! - `encode`: JPEG / PNG / lossless WebP output; `max_bytes` by lowering
//!   JPEG quality.
//! - [`render`](mod@render): the entry point [`render()`] -> [`Rendered`], decode once
//!   (at the smallest JPEG scale every recipe allows), render every recipe.
//! - [`error`]: [`ImagingError`]; nothing in it is retryable.
//!
//! Memory: every decode is budgeted before it starts (`Limits::memory_budget`,
//! estimated from the header and the chosen scale); a 20-megapixel JPEG
//! thumbnailed to 300 px decodes at 1/8 and needs a few MiB besides its
//! own bytes.

#![deny(missing_docs)]

mod colour;
mod encode;
pub mod error;
mod frames;
pub mod geometry;
mod jpeg;
pub mod limits;
mod orient;
mod pixels;
pub mod probe;
pub mod recipe;
mod reduce;
pub mod render;
mod resize;
mod stream;
mod webp;

pub use error::ImagingError;
pub use geometry::fit_dimensions;
pub use limits::Limits;
pub use probe::{probe, SourceInfo};
pub use recipe::{parse_recipes, Fit, OutputFormat, Recipe};
pub use render::{render, Rendered};
