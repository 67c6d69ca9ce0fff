//! What to render: [`Recipe`] and the compact spec syntax that lists recipes
//! in one configuration string.
//!
//! Syntax: recipes separated by `;`, each `NAME=WxH` followed by
//! comma-separated options in any order:
//!
//! | option            | meaning                                   | default  |
//! |-------------------|-------------------------------------------|----------|
//! | `jpeg`/`png`/`webp` | output encoding                         | `jpeg`   |
//! | `qNN`             | JPEG quality, 1..=100                     | `q68`    |
//! | `inside`/`cover`/`exact` | how the image is fitted to the box | `inside` |
//! | `upscale`         | enlarge images smaller than the box       | off      |
//! | `bg=RRGGBB`       | background for flattening alpha into JPEG | `ffffff` |
//! | `vN`              | recipe version, N >= 1                    | `v1`     |
//! | `max=BYTES`, `max=NNk` | largest output wanted (bytes, or KiB with `k`) | none |
//!
//! `max`: a JPEG over the limit is re-encoded at the highest quality (below
//! `qNN`) that fits, found by binary search; if even quality 1 is too big,
//! or a PNG/WebP (lossless, no quality to lower) is, rendering fails with
//! [`ImagingError::ThumbnailTooLarge`] instead of storing an oversized file.
//!
//! Example: `thumb=300x300,jpeg,q82,max=20k;small=64x64,cover,webp,v2`.
//! A blank spec means "the default recipe" (see [`Recipe::default`]).

use crate::error::ImagingError;

/// Longest recipe name accepted; names end up in storage keys.
const MAX_NAME_LEN: usize = 64;

/// How the source is fitted to the recipe's box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fit {
    /// Fit inside the box, aspect ratio kept: the classic thumbnail.
    Inside,
    /// Fill the box, aspect ratio kept, the overflow centre-cropped: for
    /// grids of same-sized tiles.
    Cover,
    /// Exactly the box size, aspect ratio not kept: for callers that need a
    /// fixed size and accept distortion.
    Exact,
}

/// Encodings a thumbnail can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Baseline JPEG; alpha is flattened onto the recipe's background.
    Jpeg,
    /// PNG; alpha kept.
    Png,
    /// Lossless WebP (the `image` crate only encodes lossless WebP); alpha
    /// kept.
    Webp,
}

impl OutputFormat {
    /// MIME type of the encoded bytes, for the stored object's metadata and
    /// HTTP responses.
    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    /// File extension without the dot, for building output keys.
    pub fn extension(&self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }
}

/// One thumbnail to produce for every image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Recipe {
    /// Name, used in the output key; `thumb` is the default recipe.
    pub name: String,
    /// Version stored with the output, so a changed recipe can be
    /// re-rendered on purpose.
    pub version: u32,
    /// Box width in pixels.
    pub width: u32,
    /// Box height in pixels.
    pub height: u32,
    /// How the image is fitted to the box.
    pub fit: Fit,
    /// Output encoding.
    pub format: OutputFormat,
    /// JPEG quality 1..=100 (ignored by the lossless formats).
    pub quality: u8,
    /// Whether images smaller than the box are enlarged.
    pub upscale: bool,
    /// Background (RGB) that transparent pixels are flattened onto for JPEG.
    pub background: [u8; 3],
    /// Largest encoded size wanted, in bytes (`None`: `quality` as is). A
    /// JPEG over it is re-encoded at the highest lower quality that fits;
    /// when nothing fits the render fails with
    /// [`ImagingError::ThumbnailTooLarge`] (see the module docs).
    pub max_bytes: Option<u32>,
}

impl Default for Recipe {
    /// The classic AWS Lambda + Pillow thumbnail: inside 300x300, aspect
    /// kept, never upscaled, JPEG (quality 68: Pillow's bytes at a higher
    /// SSIM, see docs/benchmarks.md), white background.
    fn default() -> Self {
        Self {
            name: "thumb".to_owned(),
            version: 1,
            width: 300,
            height: 300,
            fit: Fit::Inside,
            format: OutputFormat::Jpeg,
            quality: 68,
            upscale: false,
            background: [255, 255, 255],
            max_bytes: None,
        }
    }
}

