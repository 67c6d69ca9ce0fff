//! Every real-world sample in `tests/samples/` through `normalize`, asserting
//! what a consumer sees: bucket, decoded key, size, etag, source format, or
//! the reason it was ignored.

mod common;

use common::*;
use thumbflow_events::{
    gateway_put_event, is_valid_traceparent, normalize, structured_from_binary, trace_id,
    NormalizeOptions, SourceFormat, OBJECT_CREATED_TYPE,
};

/// Every sample file, each exercised by a test below.
const ALL_SAMPLES: &[&str] = &[
    "azure-adls-createfile.json",
    "azure-cloudevent-blob-created-image.json",
    "azure-cloudevent-blob-deleted.json",
    "azure-cloudevents-blob-created.json",
    "azure-eventgrid-blob-events.json",
    "azure-eventgrid-single.json",
    "ceph-complete-multipart.json",
    "ceph-copy.json",
    "ceph-delete.json",
    "ceph-put-generated-marker.json",
    "ceph-put-special-key.json",
    "eventbridge-cloudtrail-putobject.json",
    "eventbridge-cloudtrail-s3.json",
    "eventbridge-object-created-image.json",
    "eventbridge-object-created.json",
    "eventbridge-object-deleted.json",
    "gateway-put.json",
    "gcs-binary-body.json",
    "gcs-deleted.json",
    "gcs-finalized-thumbnail-output.json",
    "gcs-finalized.json",
    "minio-put.json",
    "minio-thumbnail-output.json",
    "s3-delete.json",
    "s3-multiple-records.json",
    "s3-put-encoded-key.json",
    "s3-put-unicode-key.json",
    "s3-put.json",
    "s3-test-event.json",
    "thumbflow-envelope.json",
    "thumbnail-created.json",
];

#[test]
fn samples_directory_matches_tested_list() {
    let mut found: Vec<String> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    found.sort();
    assert_eq!(found, ALL_SAMPLES, "add a test for every new sample");
}

// --- S3 --------------------------------------------------------------------

#[test]
fn s3_put_sample_accepted_with_all_fields() {
    let event = only_accepted(&sample("s3-put.json"));
    assert_eq!(event.event_type, OBJECT_CREATED_TYPE);
    assert_eq!(event.source, "aws:s3/amzn-s3-demo-bucket");
    assert_eq!(event.subject, "HappyFace.jpg");
    assert_eq!(event.time, "2024-03-08T10:15:30.123Z");
    assert!(
        is_valid_traceparent(&event.traceparent),
        "{}",
        event.traceparent
    );
    assert_eq!(event.id.len(), 32);
    let data = &event.data;
    assert_eq!(data.schema_version, 1);
    assert_eq!(data.bucket, "amzn-s3-demo-bucket");
    assert_eq!(data.key, "HappyFace.jpg");
    assert_eq!(data.size, Some(1024));
    assert_eq!(
        data.etag.as_deref(),
        Some("d41d8cd98f00b204e9800998ecf8427e")
    );
    assert_eq!(
        data.version_id.as_deref(),
        Some("096fKKXTRTtl3on89fVO.nfljtsv6qko")
    );
    assert_eq!(data.sequencer.as_deref(), Some("0055AED6DCD90281E5"));
    assert_eq!(data.content_type, None);
    assert_eq!(data.source_format, SourceFormat::S3);
}

#[test]
fn s3_encoded_key_sample_decodes_plus_and_escapes() {
    let event = only_accepted(&sample("s3-put-encoded-key.json"));
    assert_eq!(event.data.key, "a b/c d.jpg");
    assert_eq!(event.subject, "a b/c d.jpg");
    // The quoted eTag loses its quotes.
    assert_eq!(
        event.data.etag.as_deref(),
        Some("9b2cf535f27731c974343645a3985328")
    );
}

#[test]
fn s3_unicode_key_sample_decodes_utf8() {
    let event = only_accepted(&sample("s3-put-unicode-key.json"));
    assert_eq!(event.data.key, "fotos/été 日本.jpg");
    assert_eq!(event.data.size, Some(7_340_032));
}

