//! thumbflow's own event contracts: the canonical envelope (round trip,
//! deterministic ids, trace context), the recursion guard, the gateway
//! event, the thumbnail-created event and the status record.

mod common;

use common::*;
use serde_json::Value;
use thumbflow_events::{
    gateway_put_event, gateway_put_event_in_trace, is_valid_traceparent, normalize,
    parse_thumbnail_created, status_key, thumbnail_created_envelope, trace_id, upload_sequencer,
    CanonicalEvent, NormalizeError, NormalizeOptions, ObjectStatus, SourceFormat, StageState,
    StageStatus, ThumbnailCreated, ThumbnailInfo, OBJECT_CREATED_TYPE, THUMBNAIL_CREATED_TYPE,
};

/// A one-record S3 event with the given key (already encoded) and object
/// fields (raw JSON members after the key).
fn s3_event(key: &str, extra: &str, time: &str) -> String {
    format!(
        r#"{{"Records":[{{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"{time}","s3":{{"bucket":{{"name":"b"}},"object":{{"key":"{key}"{extra}}}}}}}]}}"#
    )
}

fn envelope_value(event: &CanonicalEvent) -> Value {
    serde_json::from_str(&event.to_envelope())
        .unwrap_or_else(|err| panic!("envelope is not JSON: {err}"))
}

// --- envelope ------------------------------------------------------------------------

#[test]
fn envelope_round_trips_through_from_envelope() {
    for name in [
        "s3-put.json",
        "minio-put.json",
        "eventbridge-cloudtrail-s3.json",
        "gcs-finalized.json",
        "azure-cloudevent-blob-created-image.json",
        "gateway-put.json",
    ] {
        let event = only_accepted(&sample(name));
        let back = CanonicalEvent::from_envelope(event.to_envelope().as_bytes()).unwrap();
        assert_eq!(back, event, "{name}");
    }
}

