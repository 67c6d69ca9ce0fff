//! The thumbnailer stage: a canonical event in, thumbnails stored.
//!
//! Read the original from the object store (the key-value layout, or the
//! event's S3 bucket when `store = "s3"`: HEAD, then GET only the version
//! the event names), render the configured recipes with the thumbnail
//! engine (the port `thumbflow:pipeline/thumbnail@0.1.0`), store each
//! thumbnail under `thumbnail_prefix` marked as generated, record the
//! status, and return the thumbnail-created event for the notifier.

use thumbflow_blob::generated::{staleness, ExpectedThumbnail, THUMBNAIL_CACHE_CONTROL};
use thumbflow_blob::{is_generated, thumbnail_key, GeneratedFrom};
use thumbflow_events::{
    thumbnail_created_envelope, CanonicalEvent, StageState, ThumbnailCreated, ThumbnailInfo,
};
use thumbflow_queue::{Settle, UnitOfWork};
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
        order_scope: event.data.source_format.as_str().to_owned(),
    }
}

/// What the stage did with an event that did not fail.
pub enum Done {
    /// Thumbnails rendered and stored: the thumbnail-created event to hand on.
    Rendered(Vec<u8>),
    /// Nothing rendered: every thumbnail was already current for this
    /// version of the source (the same bytes uploaded again, one object
    /// announced by two producers); the thumbnail-created event, from the
    /// thumbnails the status record lists, to hand on all the same.
    UpToDate(Vec<u8>),
    /// Nothing to do (own output, deleted, superseded).
    Ignored,
}

impl Done {
    /// How the queue settles it.
    pub fn settle(&self) -> Settle {
        match self {
            Self::Rendered(_) => Settle::Processed,
            Self::UpToDate(_) => Settle::Duplicate,
            Self::Ignored => Settle::Ignored,
        }
    }

    /// The thumbnail-created event to hand on, if any.
    pub fn next(self) -> Option<Vec<u8>> {
        match self {
            Self::Rendered(next) | Self::UpToDate(next) => Some(next),
            Self::Ignored => None,
        }
    }
}

/// Render and store the thumbnails and record the status; `tags` end every
/// log line ([`super::tags`]).
pub fn process(event: &CanonicalEvent, tags: &str) -> Result<Done, Failure> {
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
                "thumbnailed {bucket}/{key}: {} {tags}",
                created.thumbnails.len()
            );
            Ok(Done::Rendered(envelope.into_bytes()))
        }
        Outcome::UpToDate(why, created) => {
            // The stage's work is done (by an earlier event): recorded and
            // handed on as a render would be, so this upload ends notified.
            kv::record_stage(
                &kv_store,
                bucket,
                key,
                STAGE,
                status(StageState::Done, why.clone(), None),
                |_| {},
            )?;
            let envelope = thumbnail_created_envelope(event, &created, &clock::now_rfc3339());
            println!("up to date {bucket}/{key}: {why} {tags}");
            Ok(Done::UpToDate(envelope.into_bytes()))
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
            println!("skipped {bucket}/{key}: {why} {tags}");
            Ok(Done::Ignored)
        }
    }
}

/// What became of an event that did not fail.
enum Outcome {
    /// Thumbnails were stored.
    Created(ThumbnailCreated),
    /// Every thumbnail is already current for this version of the source:
    /// why, and the thumbnails as the status record lists them.
    UpToDate(String, ThumbnailCreated),
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
    let recipes = parse_recipes(&vars::get("recipes")?)?;
    let expected: Vec<ExpectedThumbnail> = recipes
        .iter()
        .map(|r| ExpectedThumbnail {
            recipe: r.name.clone(),
            version: r.version,
            key: thumbnail_key(&prefix, &r.name, key, extension(r.format)),
        })
        .collect();
    let (head, original) = match read_original(&objects, event, max_bytes, &expected)? {
        Original::Found(head, bytes) => (head, bytes),
        Original::Skip(why) => return Ok(Outcome::Ignored(why)),
        Original::UpToDate(why, thumbnails) => {
            let created = ThumbnailCreated {
                bucket: bucket.clone(),
                key: key.clone(),
                source_event_id: event.id.clone(),
                thumbnails,
            };
            return Ok(Outcome::UpToDate(why, created));
        }
    };
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
    /// Nothing to render: the thumbnails are current; why, and them.
    UpToDate(String, Vec<ThumbnailInfo>),
}

/// Read the original named by `event`, unless its `expected` thumbnails
/// are all current for the version stored (then there is nothing to render).
///
/// Key-value mode reads as it always has (a missing object is retried: the
/// gateway stores before it publishes). S3 mode reads HEAD first, then GET
/// with `If-Match` on the ETag it saw, so what is rendered is exactly the
/// version the event named.
fn read_original(
    objects: &ObjectStore,
    event: &CanonicalEvent,
    max_bytes: u64,
    expected: &[ExpectedThumbnail],
) -> Result<Original, Failure> {
    let (bucket, key) = (&event.data.bucket, &event.data.key);
    if objects.kind() == StoreKind::Kv {
        let (head, bytes) = objects.get(bucket, key, None)?.ok_or_else(|| {
            Failure::retry(format!("object {bucket}/{key} is not in the blob store"))
        })?;
        if is_generated(&head.metadata) {
            return Ok(Original::Skip(OWN_OUTPUT.to_owned()));
        }
        if let Some((why, thumbnails)) = up_to_date(objects, event, expected, &head)? {
            return Ok(Original::UpToDate(why, thumbnails));
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
    if let Some((why, thumbnails)) = up_to_date(objects, event, expected, &head)? {
        return Ok(Original::UpToDate(why, thumbnails));
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

/// Why no render is needed, and the thumbnails, when every `expected`
/// thumbnail exists marked as made by its recipe's current version from
/// this version of the source, and the status record lists them all (else
/// they are rendered again: the record is what the notifier reports).
fn up_to_date(
    objects: &ObjectStore,
    event: &CanonicalEvent,
    expected: &[ExpectedThumbnail],
    source: &ObjectHead,
) -> Result<Option<(String, Vec<ThumbnailInfo>)>, Failure> {
    let (bucket, key) = (&event.data.bucket, &event.data.key);
    let heads = expected
        .iter()
        .map(|t| objects.head(bucket, &t.key))
        .collect::<Result<Vec<_>, _>>()?;
    let found: Vec<_> = heads
        .iter()
        .map(|h| h.as_ref().map(|h| &h.metadata))
        .collect();
    if !staleness(expected, &found, &source.etag).is_empty() {
        return Ok(None);
    }
    let recorded = kv::read_status(&kv::SpinKv::open()?, bucket, key)?
        .map(|status| status.thumbnails)
        .unwrap_or_default();
    let thumbnails: Option<Vec<ThumbnailInfo>> = expected
        .iter()
        .map(|t| recorded.iter().find(|r| r.key == t.key).cloned())
        .collect();
    Ok(thumbnails.map(|thumbnails| {
        let why = format!(
            "thumbnails already up to date for source ETag {}: nothing rendered",
            source.etag
        );
        (why, thumbnails)
    }))
}

fn extension(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Png => "png",
        ImageFormat::Webp => "webp",
    }
}
