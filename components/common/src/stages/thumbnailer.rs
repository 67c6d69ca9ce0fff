//! The thumbnailer stage: a canonical event in, thumbnails stored.
//!
//! Read the original from the object store (the key-value layout, or the
//! event's S3 bucket when `store = "s3"`: HEAD, then GET only the version
//! the event names), render the configured recipes with the thumbnail
//! engine (the port `thumbflow:pipeline/thumbnail@0.1.0`), store each
//! thumbnail under `thumbnail_prefix` marked as generated, record the
//! status, and return the thumbnail-created event for the notifier.

use thumbflow_blob::generated::THUMBNAIL_CACHE_CONTROL;
use thumbflow_blob::{is_generated, thumbnail_key, GeneratedFrom};
use thumbflow_events::{
    thumbnail_created_envelope, CanonicalEvent, StageState, ThumbnailCreated, ThumbnailInfo,
};
use thumbflow_queue::UnitOfWork;
use thumbflow_s3::{ObjectHead, PutOptions, S3Error};

use super::{status, Failure};
use crate::engines::thumbnail::{parse_recipes, render, ImageFormat, Limits, StageError};
use crate::store::{ObjectStore, StoreKind};
use crate::{clock, kv, vars};

/// Stage name used in status records.
pub const STAGE: &str = "thumbnailer";
/// Largest width or height accepted from an image header.
const MAX_SIDE: u32 = 16_384;
/// Most frames an animated input may declare.
const MAX_FRAMES: u32 = 10_000;

impl From<StageError> for Failure {
    fn from(e: StageError) -> Self {
        match e {
            StageError::Reject(m) => Self::reject(m),
            StageError::Retry(m) => Self::retry(m),
        }
    }
}

/// The canonical event in a payload; a malformed one is a reject.
pub fn parse(payload: &[u8]) -> Result<CanonicalEvent, Failure> {
    CanonicalEvent::from_envelope(payload)
        .map_err(|e| Failure::reject(format!("canonical event rejected: {e}")))
}

/// The event's unit of work: its identity (bucket, key, etag, sequencer,
/// version: the canonical id) with the recipes it is rendered to; ordered
/// by the producer's sequencer when it sends one.
pub fn unit_of(event: &CanonicalEvent, recipes: &str) -> UnitOfWork {
    let order = event
        .data
        .sequencer
        .as_deref()
        .map(|s| format!("{:0>48}", s.to_ascii_lowercase()))
        .unwrap_or_default();
    UnitOfWork {
        idempotency_key: format!("{}:{}", event.id, recipes.trim()),
        object: format!("{}/{}", event.data.bucket, event.data.key),
        order,
    }
}

/// Render and store the thumbnails and record the status; the
/// thumbnail-created event to forward, or `None` when there was nothing to do.
pub fn process(event: &CanonicalEvent, trace: &str) -> Result<Option<Vec<u8>>, Failure> {
    let (bucket, key) = (&event.data.bucket, &event.data.key);
    let kv_store = kv::SpinKv::open()?;
    match thumbnail(event)? {
        Outcome::Created(created) => {
            let names: Vec<&str> = created.thumbnails.iter().map(|t| t.key.as_str()).collect();
            let detail = format!("stored {}", names.join(", "));
            let thumbnails = Some(created.thumbnails.clone());
            kv::record_stage(
                &kv_store,
                bucket,
                key,
                STAGE,
                status(StageState::Done, detail, None),
                |record| {
                    record.thumbnails = thumbnails;
                },
            )?;
            let envelope = thumbnail_created_envelope(event, &created, &clock::now_rfc3339());
            println!(
                "thumbnailed {bucket}/{key}: {} trace={trace}",
                created.thumbnails.len()
            );
            Ok(Some(envelope.into_bytes()))
        }
        Outcome::Ignored(why) => {
            kv::record_stage(
                &kv_store,
                bucket,
                key,
                STAGE,
                status(StageState::Ignored, why.clone(), None),
                |_| {},
            )?;
            println!("skipped {bucket}/{key}: {why} trace={trace}");
            Ok(None)
        }
    }
}

/// What became of an event that did not fail.
enum Outcome {
    /// Thumbnails were stored.
    Created(ThumbnailCreated),
    /// Nothing to do, and why (own output, deleted, superseded).
    Ignored(String),
}

const OWN_OUTPUT: &str = "skipped: the object is one of thumbflow's own outputs";
const DELETED: &str = "skipped: the object was deleted before it was processed";