#[test]
fn s3_delete_sample_ignored_as_not_a_creation() {
    let ignored = only_ignored(&sample("s3-delete.json"));
    assert_mentions(
        &ignored.reason,
        &["ObjectRemoved:Delete", "not an object creation"],
    );
    assert_eq!(ignored.bucket.as_deref(), Some("amzn-s3-demo-bucket"));
    assert_eq!(ignored.key.as_deref(), Some("HappyFace.jpg"));
}

#[test]
fn s3_multiple_records_sample_gives_one_outcome_per_record() {
    let outcomes = run_sample("s3-multiple-records.json");
    assert_eq!(outcomes.len(), 3);
    let photo = accepted(&outcomes[0]);
    assert_eq!(photo.data.key, "albums/2024/IMG_0001.JPG");
    assert_eq!(photo.time, "2024-03-08T12:00:00.000Z");

    let pdf = ignored(&outcomes[1]);
    assert_eq!(pdf.key.as_deref(), Some("albums/2024/notes.pdf"));
    assert_mentions(&pdf.reason, &["not an image", "\"pdf\""]);

    let deleted = ignored(&outcomes[2]);
    assert_eq!(deleted.key.as_deref(), Some("albums/2023/old photo.png"));
    assert_mentions(&deleted.reason, &["ObjectRemoved:DeleteMarkerCreated"]);
}

#[test]
fn s3_test_event_sample_ignored_not_rejected() {
    let ignored = only_ignored(&sample("s3-test-event.json"));
    assert_mentions(&ignored.reason, &["s3:TestEvent"]);
    assert_eq!(ignored.bucket.as_deref(), Some("amzn-s3-demo-bucket"));
    assert_eq!(ignored.key, None);
}

// --- MinIO -----------------------------------------------------------------

#[test]
fn minio_put_sample_accepted_with_content_type() {
    let event = only_accepted(&sample("minio-put.json"));
    assert_eq!(event.source, "minio:s3/images");
    assert_eq!(event.data.bucket, "images");
    assert_eq!(event.data.key, "uploads/2024/sunset over the bay.jpg");
    assert_eq!(event.data.size, Some(224_662));
    assert_eq!(
        event.data.etag.as_deref(),
        Some("5fc7298143efe1276d39a3466d4e255f")
    );
    assert_eq!(event.data.content_type.as_deref(), Some("image/jpeg"));
    // MinIO sends `"versionId": ""` for unversioned buckets.
    assert_eq!(event.data.version_id, None);
    assert_eq!(event.data.sequencer.as_deref(), Some("17BA1E2F3FA2B1C4"));
    assert_eq!(event.data.source_format, SourceFormat::Minio);
}

#[test]
fn minio_thumbnail_output_sample_ignored_by_metadata_marker() {
    let ignored = only_ignored(&sample("minio-thumbnail-output.json"));
    assert_mentions(
        &ignored.reason,
        &["thumbflow-generated", "never triggers another thumbnail"],
    );
    assert_eq!(ignored.key.as_deref(), Some("out/sunset-300x300.jpg"));
}

// --- Ceph RADOS Gateway ---------------------------------------------------------

#[test]
fn ceph_special_key_sample_keeps_raw_key_exactly() {
    let event = only_accepted(&sample("ceph-put-special-key.json"));
    // RGW sends the key raw: `+` is a plus, `%d` is not an escape.
    assert_eq!(event.data.key, "mix/a b+c%d&e=f?g#h été 日本~!*'().jpg");
    assert_eq!(event.subject, event.data.key);
    assert_eq!(event.data.bucket, "photos");
    assert_eq!(event.source, "ceph:s3/photos");
    assert_eq!(event.data.size, Some(11));
    assert_eq!(
        event.data.etag.as_deref(),
        Some("5eb63bbbe01eeed093cb22bb8f5acdc3")
    );
    assert_eq!(event.data.sequencer.as_deref(), Some("FA850E6BAA0D4217"));
    // `"versionId": ""` on an unversioned bucket means no version.
    assert_eq!(event.data.version_id, None);
    // RGW sends no content type: the `.jpg` extension made it an image.
    assert_eq!(event.data.content_type, None);
    assert_eq!(event.data.source_format, SourceFormat::Ceph);
    // Microsecond event time, kept as sent.
    assert_eq!(event.time, "2026-12-01T08:31:54.388865Z");
}

