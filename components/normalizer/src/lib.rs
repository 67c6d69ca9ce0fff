//! Normalizer trigger glue: raw storage events in, canonical events out
//! (`thumbflow_glue::stages::normalizer` does the work).
//!
//! Its doorbell is `raw_channel`; the raw events themselves wait in the
//! stage's durable queue (`thumbflow_glue::queue`). Every accepted envelope
//! is forwarded to the thumbnailer's queue in the same step that
//! acknowledges the raw event. A rejected event is dead-lettered with its
//! error.
// spin-sdk's generated export needs `unsafe`; the code written here does not.
#![allow(unsafe_code)]

use bytes::Bytes;
use spin_sdk::redis_component;
use thumbflow_glue::queue::{self, Delivery, Handled, Settle, Stage};
use thumbflow_glue::stages::normalizer::{normalize, STAGE};

#[redis_component]
fn on_message(message: Bytes) -> anyhow::Result<()> {
    queue::drain(
        STAGE,
        "raw_channel",
        Some("images_channel"),
        &message,
        handle,
    )
}

/// Normalize one raw event; failures carry whether a retry can help.
fn handle(_stage: &Stage, delivery: &Delivery) -> Handled {
    match normalize(&delivery.payload) {
        Ok(next) => Handled::Done {
            how: if next.is_empty() {
                Settle::Ignored
            } else {
                Settle::Processed
            },
            unit: None,
            next,
        },
        Err(f) => Handled::Failed {
            message: f.message,
            retryable: f.retryable,
            unit: None,
            object: None,
        },
    }
}
