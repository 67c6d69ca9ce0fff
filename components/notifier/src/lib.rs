//! Notifier trigger glue: thumbnail-created events in, status and webhook out.
//!
//! For each event on `thumbnails_channel`: when `webhook_url` is set, have
//! the notifier engine (the component dependency
//! `thumbflow:pipeline/notify@0.1.0`) build the signed request and send it
//! through Spin's outbound HTTP; then record the notifier stage in the
//! object's status record.
//!
//! Events wait in the stage's durable queue (`thumbflow_glue::queue`), the
//! trigger message on `thumbnails_channel` is its doorbell. A webhook that
//! fails with a retryable error (network, 5xx, 429) is retried with
//! backoff, then dead-lettered; one event's webhook is sent once.
// spin-sdk's and wit-bindgen's generated exports and imports need `unsafe`;
// the code written here does not.
#![allow(unsafe_code)]

use bindings::thumbflow::pipeline::notify::{prepare_webhook, StageError, WebhookOptions};
use bytes::Bytes;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::redis_component;
use thumbflow_events::{parse_thumbnail_created, trace_id, StageState, StageStatus};
use thumbflow_glue::queue::{Begin, Delivery, Handled, Settle, Stage, UnitOfWork};
use thumbflow_glue::{clock, kv, vars};

mod bindings {
    //! Generated import bindings for the engine's port.
    wit_bindgen::generate!({ world: "notifier-glue", path: "../../wit" });
}

/// Stage name used in status records.
const STAGE: &str = "notifier";

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
    let (attrs, created) = match parse_thumbnail_created(&delivery.payload) {
        Ok(parsed) => parsed,
        Err(e) => {
            return Handled::Failed {
                message: format!("thumbnail-created event rejected: {e}"),
                retryable: false,
                unit: None,
                object: None,
            }
        }
    };
    let (bucket, key) = (created.bucket.clone(), created.key.clone());
    let object = Some((bucket.clone(), key.clone()));
    // On every line about this event: the upload's event id and trace.
    let tags = format!(
        "event={} trace={}",
        created.source_event_id,
        trace_id(&attrs.traceparent).unwrap_or("-")
    );
    let unit = UnitOfWork {
        idempotency_key: attrs.id.clone(),
        object: format!("{bucket}/{key}"),
        order: String::new(),
        order_scope: String::new(),
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
                "duplicate {bucket}/{key}: notification {} already sent {tags}",
                attrs.id
            );
            return Handled::Done {
                how: Settle::Duplicate,
                unit: Some(unit),
                next: Vec::new(),
            };
        }
        Ok(Begin::Go) => {}
    }
    match deliver(&delivery.payload, &attrs.id).await {
        Ok(detail) => {
            let status = StageStatus {
                state: StageState::Done,
                at: clock::now_rfc3339(),
                detail: Some(detail.clone()),
                retryable: None,
            };
            let recorded = kv::SpinKv::open()
                .and_then(|store| kv::record_stage(&store, &bucket, &key, STAGE, status, |_| {}));
            if let Err(e) = recorded {
                // The webhook went out: do not send it again for a status write.
                eprintln!("notified {bucket}/{key} but could not record it: {e:#} {tags}");
            }
            println!("notified {bucket}/{key}: {detail} {tags}");
            Handled::Done {
                how: Settle::Processed,
                unit: Some(unit),
                next: Vec::new(),
            }
        }
        Err((message, retryable)) => Handled::Failed {
            message: format!("notifying {bucket}/{key}: {message} {tags}"),
            retryable,
            unit: Some(unit),
            object,
        },
    }
}

/// Send the webhook if one is configured; `Err((message, retryable))` on failure.
async fn deliver(event: &[u8], event_id: &str) -> Result<String, (String, bool)> {
    let config = |e: anyhow::Error| (format!("{e:#}"), false);
    let url = vars::get("webhook_url").map_err(config)?;
    if url.trim().is_empty() {
        return Ok("no webhook configured".to_owned());
    }
    let secret = vars::get("webhook_secret").map_err(config)?;
    if secret.is_empty() {
        return Err((
            "webhook_url is set but webhook_secret is empty: set both".to_owned(),
            false,
        ));
    }
    let origin = vars::get("webhook_origin").map_err(config)?;
    // A wildcard grant (`https://*.example.com`) is left to the host to enforce.
    if !origin.contains('*') && !thumbflow_notify::within_origin(&url, &origin) {
        let wanted = thumbflow_notify::origin_of(&url).map_err(|e| (e.to_string(), false))?;
        return Err((
            format!(
                "webhook_url {url} is outside webhook_origin {origin}, the only host the notifier \
                 may reach: set webhook_origin={wanted}"
            ),
            false,
        ));
    }
    let options = WebhookOptions {
        url: url.clone(),
        secret,
        message_id: event_id.to_owned(),
        timestamp: clock::unix_now(),
    };
    let prepared = prepare_webhook(event, &options).map_err(|e| match e {
        StageError::Reject(m) => (m, false),
        StageError::Retry(m) => (m, true),
    })?;
    let mut builder = Request::builder();
    builder.method(Method::Post).uri(prepared.url.as_str());
    for (name, value) in &prepared.headers {
        builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(prepared.body).build();
    let response: Response = spin_sdk::http::send(request)
        .await
        .map_err(|e| (format!("sending webhook to {url}: {e}"), true))?;
    let code = *response.status();
    if (200..300).contains(&code) {
        Ok(format!("webhook delivered to {url}: HTTP {code}"))
    } else {
        // 4xx may be fixed by the receiver's operator; 5xx and 429 are worth retrying.
        let retryable = code >= 500 || code == 429;
        Err((format!("webhook to {url} answered HTTP {code}"), retryable))
    }
}
