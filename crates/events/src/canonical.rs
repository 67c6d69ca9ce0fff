//! The canonical "object created" event and its CloudEvents JSON envelope.
//!
//! Whatever raw format came in, every later stage reads exactly this. The
//! wire form is a CloudEvents 1.0 structured-mode JSON document; the Rust
//! struct mirrors the WIT `canonical-event` record.
//!
//! Identity and tracing are derived here too: the event id is a hash of the
//! object version (so a duplicate delivery gets the same id and can be
//! dropped), and a trace context is made up from the id when the producer
//! sent none (so every event can be followed across stages).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::NormalizeError;
use crate::json::{self, Obj};

/// CloudEvents `type` of the canonical event. The `v1` suffix changes only
/// together with a breaking change of the data schema.
pub const OBJECT_CREATED_TYPE: &str = "dev.thumbflow.object.created.v1";

/// CloudEvents `type` of the event the thumbnailer publishes when it is done.
pub const THUMBNAIL_CREATED_TYPE: &str = "dev.thumbflow.thumbnail.created.v1";

/// CloudEvents `dataschema` of [`ObjectCreated`], schema version 1.
pub const OBJECT_CREATED_SCHEMA: &str = "https://thumbflow.dev/schemas/object-created/1";

/// Current [`ObjectCreated::schema_version`]; readers reject any other value.
pub const OBJECT_CREATED_SCHEMA_VERSION: u32 = 1;

/// The only CloudEvents `specversion` this crate reads or writes.
pub const CLOUDEVENTS_SPEC_VERSION: &str = "1.0";

/// `datacontenttype` of every envelope this crate writes.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json";

/// Which raw event shape a canonical event was normalized from.
///
/// Kept in the event so a consumer can tell where an object came from and an
/// odd event can be traced back to its producer. Serialised in kebab case
/// (`"s3"`, `"eventbridge-cloudtrail"`, `"azure-blob"`), as in the WIT enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// An S3 event notification (`Records[]`, keys form-encoded).
    S3,
    /// A MinIO bucket notification (S3-shaped, `s3:`-prefixed event names).
    Minio,
    /// A Ceph RADOS Gateway bucket notification (S3-shaped, `eventSource`
    /// `ceph:s3`, keys sent raw, metadata as a list of key/value pairs).
    Ceph,
    /// An Amazon EventBridge "Object Created" event from S3.
    #[serde(rename = "eventbridge")]
    EventBridge,
    /// A CloudTrail-shaped EventBridge event ("AWS API Call via CloudTrail").
    #[serde(rename = "eventbridge-cloudtrail")]
    EventBridgeCloudTrail,
    /// A Google Cloud Storage CloudEvent (`google.cloud.storage.object.v1.finalized`).
    Gcs,
    /// An Azure Blob Storage `BlobCreated` event, CloudEvents or Event Grid schema.
    AzureBlob,
    /// An upload made through thumbflow's own HTTP gateway.
    Gateway,
    /// A thumbflow canonical event fed back in with no recorded origin (the
    /// default when an envelope's `data.source_format` is missing).
    #[default]
    Thumbflow,
}

impl SourceFormat {
    /// The serialised name (`"s3"`, `"azure-blob"`, ...), also used in ids
    /// and log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Minio => "minio",
            Self::Ceph => "ceph",
            Self::EventBridge => "eventbridge",
            Self::EventBridgeCloudTrail => "eventbridge-cloudtrail",
            Self::Gcs => "gcs",
            Self::AzureBlob => "azure-blob",
            Self::Gateway => "gateway",
            Self::Thumbflow => "thumbflow",
        }
    }
}

