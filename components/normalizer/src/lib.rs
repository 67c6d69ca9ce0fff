//! Normalizer trigger glue: raw storage events in, canonical events out.
//!
//! Its doorbell is `raw_channel`; the raw events themselves wait in the
//! stage's durable queue (`thumbflow_glue::queue`). Each is handed to the
//! normalizer engine (the component dependency
//! `thumbflow:pipeline/normalize@0.1.0`); every accepted envelope is
//! forwarded to the thumbnailer's queue in the same step that acknowledges
//! the raw event, and each outcome is recorded in the object's status. A
//! rejected event is dead-lettered with its error.
// spin-sdk's and wit-bindgen's generated exports and imports need `unsafe`;
// the code written here does not.
#![allow(unsafe_code)]

use bindings::thumbflow::pipeline::normalize::{normalize, NormalizeOptions, Outcome, StageError};
use bytes::Bytes;
use spin_sdk::redis_component;
use thumbflow_events::{trace_id, StageState, StageStatus};
use thumbflow_glue::queue::{self, Delivery, Handled, Settle, Stage};
use thumbflow_glue::{clock, kv, vars};

mod bindings {
    //! Generated import bindings for the engine's port.
    wit_bindgen::generate!({ world: "normalizer-glue", path: "../../wit" });
}

/// Stage name used in status records and dead letters.
const STAGE: &str = "normalizer";

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
    match normalize_one(&delivery.payload) {
        Ok(handled) => handled,
        Err(e) => Handled::Failed {
            message: format!("{e:#}"),
            retryable: true,
            unit: None,
            object: None,
        },
    }
}

fn normalize_one(raw: &[u8]) -> anyhow::Result<Handled> {
    let options = NormalizeOptions {
        thumbnail_prefix: vars::get("thumbnail_prefix")?,
        received_at: clock::now_rfc3339(),
        max_event_bytes: vars::parse("max_event_bytes")?,
    };
    let outcomes = match normalize(raw, &options) {
        Ok(outcomes) => outcomes,
        Err(StageError::Reject(m)) => {
            let store = kv::SpinKv::open()?;
            kv::record_reject(&store, &options.received_at, &m, raw)?;
            eprintln!("raw event rejected (retry will not help): {m}");
            return Ok(Handled::Failed {
                message: format!("raw event rejected: {m}"),
                retryable: false,
                unit: None,
                object: None,
            });
        }
        Err(StageError::Retry(m)) => {
            return Ok(Handled::Failed {
                message: format!("raw event failed: {m}"),
                retryable: true,
                unit: None,
                object: None,
            })
        }
    };
    if outcomes.is_empty() {
        println!("raw event carried no records");
    }
    let store = kv::SpinKv::open()?;
    let mut next = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Accepted(accepted) => {
                let event = &accepted.event;
                let (bucket, key) = (&event.data.bucket, &event.data.key);
                let trace = trace_id(&event.traceparent).map(str::to_owned);
                println!(
                    "accepted {bucket}/{key} as event {} trace={}",
                    event.id,
                    trace.as_deref().unwrap_or("-")
                );
                let status = stage_status(StageState::Done, format!("queued event {}", event.id));
                kv::record_stage(&store, bucket, key, STAGE, status, |record| {
                    record.trace_id = trace;
                })?;
                next.push(accepted.envelope.into_bytes());
            }
            Outcome::Ignored(ignored) => {
                let location = match (&ignored.bucket, &ignored.key) {
                    (Some(b), Some(k)) => format!("{b}/{k}"),
                    _ => "(no object)".to_owned(),
                };
                println!("ignored {location}: {}", ignored.reason);
                if let (Some(bucket), Some(key)) = (&ignored.bucket, &ignored.key) {
                    let status = stage_status(StageState::Ignored, ignored.reason.clone());
                    kv::record_stage(&store, bucket, key, STAGE, status, |_| {})?;
                }
            }
        }
    }
    let how = if next.is_empty() {
        Settle::Ignored
    } else {
        Settle::Processed
    };
    Ok(Handled::Done {
        how,
        unit: None,
        next,
    })
}

fn stage_status(state: StageState, detail: String) -> StageStatus {
    StageStatus {
        state,
        at: clock::now_rfc3339(),
        detail: Some(detail),
        retryable: None,
    }
}
