//! S3-shaped `Records` events: Amazon S3 notifications, MinIO and Ceph RADOS
//! Gateway bucket notifications, and thumbflow's own gateway events.
//!
//! They are told apart by each record's `eventSource`: `aws:s3`, `minio:s3`,
//! `ceph:s3`, `thumbflow:gateway`. S3, MinIO and the gateway form-encode the
//! key; Ceph RGW sends it raw. MinIO prefixes event names with `s3:`
//! (`s3:ObjectCreated:Put`) and adds `contentType` and `userMetadata` to the
//! object; the top-level `EventName`/`Key` MinIO adds are ignored in favour of
//! the records. Ceph sends object metadata as a `metadata` list of
//! `{"key", "val"}` pairs with lower-case names, `"versionId": ""` on
//! unversioned buckets, no `contentType`, and extra fields (`eventId`,
//! `opaqueData`, `tags`, bucket `id`) that are not needed and not read.

use serde_json::Value;

use super::{ignored, object_fields, opt_time, KeyEncoding, Parsed, RawObject};
use crate::canonical::SourceFormat;
use crate::error::NormalizeError;
use crate::gateway::GATEWAY_EVENT_SOURCE;
use crate::json::{child_path, kind, Obj};

/// `eventSource` of Ceph RADOS Gateway notification records.
pub(crate) const CEPH_EVENT_SOURCE: &str = "ceph:s3";

/// `Event` of the message S3 sends when a notification configuration is saved.
pub(crate) const TEST_EVENT: &str = "s3:TestEvent";

/// Whether an S3 or MinIO `eventName` is an object creation
/// (`ObjectCreated:*`, MinIO `s3:ObjectCreated:*`).
pub(crate) fn is_create_event(event_name: &str) -> bool {
    event_name
        .strip_prefix("s3:")
        .unwrap_or(event_name)
        .starts_with("ObjectCreated:")
}

/// The `s3:TestEvent` message: nothing happened to any object.
pub(crate) fn test_event(obj: &Obj<'_>) -> Parsed {
    ignored(
        "S3 test event (s3:TestEvent), sent when a bucket notification is configured: no object was created",
        obj.get("Bucket").and_then(Value::as_str),
        None,
    )
}

/// Reads every record of a `Records` event.
pub(crate) fn parse_records(obj: &Obj<'_>) -> Result<Vec<Parsed>, NormalizeError> {
    let obj = obj.clone().with_format("s3");
    let records_path = obj.field("Records");
    let records = match obj.get("Records") {
        Some(Value::Array(records)) => records,
        Some(other) => {
            return Err(NormalizeError::invalid(
                records_path,
                format!("expected an array of records, found {}", kind(other)),
            ))
        }
        None => return Err(obj.missing("Records")),
    };
    if records.is_empty() {
        return Err(NormalizeError::invalid(
            records_path,
            "is empty: an S3-style event carries at least one record",
        ));
    }
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let path = child_path(&records_path, &format!("[{index}]"));
            match record {
                Value::Object(map) => parse_record(&Obj::new(map, path, "s3")),
                other => Err(NormalizeError::invalid(
                    path,
                    format!("expected a record object, found {}", kind(other)),
                )),
            }
        })
        .collect()
}

/// Reads one record.
fn parse_record(record: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let event_source = record.req_str("eventSource")?;
    let (format, format_name, encoding) = match event_source {
        "aws:s3" => (SourceFormat::S3, "s3", KeyEncoding::Form),
        "minio:s3" => (SourceFormat::Minio, "minio", KeyEncoding::Form),
        CEPH_EVENT_SOURCE => (SourceFormat::Ceph, "ceph", KeyEncoding::AsIs),
        GATEWAY_EVENT_SOURCE => (SourceFormat::Gateway, "gateway", KeyEncoding::Form),
        other => {
            return Err(NormalizeError::UnknownFormat(format!(
                "an S3-style record at {} with eventSource {other:?}; supported: \"aws:s3\", \"minio:s3\", {CEPH_EVENT_SOURCE:?}, {GATEWAY_EVENT_SOURCE:?}",
                record.path()
            )))
        }
    };
    let record = record.clone().with_format(format_name);
    let event_name = record.req_str("eventName")?;
    let s3 = record.req_obj("s3")?;
    let bucket = s3.req_obj("bucket")?.req_str("name")?;
    let object = object_fields(&s3.req_obj("object")?, encoding)?;
    if !is_create_event(event_name) {
        return Ok(ignored(
            format!("event {event_name:?} is not an object creation"),
            Some(bucket),
            Some(&object.key),
        ));
    }
    Ok(Parsed::Object(Box::new(RawObject {
        format,
        source: format!("{event_source}/{bucket}"),
        bucket: bucket.to_owned(),
        key: object.key,
        size: object.size,
        etag: object.etag,
        sequencer: object.sequencer,
        version_id: object.version_id,
        content_type: object.content_type,
        time: opt_time(&record, "eventTime")?,
        // Only thumbflow's gateway writes one; S3, MinIO and Ceph do not.
        traceparent: record.opt_str("traceparent")?.map(str::to_owned),
        generated_marker: object.generated_marker,
        id: None,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_create_event_accepts_s3_and_minio_names() {
        for name in [
            "ObjectCreated:Put",
            "ObjectCreated:Post",
            "ObjectCreated:Copy",
            "ObjectCreated:CompleteMultipartUpload",
            "s3:ObjectCreated:Put",
        ] {
            assert!(is_create_event(name), "{name}");
        }
        for name in [
            "ObjectRemoved:Delete",
            "s3:ObjectRemoved:DeleteMarkerCreated",
            "s3:ObjectAccessed:Get",
            "ObjectRestore:Completed",
            "ObjectTagging:Put",
            "LifecycleExpiration:Delete",
        ] {
            assert!(!is_create_event(name), "{name}");
        }
    }
}
