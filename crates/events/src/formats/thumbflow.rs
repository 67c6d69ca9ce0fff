//! thumbflow's own canonical envelope, fed back in.
//!
//! Accepted so an operator can re-publish an event on purpose; it keeps its
//! id, source, time, trace context and `source_format`, and still passes
//! through the ignore rules (a canonical event for a thumbnail key is
//! ignored like any other).

use super::{Parsed, RawObject};
use crate::canonical::CanonicalEvent;
use crate::error::NormalizeError;
use crate::json::Obj;

/// Reads a `dev.thumbflow.object.created.v1` envelope.
pub(crate) fn parse_canonical(obj: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let event = CanonicalEvent::from_obj(&obj.clone().with_format("thumbflow"))?;
    let data = event.data;
    Ok(Parsed::Object(Box::new(RawObject {
        format: data.source_format,
        source: event.source,
        bucket: data.bucket,
        key: data.key,
        size: data.size,
        etag: data.etag,
        sequencer: data.sequencer,
        version_id: data.version_id,
        content_type: data.content_type,
        time: Some(event.time),
        traceparent: Some(event.traceparent),
        generated_marker: false,
        id: Some(event.id),
    })))
}
