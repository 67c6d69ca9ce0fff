//! The normalizer's entry point: raw bytes in, outcomes out.
//!
//! Pure: no I/O, no clock (the receive time comes in through the options),
//! so the same bytes and options always give the same outcomes. The caller
//! publishes each accepted envelope and logs each ignored record.

use crate::canonical::{
    check_time, derive_traceparent, is_valid_traceparent, object_event_id, CanonicalEvent,
    ObjectCreated, ObjectIdentity, OBJECT_CREATED_SCHEMA_VERSION, OBJECT_CREATED_TYPE,
};
use crate::error::NormalizeError;
use crate::filter::ignore_reason;
use crate::formats::{self, Parsed, RawObject};
use crate::json;

/// What the caller decides, the normalizer applies (the WIT
/// `normalize-options` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeOptions {
    /// Key prefix of thumbflow's own outputs (`thumbnails/`): objects under it
    /// are ignored so a thumbnail never triggers a thumbnail. Empty disables
    /// the prefix check (the metadata marker still applies).
    pub thumbnail_prefix: String,
    /// RFC 3339 time the raw event was received, used as the event time when
    /// the raw event has none.
    pub received_at: String,
    /// Largest raw event accepted, in bytes, checked before parsing.
    pub max_event_bytes: usize,
}

impl Default for NormalizeOptions {
    /// Prefix `thumbnails/`, receive time the Unix epoch (tests pass a real
    /// one), and EventBridge's 256 KiB event limit.
    fn default() -> Self {
        Self {
            thumbnail_prefix: String::from("thumbnails/"),
            received_at: String::from("1970-01-01T00:00:00Z"),
            max_event_bytes: 262_144,
        }
    }
}

/// One record of a raw event that is skipped on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// Why it was skipped, for the log: names the cause (event name, content
    /// type, thumbnail prefix, ...).
    pub reason: String,
    /// Bucket, when the record named one.
    pub bucket: Option<String>,
    /// Decoded key, when the record named one.
    pub key: Option<String>,
}

/// The fate of one record of a raw event (a raw event may carry several).
// Unboxed on purpose: this shape is the contract the glue crates match on,
// and a raw event yields a handful of outcomes, so the size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Publish `envelope`.
    Accepted {
        /// The canonical event as a struct.
        event: CanonicalEvent,
        /// The same event as the CloudEvents JSON envelope to publish.
        envelope: String,
    },
    /// Log it and move on.
    Ignored(Ignored),
}

/// Turns one raw event, in any supported format, into one outcome per
/// record.
///
/// Errors are rejects (see [`NormalizeError`]): the whole raw event is
/// refused, as a malformed record means the producer's format is not what
/// this code expects and guessing would publish wrong events.
pub fn normalize(raw: &[u8], opts: &NormalizeOptions) -> Result<Vec<Outcome>, NormalizeError> {
    if raw.len() > opts.max_event_bytes {
        return Err(NormalizeError::TooLarge {
            size: raw.len(),
            max: opts.max_event_bytes,
        });
    }
    let value = json::parse_document(raw, "event")?;
    formats::parse(&value)?
        .into_iter()
        .map(|parsed| match parsed {
            Parsed::Ignored(ignored) => Ok(Outcome::Ignored(ignored)),
            Parsed::Object(object) => accept(*object, opts),
        })
        .collect()
}

/// Applies the ignore rules to one object and builds its canonical event.
fn accept(object: RawObject, opts: &NormalizeOptions) -> Result<Outcome, NormalizeError> {
    if let Some(reason) = ignore_reason(
        &object.key,
        object.content_type.as_deref(),
        object.generated_marker,
        &opts.thumbnail_prefix,
    ) {
        return Ok(Outcome::Ignored(Ignored {
            reason,
            bucket: Some(object.bucket),
            key: Some(object.key),
        }));
    }
    let time = match object.time {
        Some(time) => time,
        None => {
            check_time("received_at", &opts.received_at)?;
            opts.received_at.clone()
        }
    };
    let id = object.id.unwrap_or_else(|| {
        object_event_id(&ObjectIdentity {
            format: object.format,
            bucket: &object.bucket,
            key: &object.key,
            etag: object.etag.as_deref(),
            sequencer: object.sequencer.as_deref(),
            version_id: object.version_id.as_deref(),
            time: &time,
        })
    });
    let traceparent = match object.traceparent {
        Some(given) if is_valid_traceparent(&given) => given,
        _ => derive_traceparent(&id),
    };
    let event = CanonicalEvent {
        id,
        source: object.source,
        event_type: OBJECT_CREATED_TYPE.to_owned(),
        subject: object.key.clone(),
        time,
        traceparent,
        data: ObjectCreated {
            schema_version: OBJECT_CREATED_SCHEMA_VERSION,
            bucket: object.bucket,
            key: object.key,
            size: object.size,
            etag: object.etag,
            sequencer: object.sequencer,
            version_id: object.version_id,
            content_type: object.content_type,
            source_format: object.format,
        },
    };
    let envelope = event.to_envelope();
    Ok(Outcome::Accepted { event, envelope })
}
