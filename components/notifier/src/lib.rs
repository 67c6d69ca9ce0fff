//! Notifier trigger glue: thumbnail-created events in, status and webhook
//! out (`thumbflow_glue::stages::notifier` does the work).
//!
//! Events wait in the stage's durable queue (`thumbflow_glue::queue`), the
//! trigger message on `thumbnails_channel` is its doorbell. A webhook that
//! fails with a retryable error (network, 5xx, 429) is retried with
//! backoff, then dead-lettered; one event's webhook is sent once.
// spin-sdk's generated export needs `unsafe`; the code written here does not.
#![allow(unsafe_code)]

use bytes::Bytes;
use spin_sdk::redis_component;
use thumbflow_glue::queue::{Begin, Delivery, Handled, Settle, Stage, UnitOfWork};
use thumbflow_glue::stages::notifier::{notify, parse, STAGE};

#[redis_component]
async fn on_message(message: Bytes) -> anyhow::Result<()> {
    let mut stage = Stage::open(STAGE, "thumbnails_channel", None)?;
    stage.accept(&message)?;
    while let Some(delivery) = stage.take()? {
        let handled = handle(&stage, &delivery).await;
        stage.finish(&delivery, handled)?;
    }
    Ok(())
}

/// Notify once per thumbnail-created event: a duplicate (a redelivery after
/// the webhook was sent) is settled without sending it again.
async fn handle(stage: &Stage, delivery: &Delivery) -> Handled {
    let (attrs, created) = match parse(&delivery.payload) {
        Ok(parsed) => parsed,
        Err(f) => {
            return Handled::Failed {
                message: f.message,
                retryable: f.retryable,
                unit: None,
                object: None,
            }
        }
    };
    let (bucket, key) = (created.bucket.clone(), created.key.clone());
    let object = Some((bucket.clone(), key.clone()));
    let unit = UnitOfWork {
        idempotency_key: attrs.id.clone(),
        object: format!("{bucket}/{key}"),
        order: String::new(),
        order_scope: String::new(),
    };
    let done = |how, unit| Handled::Done {
        how,
        unit: Some(unit),
        next: Vec::new(),
    };
    match stage.queue.begin(delivery, &unit) {
        Err(e) => {
            return Handled::Failed {
                message: e.to_string(),
                retryable: true,
                unit: None,
                object,
            }
        }
        Ok(Begin::Busy) => return Handled::Busy,
        Ok(Begin::Duplicate | Begin::Superseded) => {
            println!(
                "duplicate {bucket}/{key}: notification {} already sent {}",
                attrs.id,
                thumbflow_glue::stages::tags(&created.source_event_id, &attrs.traceparent)
            );
            return done(Settle::Duplicate, unit);
        }
        Ok(Begin::Go) => {}
    }
    match notify(&delivery.payload, &attrs, &created).await {
        Ok(_) => done(Settle::Processed, unit),
        Err(f) => Handled::Failed {
            message: f.message,
            retryable: f.retryable,
            unit: Some(unit),
            object,
        },
    }
}
