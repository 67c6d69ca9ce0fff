//! Thumbnailer trigger glue: canonical events in, thumbnails stored.
//!
//! For each canonical event on `images_channel`: read the original from the
//! object store (the key-value layout, or the event's S3 bucket when
//! `store = "s3"`: HEAD, then GET only the version the event names), render the configured recipes with the thumbnail engine (the
//! component dependency `thumbflow:pipeline/thumbnail@0.1.0`), store each
//! thumbnail under `thumbnail_prefix` marked as generated, record the status
//! and forward a thumbnail-created event to the notifier's queue.
//!
//! Events wait in the stage's durable queue (`thumbflow_glue::queue`); the
//! trigger message on `images_channel` is its doorbell. Each event is one
//! unit of work (its identity and the recipes): a duplicate is settled
//! without rendering, an older version of an object already thumbnailed in
//! a newer one is superseded, and one worker at a time renders an object.
// spin-sdk's and wit-bindgen's generated exports and imports need `unsafe`;
// the code written here does not.
#![allow(unsafe_code)]

use bindings::thumbflow::pipeline::thumbnail::{
    parse_recipes, render, ImageFormat, Limits, StageError,
};
use bytes::Bytes;
use spin_sdk::redis_component;
use thumbflow_blob::generated::{staleness, ExpectedThumbnail, THUMBNAIL_CACHE_CONTROL};
use thumbflow_blob::{is_generated, thumbnail_key, GeneratedFrom};
use thumbflow_events::{
    thumbnail_created_envelope, CanonicalEvent, StageState, StageStatus, ThumbnailCreated,
    ThumbnailInfo,
};
use thumbflow_glue::queue::{self, Begin, Delivery, Handled, Settle, Stage, UnitOfWork};
use thumbflow_glue::store::{ObjectStore, StoreKind};
use thumbflow_glue::{clock, kv, vars};
use thumbflow_s3::{ObjectHead, PutOptions, S3Error};

mod bindings {
    //! Generated import bindings for the engine's port.
    wit_bindgen::generate!({ world: "thumbnailer-glue", path: "../../wit" });
}

/// Stage name used in status records.
const STAGE: &str = "thumbnailer";
/// Largest width or height accepted from an image header.
const MAX_SIDE: u32 = 16_384;
/// Most frames an animated input may declare.
const MAX_FRAMES: u32 = 10_000;

/// A failed attempt, with whether trying the same event again can help.
struct Failure {
    message: String,
    retryable: bool,
}

impl Failure {
    fn reject(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
    fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }
}

impl From<anyhow::Error> for Failure {
    /// Host-side failures (store, variables, Redis) are transient until proven otherwise.
    fn from(e: anyhow::Error) -> Self {
        Self::retry(format!("{e:#}"))
    }
}

impl From<StageError> for Failure {
    fn from(e: StageError) -> Self {
        match e {
            StageError::Reject(m) => Self::reject(m),
            StageError::Retry(m) => Self::retry(m),
        }
    }
}

#[redis_component]
fn on_message(message: Bytes) -> anyhow::Result<()> {
    queue::drain(
        STAGE,
        "images_channel",
        Some("thumbnails_channel"),
        &message,
        handle,
    )
}

/// Handle one canonical event: once per unit of work (event identity and
/// recipes), one worker at a time per object, never an older version after
/// a newer one.
fn handle(stage: &Stage, delivery: &Delivery) -> Handled {
    let event = match CanonicalEvent::from_envelope(&delivery.payload) {
        Ok(event) => event,
        Err(e) => {
            return Handled::Failed {
                message: format!("canonical event rejected: {e}"),
                retryable: false,
                unit: None,
                object: None,
            }
        }
    };
    let (bucket, key) = (event.data.bucket.clone(), event.data.key.clone());
    let object = Some((bucket.clone(), key.clone()));
    // On every line about this event: its id and its upload's trace.
    let tags = format!(
        "event={} trace={}",
        event.id,
        event.trace_id().unwrap_or("-")
    );
    let failed = |e: anyhow::Error, unit: Option<UnitOfWork>| Handled::Failed {
        message: format!("{e:#}"),
        retryable: true,
        unit,
        object: object.clone(),
    };
    let unit = match vars::get("recipes") {
        Ok(recipes) => unit_of(&event, &recipes),
        Err(e) => return failed(e, None),
    };
    match stage.queue.begin(delivery, &unit) {
        Err(e) => return failed(e.into(), None),
        Ok(Begin::Busy) => return Handled::Busy,
        Ok(Begin::Duplicate) => {
            println!("duplicate {bucket}/{key}: event already done {tags}");
            return done(Settle::Duplicate, unit, Vec::new());
        }
        Ok(Begin::Superseded) => {
            println!("superseded {bucket}/{key}: a newer version was already thumbnailed {tags}");
            return done(Settle::Superseded, unit, Vec::new());
        }
        Ok(Begin::Go) => {}
    }
    match process(&event, &tags) {
        Ok((how, next)) => done(how, unit, next.into_iter().collect()),
        Err(Failure { message, retryable }) => Handled::Failed {
            message: format!("thumbnailing {bucket}/{key} failed: {message}"),
            retryable,
            unit: Some(unit),
            object,
        },
    }
}

fn done(how: Settle, unit: UnitOfWork, next: Vec<Vec<u8>>) -> Handled {
    Handled::Done {
        how,
        unit: Some(unit),
        next,
    }
}

/// The event's unit of work: its identity (bucket, key, etag, sequencer,
/// version: the canonical id) with the recipes it is rendered to; ordered
/// by the producer's sequencer when it sends one.
fn unit_of(event: &CanonicalEvent, recipes: &str) -> UnitOfWork {
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

/// Render and store the thumbnails and record the status; how the event is
/// settled, and the thumbnail-created event to forward (`None` when there
/// was nothing to do).
fn process(event: &CanonicalEvent, tags: &str) -> Result<(Settle, Option<Vec<u8>>), Failure> {
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
            Ok((Settle::Processed, Some(envelope.into_bytes())))
        }
        Outcome::UpToDate(why, created) => {
            // Nothing rendered: an earlier event of this version made every
            // thumbnail. Recorded and forwarded as a render would be, so
            // this upload, too, ends notified.
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
            Ok((Settle::Duplicate, Some(envelope.into_bytes())))
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
            Ok((Settle::Ignored, None))
        }
    }
}

/// What became of an event that did not fail.
enum Outcome {
    /// Thumbnails were stored.
    Created(ThumbnailCreated),
    /// Nothing to do, and why (own output, deleted, superseded).
    Ignored(String),
    /// Every thumbnail is already current for this version of the source:
    /// why, and the thumbnails as the status record lists them.
    UpToDate(String, ThumbnailCreated),
}

const OWN_OUTPUT: &str = "skipped: the object is one of thumbflow's own outputs";
const DELETED: &str = "skipped: the object was deleted before it was processed";

impl From<S3Error> for Failure {
    fn from(e: S3Error) -> Self {
        Self {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

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
/// are all current for the version stored (then there is nothing to render:
/// the same bytes uploaded again, or one object announced by two producers).
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

fn status(state: StageState, detail: String, retryable: Option<bool>) -> StageStatus {
    StageStatus {
        state,
        at: clock::now_rfc3339(),
        detail: Some(detail),
        retryable,
    }
}
