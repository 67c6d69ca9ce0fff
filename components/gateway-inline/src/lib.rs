//! The HTTP-only app's gateway (`deploy/http-only/spin.toml`): the same
//! routes as the pipeline's gateway (`thumbflow_glue::gateway`), but each
//! raw event runs through the normalizer, thumbnailer and notifier stages
//! inside the request, so it needs no Redis and no Redis trigger: an upload
//! returns with its thumbnails stored. `make build` plugs the three engines
//! into it with `wac` (gateway_inline.wasm): real Spin 4.0.2 composes only
//! one dependency per WIT package into a component, and all three ports are
//! `thumbflow:pipeline`.
// spin-sdk's generated export needs `unsafe`; the code written here does not.
#![allow(unsafe_code)]

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use thumbflow_glue::gateway::{self, Inline};

#[http_component]
fn handle(req: Request) -> Response {
    gateway::handle::<Inline>(req)
}
