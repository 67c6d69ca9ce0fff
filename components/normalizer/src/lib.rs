//! Normalizer trigger glue: Redis raw channel in, canonical events out.
//!
//! Receives a raw storage event on `raw_channel`, hands it to the normalizer
//! engine (the component dependency `thumbflow:pipeline/normalize@0.1.0`),
//! publishes every accepted envelope on `images_channel` and records each
//! outcome in the object's status record.
// spin-sdk's and wit-bindgen's generated exports and imports need `unsafe`;
// the code written here does not.
#![allow(unsafe_code)]

use anyhow::Context as _;
use bindings::thumbflow::pipeline::normalize::{normalize, NormalizeOptions, Outcome, StageError};
use bytes::Bytes;
use spin_sdk::redis_component;
use thumbflow_events::{trace_id, StageState, StageStatus};
use thumbflow_glue::{bus::Bus, clock, kv, vars};

mod bindings {
    //! Generated import bindings for the engine's port.
    wit_bindgen::generate!({ world: "normalizer-glue", path: "../../wit" });
}

/// Stage name used in status records.
const STAGE: &str = "normalizer";

#[redis_component]
fn on_message(message: Bytes) -> anyhow::Result<()> {
    let options = NormalizeOptions {
        thumbnail_prefix: vars::get("thumbnail_prefix")?,
        received_at: clock::now_rfc3339(),
        max_event_bytes: vars::parse("max_event_bytes")?,
    };
    let outcomes = match normalize(&message, &options) {
        Ok(outcomes) => outcomes,
        Err(StageError::Reject(m)) => {
            let store = kv::SpinKv::open()?;
            kv::record_reject(&store, &options.received_at, &m, &message)?;
            anyhow::bail!("raw event rejected (retry will not help): {m}")
        }
        Err(StageError::Retry(m)) => anyhow::bail!("raw event failed (retryable): {m}"),
    };
    if outcomes.is_empty() {
        println!("raw event carried no records");
    }
    let bus = Bus::open()?;
    let store = kv::SpinKv::open()?;
    for outcome in outcomes {
        match outcome {
            Outcome::Accepted(accepted) => {
                let event = &accepted.event;
                let (bucket, key) = (&event.data.bucket, &event.data.key);
                let channel = bus
                    .publish_to("images_channel", accepted.envelope.as_bytes())
                    .with_context(|| format!("publishing canonical event {}", event.id))?;
                let trace = trace_id(&event.traceparent).map(str::to_owned);
                println!(
                    "accepted {bucket}/{key} as event {} -> {channel} trace={}",
                    event.id,
                    trace.as_deref().unwrap_or("-")
                );
                let status =
                    stage_status(StageState::Done, format!("published event {}", event.id));
                kv::record_stage(&store, bucket, key, STAGE, status, |record| {
                    record.trace_id = trace;
                })?;
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
    Ok(())
}

fn stage_status(state: StageState, detail: String) -> StageStatus {
    StageStatus {
        state,
        at: clock::now_rfc3339(),
        detail: Some(detail),
        retryable: None,
    }
}
