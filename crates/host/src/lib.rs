//! thumbflow's own wasmtime host.
//!
//! Runs the pipeline's `.wasm` components outside Spin: the portable stage
//! engines today (`thumbflow render`, the component tests), the whole
//! `spin.toml` next (`thumbflow up`).
//!
//! Modules:
//! - [`runtime`]: the wasmtime engine set-up (pooling allocator, epoch interruption);
//! - [`limits`]: per-invocation memory limit and deadline;
//! - [`state`]: the per-store state (WASI context, resource table, limits);
//! - [`cores`]: loading the stage engines (pre-instantiated once) and calling their exports;
//! - `bindings` (private): the one place host bindings are generated.
#![deny(missing_docs)]

mod bindings;
pub mod cores;
pub mod limits;
pub mod runtime;
pub mod state;

pub use cores::{NormalizerCore, NotifierCore, ThumbnailerCore};
pub use limits::InvocationLimits;
pub use runtime::Runtime;
