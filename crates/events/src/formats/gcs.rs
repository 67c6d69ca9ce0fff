//! Google Cloud Storage events as CloudEvents (Eventarc, Cloud Run functions).
//!
//! `type` is `google.cloud.storage.object.v1.finalized` for a new object;
//! `source` is `//storage.googleapis.com/projects/_/buckets/<bucket>`,
//! `subject` is `objects/<name>`, and `data` is the Cloud Storage object
//! resource, where `size` and `generation` are int64 written as strings.
//! Names are not encoded. `deleted`, `archived` and `metadataUpdated`
//! events are ignored.

use super::{ignored, loose_str, opt_time, Parsed, RawObject};
use crate::canonical::SourceFormat;
use crate::error::NormalizeError;
use crate::filter::is_generated_marker;
use crate::json::Obj;

/// CloudEvents type of a new (or overwritten) object.
pub(crate) const FINALIZED: &str = "google.cloud.storage.object.v1.finalized";

/// Prefix of every Cloud Storage object event type.
pub(crate) const TYPE_PREFIX: &str = "google.cloud.storage.object.v1.";

/// Prefix of `source` before the bucket name.
const SOURCE_PREFIX: &str = "//storage.googleapis.com/projects/_/buckets/";

/// Reads a `finalized` event.
pub(crate) fn parse_finalized(obj: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let obj = obj.clone().with_format("gcs");
    let source = obj.req_str("source")?;
    let data = obj.req_obj("data")?;
    let bucket = match data.opt_nonempty_str("bucket")? {
        Some(bucket) => bucket,
        None => source
            .strip_prefix(SOURCE_PREFIX)
            .filter(|bucket| !bucket.is_empty())
            .ok_or_else(|| data.missing("bucket"))?,
    };
    let key = match data.opt_nonempty_str("name")? {
        Some(name) => name,
        None => obj
            .opt_str("subject")?
            .and_then(|subject| subject.strip_prefix("objects/"))
            .filter(|name| !name.is_empty())
            .ok_or_else(|| data.missing("name"))?,
    };
    let metadata = data.string_map("metadata")?;
    Ok(Parsed::Object(Box::new(RawObject {
        format: SourceFormat::Gcs,
        source: source.to_owned(),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size: data.opt_u64("size")?,
        etag: data.opt_nonempty_str("etag")?.map(str::to_owned),
        sequencer: None,
        version_id: data.opt_id("generation")?,
        content_type: data.opt_nonempty_str("contentType")?.map(str::to_owned),
        time: opt_time(&obj, "time")?,
        traceparent: obj.opt_str("traceparent")?.map(str::to_owned),
        generated_marker: metadata.iter().any(|(name, _)| is_generated_marker(name)),
        id: None,
    })))
}

/// Any other Cloud Storage object event: not a creation.
pub(crate) fn ignored_event(obj: &Obj<'_>, event_type: &str) -> Parsed {
    let data = obj.opt_obj("data").ok().flatten();
    ignored(
        format!("GCS event {event_type:?} is not an object creation"),
        loose_str(data.as_ref(), "bucket"),
        loose_str(data.as_ref(), "name"),
    )
}