impl Recipe {
    /// Checks the fields a hand-built recipe (e.g. one that came over WIT)
    /// can get wrong: the name, a zero-sized box, the quality range, the
    /// version. `parse_recipes` only returns recipes that pass.
    pub fn validate(&self) -> Result<(), ImagingError> {
        validate_name(&self.name)?;
        let name = &self.name;
        if self.width == 0 || self.height == 0 {
            return Err(ImagingError::InvalidRecipe(format!(
                "recipe {name:?}: size {}x{} has a zero side; both must be at least 1",
                self.width, self.height
            )));
        }
        if !(1..=100).contains(&self.quality) {
            return Err(ImagingError::InvalidRecipe(format!(
                "recipe {name:?}: quality {} is outside 1..=100",
                self.quality
            )));
        }
        if self.max_bytes == Some(0) {
            return Err(ImagingError::InvalidRecipe(format!(
                "recipe {name:?}: max_bytes 0 can never be met; leave it unset for no limit"
            )));
        }
        if self.version == 0 {
            return Err(ImagingError::InvalidRecipe(format!(
                "recipe {name:?}: version 0 is not allowed; versions start at 1"
            )));
        }
        Ok(())
    }
}

/// Parses a recipe list in the compact syntax described in the module docs.
///
/// A blank spec yields `[Recipe::default()]`, so an unset configuration
/// variable gives the classic thumbnail. Errors name the offending recipe and
/// part: unknown option, zero size, duplicate name, bad quality, bad name.
pub fn parse_recipes(spec: &str) -> Result<Vec<Recipe>, ImagingError> {
    if spec.trim().is_empty() {
        return Ok(vec![Recipe::default()]);
    }
    let mut recipes: Vec<Recipe> = Vec::new();
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let recipe = parse_one(part)?;
        if recipes.iter().any(|r| r.name == recipe.name) {
            return Err(ImagingError::InvalidRecipe(format!(
                "duplicate recipe name {:?}: each recipe needs its own name (it is part of the output key)",
                recipe.name
            )));
        }
        recipes.push(recipe);
    }
    if recipes.is_empty() {
        return Err(ImagingError::InvalidRecipe(format!(
            "spec {spec:?} lists no recipes; expected e.g. \"thumb=300x300,jpeg,q82\""
        )));
    }
    Ok(recipes)
}

/// Which options a recipe has set, to reject contradictions like `jpeg,png`.
#[derive(Default)]
struct Seen {
    format: bool,
    quality: bool,
    fit: bool,
    upscale: bool,
    background: bool,
    version: bool,
    max_bytes: bool,
}

fn parse_one(part: &str) -> Result<Recipe, ImagingError> {
    let mut fields = part.split(',').map(str::trim);
    let head = fields.next().unwrap_or_default();
    let Some((name, size)) = head.split_once('=') else {
        return Err(ImagingError::InvalidRecipe(format!(
            "recipe {part:?} does not start with NAME=WxH (e.g. \"thumb=300x300\")"
        )));
    };
    let name = name.trim();
    validate_name(name)?;
    let (width, height) = parse_size(name, size.trim())?;

    let mut recipe = Recipe {
        name: name.to_owned(),
        width,
        height,
        ..Recipe::default()
    };
    let mut seen = Seen::default();
    for option in fields {
        apply_option(&mut recipe, &mut seen, option)?;
    }
    recipe.validate()?;
    Ok(recipe)
}

