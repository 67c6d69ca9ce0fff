//! Object keys from every producer the normalizer accepts: one awkward key
//! (space, `+`, `%`, `&`, non-ASCII) written the way each producer really
//! writes it must come out as exactly that key, so the thumbnailer reads the
//! object that was uploaded. `docs/events.md` gives each producer's rule and
//! its source.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use thumbflow_events::{
    gateway_put_event, normalize, structured_from_binary, CanonicalEvent, NormalizeError,
    SourceFormat,
};

/// The key every test must get back.
const KEY: &str = "photos/a b+c%d&é.jpg";

/// [`KEY`] as S3 writes it in notification records and EventBridge events:
/// form-encoded (`+` for space, `%XX` for everything else unusual), `/` kept.
const KEY_S3_FORM: &str = "photos/a+b%2Bc%25d%26%C3%A9.jpg";

/// [`KEY`] as MinIO writes it: Go's `url.QueryEscape`, which also escapes `/`.
const KEY_MINIO_FORM: &str = "photos%2Fa+b%2Bc%25d%26%C3%A9.jpg";

/// [`KEY`] in a URL path (Azure `data.url`) or a CloudEvents HTTP header:
/// percent-encoded, space as `%20`, `+` and `&` left alone.
const KEY_PERCENT: &str = "photos/a%20b+c%25d&%C3%A9.jpg";

fn raw(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// An S3-shaped `Records` event with one creation record.
fn records_event(event_source: &str, event_name: &str, key: &str) -> Vec<u8> {
    raw(&json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": event_source,
        "eventTime": "2024-03-08T10:00:00.000Z",
        "eventName": event_name,
        "s3": {
            "bucket": {"name": "photos-bucket"},
            "object": {"key": key, "size": 1234, "eTag": "0123456789abcdef0123456789abcdef"}
        }
    }]}))
}

fn assert_key(event: &CanonicalEvent, format: SourceFormat) {
    assert_eq!(event.data.key, KEY);
    assert_eq!(event.subject, KEY);
    assert_eq!(event.data.source_format, format);
}

// --- form-encoding producers ------------------------------------------------------------

#[test]
fn s3_records_key_is_form_decoded() {
    let event = only_accepted(&records_event("aws:s3", "ObjectCreated:Put", KEY_S3_FORM));
    assert_key(&event, SourceFormat::S3);
    assert_eq!(event.data.bucket, "photos-bucket");
}

#[test]
fn s3_records_raw_key_is_rejected_not_guessed() {
    // A producer that does not encode cannot be read as S3: `%d&` is not an
    // escape, and publishing a guess would name an object that may not exist.
    let err = normalize(&records_event("aws:s3", "ObjectCreated:Put", KEY), &opts()).unwrap_err();
    assert!(
        matches!(err, NormalizeError::InvalidKeyEncoding { ref key, .. } if key == KEY),
        "{err:?}"
    );
}

#[test]
fn minio_key_with_escaped_slash_is_form_decoded() {
    let event = only_accepted(&records_event(
        "minio:s3",
        "s3:ObjectCreated:Put",
        KEY_MINIO_FORM,
    ));
    assert_key(&event, SourceFormat::Minio);
}

#[test]
fn gateway_key_is_form_encoded_and_decoded_back() {
    let written = gateway_put_event(
        "photos-bucket",
        KEY,
        1234,
        "0123456789abcdef0123456789abcdef",
        "image/jpeg",
        "2024-03-08T10:00:00Z",
    );
    let value: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(value["Records"][0]["s3"]["object"]["key"], KEY_S3_FORM);
    assert_key(&only_accepted(written.as_bytes()), SourceFormat::Gateway);
}

#[test]
fn eventbridge_object_created_key_is_form_decoded() {
    let event = only_accepted(&raw(&json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": "2024-03-08T10:00:00Z",
        "detail": {
            "version": "0",
            "bucket": {"name": "photos-bucket"},
            "object": {"key": KEY_S3_FORM, "size": 1234, "etag": "b1946ac92492d2347c6235b4d2611184"},
            "reason": "PutObject"
        }
    })));
    assert_key(&event, SourceFormat::EventBridge);
}

#[test]
fn eventbridge_object_deleted_reports_decoded_key() {
    let ignored = only_ignored(&raw(&json!({
        "version": "0",
        "detail-type": "Object Deleted",
        "source": "aws.s3",
        "detail": {"bucket": {"name": "photos-bucket"}, "object": {"key": KEY_S3_FORM}}
    })));
    assert_eq!(ignored.key.as_deref(), Some(KEY));
}

#[test]
fn eventbridge_cloudtrail_s3_record_key_is_form_decoded() {
    let event = only_accepted(&raw(&json!({
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "time": "2024-03-08T10:00:00Z",
        "detail": {
            "eventSource": "s3.amazonaws.com",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "photos-bucket"}, "object": {"key": KEY_S3_FORM, "size": 1234}}
        }
    })));
    assert_key(&event, SourceFormat::EventBridgeCloudTrail);
}

// --- producers that send the key as it is ------------------------------------------------

#[test]
fn ceph_key_is_taken_raw() {
    let event = only_accepted(&records_event("ceph:s3", "ObjectCreated:Put", KEY));
    assert_key(&event, SourceFormat::Ceph);
    assert_eq!(event.source, "ceph:s3/photos-bucket");
}

