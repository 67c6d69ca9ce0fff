//! The event thumbflow's HTTP upload gateway publishes after storing an
//! upload.
//!
//! Deliberately S3-shaped (a `Records` array, form-encoded key) so the
//! normalizer reads it with the same code as S3 and MinIO, and so a
//! deployment can swap the gateway for real S3 notifications without
//! touching later stages. Only `eventSource` tells them apart.

use serde::Serialize;

use crate::json::to_json_text;
use crate::key::encode_form_key;

/// `eventSource` of gateway records.
pub const GATEWAY_EVENT_SOURCE: &str = "thumbflow:gateway";

#[derive(Serialize)]
struct Notification<'a> {
    #[serde(rename = "Records")]
    records: [Record<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    event_source: &'static str,
    aws_region: &'static str,
    event_time: &'a str,
    event_name: &'static str,
    s3: S3<'a>,
    /// W3C trace context of the upload (not an S3 field: S3 and MinIO
    /// records have none, so the normalizer reads it only when present).
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct S3<'a> {
    s3_schema_version: &'static str,
    bucket: Bucket<'a>,
    object: Object<'a>,
}

#[derive(Serialize)]
struct Bucket<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<'a> {
    key: String,
    size: u64,
    #[serde(rename = "eTag")]
    etag: &'a str,
    content_type: &'a str,
    /// Orders uploads of one key (see [`upload_sequencer`]); absent only in
    /// events built without one (tests, older gateways).
    #[serde(skip_serializing_if = "Option::is_none")]
    sequencer: Option<&'a str>,
}

/// S3-style `ObjectCreated:Put` notification our HTTP gateway publishes
/// after an upload: one record, `eventSource` [`GATEWAY_EVENT_SOURCE`], key
/// form-encoded like S3's (`a b+c.jpg` -> `a+b%2Bc.jpg`), plus the object's
/// `contentType`. `time` should be RFC 3339; [`normalize`](fn@crate::normalize)
/// rejects it otherwise.
pub fn gateway_put_event(
    bucket: &str,
    key: &str,
    size: u64,
    etag: &str,
    content_type: &str,
    time: &str,
) -> String {
    gateway_put_event_in_trace(bucket, key, size, etag, content_type, time, None, None)
}

/// The `sequencer` of a gateway upload stored at `unix_nanos`: 32 hex
/// digits, so later uploads compare greater as text, as S3's sequencers do.
///
/// Without it an upload's identity would be its content alone (the gateway's
/// ETag is the bytes' hash): uploading A, then B, then A again under one key
/// would give the third upload the first one's event id, settle it as a
/// duplicate and leave B's thumbnail on A. With it every upload is its own
/// event, and a late older event can never overwrite a newer thumbnail.
pub fn upload_sequencer(unix_nanos: i128) -> String {
    format!("{:032X}", unix_nanos.max(0))
}

/// [`gateway_put_event`] carrying the upload's `traceparent` (see
/// [`upload_traceparent`](crate::upload_traceparent)), which the canonical
/// event and every later one keep, and its [`upload_sequencer`].
#[allow(clippy::too_many_arguments)]
pub fn gateway_put_event_in_trace(
    bucket: &str,
    key: &str,
    size: u64,
    etag: &str,
    content_type: &str,
    time: &str,
    traceparent: Option<&str>,
    sequencer: Option<&str>,
) -> String {
    to_json_text(&Notification {
        records: [Record {
            event_version: "2.1",
            event_source: GATEWAY_EVENT_SOURCE,
            aws_region: "",
            event_time: time,
            event_name: "ObjectCreated:Put",
            s3: S3 {
                s3_schema_version: "1.0",
                bucket: Bucket { name: bucket },
                object: Object {
                    key: encode_form_key(key),
                    size,
                    etag,
                    content_type,
                    sequencer,
                },
            },
            traceparent,
        }],
    })
}
