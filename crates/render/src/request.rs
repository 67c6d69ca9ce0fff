//! Which requests are renders, and what they ask for.
//!
//! `POST /render[?recipe=SPEC]`: `SPEC` is the engine's recipe syntax
//! (`NAME=WxH[,jpeg|png|webp][,qNN][,inside|cover|exact][,upscale][,bg=RRGGBB][,max=BYTES][,vN]`,
//! several joined by `;`); `recipe` may also be repeated, one recipe each.
//! Without it the pipeline's default recipe is rendered. The body is the
//! image; it must be non-empty, at most [`MAX_BODY_BYTES`], and start like
//! an image (the same check as the gateway's uploads).

use crate::error::RenderError;
use crate::{DEFAULT_RECIPES, MAX_BODY_BYTES};

/// The route render-http answers.
pub const PATH: &str = "/render";

/// A render request that passed every check made before reading the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderRequest {
    /// The recipe spec to hand to the engine's `parse-recipes`.
    pub recipes: String,
}

/// Check the request line and headers of a render request: `method` and
/// `path` must be `POST /render`, `query` may name recipes, and a declared
/// `content_length` over [`MAX_BODY_BYTES`] is refused before any byte of
/// the body is read.
pub fn parse_request(
    method: &str,
    path: &str,
    query: Option<&str>,
    content_length: Option<u64>,
) -> Result<RenderRequest, RenderError> {
    if path.trim_end_matches('/') != PATH {
        return Err(RenderError::NotFound {
            path: path.to_owned(),
        });
    }
    if !method.eq_ignore_ascii_case("POST") {
        return Err(RenderError::MethodNotAllowed {
            method: method.to_owned(),
        });
    }
    let mut recipes = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "recipe" => recipes.push(value.trim().to_owned()),
            other => {
                return Err(RenderError::BadQuery(format!(
                    "unknown query parameter {other:?}: the only one is recipe=NAME=WxH,..."
                )))
            }
        }
    }
    recipes.retain(|r| !r.is_empty());
    if let Some(size) = content_length.filter(|&size| size > MAX_BODY_BYTES) {
        return Err(RenderError::BodyTooLarge {
            size: Some(size),
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(RenderRequest {
        recipes: if recipes.is_empty() {
            DEFAULT_RECIPES.to_owned()
        } else {
            recipes.join(";")
        },
    })
}

/// Check the body before the engine sees it: not empty, and an image by
/// its first bytes (JPEG, PNG, GIF, WebP, BMP, TIFF; 415 otherwise, as the
/// gateway answers an upload). Returns the image's content type.
pub fn check_body(body: &[u8]) -> Result<&'static str, RenderError> {
    if body.is_empty() {
        return Err(RenderError::EmptyBody);
    }
    thumbflow_events::sniff_image(body).ok_or(RenderError::NotAnImage)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parse_request_takes_the_recipe_or_the_default() {
        let r = parse_request("POST", "/render", None, None).unwrap();
        assert_eq!(r.recipes, DEFAULT_RECIPES);
        let r = parse_request("post", "/render/", Some(""), Some(10)).unwrap();
        assert_eq!(r.recipes, DEFAULT_RECIPES);
        let r = parse_request(
            "POST",
            "/render",
            Some("recipe=small%3D64x64%2Ccover"),
            None,
        );
        assert_eq!(r.unwrap().recipes, "small=64x64,cover");
        // Unencoded, as curl sends it, and several joined with `;`.
        let r = parse_request(
            "POST",
            "/render",
            Some("recipe=a=10x10,png&recipe=b=20x20"),
            None,
        );
        assert_eq!(r.unwrap().recipes, "a=10x10,png;b=20x20");
        let r = parse_request("POST", "/render", Some("recipe=a=1x1;b=2x2"), None);
        assert_eq!(r.unwrap().recipes, "a=1x1;b=2x2");
    }

    #[test]
    fn parse_request_refuses_other_routes_methods_and_parameters() {
        let e = parse_request("POST", "/", None, None).unwrap_err();
        assert_eq!(e.status(), 404);
        let e = parse_request("GET", "/render", None, None).unwrap_err();
        assert_eq!(e.status(), 405);
        let e = parse_request("POST", "/render", Some("recipes=a=1x1"), None).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("\"recipes\""), "{e}");
    }

    #[test]
    fn parse_request_refuses_a_declared_size_over_the_limit() {
        let e = parse_request("POST", "/render", None, Some(MAX_BODY_BYTES + 1)).unwrap_err();
        assert_eq!(e.status(), 413);
        assert!(parse_request("POST", "/render", None, Some(MAX_BODY_BYTES)).is_ok());
    }

    #[test]
    fn check_body_wants_an_image() {
        assert_eq!(check_body(b"").unwrap_err().status(), 400);
        assert_eq!(check_body(b"hello, world").unwrap_err().status(), 415);
        assert_eq!(check_body(b"\xFF\xD8\xFF\xE0rest").unwrap(), "image/jpeg");
    }
}
