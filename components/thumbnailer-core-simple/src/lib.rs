//! A second thumbnail engine, written the plainest way: the `image` crate
//! alone (its decoders, EXIF orientation, a Triangle-filter resize, its JPEG
//! and PNG encoders). It exports the same `thumbflow:pipeline/thumbnail@0.1.0`
//! as `thumbnailer-core` and imports only WASI, so changing one line of
//! `spin.toml` runs the pipeline on it (docs/swap-a-component.md, checked by
//! `tests/swap_engine.rs`).
//!
//! It exists to prove the port, not to replace the default engine, which
//! decodes large JPEGs at a reduced scale, bounds its memory and handles
//! colour profiles: recipes here support `NAME=WxH[,jpeg|png][,qNN]
//! [,inside|cover|exact][,upscale][,vN]`; anything else is a reject naming it.

use std::io::Cursor;

use bindings::exports::thumbflow::pipeline::thumbnail::{
    FitMode, Guest, ImageFormat, Limits, Recipe, Rendered, SourceInfo, StageError,
};
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder as _, ImageReader};

mod bindings {
    //! Generated bindings; wit-bindgen's output needs `unsafe`, nothing else here does.
    #![allow(unsafe_code)]
    wit_bindgen::generate!({ world: "thumbnailer-core", path: "../../wit" });
    use super::Engine;
    export!(Engine);
}

/// The recipes when the app configures none.
const DEFAULT_RECIPES: &str = "thumb=300x300,jpeg,q68";

struct Engine;

fn reject(message: impl Into<String>) -> StageError {
    StageError::Reject(message.into())
}

fn parse_recipe(item: &str) -> Result<Recipe, StageError> {
    let (name, rest) = item
        .split_once('=')
        .ok_or_else(|| reject(format!("recipe {item:?}: expected NAME=WxH[,options]")))?;
    let mut parts = rest.split(',').map(str::trim);
    let size = parts.next().unwrap_or_default();
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|(w, h)| (1..=4096).contains(w) && (1..=4096).contains(h))
        .ok_or_else(|| {
            reject(format!(
                "recipe {name}: size {size:?} is not WxH within 1..=4096"
            ))
        })?;
    let mut recipe = Recipe {
        name: name.trim().to_owned(),
        version: 1,
        width: w,
        height: h,
        fit: FitMode::Inside,
        format: ImageFormat::Jpeg,
        quality: 90,
        upscale: false,
        background: 0x00ff_ffff,
        max_bytes: None,
    };
    for option in parts {
        match option {
            "jpeg" | "jpg" => recipe.format = ImageFormat::Jpeg,
            "png" => recipe.format = ImageFormat::Png,
            "inside" => recipe.fit = FitMode::Inside,
            "cover" => recipe.fit = FitMode::Cover,
            "exact" => recipe.fit = FitMode::Exact,
            "upscale" => recipe.upscale = true,
            q if q.starts_with('q')
                && q[1..].parse::<u8>().is_ok_and(|q| (1..=100).contains(&q)) =>
            {
                recipe.quality = q[1..].parse().unwrap_or(90);
            }
            v if v.starts_with('v') && v[1..].parse::<u32>().is_ok() => {
                recipe.version = v[1..].parse().unwrap_or(1);
            }
            other => {
                return Err(reject(format!(
                    "recipe {name}: option {other:?} is not supported by the simple engine"
                )))
            }
        }
    }
    Ok(recipe)
}

/// The image's reader, after the size checks `limits` ask for.
fn reader<'a>(
    image: &'a [u8],
    limits: &Limits,
) -> Result<ImageReader<Cursor<&'a [u8]>>, StageError> {
    if image.len() as u64 > limits.max_input_bytes {
        return Err(reject(format!(
            "image of {} bytes is over max_input_bytes {}",
            image.len(),
            limits.max_input_bytes
        )));
    }
    ImageReader::new(Cursor::new(image))
        .with_guessed_format()
        .map_err(|e| reject(format!("unreadable image: {e}")))
}