#[test]
fn ceph_generated_marker_sample_ignored_as_own_output() {
    // Under the thumbnail prefix, the prefix rule speaks first.
    let by_prefix = only_ignored(&sample("ceph-put-generated-marker.json"));
    assert_mentions(&by_prefix.reason, &["thumbnail prefix"]);
    assert_eq!(by_prefix.bucket.as_deref(), Some("photos"));
    assert_eq!(by_prefix.key.as_deref(), Some("thumbnails/photos/a b.webp"));

    // With the prefix rule off, the metadata marker alone drops it.
    let opts = NormalizeOptions {
        thumbnail_prefix: String::new(),
        ..opts()
    };
    let outcomes = normalize(&sample("ceph-put-generated-marker.json"), &opts).unwrap();
    assert_eq!(outcomes.len(), 1);
    let by_marker = ignored(&outcomes[0]);
    assert_mentions(
        &by_marker.reason,
        &["thumbflow-generated", "never triggers another thumbnail"],
    );
    assert_eq!(by_marker.key.as_deref(), Some("thumbnails/photos/a b.webp"));
}

#[test]
fn ceph_copy_sample_accepted_with_raw_key() {
    let event = only_accepted(&sample("ceph-copy.json"));
    assert_eq!(event.data.key, "copies/a b copy+1.jpg");
    assert_eq!(event.data.bucket, "photos");
    assert_eq!(event.data.size, Some(11));
    assert_eq!(
        event.data.etag.as_deref(),
        Some("5eb63bbbe01eeed093cb22bb8f5acdc3")
    );
    assert_eq!(event.data.source_format, SourceFormat::Ceph);
}

#[test]
fn ceph_complete_multipart_sample_keeps_multipart_etag() {
    let event = only_accepted(&sample("ceph-complete-multipart.json"));
    assert_eq!(event.data.key, "big/multi part é.jpg");
    assert_eq!(event.data.bucket, "photos");
    assert_eq!(event.data.size, Some(11_534_336));
    assert_eq!(
        event.data.etag.as_deref(),
        Some("cc273a7377d284f883e0579c81e34330-2")
    );
    assert_eq!(event.data.version_id, None);
}

#[test]
fn ceph_delete_sample_ignored_as_not_a_creation() {
    let ignored = only_ignored(&sample("ceph-delete.json"));
    assert_mentions(
        &ignored.reason,
        &["ObjectRemoved:Delete", "not an object creation"],
    );
    assert_eq!(ignored.bucket.as_deref(), Some("photos"));
    assert_eq!(ignored.key.as_deref(), Some("photos/a&b.jpg"));
}

#[test]
fn ceph_samples_give_distinct_ids_per_object() {
    let ids: Vec<String> = [
        "ceph-put-special-key.json",
        "ceph-copy.json",
        "ceph-complete-multipart.json",
    ]
    .iter()
    .map(|name| only_accepted(&sample(name)).id)
    .collect();
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    assert_ne!(ids[0], ids[2]);
}

// --- EventBridge -------------------------------------------------------------

#[test]
fn eventbridge_object_created_doc_sample_ignored_without_extension() {
    // The AWS documentation's example key is "example-key": not an image.
    let ignored = only_ignored(&sample("eventbridge-object-created.json"));
    assert_mentions(&ignored.reason, &["not an image", "no file extension"]);
    assert_eq!(ignored.bucket.as_deref(), Some("amzn-s3-demo-bucket1"));
    assert_eq!(ignored.key.as_deref(), Some("example-key"));
}

#[test]
fn eventbridge_object_created_image_sample_decodes_form_encoded_key() {
    let event = only_accepted(&sample("eventbridge-object-created-image.json"));
    // S3 form-encodes EventBridge keys like its notification records:
    // `+` is a space and `%2B` a plus.
    assert_eq!(event.data.key, "photos/2024/beach day+1.jpeg");
    assert_eq!(event.data.bucket, "amzn-s3-demo-bucket1");
    assert_eq!(event.data.size, Some(198_524));
    assert_eq!(
        event.data.etag.as_deref(),
        Some("4af981f98d22a0b9979da24b259e5e42-12")
    );
    assert_eq!(
        event.data.version_id.as_deref(),
        Some("uhggCJ2_B6gU2JaXWXebnXFDstO0ID6G")
    );
    assert_eq!(event.data.sequencer.as_deref(), Some("0064D3901D00059242"));
    assert_eq!(event.data.source_format, SourceFormat::EventBridge);
    assert_eq!(event.source, "aws:s3/amzn-s3-demo-bucket1");
    assert_eq!(event.time, "2024-03-08T13:09:50Z");
}

