//! All three stages for one raw event, in a row, inside the caller's
//! request: the HTTP-only app's pipeline (`deploy/http-only/spin.toml`),
//! for hosts that run no Redis trigger.
//!
//! The same stage functions as behind the queue, in the same order, writing
//! the same status records; what the queue adds is gone: nothing is
//! retried (a failure is recorded in the object's status, saying so), no
//! duplicate is recognised, and the request lasts as long as the stages.

use super::{normalizer, notifier, record_failure, tags, thumbnailer, Failure};

/// What became of one object a raw event named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The stage that failed and why; `None` when every stage did its work
    /// (or skipped it on purpose, as its status says).
    pub failed: Option<(&'static str, Failure)>,
}

impl Ran {
    /// As the gateway reports it: `{bucket, key, complete, failed_stage, error}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "bucket": self.bucket,
            "key": self.key,
            "complete": self.failed.is_none(),
            "failed_stage": self.failed.as_ref().map(|(stage, _)| *stage),
            "error": self.failed.as_ref().map(|(_, f)| f.message.as_str()),
        })
    }
}

/// Run the normalizer on `raw`, then the thumbnailer and the notifier on
/// every object it accepted. `Err` only when the raw event itself failed
/// (then no object was touched).
pub fn run(raw: &[u8]) -> Result<Vec<Ran>, Failure> {
    normalizer::normalize(raw).map(|envelopes| envelopes.iter().map(|e| follow(e)).collect())
}

/// The thumbnailer and the notifier for one canonical event.
fn follow(envelope: &[u8]) -> Ran {
    let event = match thumbnailer::parse(envelope) {
        Ok(event) => event,
        // The normalizer made this envelope: it always parses.
        Err(f) => {
            return Ran {
                bucket: String::new(),
                key: String::new(),
                failed: Some((thumbnailer::STAGE, f)),
            }
        }
    };
    let (bucket, key) = (event.data.bucket.clone(), event.data.key.clone());
    let tags = tags(&event.id, &event.traceparent);
    let failed = |stage: &'static str, f: Failure| {
        let detail = if f.retryable {
            format!(
                "{} (not retried: the HTTP-only app has no queue; upload again)",
                f.message
            )
        } else {
            f.message.clone()
        };
        if let Err(e) = record_failure(
            stage,
            &bucket,
            &key,
            thumbflow_events::StageState::Failed,
            detail,
            f.retryable,
        ) {
            eprintln!("{stage} {bucket}/{key} failed and could not record it: {e:#}");
        }
        eprintln!("{stage} {bucket}/{key} failed: {} {tags}", f.message);
        Some((stage, f))
    };
    let outcome = match thumbnailer::process(&event, &tags).map(thumbnailer::Done::next) {
        Err(f) => failed(thumbnailer::STAGE, f),
        Ok(None) => None,
        Ok(Some(created)) => {
            let notified = notifier::parse(&created).and_then(|(attrs, thumbnails)| {
                spin_sdk::http::run(notifier::notify(&created, &attrs, &thumbnails))
            });
            notified.err().and_then(|f| failed(notifier::STAGE, f))
        }
    };
    Ran {
        bucket,
        key,
        failed: outcome,
    }
}
