//! Durable work queues for thumbflow's stages, on Redis Streams.
//!
//! Plain pub/sub loses every message published while a subscriber is down
//! and hands each message to every replica. Here pub/sub is only the
//! doorbell: the work itself is an entry of a Redis stream, one stream per
//! stage input, read through one consumer group per stage, so
//! - an entry published while no worker runs waits in the stream;
//! - each entry goes to one worker of any number of replicas;
//! - an entry is acknowledged only once its effects are stored, and one a
//!   worker took but never settled is taken again after its lease expires;
//! - a retryable failure waits with exponential backoff, a rejected entry or
//!   one out of attempts moves to the stage's dead-letter stream, from which
//!   it can be listed and replayed;
//! - a unit of work with an idempotency key runs its effects once: a
//!   duplicate is acknowledged without running, and for one object an older
//!   version never overwrites a newer one.
//!
//! Everything that reads and changes more than one key is a Lua script run
//! with `EVAL`, so Redis applies it atomically, and its reply is a flat list
//! (Spin's outbound Redis `execute` flattens nested replies). The crate is
//! sans-IO: [`Redis`] is the one call it needs, implemented over Spin's
//! outbound Redis by the components and over the `redis` crate (feature
//! `native`) by the host and the tests.
//!
//! Modules:
//! - [`redis`]: the [`Redis`] port, reply values and their decoding;
//! - [`keys`]: the Redis keys of one stage's queue;
//! - [`scripts`]: the Lua scripts;
//! - [`queue`]: [`Queue`], what a stage worker, producer and admin call.

pub mod keys;
pub mod queue;
pub mod redis;
pub mod scripts;

pub use keys::Keys;
pub use queue::{
    Activity, Begin, Claim, DeadLetter, Delivery, Failed, Latency, Queue, QueueConfig, Settle,
    Stats, UnitOfWork, ACTIVITY_KEPT,
};
pub use redis::{QueueError, Redis, Value};

/// The pub/sub message that tells a stage "there is work in your stream".
///
/// Any other message arriving on a stage's channel is a producer that
/// published the work itself (the pre-queue way, still accepted): the stage
/// adds it to its stream first, then drains.
pub const DOORBELL: &[u8] = b"thumbflow:doorbell";