/// Read the original, render every recipe and store the thumbnails.
fn thumbnail(event: &CanonicalEvent) -> Result<Outcome, Failure> {
    let (bucket, key) = (&event.data.bucket, &event.data.key);
    let prefix = vars::get("thumbnail_prefix")?;
    // Defence in depth: the normalizer already drops these.
    if key.starts_with(&prefix) {
        return Ok(Outcome::Ignored(OWN_OUTPUT.to_owned()));
    }
    let max_bytes: u64 = vars::parse("max_object_bytes")?;
    let objects = ObjectStore::open(max_bytes).map_err(|e| {
        match e.chain().any(|c| c.is::<thumbflow_s3::ConfigError>()) {
            true => Failure::reject(format!("{e:#}")),
            false => Failure::from(e),
        }
    })?;
    let (head, original) = match read_original(&objects, event, max_bytes)? {
        Original::Found(head, bytes) => (head, bytes),
        Original::Skip(why) => return Ok(Outcome::Ignored(why)),
    };
    let recipes = parse_recipes(&vars::get("recipes")?)?;
    let limits = Limits {
        max_pixels: vars::parse("max_pixels")?,
        max_side: MAX_SIDE,
        max_input_bytes: max_bytes,
        max_frames: MAX_FRAMES,
        memory_budget: vars::parse("max_decode_bytes")?,
    };
    let rendered = render(&original, &recipes, limits)?;
    let mut thumbnails = Vec::with_capacity(rendered.len());
    for r in rendered {
        let tkey = thumbnail_key(&prefix, &r.recipe, key, extension(r.format));
        let from = GeneratedFrom {
            recipe: r.recipe.clone(),
            recipe_version: r.recipe_version,
            source_key: key.clone(),
            source_etag: head.etag.clone(),
        };
        let options = PutOptions {
            content_type: r.content_type.clone(),
            cache_control: Some(THUMBNAIL_CACHE_CONTROL.to_owned()),
            metadata: from.to_metadata(),
        };
        let bytes = r.bytes.len() as u64;
        objects.put(bucket, &tkey, r.bytes, &options)?;
        thumbnails.push(ThumbnailInfo {
            recipe: r.recipe,
            recipe_version: r.recipe_version,
            key: tkey,
            width: r.width,
            height: r.height,
            content_type: r.content_type,
            bytes,
        });
    }
    Ok(Outcome::Created(ThumbnailCreated {
        bucket: bucket.clone(),
        key: key.clone(),
        source_event_id: event.id.clone(),
        thumbnails,
    }))
}

/// The original as read, or why the event needs no work.
enum Original {
    /// Its head and bytes.
    Found(ObjectHead, Vec<u8>),
    /// Nothing to do, and why.
    Skip(String),
}

/// Read the original named by `event`.
///
/// Key-value mode reads as it always has (a missing object is retried: the
/// gateway stores before it publishes). S3 mode reads HEAD first, then GET
/// with `If-Match` on the ETag it saw, so what is rendered is exactly the
/// version the event named.
fn read_original(
    objects: &ObjectStore,
    event: &CanonicalEvent,
    max_bytes: u64,
) -> Result<Original, Failure> {
    let (bucket, key) = (&event.data.bucket, &event.data.key);
    if objects.kind() == StoreKind::Kv {
        let (head, bytes) = objects.get(bucket, key, None)?.ok_or_else(|| {
            Failure::retry(format!("object {bucket}/{key} is not in the blob store"))
        })?;
        if is_generated(&head.metadata) {
            return Ok(Original::Skip(OWN_OUTPUT.to_owned()));
        }
        return Ok(Original::Found(head, bytes));
    }
    let Some(head) = objects.head(bucket, key)? else {
        return Ok(Original::Skip(DELETED.to_owned()));
    };
    if is_generated(&head.metadata) {
        return Ok(Original::Skip(OWN_OUTPUT.to_owned()));
    }
    let (etag, version) = (&event.data.etag, &event.data.version_id);
    if let Some(why) = head.superseded(etag.as_deref(), version.as_deref()) {
        return Ok(Original::Skip(format!("skipped as superseded: {why}")));
    }
    if head.size > max_bytes {
        return Err(S3Error::too_large(head.size, "max_object_bytes", max_bytes).into());
    }
    match objects.get(bucket, key, Some(&head.etag)) {
        Ok(Some((_, bytes))) => Ok(Original::Found(head, bytes)),
        Ok(None) => Ok(Original::Skip(DELETED.to_owned())),
        Err(S3Error::PreconditionFailed { .. }) => Ok(Original::Skip(format!(
            "skipped as superseded: {bucket}/{key} was replaced while it was being read"
        ))),
        Err(e) => Err(e.into()),
    }
}

fn extension(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Png => "png",
        ImageFormat::Webp => "webp",
    }
}
