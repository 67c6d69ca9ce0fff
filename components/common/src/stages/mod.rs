//! The stages' logic, written once: what the normalizer, thumbnailer and
//! notifier do with one event, whoever hands it to them. The Redis glue
//! components call these from their durable queue ([`crate::queue`]); the
//! HTTP-only app's gateway calls them in a row inside the upload request
//! ([`inline`]). Each stage records its outcome in the object's status
//! record, so `GET /status` reads the same either way.
//!
//! - [`normalizer`]: a raw event through the normalize engine;
//! - [`thumbnailer`]: a canonical event's original through the thumbnail
//!   engine, thumbnails stored;
//! - [`notifier`]: a thumbnail-created event through the notify engine, the
//!   signed webhook sent;
//! - [`inline`]: all three for one raw event, without a queue.

pub mod inline;
pub mod normalizer;
pub mod notifier;
pub mod thumbnailer;

use thumbflow_events::{StageState, StageStatus};
use thumbflow_s3::S3Error;

use crate::{clock, kv};

/// A stage that did not do its work, and whether the same input may
/// succeed later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, naming the thing and the fix where there is one.
    pub message: String,
    /// Whether trying the same input again can help.
    pub retryable: bool,
}

impl Failure {
    /// Retrying will not help (bad input, bad configuration).
    pub fn reject(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }

    /// Transient: the same input may succeed later.
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }
}

impl From<anyhow::Error> for Failure {
    /// Host-side failures (store, variables, Redis) are transient until proven otherwise.
    fn from(e: anyhow::Error) -> Self {
        Self::retry(format!("{e:#}"))
    }
}

impl From<S3Error> for Failure {
    fn from(e: S3Error) -> Self {
        Self {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

/// A stage status dated now.
pub fn status(state: StageState, detail: String, retryable: Option<bool>) -> StageStatus {
    StageStatus {
        state,
        at: clock::now_rfc3339(),
        detail: Some(detail),
        retryable,
    }
}

/// Record that `stage` failed on (bucket, key) with `detail`: `state` is
/// [`StageState::Failed`], or [`StageState::Dead`] once the queue gave up
/// on a failure worth retrying.
pub fn record_failure(
    stage: &str,
    bucket: &str,
    key: &str,
    state: StageState,
    detail: String,
    retryable: bool,
) -> anyhow::Result<()> {
    let store = kv::SpinKv::open()?;
    let status = status(state, detail, Some(retryable));
    kv::record_stage(&store, bucket, key, stage, status, |_| {})
}

/// The trace id of a `traceparent`, or `-`, for log lines (`trace=<id>`).
pub fn trace_of(traceparent: &str) -> &str {
    thumbflow_events::trace_id(traceparent).unwrap_or("-")
}

/// `event=<id> trace=<id>`: what ends every stage line about an event (the
/// canonical event's id, the upload's trace), so one upload can be followed
/// through every stage's log, and the host turns the line into a span.
pub fn tags(event_id: &str, traceparent: &str) -> String {
    format!("event={event_id} trace={}", trace_of(traceparent))
}