impl std::fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `data` of a canonical event, schema version 1: the one shape every
/// later stage reads, whatever the producer.
///
/// In JSON every field is always present; unknown values are `null`.
/// Readers accept a missing optional field as `null` and ignore unknown
/// fields, so adding an optional field is not a breaking change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCreated {
    /// Version of this data schema ([`OBJECT_CREATED_SCHEMA_VERSION`]), so a
    /// reader can refuse data it does not understand instead of misreading it.
    pub schema_version: u32,
    /// Bucket (S3, MinIO, GCS) or container (Azure) holding the object.
    pub bucket: String,
    /// The object key, fully decoded (no `+` or `%XX` left), ready for a
    /// storage `GET`.
    pub key: String,
    /// Object size in bytes, when the producer said; lets the thumbnailer
    /// refuse oversized originals before downloading them.
    pub size: Option<u64>,
    /// Entity tag as the producer gave it, surrounding quotes removed; part
    /// of the event id, and lets a reader check it fetched this version.
    pub etag: Option<String>,
    /// Producer ordering token (S3/MinIO/Azure sequencer), when known; orders
    /// events for the same key.
    pub sequencer: Option<String>,
    /// Object version (S3 version id, GCS generation), when known; lets a
    /// reader fetch exactly the version that triggered the event.
    pub version_id: Option<String>,
    /// MIME type of the object, when the producer said; decided whether the
    /// object was treated as an image.
    pub content_type: Option<String>,
    /// The raw format this event was normalized from.
    #[serde(default)]
    pub source_format: SourceFormat,
}

/// A canonical event: the CloudEvents 1.0 attributes plus its data.
///
/// The `Serialize`/`Deserialize` derives give the plain record form (field
/// names as below); the form published between stages is the CloudEvents
/// envelope from [`to_envelope`](Self::to_envelope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalEvent {
    /// CloudEvents `id`: deterministic for one object version, so a duplicate
    /// delivery has the same id and can be dropped.
    pub id: String,
    /// CloudEvents `source`: the producer, e.g. `aws:s3/my-bucket`.
    pub source: String,
    /// CloudEvents `type`: [`OBJECT_CREATED_TYPE`].
    pub event_type: String,
    /// CloudEvents `subject`: the decoded object key, so routers can filter
    /// on it without reading `data`.
    pub subject: String,
    /// CloudEvents `time`: RFC 3339 time the object was created (the raw
    /// event's time, else when it was received).
    pub time: String,
    /// W3C `traceparent` (CloudEvents distributed-tracing extension), carried
    /// to every later stage so one upload is one trace.
    pub traceparent: String,
    /// The event data.
    pub data: ObjectCreated,
}

/// The CloudEvents attributes of an envelope without its data, as returned
/// by [`parse_thumbnail_created`](crate::parse_thumbnail_created), whose data
/// has its own type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalAttrs {
    /// CloudEvents `id`.
    pub id: String,
    /// CloudEvents `source`.
    pub source: String,
    /// CloudEvents `type`.
    pub event_type: String,
    /// CloudEvents `subject`.
    pub subject: String,
    /// CloudEvents `time` (RFC 3339).
    pub time: String,
    /// W3C `traceparent`.
    pub traceparent: String,
}

/// The structured-mode envelope as written, fields in the order the
/// CloudEvents spec lists them.
#[derive(Serialize)]
pub(crate) struct EnvelopeOut<'a, D> {
    pub(crate) specversion: &'static str,
    pub(crate) id: &'a str,
    pub(crate) source: &'a str,
    #[serde(rename = "type")]
    pub(crate) event_type: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) time: &'a str,
    pub(crate) datacontenttype: &'static str,
    pub(crate) dataschema: &'static str,
    pub(crate) traceparent: &'a str,
    pub(crate) data: D,
}

impl CanonicalEvent {
    /// The CloudEvents 1.0 structured-mode JSON envelope published between
    /// stages (see `docs/events.md` for an example).
    pub fn to_envelope(&self) -> String {
        json::to_json_text(&EnvelopeOut {
            specversion: CLOUDEVENTS_SPEC_VERSION,
            id: &self.id,
            source: &self.source,
            event_type: &self.event_type,
            subject: &self.subject,
            time: &self.time,
            datacontenttype: JSON_CONTENT_TYPE,
            dataschema: OBJECT_CREATED_SCHEMA,
            traceparent: &self.traceparent,
            data: &self.data,
        })
    }

