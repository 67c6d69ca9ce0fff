//! Malformed and unsupported input: every case is a reject with the error
//! variant and message that tell an operator what is wrong, and none is
//! retryable.

mod common;

use common::*;
use thumbflow_events::{normalize, NormalizeError, NormalizeOptions};

/// Normalizes `raw` expecting an error.
fn reject(raw: &[u8]) -> NormalizeError {
    let err = match normalize(raw, &opts()) {
        Ok(outcomes) => panic!("expected a reject, got {outcomes:?}"),
        Err(err) => err,
    };
    assert!(!err.is_retryable(), "{err:?}");
    err
}

/// A one-record S3 event whose object is `object` (raw JSON text).
fn s3_with_object(object: &str) -> String {
    format!(
        r#"{{"Records":[{{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"2024-03-08T10:00:00Z","s3":{{"bucket":{{"name":"b"}},"object":{object}}}}}]}}"#
    )
}

fn assert_invalid_field(err: &NormalizeError, expected_field: &str, detail_mentions: &str) {
    match err {
        NormalizeError::InvalidField { field, detail } => {
            assert_eq!(field, expected_field, "{err}");
            assert!(
                detail.contains(detail_mentions),
                "{detail:?} lacks {detail_mentions:?}"
            );
        }
        other => panic!("expected InvalidField for {expected_field}, got {other:?}"),
    }
}

#[test]
fn normalize_truncated_json_is_not_json() {
    let raw = sample("s3-put.json");
    let err = reject(&raw[..raw.len() / 2]);
    assert!(matches!(err, NormalizeError::NotJson(_)), "{err:?}");
    assert!(err.to_string().starts_with("event is not JSON"), "{err}");
}

#[test]
fn normalize_binary_garbage_is_not_json() {
    let err = reject(&[0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]);
    assert!(matches!(err, NormalizeError::NotJson(_)), "{err:?}");
}

#[test]
fn normalize_oversized_event_is_too_large_before_parsing() {
    let options = NormalizeOptions {
        max_event_bytes: 16,
        ..opts()
    };
    // Not JSON either: the size check must come first.
    let err = normalize(b"this is not json but is long", &options).unwrap_err();
    assert_eq!(err, NormalizeError::TooLarge { size: 28, max: 16 });
    assert!(err.to_string().contains("max_event_bytes"), "{err}");
}

#[test]
fn normalize_event_of_exactly_max_bytes_is_read() {
    let raw = sample("s3-put.json");
    let options = NormalizeOptions {
        max_event_bytes: raw.len(),
        ..opts()
    };
    assert_eq!(normalize(&raw, &options).unwrap().len(), 1);
}

#[test]
fn normalize_default_limit_is_eventbridge_256_kib() {
    assert_eq!(NormalizeOptions::default().max_event_bytes, 262_144);
    let raw = vec![b' '; 262_145];
    assert!(matches!(
        normalize(&raw, &NormalizeOptions::default()),
        Err(NormalizeError::TooLarge {
            size: 262_145,
            max: 262_144
        })
    ));
}

