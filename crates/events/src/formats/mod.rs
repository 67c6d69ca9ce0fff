//! The raw event formats, one module each, and the detector that picks one.
//!
//! Every format module turns its JSON into [`Parsed`] records: either a
//! [`RawObject`] (an object creation, not yet filtered) or an [`Ignored`]
//! record (a deletion, a test event, ...). [`crate::normalize`] then applies
//! the ignore rules and builds the canonical event.
//!
//! Detection looks only at the shape, most specific first:
//!
//! | shape                                   | module        |
//! |-----------------------------------------|---------------|
//! | JSON array                              | each element  |
//! | object with `Records`                   | [`s3`] (S3, MinIO, Ceph RGW, gateway) |
//! | object with `"Event": "s3:TestEvent"`   | [`s3`]        |
//! | object with `detail-type`               | [`eventbridge`] |
//! | object with `specversion`               | by CloudEvents `type`: [`gcs`], [`azure`], [`thumbflow`] |
//! | object with `eventType` and `subject`   | [`azure`] (Event Grid schema) |

pub(crate) mod azure;
pub(crate) mod eventbridge;
pub(crate) mod gcs;
pub(crate) mod s3;
pub(crate) mod thumbflow;

use serde_json::Value;

use crate::canonical::{check_time, SourceFormat, CLOUDEVENTS_SPEC_VERSION};
use crate::canonical::{OBJECT_CREATED_TYPE, THUMBNAIL_CREATED_TYPE};
use crate::error::NormalizeError;
use crate::json::{kind, Obj};
use crate::normalize::Ignored;

/// One object creation read from a raw event, before the ignore rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawObject {
    pub(crate) format: SourceFormat,
    /// CloudEvents `source` for the canonical event.
    pub(crate) source: String,
    pub(crate) bucket: String,
    /// Decoded key.
    pub(crate) key: String,
    pub(crate) size: Option<u64>,
    pub(crate) etag: Option<String>,
    pub(crate) sequencer: Option<String>,
    pub(crate) version_id: Option<String>,
    pub(crate) content_type: Option<String>,
    /// The raw event's own time, already checked to be RFC 3339.
    pub(crate) time: Option<String>,
    /// The raw event's own `traceparent`, unchecked.
    pub(crate) traceparent: Option<String>,
    /// Metadata marks the object as a thumbflow output.
    pub(crate) generated_marker: bool,
    /// Only for a canonical event fed back in: its id, kept as is.
    pub(crate) id: Option<String>,
}

/// What one record of a raw event turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// An object creation, still subject to the ignore rules.
    Object(Box<RawObject>),
    /// Skipped on purpose before the ignore rules (not a creation, ...).
    Ignored(Ignored),
}

/// An [`Parsed::Ignored`] record.
pub(crate) fn ignored(
    reason: impl Into<String>,
    bucket: Option<&str>,
    key: Option<&str>,
) -> Parsed {
    Parsed::Ignored(Ignored {
        reason: reason.into(),
        bucket: bucket.map(str::to_owned),
        key: key.map(str::to_owned),
    })
}

/// The object fields shared by every S3-shaped `object` (S3, MinIO, Ceph,
/// gateway, EventBridge, CloudTrail `detail.s3`).
pub(crate) struct ObjectFields {
    pub(crate) key: String,
    pub(crate) size: Option<u64>,
    pub(crate) etag: Option<String>,
    pub(crate) sequencer: Option<String>,
    pub(crate) version_id: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) generated_marker: bool,
}

/// How an S3-shaped object's key is written: each producer's rule, with the
/// evidence, is in `docs/events.md` ("Object keys, producer by producer").
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyEncoding {
    /// Form-encoded (`+` for space, `%XX` for UTF-8 bytes): S3 notifications,
    /// S3 to EventBridge "Object Created", MinIO, our gateway.
    Form,
    /// Verbatim, every character as in the object's name: Ceph RGW
    /// notifications and CloudTrail's `requestParameters`.
    AsIs,
}

/// Reads an S3-shaped `object`: `key`, `size`, `eTag`/`etag`,
/// `versionId`/`version-id`, `sequencer`, `contentType`, and the object
/// metadata either as MinIO's `userMetadata` map or as Ceph RGW's `metadata`
/// list of `{"key", "val"}` pairs.
pub(crate) fn object_fields(
    object: &Obj<'_>,
    encoding: KeyEncoding,
) -> Result<ObjectFields, NormalizeError> {
    let raw_key = object.req_str("key")?;
    let key = match encoding {
        KeyEncoding::Form => crate::key::decode_form_key(raw_key)?,
        KeyEncoding::AsIs => raw_key.to_owned(),
    };
    let etag = match object.opt_str("eTag")? {
        Some(etag) => Some(etag),
        None => object.opt_str("etag")?,
    };
    let version_id = match object.opt_id("versionId")? {
        Some(version) => Some(version),
        None => object.opt_id("version-id")?,
    };
    let mut metadata = object.string_map("userMetadata")?;
    metadata.extend(object.key_val_list("metadata")?);
    let content_type = match object.opt_nonempty_str("contentType")? {
        Some(content_type) => Some(content_type.to_owned()),
        None => metadata
            .iter()
            .find(|(name, value)| name.eq_ignore_ascii_case("content-type") && !value.is_empty())
            .map(|(_, value)| (*value).to_owned()),
    };
    Ok(ObjectFields {
        key,
        size: object.opt_u64("size")?,
        etag: etag.and_then(clean_etag),
        sequencer: object.opt_nonempty_str("sequencer")?.map(str::to_owned),
        version_id,
        content_type,
        generated_marker: metadata
            .iter()
            .any(|(name, _)| crate::filter::is_generated_marker(name)),
    })
}