#[test]
fn eventbridge_object_deleted_sample_ignored() {
    let ignored = only_ignored(&sample("eventbridge-object-deleted.json"));
    assert_mentions(
        &ignored.reason,
        &["\"Object Deleted\"", "not an object creation"],
    );
    assert_eq!(ignored.bucket.as_deref(), Some("amzn-s3-demo-bucket1"));
    assert_eq!(ignored.key.as_deref(), Some("example-key"));
}

#[test]
fn eventbridge_cloudtrail_acceptance_sample_accepted() {
    let event = only_accepted(&sample("eventbridge-cloudtrail-s3.json"));
    assert_eq!(event.data.bucket, "my-ecommerce-bucket");
    assert_eq!(event.data.key, "products/image123.jpg");
    assert_eq!(event.data.size, Some(1024));
    assert_eq!(
        event.data.etag.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(event.data.sequencer.as_deref(), Some("0ABCDEFGHIJK"));
    assert_eq!(event.data.version_id, None);
    assert_eq!(
        event.data.source_format,
        SourceFormat::EventBridgeCloudTrail
    );
    assert_eq!(event.source, "aws:s3/my-ecommerce-bucket");
    assert_eq!(event.time, "2024-01-15T12:00:00Z");
}

#[test]
fn eventbridge_cloudtrail_acceptance_sample_repeats_event_name() {
    // The sample must keep its duplicate key, and a strict derive would
    // refuse it: this is what the Value-based reader exists for.
    let raw = sample("eventbridge-cloudtrail-s3.json");
    let text = std::str::from_utf8(&raw).unwrap();
    assert_eq!(text.matches("\"eventName\"").count(), 2);

    #[derive(serde::Deserialize)]
    #[allow(dead_code, non_snake_case)]
    struct Detail {
        eventName: String,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Strict {
        detail: Detail,
    }
    let strict = serde_json::from_slice::<Strict>(&raw)
        .map(|_| ())
        .unwrap_err();
    assert!(strict.to_string().contains("duplicate field"), "{strict}");
}

#[test]
fn eventbridge_cloudtrail_putobject_sample_reads_request_parameters() {
    let event = only_accepted(&sample("eventbridge-cloudtrail-putobject.json"));
    assert_eq!(event.data.bucket, "BUCKETNAME");
    assert_eq!(event.data.key, "uploads/team photo.png");
    assert_eq!(
        event.data.version_id.as_deref(),
        Some("Zs0t1LDLVdGnZ8Qx3hU6sH6dH2XyM5rB")
    );
    assert_eq!(event.data.size, None);
    assert_eq!(event.data.etag, None);
    assert_eq!(
        event.data.source_format,
        SourceFormat::EventBridgeCloudTrail
    );
}

// --- GCS -----------------------------------------------------------------------

#[test]
fn gcs_finalized_sample_accepted_with_string_size() {
    let event = only_accepted(&sample("gcs-finalized.json"));
    assert_eq!(event.data.bucket, "example-photos-eu");
    assert_eq!(
        event.data.key,
        "uploads/Screenshot 2025-03-13 at 9.21.22 PM.png"
    );
    assert_eq!(event.data.size, Some(4154));
    assert_eq!(event.data.etag.as_deref(), Some("CKbVlsrwvYwDEAE="));
    assert_eq!(event.data.version_id.as_deref(), Some("1743752582769318"));
    assert_eq!(event.data.content_type.as_deref(), Some("image/png"));
    assert_eq!(event.data.source_format, SourceFormat::Gcs);
    assert_eq!(
        event.source,
        "//storage.googleapis.com/projects/_/buckets/example-photos-eu"
    );
    assert_eq!(event.time, "2025-04-04T07:43:02.791775Z");
}

#[test]
fn gcs_finalized_sample_keeps_its_traceparent() {
    let event = only_accepted(&sample("gcs-finalized.json"));
    assert_eq!(
        event.traceparent,
        "00-7f0ba9a82f58ebe9b3caffa7ca5975ed-b260e8ed2ef4d72b-01"
    );
}

#[test]
fn gcs_thumbnail_output_sample_ignored_by_metadata_marker() {
    let ignored = only_ignored(&sample("gcs-finalized-thumbnail-output.json"));
    assert_mentions(&ignored.reason, &["thumbflow-generated"]);
    assert_eq!(
        ignored.key.as_deref(),
        Some("derived/screenshot-thumb.webp")
    );
}

#[test]
fn gcs_deleted_sample_ignored() {
    let ignored = only_ignored(&sample("gcs-deleted.json"));
    assert_mentions(&ignored.reason, &["google.cloud.storage.object.v1.deleted"]);
    assert_eq!(ignored.bucket.as_deref(), Some("example-photos-eu"));
    assert_eq!(ignored.key.as_deref(), Some("uploads/old.jpg"));
}

#[test]
fn gcs_binary_mode_sample_converts_then_normalizes() {
    let headers: Vec<(String, String)> = [
        ("ce-id", "123451234512345"),
        ("ce-specversion", "1.0"),
        ("ce-time", "2020-04-23T07:38:57.772Z"),
        ("ce-type", "google.cloud.storage.object.v1.finalized"),
        (
            "ce-source",
            " //storage.googleapis.com/projects/_/buckets/sample-bucket",
        ),
        ("ce-subject", "objects/folder/Test.jpg"),
        ("Content-Type", "application/json"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        (
            "User-Agent",
            "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
        ),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
    .collect();
    let structured = structured_from_binary(&headers, &sample("gcs-binary-body.json")).unwrap();

    let value: serde_json::Value = serde_json::from_slice(&structured).unwrap();
    assert_eq!(value["type"], "google.cloud.storage.object.v1.finalized");
    assert_eq!(value["datacontenttype"], "application/json");
    assert_eq!(value["data"]["name"], "folder/Test.jpg");
    assert!(value.get("user-agent").is_none());

    let event = only_accepted(&structured);
    assert_eq!(event.data.bucket, "sample-bucket");
    assert_eq!(event.data.key, "folder/Test.jpg");
    assert_eq!(event.data.size, Some(352));
    assert_eq!(event.data.version_id.as_deref(), Some("1587627537231057"));
    assert_eq!(event.time, "2020-04-23T07:38:57.772Z");
    assert_eq!(
        trace_id(&event.traceparent),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
}

// --- Azure -----------------------------------------------------------------------

#[test]
fn azure_cloudevents_doc_sample_ignored_as_text() {
    // Microsoft's documentation example is a text file.
    let ignored = only_ignored(&sample("azure-cloudevents-blob-created.json"));
    assert_mentions(&ignored.reason, &["not an image", "text/plain"]);
    assert_eq!(ignored.bucket.as_deref(), Some("test-container"));
    assert_eq!(ignored.key.as_deref(), Some("new-file.txt"));
}

#[test]
fn azure_cloudevent_image_sample_accepted() {
    let event = only_accepted(&sample("azure-cloudevent-blob-created-image.json"));
    assert_eq!(event.data.bucket, "uploads");
    assert_eq!(event.data.key, "2024/summer trip/IMG 0042.jpg");
    assert_eq!(event.data.size, Some(3_311_024));
    assert_eq!(event.data.etag.as_deref(), Some("0x8DC3F8A4C9B2E1F"));
    assert_eq!(
        event.data.sequencer.as_deref(),
        Some("0000000000000000000000000001a6f20000000000a1b2c3")
    );
    assert_eq!(event.data.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(event.data.source_format, SourceFormat::AzureBlob);
    assert!(
        event.source.ends_with("/storageAccounts/mediastore01"),
        "{}",
        event.source
    );
    assert_eq!(event.time, "2024-03-08T14:05:11.3621449Z");
    assert_eq!(
        event.traceparent,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
}

#[test]
fn azure_cloudevent_blob_deleted_sample_ignored() {
    let ignored = only_ignored(&sample("azure-cloudevent-blob-deleted.json"));
    assert_mentions(
        &ignored.reason,
        &["Microsoft.Storage.BlobDeleted", "not a blob creation"],
    );
    assert_eq!(ignored.bucket.as_deref(), Some("uploads"));
    assert_eq!(ignored.key.as_deref(), Some("2024/old.jpg"));
}

#[test]
fn azure_eventgrid_batch_sample_gives_one_outcome_per_event() {
    let outcomes = run_sample("azure-eventgrid-blob-events.json");
    assert_eq!(outcomes.len(), 2);
    let created = accepted(&outcomes[0]);
    assert_eq!(created.data.bucket, "photos");
    assert_eq!(created.data.key, "events/launch-party.png");
    assert_eq!(created.data.size, Some(524_288));
    assert_eq!(created.data.etag.as_deref(), Some("0x8D4BCC2E4835CD0"));
    assert_eq!(created.time, "2024-03-08T16:41:00.9584103Z");
    assert!(created
        .source
        .ends_with("/storageAccounts/my-storage-account"));

    let deleted = ignored(&outcomes[1]);
    assert_mentions(&deleted.reason, &["Microsoft.Storage.BlobDeleted"]);
    assert_eq!(deleted.key.as_deref(), Some("events/blurry.png"));
}

#[test]
fn azure_eventgrid_single_object_sample_accepted_by_extension() {
    // application/octet-stream is generic: the .webp extension decides.
    let event = only_accepted(&sample("azure-eventgrid-single.json"));
    assert_eq!(event.data.key, "avatar.webp");
    assert_eq!(
        event.data.content_type.as_deref(),
        Some("application/octet-stream")
    );
}

#[test]
fn azure_adls_createfile_sample_ignored_until_flush() {
    let ignored = only_ignored(&sample("azure-adls-createfile.json"));
    assert_mentions(&ignored.reason, &["CreateFile", "FlushWithClose"]);
    assert_eq!(ignored.bucket.as_deref(), Some("my-file-system"));
    assert_eq!(ignored.key.as_deref(), Some("new-file.png"));
}

// --- thumbflow's own events ----------------------------------------------------------

#[test]
fn gateway_put_sample_is_what_gateway_put_event_writes() {
    let written = gateway_put_event(
        "uploads",
        "my photos/a+b 100% été 日本.jpg",
        52341,
        "9e107d9d372bb6826bd81d3542a419d6",
        "image/jpeg",
        "2024-03-08T18:30:00Z",
    );
    assert_eq!(
        format!("{written}\n").as_bytes(),
        sample("gateway-put.json")
    );
}

#[test]
fn gateway_put_sample_normalizes_to_thumbflow_envelope_sample() {
    let outcomes = run_sample("gateway-put.json");
    assert_eq!(outcomes.len(), 1);
    let event = accepted(&outcomes[0]);
    assert_eq!(event.data.source_format, SourceFormat::Gateway);
    assert_eq!(event.source, "thumbflow:gateway/uploads");
    assert_eq!(event.data.key, "my photos/a+b 100% été 日本.jpg");
    // Pins the envelope format, the id and the derived traceparent.
    assert_eq!(
        format!("{}\n", envelope(&outcomes[0])).as_bytes(),
        sample("thumbflow-envelope.json")
    );
}

#[test]
fn thumbflow_envelope_sample_normalizes_to_itself() {
    let outcomes = run_sample("thumbflow-envelope.json");
    assert_eq!(outcomes.len(), 1);
    assert_eq!(
        format!("{}\n", envelope(&outcomes[0])).as_bytes(),
        sample("thumbflow-envelope.json")
    );
    assert_eq!(
        accepted(&outcomes[0]).data.source_format,
        SourceFormat::Gateway
    );
}

#[test]
fn thumbnail_created_sample_is_ignored_by_normalize() {
    let ignored = only_ignored(&sample("thumbnail-created.json"));
    assert_mentions(
        &ignored.reason,
        &["thumbnail-created", "never triggers another thumbnail"],
    );
    assert_eq!(
        ignored.key.as_deref(),
        Some("my photos/a+b 100% été 日本.jpg")
    );
}
