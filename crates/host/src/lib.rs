//! thumbflow's own wasmtime host.
//!
//! Runs the pipeline's `.wasm` components outside Spin: the portable stage
//! engines (`thumbflow render`, the component tests) and the whole
//! `spin.toml` (`thumbflow up`, the integration tests).
//!
//! Modules:
//! - [`manifest`]: `spin.toml` (manifest v2) parsing, variables, templates, allowed hosts;
//! - [`compose`]: composing a component with its `dependencies` (wac-graph);
//! - [`app`]: the loaded application: components linked and pre-instantiated once;
//! - [`spin`]: the Spin interfaces (key-value on SQLite, outbound Redis, variables);
//! - [`trigger`]: the HTTP and Redis triggers; [`up`]: the run loop;
//! - [`runtime`]: the wasmtime engine set-up (pooling allocator, epoch interruption);
//! - [`limits`]: per-invocation memory limit and deadline;
//! - [`metrics`]: what the triggers ran, in the Prometheus text format (`/metrics`);
//! - [`otel`]: traces to an OpenTelemetry collector, with Spin's `OTEL_*` settings;
//! - [`state`]: the per-store state (WASI context, resource table, limits);
//! - [`cores`]: loading the stage engines (pre-instantiated once) and calling their exports;
//! - [`scan`]: `thumbflow scan`, the resumable backfill of an S3 bucket;
//! - [`client`]: `thumbflow upload`, `send`, `status`, `watch`: the CLI of a running pipeline;
//! - `bindings` (private): the one place host bindings are generated.
#![deny(missing_docs)]

pub mod app;
mod bindings;
pub mod client;
pub mod compose;
pub mod cores;
pub mod limits;
pub mod manifest;
pub mod metrics;
pub mod otel;
pub mod runtime;
pub mod scan;
pub mod spin;
pub mod state;
pub mod trigger;
pub mod up;

pub use cores::{NormalizerCore, NotifierCore, ThumbnailerCore};
pub use limits::InvocationLimits;
pub use runtime::Runtime;
