//! Shared Spin glue for thumbflow's trigger components.
//!
//! Each trigger component (gateway, normalizer, thumbnailer, notifier) is a
//! thin adapter between Spin and a plain crate; what they all need from
//! Spin lives here once:
//! - [`engines`]: the three engines' ports (normalize, thumbnail, notify);
//! - [`stages`]: what each stage does with one event, shared by the Redis
//!   glue and the HTTP-only app's inline pipeline;
//! - [`gateway`]: the HTTP gateway's routes, shared by the pipeline's
//!   gateway (uploads queued) and the HTTP-only app's (stages run inline);
//! - [`vars`]: typed access to Spin variables, with errors naming the variable;
//! - [`kv`]: the blob store and status records over Spin's key-value store;
//! - [`store`]: the object-store port (key-value layout or S3, by the `store` variable);
//! - [`queue`]: each stage's durable work queue and the loop a stage runs;
//! - [`clock`]: wall-clock time for events and status records.

pub mod clock;
pub mod engines;
pub mod gateway;
pub mod kv;
pub mod queue;
pub mod stages;
pub mod store;
pub mod vars;
