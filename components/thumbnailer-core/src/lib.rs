//! The thumbnail engine as a portable component.
//!
//! Exports `thumbflow:pipeline/thumbnail@0.1.0` and imports only WASI; all
//! logic lives in `thumbflow-imaging`, this crate converts types.

use bindings::exports::thumbflow::pipeline::thumbnail::{
    FitMode, Guest, ImageFormat, Limits, Recipe, Rendered, SourceInfo, StageError,
};
use thumbflow_imaging as imaging;

mod bindings {
    //! Generated bindings; wit-bindgen's output needs `unsafe`, nothing else here does.
    #![allow(unsafe_code)]
    wit_bindgen::generate!({ world: "thumbnailer-core", path: "../../wit" });
    use super::Engine;
    export!(Engine);
}

struct Engine;

impl Guest for Engine {
    fn parse_recipes(spec: String) -> Result<Vec<Recipe>, StageError> {
        let recipes = imaging::parse_recipes(&spec).map_err(stage_error)?;
        Ok(recipes.into_iter().map(to_wit_recipe).collect())
    }

    fn probe(image: Vec<u8>, limits: Limits) -> Result<SourceInfo, StageError> {
        let info = imaging::probe(&image, &from_wit_limits(&limits)).map_err(stage_error)?;
        Ok(SourceInfo {
            format: info.format,
            width: info.width,
            height: info.height,
            orientation: info.orientation,
        })
    }

    fn render(
        image: Vec<u8>,
        recipes: Vec<Recipe>,
        limits: Limits,
    ) -> Result<Vec<Rendered>, StageError> {
        let recipes: Vec<imaging::Recipe> = recipes.into_iter().map(from_wit_recipe).collect();
        let rendered =
            imaging::render(&image, &recipes, &from_wit_limits(&limits)).map_err(stage_error)?;
        Ok(rendered
            .into_iter()
            .map(|r| Rendered {
                content_type: r.format.content_type().to_owned(),
                recipe: r.recipe,
                recipe_version: r.recipe_version,
                width: r.width,
                height: r.height,
                format: to_wit_format(r.format),
                bytes: r.bytes,
            })
            .collect())
    }
}

fn stage_error(e: imaging::ImagingError) -> StageError {
    if e.is_retryable() {
        StageError::Retry(e.to_string())
    } else {
        StageError::Reject(e.to_string())
    }
}

fn from_wit_limits(l: &Limits) -> imaging::Limits {
    imaging::Limits {
        max_pixels: l.max_pixels,
        max_side: l.max_side,
        max_input_bytes: l.max_input_bytes,
        max_frames: l.max_frames,
        memory_budget: l.memory_budget,
    }
}

fn to_wit_format(f: imaging::OutputFormat) -> ImageFormat {
    match f {
        imaging::OutputFormat::Jpeg => ImageFormat::Jpeg,
        imaging::OutputFormat::Png => ImageFormat::Png,
        imaging::OutputFormat::Webp => ImageFormat::Webp,
    }
}

fn from_wit_format(f: ImageFormat) -> imaging::OutputFormat {
    match f {
        ImageFormat::Jpeg => imaging::OutputFormat::Jpeg,
        ImageFormat::Png => imaging::OutputFormat::Png,
        ImageFormat::Webp => imaging::OutputFormat::Webp,
    }
}

fn to_wit_recipe(r: imaging::Recipe) -> Recipe {
    let [red, green, blue] = r.background;
    Recipe {
        name: r.name,
        version: r.version,
        width: r.width,
        height: r.height,
        fit: match r.fit {
            imaging::Fit::Inside => FitMode::Inside,
            imaging::Fit::Cover => FitMode::Cover,
            imaging::Fit::Exact => FitMode::Exact,
        },
        format: to_wit_format(r.format),
        quality: r.quality,
        upscale: r.upscale,
        background: u32::from_be_bytes([0, red, green, blue]),
        max_bytes: r.max_bytes,
    }
}

fn from_wit_recipe(r: Recipe) -> imaging::Recipe {
    let [_, red, green, blue] = r.background.to_be_bytes();
    imaging::Recipe {
        name: r.name,
        version: r.version,
        width: r.width,
        height: r.height,
        fit: match r.fit {
            FitMode::Inside => imaging::Fit::Inside,
            FitMode::Cover => imaging::Fit::Cover,
            FitMode::Exact => imaging::Fit::Exact,
        },
        format: from_wit_format(r.format),
        quality: r.quality,
        upscale: r.upscale,
        background: [red, green, blue],
        max_bytes: r.max_bytes,
    }
}
