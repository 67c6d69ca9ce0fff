//! Thumbnailer trigger glue: canonical events in, thumbnails stored
//! (`thumbflow_glue::stages::thumbnailer` does the work).
//!
//! Events wait in the stage's durable queue (`thumbflow_glue::queue`); the
//! trigger message on `images_channel` is its doorbell. Each event is one
//! unit of work (its identity and the recipes): a duplicate is settled
//! without rendering, an older version of an object already thumbnailed in
//! a newer one is superseded, and one worker at a time renders an object.
// spin-sdk's generated export needs `unsafe`; the code written here does not.
#![allow(unsafe_code)]

use bytes::Bytes;
use spin_sdk::redis_component;
use thumbflow_glue::queue::{self, Begin, Delivery, Handled, Settle, Stage, UnitOfWork};
use thumbflow_glue::stages::thumbnailer::{parse, process, unit_of, STAGE};
use thumbflow_glue::stages::{tags, Failure};
use thumbflow_glue::vars;

#[redis_component]
fn on_message(message: Bytes) -> anyhow::Result<()> {
    queue::drain(
        STAGE,
        "images_channel",
        Some("thumbnails_channel"),
        &message,
        handle,
    )
}

/// Handle one canonical event: once per unit of work (event identity and
/// recipes), one worker at a time per object, never an older version after
/// a newer one.
fn handle(stage: &Stage, delivery: &Delivery) -> Handled {
    let event = match parse(&delivery.payload) {
        Ok(event) => event,
        Err(f) => {
            return Handled::Failed {
                message: f.message,
                retryable: f.retryable,
                unit: None,
                object: None,
            }
        }
    };
    let (bucket, key) = (event.data.bucket.clone(), event.data.key.clone());
    let object = Some((bucket.clone(), key.clone()));
    let tags = tags(&event.id, &event.traceparent);
    let failed = |e: anyhow::Error, unit: Option<UnitOfWork>| Handled::Failed {
        message: format!("{e:#}"),
        retryable: true,
        unit,
        object: object.clone(),
    };
    let unit = match vars::get("recipes") {
        Ok(recipes) => unit_of(&event, &recipes),
        Err(e) => return failed(e, None),
    };
    match stage.queue.begin(delivery, &unit) {
        Err(e) => return failed(e.into(), None),
        Ok(Begin::Busy) => return Handled::Busy,
        Ok(Begin::Duplicate) => {
            println!("duplicate {bucket}/{key}: event already done {tags}");
            return done(Settle::Duplicate, unit, Vec::new());
        }
        Ok(Begin::Superseded) => {
            println!("superseded {bucket}/{key}: a newer version was already thumbnailed {tags}");
            return done(Settle::Superseded, unit, Vec::new());
        }
        Ok(Begin::Go) => {}
    }
    match process(&event, &tags) {
        Ok(outcome) => done(outcome.settle(), unit, outcome.next().into_iter().collect()),
        Err(Failure { message, retryable }) => Handled::Failed {
            message: format!("thumbnailing {bucket}/{key} failed: {message}"),
            retryable,
            unit: Some(unit),
            object,
        },
    }
}

fn done(how: Settle, unit: UnitOfWork, next: Vec<Vec<u8>>) -> Handled {
    Handled::Done {
        how,
        unit: Some(unit),
        next,
    }
}