    /// Reads an envelope written by [`to_envelope`](Self::to_envelope) (or
    /// by another implementation of the same contract).
    ///
    /// Checks `specversion` 1.0, the type, RFC 3339 `time`, data schema
    /// version 1 and that `subject` equals `data.key`. A missing or malformed
    /// `traceparent` is replaced by one derived from the id, as W3C trace
    /// context asks of a receiver that cannot parse the one it got.
    pub fn from_envelope(bytes: &[u8]) -> Result<Self, NormalizeError> {
        let value = json::parse_document(bytes, "envelope")?;
        let root = json::root_object(&value, "envelope", "cloudevents")?;
        Self::from_obj(&root)
    }

    /// [`from_envelope`](Self::from_envelope) over an already parsed object.
    pub(crate) fn from_obj(obj: &Obj<'_>) -> Result<Self, NormalizeError> {
        let attrs = read_attrs(obj, OBJECT_CREATED_TYPE)?;
        let data_obj = obj.req_obj("data")?;
        let data_value = obj.get("data").cloned().unwrap_or_default();
        let data: ObjectCreated = serde_json::from_value(data_value)
            .map_err(|err| NormalizeError::invalid(data_obj.path(), err.to_string()))?;
        check_schema_version(&data_obj.field("schema_version"), data.schema_version)?;
        if attrs.subject != data.key {
            return Err(NormalizeError::invalid(
                obj.field("subject"),
                format!(
                    "must equal data.key ({:?}), found {:?}",
                    data.key, attrs.subject
                ),
            ));
        }
        Ok(Self {
            id: attrs.id,
            source: attrs.source,
            event_type: attrs.event_type,
            subject: attrs.subject,
            time: attrs.time,
            traceparent: attrs.traceparent,
            data,
        })
    }

    /// The trace id (32 hex digits) of this event's `traceparent`.
    pub fn trace_id(&self) -> Option<&str> {
        trace_id(&self.traceparent)
    }
}

/// Rejects a data schema version other than the one this build reads.
pub(crate) fn check_schema_version(field: &str, version: u32) -> Result<(), NormalizeError> {
    if version == OBJECT_CREATED_SCHEMA_VERSION {
        Ok(())
    } else {
        Err(NormalizeError::invalid(
            field,
            format!(
                "unsupported schema version {version}; this build reads version {OBJECT_CREATED_SCHEMA_VERSION}"
            ),
        ))
    }
}

/// Reads and checks the CloudEvents attributes of one of thumbflow's own
/// envelopes of type `expected_type`.
pub(crate) fn read_attrs(
    obj: &Obj<'_>,
    expected_type: &str,
) -> Result<CanonicalAttrs, NormalizeError> {
    let specversion = obj.req_str("specversion")?;
    if specversion != CLOUDEVENTS_SPEC_VERSION {
        return Err(NormalizeError::invalid(
            obj.field("specversion"),
            format!("unsupported CloudEvents version {specversion:?}; expected \"1.0\""),
        ));
    }
    let event_type = obj.req_str("type")?;
    if event_type != expected_type {
        return Err(NormalizeError::invalid(
            obj.field("type"),
            format!("expected {expected_type:?}, found {event_type:?}"),
        ));
    }
    let id = obj.req_str("id")?;
    let time = obj.req_str("time")?;
    check_time(&obj.field("time"), time)?;
    let traceparent = match obj.opt_str("traceparent")? {
        Some(given) if is_valid_traceparent(given) => given.to_owned(),
        _ => derive_traceparent(id),
    };
    Ok(CanonicalAttrs {
        id: id.to_owned(),
        source: obj.req_str("source")?.to_owned(),
        event_type: event_type.to_owned(),
        subject: obj.req_str("subject")?.to_owned(),
        time: time.to_owned(),
        traceparent,
    })
}

