//! The notifier stage: a thumbnail-created event in, its status recorded
//! and, when `webhook_url` is set, a signed webhook sent: the notify engine
//! (the port `thumbflow:pipeline/notify@0.1.0`) builds the request, Spin's
//! outbound HTTP sends it.

use spin_sdk::http::{Method, Request, Response};
use thumbflow_events::{parse_thumbnail_created, CanonicalAttrs, StageState, ThumbnailCreated};

use super::{status, tags, Failure};
use crate::engines::notify::{prepare_webhook, StageError, WebhookOptions};
use crate::{clock, kv, vars};

/// Stage name used in status records.
pub const STAGE: &str = "notifier";

/// The thumbnail-created event in a payload; a malformed one is a reject.
pub fn parse(payload: &[u8]) -> Result<(CanonicalAttrs, ThumbnailCreated), Failure> {
    parse_thumbnail_created(payload)
        .map_err(|e| Failure::reject(format!("thumbnail-created event rejected: {e}")))
}

/// Send the webhook for `payload` (if one is configured), then record the
/// stage done; what was done, for the log.
pub async fn notify(
    payload: &[u8],
    attrs: &CanonicalAttrs,
    created: &ThumbnailCreated,
) -> Result<String, Failure> {
    let (bucket, key) = (&created.bucket, &created.key);
    // The upload's event id (the source of this one) and trace.
    let tags = tags(&created.source_event_id, &attrs.traceparent);
    let detail = deliver(payload, &attrs.id)
        .await
        .map_err(|(message, retryable)| Failure {
            message: format!("notifying {bucket}/{key}: {message} {tags}"),
            retryable,
        })?;
    let done = status(StageState::Done, detail.clone(), None);
    let recorded = kv::SpinKv::open()
        .and_then(|store| kv::record_stage(&store, bucket, key, STAGE, done, |_| {}));
    if let Err(e) = recorded {
        // The webhook went out: do not send it again for a status write.
        eprintln!("notified {bucket}/{key} but could not record it: {e:#} {tags}");
    }
    println!("notified {bucket}/{key}: {detail} {tags}");
    Ok(detail)
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
