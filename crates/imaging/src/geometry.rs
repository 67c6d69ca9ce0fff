//! Fit math: the output size for a source size and a recipe.
//!
//! Pure integer arithmetic, kept apart from pixels so every edge case
//! (1 px sides, tiny sources, huge boxes) is tested in microseconds.
//! Sizes are rounded to the nearest pixel and never drop below 1 px, which
//! matches Pillow's `Image.thumbnail` for the default recipe
//! (1920x1280 -> 300x200, 2988x5312 -> 169x300).

use crate::recipe::{Fit, Recipe};

/// Output size for a source of `src_w` x `src_h` *displayed* pixels (EXIF
/// orientation already applied) rendered with `recipe`.
///
/// - [`Fit::Inside`]: the largest size inside the box with the source's
///   aspect ratio; without `upscale` a source that already fits keeps its size.
/// - [`Fit::Cover`]: the box itself (the source is scaled to fill it and
///   centre-cropped); without `upscale`, a source smaller than the box on
///   either side yields the largest box-shaped crop of the source at 1:1.
/// - [`Fit::Exact`]: the box itself, aspect ratio not kept; without
///   `upscale` each side is capped at the source's side.
///
/// Zero sizes (which no decoder produces, and which `Recipe::validate`
/// rejects) are treated as 1 so the result is always at least 1x1.
pub fn fit_dimensions(src_w: u32, src_h: u32, recipe: &Recipe) -> (u32, u32) {
    let (sw, sh) = (u128::from(src_w.max(1)), u128::from(src_h.max(1)));
    let (bw, bh) = (
        u128::from(recipe.width.max(1)),
        u128::from(recipe.height.max(1)),
    );
    let (w, h) = match recipe.fit {
        Fit::Inside => {
            if !recipe.upscale && sw <= bw && sh <= bh {
                (sw, sh)
            } else if sw * bh >= sh * bw {
                // The width is the tighter constraint.
                (bw, round_div(sh * bw, sw))
            } else {
                (round_div(sw * bh, sh), bh)
            }
        }
        Fit::Cover => {
            if recipe.upscale || (sw >= bw && sh >= bh) {
                (bw, bh)
            } else if sw * bh <= sh * bw {
                // Largest box-shaped crop of the source, width-limited.
                (sw, round_div(bh * sw, bw))
            } else {
                (round_div(bw * sh, bh), sh)
            }
        }
        Fit::Exact => {
            if recipe.upscale {
                (bw, bh)
            } else {
                (bw.min(sw), bh.min(sh))
            }
        }
    };
    (to_side(w), to_side(h))
}

/// `n / d` rounded to the nearest integer (halves up); `d` is never 0 here.
fn round_div(n: u128, d: u128) -> u128 {
    (2 * n + d) / (2 * d)
}

/// Every result is bounded by an input `u32`, so this only guards the type.
fn to_side(v: u128) -> u32 {
    u32::try_from(v.max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(w: u32, h: u32, fit: Fit, upscale: bool) -> Recipe {
        Recipe {
            width: w,
            height: h,
            fit,
            upscale,
            ..Recipe::default()
        }
    }

    fn thumb(w: u32, h: u32) -> (u32, u32) {
        fit_dimensions(w, h, &Recipe::default())
    }

    #[test]
    fn geometry_landscape_fits_width() {
        assert_eq!(thumb(1920, 1280), (300, 200));
        assert_eq!(thumb(6028, 3391), (300, 169));
        assert_eq!(thumb(2560, 1600), (300, 188)); // 187.5 rounds up
    }

    #[test]
    fn geometry_portrait_fits_height() {
        assert_eq!(thumb(2988, 5312), (169, 300));
        assert_eq!(thumb(1280, 1920), (200, 300));
        assert_eq!(thumb(2560, 3837), (200, 300));
    }

    #[test]
    fn geometry_square() {
        assert_eq!(thumb(512, 512), (300, 300));
        assert_eq!(thumb(300, 300), (300, 300));
    }

    #[test]
    fn geometry_smaller_than_box_never_upscaled() {
        assert_eq!(thumb(200, 100), (200, 100));
        assert_eq!(thumb(300, 10), (300, 10));
        assert_eq!(thumb(1, 1), (1, 1));
        // Only one side over the box: still shrinks to fit.
        assert_eq!(thumb(400, 100), (300, 75));
    }

    #[test]
    fn geometry_upscale_when_asked() {
        let r = recipe(300, 300, Fit::Inside, true);
        assert_eq!(fit_dimensions(200, 100, &r), (300, 150));
        assert_eq!(fit_dimensions(10, 20, &r), (150, 300));
    }

    #[test]
    fn geometry_non_square_box() {
        let r = recipe(640, 360, Fit::Inside, false);
        assert_eq!(fit_dimensions(1920, 1080, &r), (640, 360));
        assert_eq!(fit_dimensions(1080, 1920, &r), (203, 360));
        assert_eq!(fit_dimensions(4000, 1000, &r), (640, 160));
    }

    #[test]
    fn geometry_one_pixel_edges() {
        assert_eq!(thumb(1, 10_000), (1, 300));
        assert_eq!(thumb(10_000, 1), (300, 1));
        assert_eq!(thumb(u32::MAX, 1), (300, 1));
        assert_eq!(thumb(u32::MAX, u32::MAX), (300, 300));
        let one = recipe(1, 1, Fit::Inside, false);
        assert_eq!(fit_dimensions(1920, 1280, &one), (1, 1));
        assert_eq!(
            fit_dimensions(1, 1, &recipe(1, 1, Fit::Cover, true)),
            (1, 1)
        );
        // Degenerate input is clamped, never 0.
        assert_eq!(thumb(0, 0), (1, 1));
        assert_eq!(
            fit_dimensions(5, 5, &recipe(0, 0, Fit::Exact, true)),
            (1, 1)
        );
    }

    #[test]
    fn geometry_cover_fills_box() {
        let r = recipe(64, 64, Fit::Cover, false);
        assert_eq!(fit_dimensions(1920, 1280, &r), (64, 64));
        assert_eq!(fit_dimensions(64, 64, &r), (64, 64));
        let wide = recipe(300, 100, Fit::Cover, false);
        assert_eq!(fit_dimensions(1280, 1920, &wide), (300, 100));
    }

    #[test]
    fn geometry_cover_small_source_crops_without_upscale() {
        let r = recipe(300, 300, Fit::Cover, false);
        assert_eq!(fit_dimensions(200, 100, &r), (100, 100));
        assert_eq!(fit_dimensions(100, 400, &r), (100, 100));
        // Box aspect 3:1, source 600x100 is wide enough at 1:1: 300x100.
        let wide = recipe(900, 300, Fit::Cover, false);
        assert_eq!(fit_dimensions(600, 100, &wide), (300, 100));
        assert_eq!(
            fit_dimensions(200, 100, &recipe(300, 300, Fit::Cover, true)),
            (300, 300)
        );
    }

    #[test]
    fn geometry_exact_ignores_aspect() {
        let r = recipe(300, 300, Fit::Exact, false);
        assert_eq!(fit_dimensions(1920, 1280, &r), (300, 300));
        assert_eq!(fit_dimensions(200, 1280, &r), (200, 300));
        assert_eq!(
            fit_dimensions(200, 100, &recipe(300, 300, Fit::Exact, true)),
            (300, 300)
        );
    }
}
