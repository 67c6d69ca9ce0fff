//! The pipeline's HTTP gateway: uploads, raw events, objects, status, the
//! gallery and the queue admin routes (`thumbflow_glue::gateway`), with
//! every raw event handed to the normalizer's durable queue.
// spin-sdk's generated export needs `unsafe`; the code written here does not.
#![allow(unsafe_code)]

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use thumbflow_glue::gateway::{self, Queued};

#[http_component]
fn handle(req: Request) -> Response {
    gateway::handle::<Queued>(req)
}
