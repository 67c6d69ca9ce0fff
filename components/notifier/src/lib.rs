//! Notifier trigger glue: thumbnail-created events in, status and webhook out.
//!
//! For each event on `thumbnails_channel`: when `webhook_url` is set, have
//! the notifier engine (the component dependency
//! `thumbflow:pipeline/notify@0.1.0`) build the signed request and send it
//! through Spin's outbound HTTP; then record the notifier stage in the
//! object's status record.
// spin-sdk's and wit-bindgen's generated exports and imports need `unsafe`;
// the code written here does not.
#![allow(unsafe_code)]

use anyhow::Context as _;
use bindings::thumbflow::pipeline::notify::{prepare_webhook, StageError, WebhookOptions};
use bytes::Bytes;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::redis_component;
use thumbflow_events::{parse_thumbnail_created, trace_id, StageState, StageStatus};
use thumbflow_glue::{clock, kv, vars};

mod bindings {
    //! Generated import bindings for the engine's port.
    wit_bindgen::generate!({ world: "notifier-glue", path: "../../wit" });
}

/// Stage name used in status records.
const STAGE: &str = "notifier";

#[redis_component]
async fn on_message(message: Bytes) -> anyhow::Result<()> {
    let (attrs, created) = parse_thumbnail_created(&message)
        .context("thumbnail-created event rejected (retry will not help)")?;
    let delivery = deliver(&message, &attrs.id).await;
    let (state, detail, retryable) = match &delivery {
        Ok(detail) => (StageState::Done, detail.clone(), None),
        Err((message, retryable)) => (StageState::Failed, message.clone(), Some(*retryable)),
    };
    let status = StageStatus {
        state,
        at: clock::now_rfc3339(),
        detail: Some(detail),
        retryable,
    };
    let store = kv::SpinKv::open()?;
    kv::record_stage(&store, &created.bucket, &created.key, STAGE, status, |_| {})?;
    match delivery {
        Ok(detail) => {
            println!(
                "notified {}/{}: {detail} trace={}",
                created.bucket,
                created.key,
                trace_id(&attrs.traceparent).unwrap_or("-")
            );
            Ok(())
        }
        Err((message, _)) => {
            anyhow::bail!(
                "notifying {}/{}: {message} trace={}",
                created.bucket,
                created.key,
                trace_id(&attrs.traceparent).unwrap_or("-")
            )
        }
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