#[test]
fn envelope_has_cloudevents_attributes_and_null_unknowns() {
    let event = only_accepted(&sample("eventbridge-cloudtrail-s3.json"));
    let envelope = event.to_envelope();
    assert!(
        envelope.starts_with(r#"{"specversion":"1.0","id":""#),
        "{envelope}"
    );
    let value: Value = serde_json::from_str(&envelope).unwrap();
    assert_eq!(value["type"], OBJECT_CREATED_TYPE);
    assert_eq!(value["subject"], "products/image123.jpg");
    assert_eq!(value["datacontenttype"], "application/json");
    assert_eq!(
        value["dataschema"],
        "https://thumbflow.dev/schemas/object-created/1"
    );
    assert_eq!(value["source"], "aws:s3/my-ecommerce-bucket");
    let data = value["data"].as_object().unwrap();
    assert_eq!(data["schema_version"], 1);
    assert_eq!(data["source_format"], "eventbridge-cloudtrail");
    // Unknown values are written as null, never omitted.
    assert_eq!(data["version_id"], Value::Null);
    assert_eq!(data["content_type"], Value::Null);
    assert_eq!(data.len(), 9);
}

#[test]
fn from_envelope_rejects_other_type() {
    let mut value = envelope_value(&only_accepted(&sample("s3-put.json")));
    value["type"] = Value::from("com.example.other");
    let err = CanonicalEvent::from_envelope(value.to_string().as_bytes()).unwrap_err();
    assert!(
        matches!(err, NormalizeError::InvalidField { ref field, .. } if field == "type"),
        "{err:?}"
    );
}

#[test]
fn from_envelope_rejects_newer_schema_version() {
    let mut value = envelope_value(&only_accepted(&sample("s3-put.json")));
    value["data"]["schema_version"] = Value::from(2);
    let err = CanonicalEvent::from_envelope(value.to_string().as_bytes()).unwrap_err();
    match err {
        NormalizeError::InvalidField { field, detail } => {
            assert_eq!(field, "data.schema_version");
            assert!(detail.contains("unsupported schema version 2"), "{detail}");
        }
        other => panic!("expected InvalidField, got {other:?}"),
    }
}

#[test]
fn from_envelope_rejects_subject_that_is_not_the_key() {
    let mut value = envelope_value(&only_accepted(&sample("s3-put.json")));
    value["subject"] = Value::from("other.jpg");
    let err = CanonicalEvent::from_envelope(value.to_string().as_bytes()).unwrap_err();
    assert!(
        matches!(err, NormalizeError::InvalidField { ref field, .. } if field == "subject"),
        "{err:?}"
    );
}

#[test]
fn from_envelope_rejects_non_json_and_non_object() {
    assert!(matches!(
        CanonicalEvent::from_envelope(b"{\"specversion\""),
        Err(NormalizeError::NotJson(_))
    ));
    assert!(matches!(
        CanonicalEvent::from_envelope(b"[]"),
        Err(NormalizeError::InvalidField { .. })
    ));
}

#[test]
fn from_envelope_tolerates_missing_optionals_and_unknown_fields() {
    let raw = br#"{"specversion":"1.0","id":"x1","source":"ops:replay","type":"dev.thumbflow.object.created.v1","subject":"a.jpg","time":"2024-01-01T00:00:00Z","data":{"schema_version":1,"bucket":"b","key":"a.jpg","added_later":true}}"#;
    let event = CanonicalEvent::from_envelope(raw).unwrap();
    assert_eq!(event.data.size, None);
    assert_eq!(event.data.source_format, SourceFormat::Thumbflow);
    // No traceparent given: one is derived from the id.
    assert!(
        is_valid_traceparent(&event.traceparent),
        "{}",
        event.traceparent
    );
}

// --- deterministic id ---------------------------------------------------------------

#[test]
fn id_same_input_twice_gives_same_id_and_envelope() {
    let first = run_sample("s3-put.json");
    let second = run_sample("s3-put.json");
    assert_eq!(accepted(&first[0]).id, accepted(&second[0]).id);
    assert_eq!(envelope(&first[0]), envelope(&second[0]));
}

#[test]
fn id_ignores_delivery_details_but_not_the_version() {
    let base = only_accepted(
        s3_event(
            "a.jpg",
            r#","eTag":"e1","sequencer":"01""#,
            "2024-01-01T00:00:00Z",
        )
        .as_bytes(),
    );
    // Redelivery at another time of the same object version: same id.
    let redelivered = only_accepted(
        s3_event(
            "a.jpg",
            r#","eTag":"e1","sequencer":"01""#,
            "2024-01-01T00:05:00Z",
        )
        .as_bytes(),
    );
    assert_eq!(base.id, redelivered.id);
    // A new upload (new etag) of the same key: new id.
    let new_etag = only_accepted(
        s3_event(
            "a.jpg",
            r#","eTag":"e2","sequencer":"01""#,
            "2024-01-01T00:00:00Z",
        )
        .as_bytes(),
    );
    assert_ne!(base.id, new_etag.id);
    // Another key: new id.
    let other_key = only_accepted(
        s3_event(
            "b.jpg",
            r#","eTag":"e1","sequencer":"01""#,
            "2024-01-01T00:00:00Z",
        )
        .as_bytes(),
    );
    assert_ne!(base.id, other_key.id);
}

#[test]
fn id_of_versionless_event_includes_time() {
    let first = only_accepted(s3_event("a.jpg", "", "2024-01-01T00:00:00Z").as_bytes());
    let again = only_accepted(s3_event("a.jpg", "", "2024-01-01T00:00:00Z").as_bytes());
    let later = only_accepted(s3_event("a.jpg", "", "2024-01-01T00:00:01Z").as_bytes());
    assert_eq!(first.id, again.id);
    assert_ne!(first.id, later.id);
}

#[test]
fn id_differs_between_source_formats() {
    let s3 = only_accepted(s3_event("a.jpg", r#","eTag":"e1""#, "2024-01-01T00:00:00Z").as_bytes());
    let minio_raw =
        s3_event("a.jpg", r#","eTag":"e1""#, "2024-01-01T00:00:00Z").replace("aws:s3", "minio:s3");
    let minio = only_accepted(minio_raw.as_bytes());
    assert_ne!(s3.id, minio.id);
}

// --- trace context -----------------------------------------------------------------

#[test]
fn traceparent_from_raw_event_is_propagated() {
    let mut value: Value = serde_json::from_slice(&sample("gcs-finalized.json")).unwrap();
    value["traceparent"] = Value::from("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    let event = only_accepted(value.to_string().as_bytes());
    assert_eq!(
        event.traceparent,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    );
}

#[test]
fn traceparent_derived_when_absent_is_valid_and_stable() {
    let first = only_accepted(&sample("s3-put.json"));
    let second = only_accepted(&sample("s3-put.json"));
    assert!(
        is_valid_traceparent(&first.traceparent),
        "{}",
        first.traceparent
    );
    assert_eq!(first.traceparent, second.traceparent);
    let other = only_accepted(&sample("s3-put-encoded-key.json"));
    assert_ne!(trace_id(&first.traceparent), trace_id(&other.traceparent));
}

#[test]
fn traceparent_malformed_in_raw_event_is_replaced() {
    let mut value: Value = serde_json::from_slice(&sample("gcs-finalized.json")).unwrap();
    value["traceparent"] = Value::from("not-a-traceparent");
    let event = only_accepted(value.to_string().as_bytes());
    assert!(
        is_valid_traceparent(&event.traceparent),
        "{}",
        event.traceparent
    );
}

// --- recursion guard ----------------------------------------------------------------

#[test]
fn recursion_guard_ignores_thumbnail_prefix_in_every_format() {
    let s3 =
        only_ignored(s3_event("thumbnails/thumb/v1/a.jpg", "", "2024-01-01T00:00:00Z").as_bytes());
    assert_mentions(&s3.reason, &["thumbnail prefix", "\"thumbnails/\""]);
    assert_eq!(s3.key.as_deref(), Some("thumbnails/thumb/v1/a.jpg"));

    // An encoded prefix is decoded before the check.
    let encoded =
        only_ignored(s3_event("thumbnails%2Fthumb%2Fa.jpg", "", "2024-01-01T00:00:00Z").as_bytes());
    assert_eq!(encoded.key.as_deref(), Some("thumbnails/thumb/a.jpg"));

    let gateway = gateway_put_event(
        "b",
        "thumbnails/x.png",
        1,
        "e",
        "image/png",
        "2024-01-01T00:00:00Z",
    );
    assert_mentions(
        &only_ignored(gateway.as_bytes()).reason,
        &["thumbnail prefix"],
    );
}

#[test]
fn recursion_guard_uses_configured_prefix() {
    let options = NormalizeOptions {
        thumbnail_prefix: String::from("derived/"),
        ..opts()
    };
    let raw = s3_event("derived/a.jpg", "", "2024-01-01T00:00:00Z");
    let outcomes = normalize(raw.as_bytes(), &options).unwrap();
    assert_mentions(&ignored(&outcomes[0]).reason, &["\"derived/\""]);
    // With another prefix configured, `thumbnails/` is an ordinary folder.
    let raw = s3_event("thumbnails/a.jpg", "", "2024-01-01T00:00:00Z");
    let outcomes = normalize(raw.as_bytes(), &options).unwrap();
    accepted(&outcomes[0]);
}

#[test]
fn recursion_guard_honours_s3_style_metadata_markers() {
    for name in [
        "x-amz-meta-thumbflow-generated",
        "X-Amz-Meta-Thumbflow-Generated",
        "thumbflow-generated",
    ] {
        let extra = format!(r#","userMetadata":{{"{name}":"thumb@1"}}"#);
        let ignored =
            only_ignored(s3_event("out/a.jpg", &extra, "2024-01-01T00:00:00Z").as_bytes());
        assert_mentions(&ignored.reason, &["thumbflow-generated"]);
    }
    let extra = r#","userMetadata":{"x-amz-meta-camera":"X100"}"#;
    only_accepted(s3_event("out/a.jpg", extra, "2024-01-01T00:00:00Z").as_bytes());
}

#[test]
fn recursion_guard_applies_to_fed_back_envelopes() {
    let mut value: Value = serde_json::from_slice(&sample("thumbflow-envelope.json")).unwrap();
    value["subject"] = Value::from("thumbnails/thumb/v1/a.jpg");
    value["data"]["key"] = Value::from("thumbnails/thumb/v1/a.jpg");
    let ignored = only_ignored(value.to_string().as_bytes());
    assert_mentions(&ignored.reason, &["thumbnail prefix"]);
}

// --- gateway --------------------------------------------------------------------------

#[test]
fn gateway_put_event_round_trips_awkward_key_through_normalize() {
    let key = "my photos/a+b 100% é日本 #1?.JPG";
    let raw = gateway_put_event(
        "uploads",
        key,
        52341,
        "\"9e107d9d\"",
        "image/jpeg",
        "2024-03-08T18:30:00Z",
    );
    let event = only_accepted(raw.as_bytes());
    assert_eq!(event.data.key, key);
    assert_eq!(event.subject, key);
    assert_eq!(event.data.bucket, "uploads");
    assert_eq!(event.data.size, Some(52341));
    assert_eq!(event.data.etag.as_deref(), Some("9e107d9d"));
    assert_eq!(event.data.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(event.data.source_format, SourceFormat::Gateway);
    assert_eq!(event.source, "thumbflow:gateway/uploads");
    assert_eq!(event.time, "2024-03-08T18:30:00Z");
}

#[test]
fn gateway_trace_is_kept_by_the_canonical_and_thumbnail_events() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let raw = gateway_put_event_in_trace(
        "b",
        "a.jpg",
        1,
        "e",
        "image/jpeg",
        "2024-01-01T00:00:00Z",
        Some(traceparent),
        None,
    );
    let event = only_accepted(raw.as_bytes());
    assert_eq!(event.traceparent, traceparent);
    // Without one (S3, MinIO), a trace is derived from the event id.
    let plain = only_accepted(
        gateway_put_event("b", "a.jpg", 1, "e", "image/jpeg", "2024-01-01T00:00:00Z").as_bytes(),
    );
    assert!(is_valid_traceparent(&plain.traceparent));
    assert_ne!(trace_id(&plain.traceparent), trace_id(traceparent));
}

#[test]
fn gateway_reupload_of_earlier_bytes_is_a_new_ordered_event() {
    // A, then B, then A again under one key: the gateway's ETag is the
    // content hash, so only the sequencer tells the third upload from the first.
    let upload = |etag: &str, nanos: i128| {
        let sequencer = upload_sequencer(nanos);
        let raw = gateway_put_event_in_trace(
            "b",
            "same.jpg",
            1,
            etag,
            "image/jpeg",
            "2024-01-01T00:00:00Z",
            None,
            Some(&sequencer),
        );
        only_accepted(raw.as_bytes())
    };
    let first = upload("\"aaaa\"", 1_700_000_000_000_000_001);
    let second = upload("\"bbbb\"", 1_700_000_000_000_000_002);
    let third = upload("\"aaaa\"", 1_700_000_000_000_000_003);
    assert_ne!(
        first.id, third.id,
        "the re-upload must not look like a redelivery"
    );
    assert_ne!(first.id, second.id);
    let order = |e: &thumbflow_events::CanonicalEvent| e.data.sequencer.clone().unwrap();
    assert!(order(&first) < order(&second) && order(&second) < order(&third));
    // A redelivery of one upload keeps its id.
    assert_eq!(third.id, upload("\"aaaa\"", 1_700_000_000_000_000_003).id);
}

#[test]
fn gateway_put_event_form_encodes_key_like_s3() {
    let raw = gateway_put_event(
        "b",
        "a b+c%/d.jpg",
        1,
        "e",
        "image/jpeg",
        "2024-01-01T00:00:00Z",
    );
    let value: Value = serde_json::from_str(&raw).unwrap();
    let record = &value["Records"][0];
    assert_eq!(record["eventSource"], "thumbflow:gateway");
    assert_eq!(record["eventName"], "ObjectCreated:Put");
    assert_eq!(record["s3"]["object"]["key"], "a+b%2Bc%25/d.jpg");
    assert_eq!(record["s3"]["object"]["contentType"], "image/jpeg");
}

#[test]
fn gateway_put_event_non_image_is_ignored() {
    let raw = gateway_put_event(
        "b",
        "report.jpg",
        1,
        "e",
        "application/pdf",
        "2024-01-01T00:00:00Z",
    );
    assert_mentions(&only_ignored(raw.as_bytes()).reason, &["application/pdf"]);
}

// --- thumbnail created ---------------------------------------------------------------

fn created_for(source: &CanonicalEvent) -> ThumbnailCreated {
    ThumbnailCreated {
        bucket: source.data.bucket.clone(),
        key: source.data.key.clone(),
        source_event_id: source.id.clone(),
        thumbnails: vec![ThumbnailInfo {
            recipe: String::from("thumb"),
            recipe_version: 1,
            key: format!("thumbnails/thumb/v1/{}", source.data.key),
            width: 300,
            height: 225,
            content_type: String::from("image/jpeg"),
            bytes: 18342,
        }],
    }
}

#[test]
fn thumbnail_created_envelope_round_trips() {
    let source = only_accepted(&sample("gcs-finalized.json"));
    let created = created_for(&source);
    let envelope = thumbnail_created_envelope(&source, &created, "2025-04-04T07:43:05Z");
    let (attrs, parsed) = parse_thumbnail_created(envelope.as_bytes()).unwrap();
    assert_eq!(parsed, created);
    assert_eq!(attrs.event_type, THUMBNAIL_CREATED_TYPE);
    assert_eq!(attrs.source, "thumbflow:thumbnailer/example-photos-eu");
    assert_eq!(attrs.subject, source.data.key);
    assert_eq!(attrs.time, "2025-04-04T07:43:05Z");
    assert_eq!(attrs.id.len(), 32);
    assert_ne!(attrs.id, source.id);
}

#[test]
fn thumbnail_created_envelope_continues_the_source_trace() {
    let source = only_accepted(&sample("gcs-finalized.json"));
    let envelope =
        thumbnail_created_envelope(&source, &created_for(&source), "2025-04-04T07:43:05Z");
    let (attrs, _) = parse_thumbnail_created(envelope.as_bytes()).unwrap();
    assert!(
        is_valid_traceparent(&attrs.traceparent),
        "{}",
        attrs.traceparent
    );
    assert_eq!(
        trace_id(&attrs.traceparent),
        Some("7f0ba9a82f58ebe9b3caffa7ca5975ed")
    );
    assert_ne!(
        attrs.traceparent, source.traceparent,
        "a new span id is expected"
    );
}

#[test]
fn thumbnail_created_envelope_id_is_deterministic() {
    let source = only_accepted(&sample("s3-put.json"));
    let created = created_for(&source);
    let first = thumbnail_created_envelope(&source, &created, "2024-01-01T00:00:00Z");
    let retried = thumbnail_created_envelope(&source, &created, "2024-01-01T00:00:09Z");
    let id = |envelope: &str| parse_thumbnail_created(envelope.as_bytes()).unwrap().0.id;
    assert_eq!(id(&first), id(&retried));

    let mut other = created.clone();
    other.thumbnails[0].recipe_version = 2;
    let changed = thumbnail_created_envelope(&source, &other, "2024-01-01T00:00:00Z");
    assert_ne!(id(&first), id(&changed));
}

#[test]
fn thumbnail_created_sample_parses() {
    let (attrs, created) = parse_thumbnail_created(&sample("thumbnail-created.json")).unwrap();
    assert_eq!(attrs.event_type, THUMBNAIL_CREATED_TYPE);
    assert_eq!(created.bucket, "uploads");
    assert_eq!(created.thumbnails.len(), 2);
    assert_eq!(created.thumbnails[1].recipe, "small");
    assert_eq!(created.thumbnails[1].width, 64);
    // Its source is the canonical envelope sample; rebuilding it gives the same bytes.
    let source = CanonicalEvent::from_envelope(&sample("thumbflow-envelope.json")).unwrap();
    assert_eq!(created.source_event_id, source.id);
    let rebuilt = thumbnail_created_envelope(&source, &created, &attrs.time);
    assert_eq!(
        format!("{rebuilt}\n").as_bytes(),
        sample("thumbnail-created.json")
    );
}

#[test]
fn parse_thumbnail_created_rejects_object_created_envelope() {
    let err = parse_thumbnail_created(&sample("thumbflow-envelope.json")).unwrap_err();
    match err {
        NormalizeError::InvalidField { field, detail } => {
            assert_eq!(field, "type");
            assert!(detail.contains(OBJECT_CREATED_TYPE), "{detail}");
        }
        other => panic!("expected InvalidField, got {other:?}"),
    }
}

#[test]
fn parse_thumbnail_created_rejects_missing_thumbnails() {
    let mut value: Value = serde_json::from_slice(&sample("thumbnail-created.json")).unwrap();
    value["data"].as_object_mut().unwrap().remove("thumbnails");
    let err = parse_thumbnail_created(value.to_string().as_bytes()).unwrap_err();
    match err {
        NormalizeError::InvalidField { field, detail } => {
            assert_eq!(field, "data");
            assert!(detail.contains("thumbnails"), "{detail}");
        }
        other => panic!("expected InvalidField, got {other:?}"),
    }
}

// --- status ----------------------------------------------------------------------------

#[test]
fn status_key_is_status_bucket_key() {
    assert_eq!(
        status_key("uploads", "my photos/a.jpg"),
        "status/uploads/my photos/a.jpg"
    );
}

#[test]
fn status_record_merges_stages_and_round_trips() {
    let source = only_accepted(&sample("s3-put.json"));
    let mut status = ObjectStatus::new(&source.data.bucket, &source.data.key);
    assert_eq!(status.updated_at, "");
    status.trace_id = source.trace_id().map(str::to_owned);
    status.record(
        "normalize",
        StageStatus {
            state: StageState::Done,
            at: String::from("2024-03-08T10:15:31Z"),
            detail: None,
            retryable: None,
        },
    );
    status.record(
        "thumbnail",
        StageStatus {
            state: StageState::Failed,
            at: String::from("2024-03-08T10:15:32Z"),
            detail: Some(String::from("storage read timed out")),
            retryable: Some(true),
        },
    );
    // The retry succeeds later and replaces the failure.
    status.record(
        "thumbnail",
        StageStatus {
            state: StageState::Done,
            at: String::from("2024-03-08T10:15:40Z"),
            detail: None,
            retryable: None,
        },
    );
    status.thumbnails = created_for(&source).thumbnails;

    assert_eq!(status.stages.len(), 2);
    assert_eq!(status.stages["normalize"].state, StageState::Done);
    assert_eq!(status.stages["thumbnail"].state, StageState::Done);
    assert_eq!(status.stages["thumbnail"].retryable, None);
    assert_eq!(status.updated_at, "2024-03-08T10:15:40Z");

    let json = status.to_json();
    let value: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["stages"]["thumbnail"]["state"], "done");
    assert_eq!(value["stages"]["normalize"]["detail"], Value::Null);
    assert_eq!(value["trace_id"], Value::from(source.trace_id().unwrap()));
    assert_eq!(ObjectStatus::from_json(json.as_bytes()).unwrap(), status);
}

#[test]
fn status_from_json_reports_what_is_wrong() {
    assert!(matches!(
        ObjectStatus::from_json(b"{"),
        Err(NormalizeError::NotJson(_))
    ));
    let bad_state = br#"{"bucket":"b","key":"k","updated_at":"","stages":{"x":{"state":"exploded","at":"2024-01-01T00:00:00Z"}}}"#;
    match ObjectStatus::from_json(bad_state) {
        Err(NormalizeError::InvalidField { field, detail }) => {
            assert_eq!(field, "status");
            assert!(detail.contains("exploded"), "{detail}");
        }
        other => panic!("expected InvalidField, got {other:?}"),
    }
    let minimal = br#"{"bucket":"b","key":"k","updated_at":""}"#;
    assert_eq!(
        ObjectStatus::from_json(minimal).unwrap(),
        ObjectStatus::new("b", "k")
    );
}