#[test]
fn ceph_key_that_looks_encoded_is_not_decoded() {
    // `%41` and `+` in an RGW key are the characters themselves: decoding
    // them would read `aA b.jpg`, another object.
    let event = only_accepted(&records_event("ceph:s3", "ObjectCreated:Put", "a%41+b.jpg"));
    assert_eq!(event.data.key, "a%41+b.jpg");
    // The same text from S3 is an encoded key.
    let event = only_accepted(&records_event("aws:s3", "ObjectCreated:Put", "a%41+b.jpg"));
    assert_eq!(event.data.key, "aA b.jpg");
}

#[test]
fn cloudtrail_request_parameters_key_is_taken_raw() {
    let event = only_accepted(&raw(&json!({
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "time": "2024-03-08T10:00:00Z",
        "detail": {
            "eventSource": "s3.amazonaws.com",
            "eventName": "PutObject",
            "requestParameters": {"bucketName": "photos-bucket", "key": KEY}
        }
    })));
    assert_key(&event, SourceFormat::EventBridgeCloudTrail);
}

/// A GCS `finalized` CloudEvent for [`KEY`], structured mode.
fn gcs_event() -> serde_json::Value {
    json!({
        "specversion": "1.0",
        "id": "14406128144428067",
        "type": "google.cloud.storage.object.v1.finalized",
        "source": "//storage.googleapis.com/projects/_/buckets/photos-bucket",
        "subject": format!("objects/{KEY}"),
        "time": "2024-03-08T10:00:00.000Z",
        "data": {"bucket": "photos-bucket", "name": KEY, "size": "1234", "generation": "1709892000000000"}
    })
}

#[test]
fn gcs_name_is_taken_raw() {
    assert_key(&only_accepted(&raw(&gcs_event())), SourceFormat::Gcs);
}

#[test]
fn gcs_subject_is_used_raw_when_name_is_missing() {
    let mut event = gcs_event();
    event["data"].as_object_mut().unwrap().remove("name");
    assert_key(&only_accepted(&raw(&event)), SourceFormat::Gcs);
}

#[test]
fn cloudevents_binary_mode_subject_header_is_percent_decoded_only() {
    // The CloudEvents HTTP binding percent-encodes header values (space, `%`,
    // non-ASCII); a `+` in a header is a plus, not a space.
    let headers: Vec<(String, String)> = [
        ("ce-specversion", "1.0"),
        ("ce-id", "14406128144428067"),
        ("ce-type", "google.cloud.storage.object.v1.finalized"),
        (
            "ce-source",
            "//storage.googleapis.com/projects/_/buckets/photos-bucket",
        ),
        ("ce-subject", &format!("objects/{KEY_PERCENT}")),
        ("ce-time", "2024-03-08T10:00:00.000Z"),
        ("content-type", "application/json"),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
    .collect();
    let body = raw(&json!({"bucket": "photos-bucket", "name": KEY, "size": "1234"}));
    let structured = structured_from_binary(&headers, &body).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&structured).unwrap();
    assert_eq!(value["subject"], format!("objects/{KEY}"));
    assert_key(&only_accepted(&structured), SourceFormat::Gcs);
}

/// The `subject` and `data` Azure writes for [`KEY`] in container `photos`.
fn azure_blob_fields() -> (String, serde_json::Value) {
    (
        format!("/blobServices/default/containers/photos/blobs/{KEY}"),
        json!({
            "api": "PutBlob",
            "eTag": "0x8DC3F8A4C9B2E1F",
            "contentType": "image/jpeg",
            "contentLength": 1234,
            "blobType": "BlockBlob",
            "url": format!("https://account.blob.core.windows.net/photos/{KEY_PERCENT}"),
            "sequencer": "0000000000000000000000000001a6f20000000000a1b2c3"
        }),
    )
}

#[test]
fn azure_cloudevent_subject_path_is_taken_raw_not_the_url() {
    let (subject, data) = azure_blob_fields();
    let event = only_accepted(&raw(&json!({
        "specversion": "1.0",
        "type": "Microsoft.Storage.BlobCreated",
        "id": "5b8e1c2a-701e-0042-1f3d-71a1c2064c3e",
        "source": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/account",
        "subject": subject,
        "time": "2024-03-08T10:00:00.0000000Z",
        "data": data
    })));
    assert_key(&event, SourceFormat::AzureBlob);
    assert_eq!(event.data.bucket, "photos");
}

#[test]
fn azure_event_grid_subject_path_is_taken_raw() {
    let (subject, data) = azure_blob_fields();
    let event = only_accepted(&raw(&json!([{
        "topic": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/account",
        "subject": subject,
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2024-03-08T10:00:00.0000000Z",
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "data": data,
        "dataVersion": "",
        "metadataVersion": "1"
    }])));
    assert_key(&event, SourceFormat::AzureBlob);
}

#[test]
fn thumbflow_envelope_key_is_taken_raw() {
    let first = only_accepted(&records_event("ceph:s3", "ObjectCreated:Put", KEY));
    let again = only_accepted(first.to_envelope().as_bytes());
    assert_eq!(again, first);
    assert_eq!(again.data.key, KEY);
}
