//! The normalizer stage: one raw storage event in, canonical events out.
//!
//! The raw event goes through the normalize engine (the port
//! `thumbflow:pipeline/normalize@0.1.0`); each accepted record is recorded
//! in its object's status and its envelope returned for the thumbnailer,
//! each ignored record is recorded with its reason, and a rejected event is
//! kept in the rejected-events list (`GET /status`).

use thumbflow_events::{trace_id, StageState};

use super::{status, Failure};
use crate::engines::normalize::{normalize as run_engine, NormalizeOptions, Outcome, StageError};
use crate::{clock, kv, vars};

/// Stage name used in status records and dead letters.
pub const STAGE: &str = "normalizer";

/// Normalize one raw event; the envelopes to hand to the thumbnailer (none
/// when every record was ignored).
pub fn normalize(raw: &[u8]) -> Result<Vec<Vec<u8>>, Failure> {
    let options = NormalizeOptions {
        thumbnail_prefix: vars::get("thumbnail_prefix")?,
        received_at: clock::now_rfc3339(),
        max_event_bytes: vars::parse("max_event_bytes")?,
    };
    let outcomes = match run_engine(raw, &options) {
        Ok(outcomes) => outcomes,
        Err(StageError::Reject(m)) => {
            let store = kv::SpinKv::open()?;
            kv::record_reject(&store, &options.received_at, &m, raw)?;
            eprintln!("raw event rejected (retry will not help): {m}");
            return Err(Failure::reject(format!("raw event rejected: {m}")));
        }
        Err(StageError::Retry(m)) => return Err(Failure::retry(format!("raw event failed: {m}"))),
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
                let done = status(
                    StageState::Done,
                    format!("accepted as event {}", event.id),
                    None,
                );
                kv::record_stage(&store, bucket, key, STAGE, done, |record| {
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
                    let skipped = status(StageState::Ignored, ignored.reason.clone(), None);
                    kv::record_stage(&store, bucket, key, STAGE, skipped, |_| {})?;
                }
            }
        }
    }
    Ok(next)
}