fn check_size(width: u32, height: u32, limits: &Limits) -> Result<(), StageError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width.max(height) > limits.max_side {
        return Err(reject(format!(
            "image of {width}x{height} is over the limits ({} pixels, {} per side)",
            limits.max_pixels, limits.max_side
        )));
    }
    // RGBA8 pixels, twice (decode and orientation).
    if pixels.saturating_mul(8) > limits.memory_budget {
        return Err(reject(format!(
            "image of {width}x{height} would need more than the memory budget of {} bytes",
            limits.memory_budget
        )));
    }
    Ok(())
}

/// Alpha over `background` (0xRRGGBB), for JPEG.
fn flatten(image: &DynamicImage, background: u32) -> image::RgbImage {
    let [_, br, bg, bb] = background.to_be_bytes();
    let rgba = image.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let mix = |c: u8, under: u8| {
            ((u32::from(c) * u32::from(a) + u32::from(under) * (255 - u32::from(a)) + 127) / 255)
                as u8
        };
        image::Rgb([mix(r, br), mix(g, bg), mix(b, bb)])
    })
}

fn render_one(source: &DynamicImage, recipe: &Recipe) -> Result<Rendered, StageError> {
    let (w, h) = (source.width(), source.height());
    let fits = w <= recipe.width && h <= recipe.height;
    let resized = match recipe.fit {
        FitMode::Inside if fits && !recipe.upscale => source.clone(),
        FitMode::Inside => source.resize(recipe.width, recipe.height, FilterType::Triangle),
        FitMode::Cover => source.resize_to_fill(recipe.width, recipe.height, FilterType::Triangle),
        FitMode::Exact => source.resize_exact(recipe.width, recipe.height, FilterType::Triangle),
    };
    let mut bytes = Vec::new();
    let content_type = match recipe.format {
        ImageFormat::Jpeg => {
            let rgb = flatten(&resized, recipe.background);
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, recipe.quality)
                .encode_image(&rgb)
                .map_err(|e| reject(format!("encoding JPEG: {e}")))?;
            "image/jpeg"
        }
        ImageFormat::Png => {
            resized
                .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
                .map_err(|e| reject(format!("encoding PNG: {e}")))?;
            "image/png"
        }
        ImageFormat::Webp => return Err(reject("the simple engine writes no WebP")),
    };
    Ok(Rendered {
        recipe: recipe.name.clone(),
        recipe_version: recipe.version,
        width: resized.width(),
        height: resized.height(),
        format: recipe.format,
        content_type: content_type.to_owned(),
        bytes,
    })
}

impl Guest for Engine {
    fn parse_recipes(spec: String) -> Result<Vec<Recipe>, StageError> {
        let spec = if spec.trim().is_empty() {
            DEFAULT_RECIPES
        } else {
            spec.as_str()
        };
        spec.split(';')
            .filter(|item| !item.trim().is_empty())
            .map(parse_recipe)
            .collect()
    }

    fn probe(image: Vec<u8>, limits: Limits) -> Result<SourceInfo, StageError> {
        let reader = reader(&image, &limits)?;
        let format = reader
            .format()
            .map(|f| {
                f.extensions_str()
                    .first()
                    .copied()
                    .unwrap_or("image")
                    .to_owned()
            })
            .ok_or_else(|| reject("not an image format the simple engine reads"))?;
        let mut decoder = reader
            .into_decoder()
            .map_err(|e| reject(format!("unreadable image: {e}")))?;
        let (width, height) = decoder.dimensions();
        check_size(width, height, &limits)?;
        let orientation = decoder.orientation().map(|o| o.to_exif()).unwrap_or(1);
        Ok(SourceInfo {
            format,
            width,
            height,
            orientation,
        })
    }

    fn render(
        image: Vec<u8>,
        recipes: Vec<Recipe>,
        limits: Limits,
    ) -> Result<Vec<Rendered>, StageError> {
        let mut decoder = reader(&image, &limits)?
            .into_decoder()
            .map_err(|e| reject(format!("unreadable image: {e}")))?;
        let (width, height) = decoder.dimensions();
        check_size(width, height, &limits)?;
        let orientation = decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut source = DynamicImage::from_decoder(decoder)
            .map_err(|e| reject(format!("cannot decode the image: {e}")))?;
        source.apply_orientation(orientation);
        recipes.iter().map(|r| render_one(&source, r)).collect()
    }
}
