//! Amazon EventBridge events from S3.
//!
//! Two shapes share the EventBridge envelope (`version`, `id`,
//! `detail-type`, `source`, `time`, `detail`):
//!
//! * `"detail-type": "Object Created"`: S3's native EventBridge integration,
//!   object under `detail.object` with `etag` and `version-id`;
//! * `"detail-type": "AWS API Call via CloudTrail"`: a CloudTrail data event,
//!   either carrying an S3 notification record under `detail.s3` or, as
//!   CloudTrail itself writes it, the bucket and key under
//!   `detail.requestParameters`.
//!
//! Keys: S3 writes `detail.object.key` of its own EventBridge events
//! form-encoded, like its notification records (`+` for space, `%XX`), and
//! an S3 record under `detail.s3` is such a record; CloudTrail's
//! `requestParameters.key` is the key as the API call named it, verbatim.
//! The evidence for each is in `docs/events.md`. Other `aws.s3` detail types
//! ("Object Deleted", "Object Restore Completed", ...) are ignored; events
//! from other sources are an unknown format.

use super::{ignored, loose_str, object_fields, opt_time, KeyEncoding, Parsed, RawObject};
use crate::canonical::SourceFormat;
use crate::error::NormalizeError;
use crate::json::Obj;

/// `detail-type` of S3's native EventBridge creation event.
const OBJECT_CREATED: &str = "Object Created";

/// `detail-type` of CloudTrail API-call events.
const CLOUDTRAIL_CALL: &str = "AWS API Call via CloudTrail";

/// CloudTrail event names that create an object.
const CREATE_CALLS: &[&str] = &[
    "PutObject",
    "CopyObject",
    "CompleteMultipartUpload",
    "PostObject",
];

/// Whether a CloudTrail-shaped `eventName` creates an object: an S3
/// notification name containing `ObjectCreated`, or one of [`CREATE_CALLS`].
pub(crate) fn is_create_call(event_name: &str) -> bool {
    event_name.contains("ObjectCreated") || CREATE_CALLS.contains(&event_name)
}

/// Reads an EventBridge event.
pub(crate) fn parse(obj: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let obj = obj.clone().with_format("eventbridge");
    let detail_type = obj.req_str("detail-type")?;
    let source = obj.req_str("source")?;
    if source != "aws.s3" {
        return Err(NormalizeError::UnknownFormat(format!(
            "an EventBridge event from source {source:?} (detail-type {detail_type:?}); only \"aws.s3\" events are read"
        )));
    }
    let detail = obj.req_obj("detail")?;
    if detail.has("s3") {
        return cloudtrail_s3_record(&obj, &detail.with_format("eventbridge-cloudtrail"));
    }
    match detail_type {
        OBJECT_CREATED => object_created(&obj, &detail),
        CLOUDTRAIL_CALL => cloudtrail_call(&obj, &detail.with_format("eventbridge-cloudtrail")),
        other => {
            let bucket = detail.opt_obj("bucket").ok().flatten();
            let object = detail.opt_obj("object").ok().flatten();
            let key = loose_str(object.as_ref(), "key")
                .map(|raw| crate::key::decode_form_key(raw).unwrap_or_else(|_| raw.to_owned()));
            Ok(ignored(
                format!("EventBridge {other:?} event is not an object creation"),
                loose_str(bucket.as_ref(), "name"),
                key.as_deref(),
            ))
        }
    }
}

/// The event time: the envelope's `time`, else `detail.eventTime`.
fn event_time(obj: &Obj<'_>, detail: &Obj<'_>) -> Result<Option<String>, NormalizeError> {
    match opt_time(obj, "time")? {
        Some(time) => Ok(Some(time)),
        None => opt_time(detail, "eventTime"),
    }
}

/// `"detail-type": "Object Created"`.
fn object_created(obj: &Obj<'_>, detail: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let bucket = detail.req_obj("bucket")?.req_str("name")?;
    let object = object_fields(&detail.req_obj("object")?, KeyEncoding::Form)?;
    Ok(Parsed::Object(Box::new(RawObject {
        format: SourceFormat::EventBridge,
        source: format!("aws:s3/{bucket}"),
        bucket: bucket.to_owned(),
        key: object.key,
        size: object.size,
        etag: object.etag,
        sequencer: object.sequencer,
        version_id: object.version_id,
        content_type: object.content_type,
        time: opt_time(obj, "time")?,
        traceparent: None,
        generated_marker: object.generated_marker,
        id: None,
    })))
}

/// A CloudTrail-shaped event carrying an S3 notification record in
/// `detail.s3`, whose key is form-encoded like every S3 notification
/// record's. The detail may repeat `eventName`; the JSON reader keeps the
/// last one.
fn cloudtrail_s3_record(obj: &Obj<'_>, detail: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let event_name = detail.req_str("eventName")?;
    let s3 = detail.req_obj("s3")?;
    let bucket = s3.req_obj("bucket")?.req_str("name")?;
    let object = object_fields(&s3.req_obj("object")?, KeyEncoding::Form)?;
    if !is_create_call(event_name) {
        return Ok(ignored(
            format!("CloudTrail event {event_name:?} is not an object creation"),
            Some(bucket),
            Some(&object.key),
        ));
    }
    Ok(Parsed::Object(Box::new(RawObject {
        format: SourceFormat::EventBridgeCloudTrail,
        source: format!("aws:s3/{bucket}"),
        bucket: bucket.to_owned(),
        key: object.key,
        size: object.size,
        etag: object.etag,
        sequencer: object.sequencer,
        version_id: object.version_id,
        content_type: object.content_type,
        time: event_time(obj, detail)?,
        traceparent: None,
        generated_marker: object.generated_marker,
        id: None,
    })))
}

/// A CloudTrail data event as CloudTrail writes it: bucket and key in
/// `detail.requestParameters` (the key verbatim), no size or etag; the
/// version id comes from `responseElements.x-amz-version-id` when the bucket
/// is versioned.
fn cloudtrail_call(obj: &Obj<'_>, detail: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let event_name = detail.req_str("eventName")?;
    let params = detail.opt_obj("requestParameters").ok().flatten();
    if !is_create_call(event_name) {
        return Ok(ignored(
            format!("CloudTrail event {event_name:?} is not an object creation"),
            loose_str(params.as_ref(), "bucketName"),
            loose_str(params.as_ref(), "key"),
        ));
    }
    let params = detail.req_obj("requestParameters")?;
    let bucket = params.req_str("bucketName")?;
    let key = params.req_str("key")?;
    let version_id = match detail.opt_obj("responseElements")? {
        Some(response) => response.opt_id("x-amz-version-id")?,
        None => None,
    };
    Ok(Parsed::Object(Box::new(RawObject {
        format: SourceFormat::EventBridgeCloudTrail,
        source: format!("aws:s3/{bucket}"),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size: None,
        etag: None,
        sequencer: None,
        version_id,
        content_type: None,
        time: event_time(obj, detail)?,
        traceparent: None,
        generated_marker: false,
        id: None,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_create_call_names() {
        for name in [
            "PutObject",
            "CopyObject",
            "CompleteMultipartUpload",
            "PostObject",
            "ObjectCreated:Put",
        ] {
            assert!(is_create_call(name), "{name}");
        }
        for name in [
            "GetObject",
            "DeleteObject",
            "UploadPart",
            "ObjectRemoved:Delete",
        ] {
            assert!(!is_create_call(name), "{name}");
        }
    }
}
