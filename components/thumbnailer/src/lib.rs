//! Thumbnailer trigger glue: canonical events in, thumbnails stored.
//!
//! For each canonical event on `images_channel`: read the original from the
//! blob store, render the configured recipes with the thumbnail engine (the
//! component dependency `thumbflow:pipeline/thumbnail@0.1.0`), store each
//! thumbnail under `thumbnail_prefix` marked as generated, record the status
//! and publish a thumbnail-created event on `thumbnails_channel`.
// spin-sdk's and wit-bindgen's generated exports and imports need `unsafe`;
// the code written here does not.
#![allow(unsafe_code)]

use std::collections::BTreeMap;

use anyhow::Context as _;
use bindings::thumbflow::pipeline::thumbnail::{
    parse_recipes, render, ImageFormat, Limits, StageError,
};
use bytes::Bytes;
use spin_sdk::redis_component;
use thumbflow_blob::{thumbnail_key, GENERATED_MARKER};
use thumbflow_events::{
    thumbnail_created_envelope, CanonicalEvent, StageState, StageStatus, ThumbnailCreated,
    ThumbnailInfo,
};
use thumbflow_glue::{bus::Bus, clock, kv, vars};

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
    let event = CanonicalEvent::from_envelope(&message)
        .context("canonical event rejected (retry will not help)")?;
    let (bucket, key) = (event.data.bucket.clone(), event.data.key.clone());
    let store = kv::SpinKv::open()?;
    let outcome = thumbnail(&event);
    let status = match &outcome {
        Ok(Some(created)) => {
            let names: Vec<&str> = created.thumbnails.iter().map(|t| t.key.as_str()).collect();
            status(
                StageState::Done,
                format!("stored {}", names.join(", ")),
                None,
            )
        }
        Ok(None) => status(
            StageState::Ignored,
            "skipped: the object is one of thumbflow's own outputs".to_owned(),
            None,
        ),
        Err(failure) => status(
            StageState::Failed,
            failure.message.clone(),
            Some(failure.retryable),
        ),
    };
    let thumbnails = match &outcome {
        Ok(Some(created)) => Some(created.thumbnails.clone()),
        _ => None,
    };
    kv::record_stage(&store, &bucket, &key, STAGE, status, |record| {
        if let Some(thumbnails) = thumbnails {
            record.thumbnails = thumbnails;
        }
    })?;
    match outcome {
        Err(failure) => {
            let kind = if failure.retryable {
                "retryable"
            } else {
                "retry will not help"
            };
            anyhow::bail!(
                "thumbnailing {bucket}/{key} failed ({kind}): {}",
                failure.message
            )
        }
        Ok(Some(created)) => {
            let envelope = thumbnail_created_envelope(&event, &created, &clock::now_rfc3339());
            let channel = Bus::open()?.publish_to("thumbnails_channel", envelope.as_bytes())?;
            println!(
                "thumbnailed {bucket}/{key}: {} -> {channel}",
                created.thumbnails.len()
            );
            Ok(())
        }
        Ok(None) => {
            println!("skipped {bucket}/{key}: thumbflow output");
            Ok(())
        }
    }
}

/// Render and store every recipe; `None` when the object is our own output.
fn thumbnail(event: &CanonicalEvent) -> Result<Option<ThumbnailCreated>, Failure> {
    let (bucket, key) = (&event.data.bucket, &event.data.key);
    let prefix = vars::get("thumbnail_prefix")?;
    // Defence in depth: the normalizer already drops these.
    if key.starts_with(&prefix) {
        return Ok(None);
    }
    let max_bytes: u64 = vars::parse("max_object_bytes")?;
    let blobs = kv::blob_store(max_bytes)?;
    let (manifest, original) = blobs
        .get(bucket, key)
        .map_err(|e| Failure {
            retryable: e.is_retryable(),
            message: e.to_string(),
        })?
        .ok_or_else(|| Failure::retry(format!("object {bucket}/{key} is not in the blob store")))?;
    if manifest.metadata.contains_key(GENERATED_MARKER) {
        return Ok(None);
    }
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
        let metadata = BTreeMap::from([
            (GENERATED_MARKER.to_owned(), "true".to_owned()),
            ("thumbflow-recipe".to_owned(), r.recipe.clone()),
            (
                "thumbflow-recipe-version".to_owned(),
                r.recipe_version.to_string(),
            ),
            ("thumbflow-source-key".to_owned(), key.clone()),
            (
                "thumbflow-source-sha256".to_owned(),
                manifest.sha256.clone(),
            ),
        ]);
        blobs
            .put(bucket, &tkey, &r.bytes, &r.content_type, metadata)
            .map_err(|e| Failure {
                retryable: e.is_retryable(),
                message: e.to_string(),
            })?;
        thumbnails.push(ThumbnailInfo {
            recipe: r.recipe,
            recipe_version: r.recipe_version,
            key: tkey,
            width: r.width,
            height: r.height,
            content_type: r.content_type,
            bytes: r.bytes.len() as u64,
        });
    }
    Ok(Some(ThumbnailCreated {
        bucket: bucket.clone(),
        key: key.clone(),
        source_event_id: event.id.clone(),
        thumbnails,
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
