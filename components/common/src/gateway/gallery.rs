//! The gallery page at `/`: upload by drag-and-drop or file picker, watch
//! each object's stages and thumbnails arrive (docs/gallery.md).
//!
//! The page is three static files compiled into the component (no CDN, no
//! download at run time) that talk only to the gateway's own routes
//! (`PUT /objects/*`, `GET /status/*`, `GET /objects/*`). They are served
//! with their exact type, `nosniff`, and a Content-Security-Policy that
//! allows nothing but this origin (and `blob:` images: the page previews a
//! file before its upload finishes).

use spin_sdk::http::{Params, Request, Response};

/// Same-origin scripts, styles, requests and images only; no inline code,
/// no framing, no form posts elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// `(content type, bytes)` of a page asset by its name under `/assets/`.
fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    Some(match name {
        "index.html" => (
            "text/html; charset=utf-8",
            include_bytes!("../../assets/index.html"),
        ),
        "app.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/app.js"),
        ),
        "style.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../../assets/style.css"),
        ),
        "icon.svg" => ("image/svg+xml", include_bytes!("../../assets/icon.svg")),
        _ => return None,
    })
}

/// `GET /`: the page itself.
pub fn index(_: Request, _: Params) -> Response {
    serve("index.html")
}

/// `GET /assets/{name}`: its script, style sheet and icon.
pub fn assets(_: Request, params: Params) -> Response {
    serve(params.wildcard().unwrap_or(""))
}

fn serve(name: &str) -> Response {
    let Some((content_type, body)) = asset(name) else {
        return Response::builder()
            .status(404)
            .header("content-type", "text/plain; charset=utf-8")
            .header("x-content-type-options", "nosniff")
            .body(format!("no page asset {name:?}"))
            .build();
    };
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", CSP)
        .header("referrer-policy", "no-referrer")
        // Revalidate each time: a new gateway build serves new assets at the same URLs.
        .header("cache-control", "no-cache")
        .body(body.to_vec())
        .build()
}
