//! thumbflow's event model: every event the pipeline reads or writes.
//!
//! The normalizer stage calls [`normalize`](fn@normalize) on each raw storage event; it
//! detects the format, decodes keys, drops what thumbflow must not process
//! and returns one [`Outcome`] per record, each accepted one as a
//! [`CanonicalEvent`] plus its CloudEvents JSON envelope. Everything here is
//! pure computation with no wasm or bindings dependency, so it is tested
//! natively; the components only convert types and call host imports.
//!
//! Modules:
//!
//! * [`normalize`](mod@normalize): the entry point, [`NormalizeOptions`] and [`Outcome`];
//! * `formats`: one module per raw format (S3/MinIO/Ceph/gateway `Records`,
//!   EventBridge and its CloudTrail shape, GCS CloudEvents, Azure Blob in
//!   CloudEvents and Event Grid schemas, our own envelope) and the detector;
//! * [`key`]: S3-style form decoding (`+` is a space, `%XX` is UTF-8), for
//!   the producers that form-encode keys;
//! * [`filter`]: the ignore rules (non-images, thumbflow's own outputs);
//! * [`canonical`]: [`CanonicalEvent`], its envelope, deterministic ids and
//!   trace context;
//! * [`gateway`]: the S3-style event our HTTP upload gateway publishes;
//! * [`auth`]: the gateway's API token check (header or `?token=`, constant time);
//! * [`cloudevents_binary`]: CloudEvents HTTP binary mode to structured JSON;
//! * [`thumbnail_created`]: the event the thumbnailer publishes when done;
//! * [`status`]: the per-object status record behind `GET /status/...`, kept
//!   as one entry per stage and merged on read;
//! * [`upload`]: what the gateway accepts: key rules, the thumbnail prefix
//!   guard, the image type sniffed from the bytes;
//! * [`error`]: [`NormalizeError`], every variant a reject.
//!
//! `docs/events.md` describes the wire formats with examples.

#![deny(missing_docs)]

pub mod auth;
pub mod canonical;
pub mod cloudevents_binary;
pub mod error;
pub mod filter;
mod formats;
pub mod gateway;
mod json;
pub mod key;
pub mod normalize;
pub mod status;
pub mod thumbnail_created;
pub mod upload;

pub use auth::{check_api_token, AuthError};
pub use canonical::{
    is_valid_traceparent, trace_id, upload_traceparent, CanonicalAttrs, CanonicalEvent,
    ObjectCreated, SourceFormat, CLOUDEVENTS_SPEC_VERSION, OBJECT_CREATED_SCHEMA,
    OBJECT_CREATED_SCHEMA_VERSION, OBJECT_CREATED_TYPE, THUMBNAIL_CREATED_TYPE,
};
pub use cloudevents_binary::structured_from_binary;
pub use error::NormalizeError;
pub use gateway::{
    gateway_put_event, gateway_put_event_in_trace, upload_sequencer, GATEWAY_EVENT_SOURCE,
};
pub use normalize::{normalize, Ignored, NormalizeOptions, Outcome};
pub use status::{
    split_stage_status_key, stage_status_key, status_key, ObjectStatus, StageRecord, StageState,
    StageStatus, STAGES,
};
pub use thumbnail_created::{
    parse_thumbnail_created, thumbnail_created_envelope, ThumbnailCreated, ThumbnailInfo,
    THUMBNAIL_CREATED_SCHEMA,
};
pub use upload::{
    check_object_key, check_upload_target, sniff_image, upload_content_type, UploadError,
};
