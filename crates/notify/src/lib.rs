//! Webhooks for the notifier stage, signed the Standard Webhooks way.
//!
//! A receiver verifies `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `{webhook-id}.{webhook-timestamp}.{body}` with the shared secret, so it
//! can trust the body and reject replays by timestamp.
//!
//! Modules:
//! - [`signature`]: [`sign`] and [`verify`], the HMAC scheme and secret formats;
//! - [`request`]: [`webhook_request`], the whole HTTP request for one event,
//!   and [`within_origin`], whether a URL is inside the origin Spin grants.
#![deny(missing_docs)]

pub mod request;
pub mod signature;

pub use request::{origin_of, webhook_request, within_origin, WebhookOptions, WebhookRequest};
pub use signature::{sign, verify};

/// Why a webhook could not be prepared. None of these improve on retry.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The secret is empty, or `whsec_` followed by invalid base64.
    #[error("invalid webhook secret: {0}")]
    InvalidSecret(String),
    /// The webhook URL is not an absolute http(s) URL.
    #[error("invalid webhook url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The event to deliver is not a thumbnail-created event.
    #[error("not a thumbnail-created event: {0}")]
    InvalidEvent(#[from] thumbflow_events::NormalizeError),
}
