//! The event the thumbnailer publishes once an original's thumbnails exist.
//!
//! Consumed by the notifier (which turns it into a signed webhook) and by
//! anything else that wants to know a thumbnail is ready. It is a CloudEvent
//! of type [`THUMBNAIL_CREATED_TYPE`] in the same trace as the object-created
//! event that caused it, with a deterministic id so a retried thumbnailer
//! run publishes the same event again rather than a new one.

use serde::{Deserialize, Serialize};

use crate::canonical::{
    child_traceparent, framed_hash, hex, read_attrs, CanonicalAttrs, CanonicalEvent, EnvelopeOut,
    CLOUDEVENTS_SPEC_VERSION, JSON_CONTENT_TYPE, THUMBNAIL_CREATED_TYPE,
};
use crate::error::NormalizeError;
use crate::json::{self, to_json_text};

/// CloudEvents `dataschema` of [`ThumbnailCreated`], schema version 1.
pub const THUMBNAIL_CREATED_SCHEMA: &str = "https://thumbflow.dev/schemas/thumbnail-created/1";

/// Current `schema_version` of the thumbnail-created data.
pub const THUMBNAIL_CREATED_SCHEMA_VERSION: u32 = 1;

/// One stored thumbnail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailInfo {
    /// Name of the recipe that made it (`thumb`), so consumers can pick the
    /// size they want.
    pub recipe: String,
    /// That recipe's version; a changed recipe produces a new version.
    pub recipe_version: u32,
    /// Where the thumbnail is stored (same bucket as the original).
    pub key: String,
    /// Width in pixels, as displayed.
    pub width: u32,
    /// Height in pixels, as displayed.
    pub height: u32,
    /// MIME type of the stored bytes.
    pub content_type: String,
    /// Size of the stored thumbnail in bytes.
    pub bytes: u64,
}

/// The data of a thumbnail-created event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailCreated {
    /// Bucket of the original (and of the thumbnails).
    pub bucket: String,
    /// Key of the original image, not of a thumbnail.
    pub key: String,
    /// Id of the object-created event that caused this one, to correlate
    /// the two without a trace backend.
    pub source_event_id: String,
    /// Every thumbnail made for the original.
    pub thumbnails: Vec<ThumbnailInfo>,
}

/// The data as written, with its schema version first.
#[derive(Deserialize)]
struct DataWire {
    schema_version: u32,
    #[serde(flatten)]
    created: ThumbnailCreated,
}

/// Same, borrowing, for writing.
#[derive(Serialize)]
struct DataOut<'a> {
    schema_version: u32,
    #[serde(flatten)]
    created: &'a ThumbnailCreated,
}

/// The deterministic id of the thumbnail-created event for `created`: it
/// depends on the source event and on each thumbnail's recipe, version and
/// key, so the same work done twice yields the same id.
fn event_id(source_event_id: &str, created: &ThumbnailCreated) -> String {
    let versions: Vec<String> = created
        .thumbnails
        .iter()
        .map(|thumb| thumb.recipe_version.to_string())
        .collect();
    let mut fields: Vec<Option<&str>> = vec![Some(source_event_id)];
    for (thumb, version) in created.thumbnails.iter().zip(&versions) {
        fields.extend([
            Some(thumb.recipe.as_str()),
            Some(version.as_str()),
            Some(thumb.key.as_str()),
        ]);
    }
    hex(&framed_hash("thumbflow.thumbnail-created.v1", &fields)[..16])
}

/// The CloudEvents envelope announcing `created`, caused by `source`.
///
/// `type` is [`THUMBNAIL_CREATED_TYPE`], `source` is
/// `thumbflow:thumbnailer/<bucket>`, `subject` is the original's key, `time`
/// is `time` (when the thumbnails were stored). The `traceparent` keeps the
/// source's trace id and flags with a new span id derived from the event id;
/// the id is deterministic (see the crate docs).
pub fn thumbnail_created_envelope(
    source: &CanonicalEvent,
    created: &ThumbnailCreated,
    time: &str,
) -> String {
    let id = event_id(&source.id, created);
    let traceparent = child_traceparent(&source.traceparent, &id);
    let event_source = format!("thumbflow:thumbnailer/{}", created.bucket);
    to_json_text(&EnvelopeOut {
        specversion: CLOUDEVENTS_SPEC_VERSION,
        id: &id,
        source: &event_source,
        event_type: THUMBNAIL_CREATED_TYPE,
        subject: &created.key,
        time,
        datacontenttype: JSON_CONTENT_TYPE,
        dataschema: THUMBNAIL_CREATED_SCHEMA,
        traceparent: &traceparent,
        data: DataOut {
            schema_version: THUMBNAIL_CREATED_SCHEMA_VERSION,
            created,
        },
    })
}

/// Reads a thumbnail-created envelope: its attributes and its data.
///
/// Checks `specversion` 1.0, the type, RFC 3339 `time` and data schema
/// version 1; a missing or malformed `traceparent` is replaced by one
/// derived from the id.
pub fn parse_thumbnail_created(
    bytes: &[u8],
) -> Result<(CanonicalAttrs, ThumbnailCreated), NormalizeError> {
    let value = json::parse_document(bytes, "envelope")?;
    let root = json::root_object(&value, "envelope", "thumbnail-created")?;
    let attrs = read_attrs(&root, THUMBNAIL_CREATED_TYPE)?;
    let data_obj = root.req_obj("data")?;
    let data_value = root.get("data").cloned().unwrap_or_default();
    let wire: DataWire = serde_json::from_value(data_value)
        .map_err(|err| NormalizeError::invalid(data_obj.path(), err.to_string()))?;
    if wire.schema_version != THUMBNAIL_CREATED_SCHEMA_VERSION {
        return Err(NormalizeError::invalid(
            data_obj.field("schema_version"),
            format!(
                "unsupported schema version {}; this build reads version {THUMBNAIL_CREATED_SCHEMA_VERSION}",
                wire.schema_version
            ),
        ));
    }
    Ok((attrs, wire.created))
}
