//! Azure Blob Storage events, in both schemas Event Grid delivers.
//!
//! * CloudEvents 1.0: `type`, `source` (the storage account resource id),
//!   `subject`, `time`, `data`;
//! * Event Grid schema: `eventType`, `topic`, `subject`, `eventTime`,
//!   `data`, `dataVersion`, `metadataVersion`, usually in an array.
//!
//! Both carry the blob as `subject` =
//! `/blobServices/default/containers/<container>/blobs/<path>`; the path is
//! not encoded. The container becomes the bucket. Only
//! `Microsoft.Storage.BlobCreated` is read; other `Microsoft.Storage.*`
//! events and the Event Grid subscription handshake are ignored.

use super::{ignored, opt_time, Parsed, RawObject};
use crate::canonical::SourceFormat;
use crate::error::NormalizeError;
use crate::json::Obj;

/// Event type of a created or replaced blob.
pub(crate) const BLOB_CREATED: &str = "Microsoft.Storage.BlobCreated";

/// Prefix of every Azure Storage event type.
pub(crate) const TYPE_PREFIX: &str = "Microsoft.Storage.";

/// Event Grid's webhook subscription handshake, answered at the HTTP layer.
const SUBSCRIPTION_VALIDATION: &str = "Microsoft.EventGrid.SubscriptionValidationEvent";

/// `subject` prefix before the container name.
const SUBJECT_PREFIX: &str = "blobServices/default/containers/";

/// Splits a blob subject into container and blob path.
fn split_subject(subject: &str) -> Option<(&str, &str)> {
    let rest = subject
        .strip_prefix('/')
        .unwrap_or(subject)
        .strip_prefix(SUBJECT_PREFIX)?;
    let (container, blob) = rest.split_once("/blobs/")?;
    (!container.is_empty() && !blob.is_empty()).then_some((container, blob))
}

/// Reads the container and blob path of `subject`.
fn container_and_blob<'a>(obj: &Obj<'a>) -> Result<(&'a str, &'a str), NormalizeError> {
    let subject = obj.req_str("subject")?;
    split_subject(subject).ok_or_else(|| {
        NormalizeError::invalid(
            obj.field("subject"),
            format!(
                "expected /blobServices/default/containers/<container>/blobs/<path>, found {subject:?}"
            ),
        )
    })
}

/// The fields both schemas share once the envelope names are resolved.
struct Envelope<'a> {
    source: Option<&'a str>,
    time: Option<String>,
    traceparent: Option<&'a str>,
}

/// A `BlobCreated` event (either schema).
fn blob_created(obj: &Obj<'_>, envelope: Envelope<'_>) -> Result<Parsed, NormalizeError> {
    let (container, blob) = container_and_blob(obj)?;
    let data = obj.req_obj("data")?;
    if data.opt_str("api")? == Some("CreateFile") {
        return Ok(ignored(
            "Azure Data Lake CreateFile makes an empty file; its data arrives with a later FlushWithClose BlobCreated event",
            Some(container),
            Some(blob),
        ));
    }
    Ok(Parsed::Object(Box::new(RawObject {
        format: SourceFormat::AzureBlob,
        source: envelope
            .source
            .map_or_else(|| format!("azure:blob/{container}"), str::to_owned),
        bucket: container.to_owned(),
        key: blob.to_owned(),
        size: data.opt_u64("contentLength")?,
        etag: data.opt_nonempty_str("eTag")?.and_then(super::clean_etag),
        sequencer: data.opt_nonempty_str("sequencer")?.map(str::to_owned),
        version_id: None,
        content_type: data.opt_nonempty_str("contentType")?.map(str::to_owned),
        time: envelope.time,
        traceparent: envelope.traceparent.map(str::to_owned),
        generated_marker: false,
        id: None,
    })))
}

/// A `BlobCreated` CloudEvent.
pub(crate) fn parse_cloudevent(obj: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let obj = obj.clone().with_format("azure-blob");
    let envelope = Envelope {
        source: Some(obj.req_str("source")?),
        time: opt_time(&obj, "time")?,
        traceparent: obj.opt_str("traceparent")?,
    };
    blob_created(&obj, envelope)
}

/// Any other `Microsoft.Storage.*` event, in either schema.
fn ignored_storage_event(obj: &Obj<'_>, event_type: &str) -> Parsed {
    let blob = obj
        .get("subject")
        .and_then(serde_json::Value::as_str)
        .and_then(split_subject);
    ignored(
        format!("Azure event {event_type:?} is not a blob creation"),
        blob.map(|(container, _)| container),
        blob.map(|(_, path)| path),
    )
}

/// Any other `Microsoft.Storage.*` CloudEvent.
pub(crate) fn ignored_cloudevent(obj: &Obj<'_>, event_type: &str) -> Parsed {
    ignored_storage_event(obj, event_type)
}

/// An event in the Event Grid schema.
pub(crate) fn parse_event_grid(obj: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let obj = obj.clone().with_format("azure-blob");
    let event_type = obj.req_str("eventType")?;
    match event_type {
        BLOB_CREATED => {
            let envelope = Envelope {
                source: obj.opt_nonempty_str("topic")?,
                time: opt_time(&obj, "eventTime")?,
                traceparent: obj.opt_str("traceparent")?,
            };
            blob_created(&obj, envelope)
        }
        SUBSCRIPTION_VALIDATION => Ok(ignored(
            "Event Grid subscription validation handshake: the HTTP endpoint must echo data.validationCode; no blob was created",
            None,
            None,
        )),
        other if other.starts_with(TYPE_PREFIX) => Ok(ignored_storage_event(&obj, other)),
        other => Err(NormalizeError::UnknownFormat(format!(
            "an Event Grid event of type {other:?}; only {BLOB_CREATED:?} is read"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_subject_with_and_without_leading_slash() {
        assert_eq!(
            split_subject("/blobServices/default/containers/photos/blobs/2024/a b.jpg"),
            Some(("photos", "2024/a b.jpg"))
        );
        assert_eq!(
            split_subject("blobServices/default/containers/photos/blobs/x.png"),
            Some(("photos", "x.png"))
        );
    }

    #[test]
    fn split_subject_blob_path_may_contain_blobs_segment() {
        assert_eq!(
            split_subject("/blobServices/default/containers/c/blobs/a/blobs/b.jpg"),
            Some(("c", "a/blobs/b.jpg"))
        );
    }

    #[test]
    fn split_subject_rejects_other_shapes() {
        assert_eq!(split_subject("/blobServices/default/containers/c"), None);
        assert_eq!(
            split_subject("/blobServices/default/containers/c/blobs/"),
            None
        );
        assert_eq!(
            split_subject("/fileServices/default/shares/s/files/f"),
            None
        );
    }
}