#[test]
fn normalize_records_not_an_array_is_invalid_field() {
    let err = reject(br#"{"Records":{"eventSource":"aws:s3"}}"#);
    assert_invalid_field(&err, "Records", "found an object");
}

#[test]
fn normalize_empty_records_is_invalid_field() {
    let err = reject(br#"{"Records":[]}"#);
    assert_invalid_field(&err, "Records", "empty");
}

#[test]
fn normalize_record_not_an_object_is_invalid_field() {
    let err = reject(br#"{"Records":["ObjectCreated:Put"]}"#);
    assert_invalid_field(&err, "Records[0]", "found a string");
}

#[test]
fn normalize_key_not_a_string_is_invalid_field() {
    let err = reject(s3_with_object(r#"{"key":12345,"size":1}"#).as_bytes());
    assert_invalid_field(
        &err,
        "Records[0].s3.object.key",
        "expected a string, found a number",
    );
}

#[test]
fn normalize_empty_key_is_invalid_field() {
    let err = reject(s3_with_object(r#"{"key":""}"#).as_bytes());
    assert_invalid_field(&err, "Records[0].s3.object.key", "empty");
}

#[test]
fn normalize_negative_size_is_invalid_field() {
    let err = reject(s3_with_object(r#"{"key":"a.jpg","size":-1}"#).as_bytes());
    assert_invalid_field(&err, "Records[0].s3.object.size", "non-negative integer");
}

#[test]
fn normalize_missing_bucket_name_is_missing_field() {
    let raw = br#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{},"object":{"key":"a.jpg"}}}]}"#;
    assert_eq!(
        reject(raw),
        NormalizeError::MissingField {
            format: "s3",
            field: String::from("Records[0].s3.bucket.name")
        }
    );
}

#[test]
fn normalize_missing_bucket_object_in_second_record_names_its_index() {
    let good = r#"{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a.jpg"}}}"#;
    let bad = r#"{"eventSource":"minio:s3","eventName":"s3:ObjectCreated:Put","s3":{"object":{"key":"a.jpg"}}}"#;
    let raw = format!(r#"{{"Records":[{good},{bad}]}}"#);
    assert_eq!(
        reject(raw.as_bytes()),
        NormalizeError::MissingField {
            format: "minio",
            field: String::from("Records[1].s3.bucket")
        }
    );
}

#[test]
fn normalize_bad_percent_escape_is_invalid_key_encoding() {
    let err = reject(s3_with_object(r#"{"key":"photos/100%.jpg"}"#).as_bytes());
    match err {
        NormalizeError::InvalidKeyEncoding { key, detail } => {
            assert_eq!(key, "photos/100%.jpg");
            assert!(detail.contains("percent escape"), "{detail}");
        }
        other => panic!("expected InvalidKeyEncoding, got {other:?}"),
    }
}

#[test]
fn normalize_non_utf8_key_is_invalid_key_encoding() {
    let err = reject(s3_with_object(r#"{"key":"caf%E9.jpg"}"#).as_bytes());
    assert!(
        matches!(err, NormalizeError::InvalidKeyEncoding { ref key, .. } if key == "caf%E9.jpg"),
        "{err:?}"
    );
}

#[test]
fn normalize_invalid_event_time_is_invalid_field() {
    let raw = br#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"last tuesday","s3":{"bucket":{"name":"b"},"object":{"key":"a.jpg"}}}]}"#;
    assert_invalid_field(&reject(raw), "Records[0].eventTime", "RFC 3339");
}

#[test]
fn normalize_invalid_received_at_rejected_when_needed() {
    let options = NormalizeOptions {
        received_at: String::from("now"),
        ..opts()
    };
    // The S3 sample has its own time: received_at is not used.
    assert!(normalize(&sample("s3-put.json"), &options).is_ok());
    let timeless = br#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a.jpg"}}}]}"#;
    let err = normalize(timeless, &options).unwrap_err();
    assert_invalid_field(&err, "received_at", "RFC 3339");
}

#[test]
fn normalize_unknown_event_source_is_unknown_format() {
    let raw = br#"{"Records":[{"eventSource":"acme:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a.jpg"}}}]}"#;
    match reject(raw) {
        NormalizeError::UnknownFormat(what) => {
            assert!(what.contains("acme:s3"), "{what}");
            // The message lists what is supported, Ceph included.
            assert!(what.contains("ceph:s3"), "{what}");
        }
        other => panic!("expected UnknownFormat, got {other:?}"),
    }
}

/// A one-record Ceph RGW event whose object is `object` (raw JSON text).
fn ceph_with_object(object: &str) -> String {
    format!(
        r#"{{"Records":[{{"eventVersion":"2.2","eventSource":"ceph:s3","eventName":"ObjectCreated:Put","eventTime":"2026-12-01T08:31:54.388865Z","s3":{{"bucket":{{"name":"photos"}},"object":{object}}}}}]}}"#
    )
}

#[test]
fn normalize_ceph_metadata_not_a_list_is_invalid_field() {
    let raw = ceph_with_object(r#"{"key":"a.jpg","metadata":"x-amz-meta-a=b"}"#);
    let err = reject(raw.as_bytes());
    assert_invalid_field(&err, "Records[0].s3.object.metadata", "an array");
}

#[test]
fn normalize_ceph_metadata_entry_not_an_object_is_invalid_field() {
    let raw = ceph_with_object(r#"{"key":"a.jpg","metadata":[{"key":"a","val":"b"},"c"]}"#);
    let err = reject(raw.as_bytes());
    assert_invalid_field(&err, "Records[0].s3.object.metadata[1]", "found a string");
}

#[test]
fn normalize_ceph_metadata_entry_without_key_is_missing_field() {
    let raw = ceph_with_object(r#"{"key":"a.jpg","metadata":[{"val":"true"}]}"#);
    match reject(raw.as_bytes()) {
        NormalizeError::MissingField { format, field } => {
            assert_eq!(format, "ceph");
            assert_eq!(field, "Records[0].s3.object.metadata[0].key");
        }
        other => panic!("expected MissingField, got {other:?}"),
    }
}

#[test]
fn normalize_ceph_missing_key_is_missing_field() {
    let raw = ceph_with_object(r#"{"size":1,"eTag":"abc"}"#);
    match reject(raw.as_bytes()) {
        NormalizeError::MissingField { format, field } => {
            assert_eq!(format, "ceph");
            assert_eq!(field, "Records[0].s3.object.key");
        }
        other => panic!("expected MissingField, got {other:?}"),
    }
}

#[test]
fn normalize_unknown_object_names_its_keys() {
    match reject(br#"{"kind":"storage#object","name":"a.jpg"}"#) {
        NormalizeError::UnknownFormat(what) => {
            assert!(what.contains("\"kind\""), "{what}");
            assert!(what.contains("\"name\""), "{what}");
        }
        other => panic!("expected UnknownFormat, got {other:?}"),
    }
}

#[test]
fn normalize_unknown_cloudevent_type_names_the_type() {
    let raw = br#"{"specversion":"1.0","id":"1","source":"/x","type":"com.example.order.placed","data":{}}"#;
    match reject(raw) {
        NormalizeError::UnknownFormat(what) => {
            assert!(what.contains("com.example.order.placed"), "{what}")
        }
        other => panic!("expected UnknownFormat, got {other:?}"),
    }
}

#[test]
fn normalize_eventbridge_from_other_source_is_unknown_format() {
    let raw = br#"{"version":"0","id":"1","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","time":"2024-01-01T00:00:00Z","detail":{}}"#;
    match reject(raw) {
        NormalizeError::UnknownFormat(what) => assert!(what.contains("aws.ec2"), "{what}"),
        other => panic!("expected UnknownFormat, got {other:?}"),
    }
}

#[test]
fn normalize_json_scalar_and_empty_array_are_unknown_format() {
    for raw in [&b"42"[..], b"\"Records\"", b"null", b"[]", b"[1]"] {
        assert!(
            matches!(reject(raw), NormalizeError::UnknownFormat(_)),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn normalize_cloudevent_wrong_specversion_is_invalid_field() {
    let raw = br#"{"specversion":"0.3","id":"1","source":"/x","type":"google.cloud.storage.object.v1.finalized"}"#;
    assert_invalid_field(&reject(raw), "specversion", "0.3");
}

#[test]
fn normalize_gcs_without_data_is_missing_field() {
    let raw = br#"{"specversion":"1.0","id":"1","source":"//storage.googleapis.com/projects/_/buckets/b","type":"google.cloud.storage.object.v1.finalized","subject":"objects/a.jpg"}"#;
    assert_eq!(
        reject(raw),
        NormalizeError::MissingField {
            format: "gcs",
            field: String::from("data")
        }
    );
}

#[test]
fn normalize_gcs_size_not_digits_is_invalid_field() {
    let raw = br#"{"specversion":"1.0","id":"1","source":"//storage.googleapis.com/projects/_/buckets/b","type":"google.cloud.storage.object.v1.finalized","data":{"bucket":"b","name":"a.jpg","size":"1 KB"}}"#;
    assert_invalid_field(&reject(raw), "data.size", "\"1 KB\"");
}

#[test]
fn normalize_azure_subject_not_a_blob_is_invalid_field() {
    let raw = br#"[{"topic":"/t","subject":"/fileServices/default/shares/s/files/a.jpg","eventType":"Microsoft.Storage.BlobCreated","eventTime":"2024-01-01T00:00:00Z","id":"1","data":{}}]"#;
    assert_invalid_field(
        &reject(raw),
        "[0].subject",
        "/blobServices/default/containers/",
    );
}

#[test]
fn normalize_bad_record_in_batch_rejects_whole_event() {
    let good = String::from_utf8(sample("azure-eventgrid-single.json")).unwrap();
    let raw = format!(
        r#"[{good}, {{"eventType":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/c/blobs/b.jpg","data":{{"contentLength":"big"}}}}]"#
    );
    assert_invalid_field(&reject(raw.as_bytes()), "[1].data.contentLength", "\"big\"");
}

#[test]
fn normalize_error_messages_name_the_field() {
    let err = reject(s3_with_object(r#"{"key":true}"#).as_bytes());
    assert_eq!(
        err.to_string(),
        "invalid `Records[0].s3.object.key`: expected a string, found a boolean"
    );
    let err = reject(br#"{"Records":[{"eventSource":"aws:s3"}]}"#);
    assert_eq!(
        err.to_string(),
        "s3 event is missing `Records[0].eventName`"
    );
}