/// An etag without surrounding quotes (S3 sometimes sends `"\"abc\""`);
/// empty means unknown.
pub(crate) fn clean_etag(etag: &str) -> Option<String> {
    let bare = etag.trim().trim_matches('"');
    (!bare.is_empty()).then(|| bare.to_owned())
}

/// An optional time field, checked to be RFC 3339.
pub(crate) fn opt_time(obj: &Obj<'_>, name: &str) -> Result<Option<String>, NormalizeError> {
    match obj.opt_nonempty_str(name)? {
        None => Ok(None),
        Some(time) => {
            check_time(&obj.field(name), time)?;
            Ok(Some(time.to_owned()))
        }
    }
}

/// Lenient read of an optional string, for the bucket and key of an ignored
/// record: a mistyped field there is not worth rejecting the event over.
pub(crate) fn loose_str<'a>(obj: Option<&Obj<'a>>, name: &str) -> Option<&'a str> {
    obj.and_then(|obj| obj.get(name)).and_then(Value::as_str)
}

/// Reads a raw event (already parsed JSON) into its records.
pub(crate) fn parse(value: &Value) -> Result<Vec<Parsed>, NormalizeError> {
    match value {
        Value::Object(map) => parse_object(&Obj::new(map, String::new(), "event")),
        Value::Array(items) if items.is_empty() => {
            Err(NormalizeError::UnknownFormat(String::from(
                "an empty JSON array (Event Grid and CloudEvents batches carry at least one event)",
            )))
        }
        Value::Array(items) => {
            let mut parsed = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let path = format!("[{index}]");
                match item {
                    Value::Object(map) => {
                        parsed.extend(parse_object(&Obj::new(map, path, "event"))?)
                    }
                    other => {
                        return Err(NormalizeError::UnknownFormat(format!(
                            "a JSON array whose element {path} is {}, expected event objects",
                            kind(other)
                        )))
                    }
                }
            }
            Ok(parsed)
        }
        other => Err(NormalizeError::UnknownFormat(format!(
            "a JSON document that is {}, expected an event object or an array of events",
            kind(other)
        ))),
    }
}

/// Detects and reads one event object.
fn parse_object(obj: &Obj<'_>) -> Result<Vec<Parsed>, NormalizeError> {
    if obj.has("Records") {
        return s3::parse_records(obj);
    }
    if obj.get("Event").and_then(Value::as_str) == Some(s3::TEST_EVENT) {
        return Ok(vec![s3::test_event(obj)]);
    }
    if obj.has("detail-type") {
        return eventbridge::parse(obj).map(|parsed| vec![parsed]);
    }
    if obj.has("specversion") {
        return parse_cloudevent(obj).map(|parsed| vec![parsed]);
    }
    if obj.has("eventType") && obj.has("subject") {
        return azure::parse_event_grid(obj).map(|parsed| vec![parsed]);
    }
    Err(NormalizeError::UnknownFormat(describe_keys(obj)))
}

/// "an object with keys a, b, c" for unknown-format messages.
fn describe_keys(obj: &Obj<'_>) -> String {
    const SHOWN: usize = 12;
    let keys: Vec<&String> = obj.keys().collect();
    let mut listed = keys
        .iter()
        .take(SHOWN)
        .map(|key| format!("{key:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > SHOWN {
        listed.push_str(&format!(", ... ({} keys)", keys.len()));
    }
    let at = if obj.path().is_empty() {
        String::new()
    } else {
        format!(" at {}", obj.path())
    };
    format!(
        "an object{at} with keys [{listed}]; expected S3/MinIO/Ceph `Records`, an EventBridge event, a CloudEvent or an Event Grid event"
    )
}

/// Dispatches a CloudEvents 1.0 structured-mode event by its `type`.
fn parse_cloudevent(obj: &Obj<'_>) -> Result<Parsed, NormalizeError> {
    let obj = obj.clone().with_format("cloudevents");
    let specversion = obj.req_str("specversion")?;
    if specversion != CLOUDEVENTS_SPEC_VERSION {
        return Err(NormalizeError::invalid(
            obj.field("specversion"),
            format!("unsupported CloudEvents version {specversion:?}; expected \"1.0\""),
        ));
    }
    let event_type = obj.req_str("type")?;
    match event_type {
        gcs::FINALIZED => gcs::parse_finalized(&obj),
        other if other.starts_with(gcs::TYPE_PREFIX) => Ok(gcs::ignored_event(&obj, other)),
        azure::BLOB_CREATED => azure::parse_cloudevent(&obj),
        other if other.starts_with(azure::TYPE_PREFIX) => Ok(azure::ignored_cloudevent(&obj, other)),
        OBJECT_CREATED_TYPE => thumbflow::parse_canonical(&obj),
        THUMBNAIL_CREATED_TYPE => Ok(ignored(
            "a thumbnail-created event is thumbflow's own output: it never triggers another thumbnail",
            None,
            obj.get("subject").and_then(Value::as_str),
        )),
        other => Err(NormalizeError::UnknownFormat(format!(
            "a CloudEvent of type {other:?}; supported: {:?}, {:?}, {:?}",
            gcs::FINALIZED,
            azure::BLOB_CREATED,
            OBJECT_CREATED_TYPE
        ))),
    }
}