fn apply_option(recipe: &mut Recipe, seen: &mut Seen, option: &str) -> Result<(), ImagingError> {
    let name = recipe.name.clone();
    let bad = |why: String| ImagingError::InvalidRecipe(format!("recipe {name:?}: {why}"));
    let once = |flag: &mut bool, what: &str| {
        if std::mem::replace(flag, true) {
            Err(bad(format!("{what} given twice (at {option:?})")))
        } else {
            Ok(())
        }
    };
    let lower = option.to_ascii_lowercase();
    match lower.as_str() {
        "" => return Err(bad("empty option (stray ',')".to_owned())),
        "jpeg" | "jpg" | "png" | "webp" => {
            once(&mut seen.format, "output format")?;
            recipe.format = match lower.as_str() {
                "png" => OutputFormat::Png,
                "webp" => OutputFormat::Webp,
                _ => OutputFormat::Jpeg,
            };
        }
        "inside" | "cover" | "exact" => {
            once(&mut seen.fit, "fit mode")?;
            recipe.fit = match lower.as_str() {
                "cover" => Fit::Cover,
                "exact" => Fit::Exact,
                _ => Fit::Inside,
            };
        }
        "upscale" => {
            once(&mut seen.upscale, "upscale")?;
            recipe.upscale = true;
        }
        _ => {
            if let Some(hex) = lower.strip_prefix("bg=") {
                once(&mut seen.background, "background")?;
                recipe.background = parse_hex_rgb(hex)
                    .ok_or_else(|| bad(format!("background {option:?} is not bg=RRGGBB")))?;
            } else if let Some(digits) = lower.strip_prefix('q').filter(|d| is_digits(d)) {
                once(&mut seen.quality, "quality")?;
                recipe.quality = digits
                    .parse::<u8>()
                    .ok()
                    .filter(|q| (1..=100).contains(q))
                    .ok_or_else(|| bad(format!("quality {option:?} is outside q1..=q100")))?;
            } else if let Some(size) = lower.strip_prefix("max=") {
                once(&mut seen.max_bytes, "max")?;
                recipe.max_bytes = Some(parse_max_bytes(size).ok_or_else(|| {
                    bad(format!(
                        "max {option:?} is not max=BYTES or max=KIBk (1 to 4194303k, e.g. max=20000 or max=20k)"
                    ))
                })?);
            } else if let Some(digits) = lower.strip_prefix('v').filter(|d| is_digits(d)) {
                once(&mut seen.version, "version")?;
                recipe.version = digits
                    .parse::<u32>()
                    .ok()
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| bad(format!("version {option:?} must be v1 or higher")))?;
            } else {
                return Err(bad(format!(
                    "unknown option {option:?}; expected jpeg|png|webp, qNN, inside|cover|exact, upscale, bg=RRGGBB, max=BYTES or vN"
                )));
            }
        }
    }
    Ok(())
}

