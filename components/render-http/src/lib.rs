//! render-http: `POST /render?recipe=NAME=WxH,...` with an image as the
//! body answers its thumbnail, synchronously, on any `wasi:http` host.
//!
//! A `wasi:http/proxy` component that imports nothing but WASI: no Spin
//! SDK, no variables, no storage. It imports the thumbnail engine's port
//! (`thumbflow:pipeline/thumbnail@0.1.0`), which `make build` satisfies by
//! plugging `thumbnailer_core.wasm` in with `wac`, so the file that runs,
//! `render_http.wasm`, is one self-contained component. Every decision
//! (route, recipe, limits, error statuses, multipart) is `thumbflow-render`'s;
//! this file moves bytes between `wasi:http` (through `wstd`) and the engine.

use http_body_util::{BodyExt as _, Limited};
use thumbflow_render::{self as render, Answer, RenderError, Thumbnail};
use wstd::http::{Body, Request, Response};

use bindings::thumbflow::pipeline::thumbnail::{self as engine, Limits, StageError};

mod bindings {
    //! Generated import bindings for the engine's port.
    #![allow(unsafe_code)]
    wit_bindgen::generate!({ world: "thumbnailer-glue", path: "../../wit" });
}

#[allow(unsafe_code, dead_code, clippy::unwrap_used, clippy::expect_used)] // wstd's generated export
mod server {
    use wstd::http::{Body, Error, Request, Response};

    #[wstd::http_server]
    async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
        let answer = super::render(request).await.unwrap_or_else(|e| e.answer());
        super::response(answer)
    }
}

/// Check the request, read the body within the limit, render every recipe.
async fn render(request: Request<Body>) -> Result<Answer, RenderError> {
    let declared = request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let uri = request.uri();
    let wanted =
        render::parse_request(request.method().as_str(), uri.path(), uri.query(), declared)?;
    let limit = usize::try_from(render::MAX_BODY_BYTES).unwrap_or(usize::MAX);
    let body = Limited::new(request.into_body().into_boxed_body(), limit)
        .collect()
        .await
        .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
            Ok(_) => RenderError::BodyTooLarge {
                size: None,
                limit: render::MAX_BODY_BYTES,
            },
            Err(e) => RenderError::BodyRead(e.to_string()),
        })?
        .to_bytes();
    render::check_body(&body)?;
    let recipes = engine::parse_recipes(&wanted.recipes).map_err(engine_error)?;
    let l = render::LIMITS;
    let limits = Limits {
        max_pixels: l.max_pixels,
        max_side: l.max_side,
        max_input_bytes: l.max_input_bytes,
        max_frames: l.max_frames,
        memory_budget: l.memory_budget,
    };
    let rendered = engine::render(&body, &recipes, limits).map_err(engine_error)?;
    Ok(render::answer(
        rendered
            .into_iter()
            .map(|r| Thumbnail {
                recipe: r.recipe,
                width: r.width,
                height: r.height,
                content_type: r.content_type,
                bytes: r.bytes,
            })
            .collect(),
    ))
}

fn engine_error(e: StageError) -> RenderError {
    match e {
        StageError::Reject(m) => RenderError::reject(m),
        StageError::Retry(m) => RenderError::retry(m),
    }
}

fn response(answer: Answer) -> Result<Response<Body>, wstd::http::Error> {
    let mut builder = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    Ok(builder.body(Body::from(answer.body))?)
}
