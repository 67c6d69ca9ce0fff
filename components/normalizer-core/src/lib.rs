//! The normalizer engine as a portable component.
//!
//! Exports `thumbflow:pipeline/normalize@0.1.0` and imports only WASI, so it
//! runs on any component host; all logic lives in `thumbflow-events`, this
//! crate only converts between its types and the WIT types.

use bindings::exports::thumbflow::pipeline::normalize::{
    Accepted, CanonicalEvent, Guest, Ignored, NormalizeOptions, ObjectCreated, Outcome,
    SourceFormat, StageError,
};
use thumbflow_events as events;

mod bindings {
    //! Generated bindings; wit-bindgen's output needs `unsafe`, nothing else here does.
    #![allow(unsafe_code)]
    wit_bindgen::generate!({ world: "normalizer-core", path: "../../wit" });
    use super::Engine;
    export!(Engine);
}

struct Engine;

impl Guest for Engine {
    fn normalize(raw: Vec<u8>, options: NormalizeOptions) -> Result<Vec<Outcome>, StageError> {
        let opts = events::NormalizeOptions {
            thumbnail_prefix: options.thumbnail_prefix,
            received_at: options.received_at,
            max_event_bytes: options.max_event_bytes as usize,
        };
        let outcomes = events::normalize(&raw, &opts).map_err(|e| {
            if e.is_retryable() {
                StageError::Retry(e.to_string())
            } else {
                StageError::Reject(e.to_string())
            }
        })?;
        Ok(outcomes.into_iter().map(outcome).collect())
    }
}

fn outcome(o: events::Outcome) -> Outcome {
    match o {
        events::Outcome::Accepted { event, envelope } => Outcome::Accepted(Accepted {
            event: canonical(event),
            envelope,
        }),
        events::Outcome::Ignored(i) => Outcome::Ignored(Ignored {
            reason: i.reason,
            bucket: i.bucket,
            key: i.key,
        }),
    }
}

fn canonical(e: events::CanonicalEvent) -> CanonicalEvent {
    let d = e.data;
    CanonicalEvent {
        id: e.id,
        source: e.source,
        event_type: e.event_type,
        subject: e.subject,
        time: e.time,
        traceparent: e.traceparent,
        data: ObjectCreated {
            schema_version: d.schema_version,
            bucket: d.bucket,
            key: d.key,
            size: d.size,
            etag: d.etag,
            sequencer: d.sequencer,
            version_id: d.version_id,
            content_type: d.content_type,
            source_format: source_format(d.source_format),
        },
    }
}

fn source_format(f: events::SourceFormat) -> SourceFormat {
    match f {
        events::SourceFormat::S3 => SourceFormat::S3,
        events::SourceFormat::Minio => SourceFormat::Minio,
        events::SourceFormat::Ceph => SourceFormat::Ceph,
        events::SourceFormat::EventBridge => SourceFormat::Eventbridge,
        events::SourceFormat::EventBridgeCloudTrail => SourceFormat::EventbridgeCloudtrail,
        events::SourceFormat::Gcs => SourceFormat::Gcs,
        events::SourceFormat::AzureBlob => SourceFormat::AzureBlob,
        events::SourceFormat::Gateway => SourceFormat::Gateway,
        events::SourceFormat::Thumbflow => SourceFormat::Thumbflow,
    }
}