/// `NNN` bytes or `NNNk` KiB, at least 1 byte, fitting in `u32`.
fn parse_max_bytes(size: &str) -> Option<u32> {
    let (digits, unit) = match size.strip_suffix('k') {
        Some(d) => (d, 1024u32),
        None => (size, 1),
    };
    if !is_digits(digits) {
        return None;
    }
    digits
        .parse::<u32>()
        .ok()?
        .checked_mul(unit)
        .filter(|&b| b >= 1)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_size(name: &str, size: &str) -> Result<(u32, u32), ImagingError> {
    let bad = || {
        ImagingError::InvalidRecipe(format!(
            "recipe {name:?}: size {size:?} is not WxH with positive integers (e.g. 300x300)"
        ))
    };
    let (w, h) = size.split_once(['x', 'X']).ok_or_else(bad)?;
    let parse = |s: &str| {
        if is_digits(s) {
            s.parse::<u32>().ok()
        } else {
            None
        }
    };
    let (width, height) = (parse(w).ok_or_else(bad)?, parse(h).ok_or_else(bad)?);
    if width == 0 || height == 0 {
        return Err(ImagingError::InvalidRecipe(format!(
            "recipe {name:?}: size {size:?} has a zero side; both must be at least 1"
        )));
    }
    Ok((width, height))
}

fn parse_hex_rgb(hex: &str) -> Option<[u8; 3]> {
    let hex = hex.strip_prefix('#').unwrap_or(hex);
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// Names become part of storage keys: keep them to a safe, short alphabet.
fn validate_name(name: &str) -> Result<(), ImagingError> {
    let bad = |why: &str| ImagingError::InvalidRecipe(format!("recipe name {name:?} {why}"));
    if name.is_empty() {
        return Err(bad("is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad(&format!("is longer than {MAX_NAME_LEN} characters")));
    }
    if name.starts_with('.') {
        return Err(bad("starts with '.'"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(bad(&format!(
            "contains {c:?}; use only ASCII letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_text(spec: &str) -> String {
        match parse_recipes(spec) {
            Ok(r) => panic!("spec {spec:?} parsed to {r:?}, expected an error"),
            Err(ImagingError::InvalidRecipe(text)) => text,
            Err(other) => panic!("spec {spec:?}: wrong error kind {other:?}"),
        }
    }

    #[test]
    fn recipe_default_is_classic_thumbnail() {
        let r = Recipe::default();
        assert_eq!(r.name, "thumb");
        assert_eq!(r.version, 1);
        assert_eq!((r.width, r.height), (300, 300));
        assert_eq!(r.fit, Fit::Inside);
        assert_eq!(r.format, OutputFormat::Jpeg);
        assert_eq!(r.quality, 68);
        assert!(!r.upscale);
        assert_eq!(r.background, [255, 255, 255]);
        assert!(r.validate().is_ok());
    }

    #[test]
    fn recipe_blank_spec_gives_default() {
        assert_eq!(parse_recipes("").unwrap(), vec![Recipe::default()]);
        assert_eq!(parse_recipes("  \n\t ").unwrap(), vec![Recipe::default()]);
    }

    #[test]
    fn recipe_parses_brief_example() {
        let r = parse_recipes("thumb=300x300,jpeg,q68;small=64x64,cover,webp,v2").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], Recipe::default());
        assert_eq!(
            r[1],
            Recipe {
                name: "small".into(),
                version: 2,
                width: 64,
                height: 64,
                fit: Fit::Cover,
                format: OutputFormat::Webp,
                ..Recipe::default()
            }
        );
    }

    #[test]
    fn recipe_options_in_any_order_with_spaces() {
        let r = parse_recipes(" a = 10x20 , v3, bg=#102030 ,upscale, exact,png,q5 ; ").unwrap();
        assert_eq!(
            r,
            vec![Recipe {
                name: "a".into(),
                version: 3,
                width: 10,
                height: 20,
                fit: Fit::Exact,
                format: OutputFormat::Png,
                quality: 5,
                upscale: true,
                background: [0x10, 0x20, 0x30],
                max_bytes: None,
            }]
        );
    }

    #[test]
    fn recipe_max_bytes_option() {
        let r = parse_recipes("a=10x10,max=20000;b=10x10,MAX=20K;c=10x10").unwrap();
        assert_eq!(r[0].max_bytes, Some(20_000));
        assert_eq!(r[1].max_bytes, Some(20 * 1024));
        assert_eq!(r[2].max_bytes, None);
        for spec in [
            "a=1x1,max=",
            "a=1x1,max=0",
            "a=1x1,max=k",
            "a=1x1,max=-5",
            "a=1x1,max=9999999k",
            "a=1x1,max=1.5k",
        ] {
            assert!(err_text(spec).contains("max="), "{spec}");
        }
        assert!(err_text("a=1x1,max=1,max=2").contains("given twice"));
    }

    #[test]
    fn recipe_keywords_are_case_insensitive() {
        let r = parse_recipes("Big=800X600,JPEG,Q90,COVER,BG=FFaa00").unwrap();
        assert_eq!(r[0].name, "Big");
        assert_eq!(r[0].quality, 90);
        assert_eq!(r[0].fit, Fit::Cover);
        assert_eq!(r[0].background, [255, 170, 0]);
    }

    #[test]
    fn recipe_quality_bounds() {
        assert_eq!(parse_recipes("a=1x1,q1").unwrap()[0].quality, 1);
        assert_eq!(parse_recipes("a=1x1,q100").unwrap()[0].quality, 100);
        for spec in ["a=1x1,q0", "a=1x1,q101", "a=1x1,q999", "a=1x1,q-1"] {
            let text = err_text(spec);
            assert!(text.contains("\"a\""), "{spec}: {text}");
        }
        assert!(err_text("a=1x1,q0").contains("quality"));
    }

    #[test]
    fn recipe_rejects_unknown_option() {
        let text = err_text("thumb=300x300,jpeg,sharpen");
        assert!(text.contains("unknown option \"sharpen\""), "{text}");
        assert!(text.contains("\"thumb\""), "{text}");
        assert!(err_text("a=1x1,q").contains("unknown option \"q\""));
        assert!(err_text("a=1x1,v").contains("unknown option \"v\""));
    }

    #[test]
    fn recipe_rejects_zero_and_malformed_sizes() {
        assert!(err_text("a=0x300").contains("zero side"));
        assert!(err_text("a=300x0").contains("zero side"));
        for spec in [
            "a=300",
            "a=x300",
            "a=300x",
            "a=-3x3",
            "a=3.5x3",
            "a=axb",
            "a=99999999999x1",
        ] {
            let text = err_text(spec);
            assert!(text.contains("is not WxH"), "{spec}: {text}");
        }
    }

    #[test]
    fn recipe_rejects_missing_name_or_size() {
        assert!(err_text("300x300,jpeg").contains("NAME=WxH"));
        assert!(err_text("=300x300").contains("is empty"));
    }

    #[test]
    fn recipe_rejects_bad_names() {
        assert!(err_text("a/b=1x1").contains("contains '/'"));
        assert!(err_text("..=1x1").contains("starts with '.'"));
        assert!(err_text("a b=1x1").contains("contains ' '"));
        assert!(err_text("é=1x1").contains("contains 'é'"));
        let long = format!("{}=1x1", "n".repeat(65));
        assert!(err_text(&long).contains("longer than 64"));
        assert!(parse_recipes(&format!("{}=1x1", "n".repeat(64))).is_ok());
        assert!(parse_recipes("thumb-2_x.y=1x1").is_ok());
    }

    #[test]
    fn recipe_rejects_duplicate_name() {
        let text = err_text("a=1x1;b=2x2;a=3x3");
        assert!(text.contains("duplicate recipe name \"a\""), "{text}");
    }

    #[test]
    fn recipe_rejects_conflicting_options() {
        assert!(err_text("a=1x1,jpeg,png").contains("output format given twice"));
        assert!(err_text("a=1x1,q5,q6").contains("quality given twice"));
        assert!(err_text("a=1x1,cover,inside").contains("fit mode given twice"));
        assert!(err_text("a=1x1,v1,v2").contains("version given twice"));
    }

    #[test]
    fn recipe_rejects_bad_background_and_version() {
        for spec in [
            "a=1x1,bg=fff",
            "a=1x1,bg=gggggg",
            "a=1x1,bg=",
            "a=1x1,bg=1234567",
        ] {
            assert!(err_text(spec).contains("bg=RRGGBB"), "{spec}");
        }
        assert!(err_text("a=1x1,v0").contains("v1 or higher"));
        assert!(err_text("a=1x1,v99999999999").contains("v1 or higher"));
    }

    #[test]
    fn recipe_rejects_stray_separators() {
        assert!(err_text("a=1x1,,jpeg").contains("empty option"));
        assert!(err_text(";;").contains("lists no recipes"));
        // A trailing ';' is fine.
        assert_eq!(parse_recipes("a=1x1;").unwrap().len(), 1);
    }

    #[test]
    fn recipe_validate_catches_hand_built_mistakes() {
        let ok = Recipe::default();
        let cases = [
            Recipe {
                width: 0,
                ..ok.clone()
            },
            Recipe {
                quality: 0,
                ..ok.clone()
            },
            Recipe {
                quality: 101,
                ..ok.clone()
            },
            Recipe {
                version: 0,
                ..ok.clone()
            },
            Recipe {
                name: "a/b".into(),
                ..ok.clone()
            },
            Recipe {
                name: String::new(),
                ..ok.clone()
            },
        ];
        for r in cases {
            assert!(
                matches!(r.validate(), Err(ImagingError::InvalidRecipe(_))),
                "{r:?}"
            );
        }
    }

    #[test]
    fn output_format_content_type_and_extension() {
        assert_eq!(OutputFormat::Jpeg.content_type(), "image/jpeg");
        assert_eq!(OutputFormat::Png.content_type(), "image/png");
        assert_eq!(OutputFormat::Webp.content_type(), "image/webp");
        assert_eq!(OutputFormat::Jpeg.extension(), "jpg");
        assert_eq!(OutputFormat::Png.extension(), "png");
        assert_eq!(OutputFormat::Webp.extension(), "webp");
    }
}