/// Checks that `value` is an RFC 3339 timestamp, as CloudEvents requires of
/// `time`.
pub(crate) fn check_time(field: &str, value: &str) -> Result<(), NormalizeError> {
    parse_time(value).map(|_| ()).ok_or_else(|| {
        NormalizeError::invalid(
            field,
            format!("expected an RFC 3339 timestamp such as 2024-01-15T12:00:00Z, found {value:?}"),
        )
    })
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_time(value: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value, &Rfc3339).ok()
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// SHA-256 over a domain tag and a list of optional fields, unambiguously
/// framed: each field is a presence byte, then (if present) its length as
/// 8 big-endian bytes and its UTF-8 bytes. So `("a|b", "c")` and
/// `("a", "b|c")` differ, and `None` differs from `Some("")`.
pub(crate) fn framed_hash(domain: &str, fields: &[Option<&str>]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(domain.as_bytes());
    hasher.update([0u8]);
    for field in fields {
        match field {
            None => hasher.update([0u8]),
            Some(text) => {
                hasher.update([1u8]);
                hasher.update((text.len() as u64).to_be_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    hasher.finalize().into()
}

/// The identity of one object version, from which [`object_event_id`]
/// derives the canonical event id.
pub(crate) struct ObjectIdentity<'a> {
    pub(crate) format: SourceFormat,
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    pub(crate) etag: Option<&'a str>,
    pub(crate) sequencer: Option<&'a str>,
    pub(crate) version_id: Option<&'a str>,
    /// Only used when etag, sequencer and version id are all unknown, so two
    /// uploads of the same key stay distinct events.
    pub(crate) time: &'a str,
}

/// The canonical event id: 32 hex digits of SHA-256 over source format,
/// bucket, key, etag, sequencer and version id (plus the event time when the
/// last three are all unknown).
///
/// A redelivery of the same raw event yields the same id; a new upload of
/// the same key (new etag or sequencer) yields a new one.
pub(crate) fn object_event_id(identity: &ObjectIdentity<'_>) -> String {
    let versionless =
        identity.etag.is_none() && identity.sequencer.is_none() && identity.version_id.is_none();
    let hash = framed_hash(
        "thumbflow.object-created.v1",
        &[
            Some(identity.format.as_str()),
            Some(identity.bucket),
            Some(identity.key),
            identity.etag,
            identity.sequencer,
            identity.version_id,
            versionless.then_some(identity.time),
        ],
    );
    hex(&hash[..16])
}

/// Whether `value` is a version-00 W3C `traceparent`
/// (`00-<32 hex>-<16 hex>-<2 hex>`, lower case, ids not all zero).
pub fn is_valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let is_hex = |part: &str, len: usize| {
        part.len() == len
            && part
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    };
    let not_zero = |part: &str| part.bytes().any(|byte| byte != b'0');
    matches!(
        parts.as_slice(),
        [version, trace, span, flags]
            if *version == "00"
                && is_hex(trace, 32) && not_zero(trace)
                && is_hex(span, 16) && not_zero(span)
                && is_hex(flags, 2)
    )
}

/// The trace id (32 hex digits) of a valid `traceparent`.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    if is_valid_traceparent(traceparent) {
        traceparent.get(3..35)
    } else {
        None
    }
}

/// Hex of `bytes`, with the last digit forced to `1` if all are zero
/// (W3C forbids all-zero trace and span ids).
fn nonzero_hex(bytes: &[u8]) -> String {
    let mut text = hex(bytes);
    if bytes.iter().all(|byte| *byte == 0) {
        text.pop();
        text.push('1');
    }
    text
}

/// A fresh, sampled `traceparent` whose trace and span ids are derived from
/// `seed` (an event id), so a redelivered event joins the same trace.
pub(crate) fn derive_traceparent(seed: &str) -> String {
    let hash = framed_hash("thumbflow.traceparent", &[Some(seed)]);
    format!(
        "00-{}-{}-01",
        nonzero_hex(&hash[..16]),
        nonzero_hex(&hash[16..24])
    )
}

/// The `traceparent` of a new upload, created at the source: a new span in
/// the caller's trace when it sent a valid `incoming` traceparent, else a
/// new trace derived from `seed` (unique per upload: bucket, key, etag and
/// time). Every later stage's event carries the same trace id, so one
/// upload can be followed through every stage's logs.
pub fn upload_traceparent(incoming: Option<&str>, seed: &str) -> String {
    match incoming {
        Some(parent) if is_valid_traceparent(parent) => child_traceparent(parent, seed),
        _ => derive_traceparent(seed),
    }
}

/// A child of `parent` for the event `seed`: same trace id and flags, a new
/// span id derived from `seed`. An invalid parent starts a derived trace.
pub(crate) fn child_traceparent(parent: &str, seed: &str) -> String {
    let parent = if is_valid_traceparent(parent) {
        parent.to_owned()
    } else {
        derive_traceparent(seed)
    };
    let hash = framed_hash("thumbflow.span", &[Some(seed)]);
    let trace = parent.get(3..35).unwrap_or_default();
    let flags = parent.get(53..55).unwrap_or("01");
    format!("00-{trace}-{}-{flags}", nonzero_hex(&hash[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_format_serializes_kebab_case() {
        let all = [
            (SourceFormat::S3, "s3"),
            (SourceFormat::Minio, "minio"),
            (SourceFormat::Ceph, "ceph"),
            (SourceFormat::EventBridge, "eventbridge"),
            (
                SourceFormat::EventBridgeCloudTrail,
                "eventbridge-cloudtrail",
            ),
            (SourceFormat::Gcs, "gcs"),
            (SourceFormat::AzureBlob, "azure-blob"),
            (SourceFormat::Gateway, "gateway"),
            (SourceFormat::Thumbflow, "thumbflow"),
        ];
        for (format, name) in all {
            assert_eq!(
                serde_json::to_string(&format).unwrap(),
                format!("\"{name}\"")
            );
            assert_eq!(format.as_str(), name);
            let back: SourceFormat = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(back, format);
        }
    }

    #[test]
    fn framed_hash_separates_fields() {
        assert_ne!(
            framed_hash("d", &[Some("a|b"), Some("c")]),
            framed_hash("d", &[Some("a"), Some("b|c")])
        );
        assert_ne!(framed_hash("d", &[None]), framed_hash("d", &[Some("")]));
    }

    #[test]
    fn traceparent_validation() {
        assert!(is_valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(!is_valid_traceparent(bad), "{bad}");
        }
    }

    #[test]
    fn upload_traceparent_joins_the_callers_trace_or_starts_one() {
        let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let joined = upload_traceparent(Some(caller), "b/k/e/t");
        assert!(is_valid_traceparent(&joined));
        assert_eq!(trace_id(&joined), trace_id(caller));
        assert_ne!(joined, caller);
        let fresh = upload_traceparent(Some("garbage"), "b/k/e/t");
        assert!(is_valid_traceparent(&fresh));
        assert_ne!(trace_id(&fresh), trace_id(caller));
        assert_ne!(fresh, upload_traceparent(None, "b/k/e/t2"));
    }

    #[test]
    fn derive_traceparent_is_valid_and_deterministic() {
        let first = derive_traceparent("abc");
        assert!(is_valid_traceparent(&first), "{first}");
        assert_eq!(first, derive_traceparent("abc"));
        assert_ne!(first, derive_traceparent("abd"));
    }

    #[test]
    fn child_traceparent_keeps_trace_and_flags() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let child = child_traceparent(parent, "event-2");
        assert!(is_valid_traceparent(&child), "{child}");
        assert_eq!(trace_id(&child), trace_id(parent));
        assert!(child.ends_with("-00"));
        assert_ne!(&child[36..52], &parent[36..52]);
    }

    #[test]
    fn check_time_accepts_rfc3339_variants() {
        for ok in [
            "2024-01-15T12:00:00Z",
            "1970-01-01T00:00:00.000Z",
            "2017-06-26T18:41:00.9584103Z",
            "2024-01-15T12:00:00+02:00",
        ] {
            assert!(check_time("time", ok).is_ok(), "{ok}");
        }
        let err = check_time("time", "yesterday").unwrap_err();
        assert!(matches!(err, NormalizeError::InvalidField { ref field, .. } if field == "time"));
    }
}
