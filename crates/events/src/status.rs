//! The per-object status record a person or program reads at
//! `GET /status/{bucket}/{key}`.
//!
//! Each stage records how it fared with an object (done, ignored, failed
//! and whether a retry may help); the record collects them, newest first
//! per stage, with the thumbnails made and the trace id to look up.
//!
//! Several stages of one object can run at once (the gateway records its
//! upload while the normalizer already handles the event), and the
//! key-value store has no compare-and-swap, so the record is not stored as
//! one entry: each stage writes only its own [`StageRecord`] under
//! [`stage_status_key`] and readers merge the [`STAGES`] entries (plus a
//! legacy whole record under [`status_key`], if one exists) into the
//! [`ObjectStatus`] users see. No stage can overwrite another's result.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::canonical::parse_time;
use crate::error::NormalizeError;
use crate::json::to_json_text;
use crate::thumbnail_created::ThumbnailInfo;

/// Storage key of the legacy whole status record of `bucket`/`key`:
/// `status/{bucket}/{key}` (key as decoded; the key-value store takes any
/// string). Only read now, for records written before per-stage entries.
pub fn status_key(bucket: &str, key: &str) -> String {
    format!("status/{bucket}/{key}")
}

/// The stages that record status, in pipeline order; a reader merges the
/// entries of exactly these.
pub const STAGES: [&str; 4] = ["gateway", "normalizer", "thumbnailer", "notifier"];

/// Storage key of one stage's entry for `bucket`/`key`:
/// `status-stage/{bucket}/{stage}/{key}`. Bucket and stage names hold no
/// `/` and the key comes last, so no two (bucket, stage, key) share a key.
pub fn stage_status_key(bucket: &str, key: &str, stage: &str) -> String {
    format!("status-stage/{bucket}/{stage}/{key}")
}

/// The (bucket, stage, key) a [`stage_status_key`] names, or `None` for
/// any other store key (to list the objects that have a status).
pub fn split_stage_status_key(store_key: &str) -> Option<(&str, &str, &str)> {
    let rest = store_key.strip_prefix("status-stage/")?;
    let (bucket, rest) = rest.split_once('/')?;
    let (stage, key) = rest.split_once('/')?;
    Some((bucket, stage, key))
}

/// What one stage stored about an object: its result, and the fields of
/// the record that stage owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The stage's latest result.
    pub status: StageStatus,
    /// Thumbnails made (the thumbnailer's), if this stage sets them.
    #[serde(default)]
    pub thumbnails: Option<Vec<ThumbnailInfo>>,
    /// Trace id of the run (the normalizer's), if this stage sets it.
    #[serde(default)]
    pub trace_id: Option<String>,
}

impl StageRecord {
    /// A record of `status` alone.
    pub fn new(status: StageStatus) -> Self {
        Self {
            status,
            thumbnails: None,
            trace_id: None,
        }
    }

    /// The entry to store when `self` is the new result and `previous` the
    /// stored one: the previous entry stays if its result is strictly newer
    /// (a late, older delivery); fields the new result does not set are
    /// kept from the previous entry (a failed retry keeps the thumbnails).
    pub fn merged_over(self, previous: Option<StageRecord>) -> StageRecord {
        let Some(previous) = previous else {
            return self;
        };
        if compare_times(&previous.status.at, &self.status.at).is_gt() {
            return previous;
        }
        StageRecord {
            status: self.status,
            thumbnails: self.thumbnails.or(previous.thumbnails),
            trace_id: self.trace_id.or(previous.trace_id),
        }
    }

    /// The entry as JSON.
    pub fn to_json(&self) -> String {
        to_json_text(self)
    }

    /// Reads an entry written by [`to_json`](Self::to_json).
    pub fn from_json(bytes: &[u8]) -> Result<Self, NormalizeError> {
        serde_json::from_slice(bytes).map_err(|err| NormalizeError::from_json(&err, "status"))
    }
}

/// How a stage fared with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageState {
    /// The stage did its work.
    Done,
    /// The stage skipped the object on purpose (the detail says why).
    Ignored,
    /// The stage could not do its work (the detail says why, `retryable`
    /// whether trying again may help).
    Failed,
    /// The stage gave up on a failure that was worth retrying, after its
    /// last attempt: the event waits in the stage's dead-letter stream (the
    /// detail names its id, the error and the attempts) until `thumbflow dlq
    /// replay` re-drives it. (A rejected input is `Failed`, and kept there too.)
    Dead,
}

/// One stage's latest result for an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageStatus {
    /// What happened.
    pub state: StageState,
    /// When (RFC 3339); decides which of two results for a stage is newer.
    pub at: String,
    /// Human-readable detail: the ignore reason or the error message.
    #[serde(default)]
    pub detail: Option<String>,
    /// For failures, whether the same input may succeed later; `None`
    /// otherwise.
    #[serde(default)]
    pub retryable: Option<bool>,
}

/// The status record of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStatus {
    /// Bucket of the object.
    pub bucket: String,
    /// Decoded key of the object.
    pub key: String,
    /// Newest `at` of any recorded stage (empty before the first record),
    /// so a reader sees at a glance how fresh the record is.
    pub updated_at: String,
    /// Latest result per stage name (`normalize`, `thumbnail`, `notify`).
    #[serde(default)]
    pub stages: BTreeMap<String, StageStatus>,
    /// Thumbnails made for the object, set by the thumbnailer.
    #[serde(default)]
    pub thumbnails: Vec<ThumbnailInfo>,
    /// Trace id of the pipeline run, to find it in a trace backend.
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// Orders two RFC 3339 times; falls back to comparing the text when either
/// does not parse (equal formats still order correctly).
fn compare_times(left: &str, right: &str) -> Ordering {
    match (parse_time(left), parse_time(right)) {
        (Some(left), Some(right)) => left.cmp(&right),
        _ => left.cmp(right),
    }
}

impl ObjectStatus {
    /// An empty record for `bucket`/`key`.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
            updated_at: String::new(),
            stages: BTreeMap::new(),
            thumbnails: Vec::new(),
            trace_id: None,
        }
    }

    /// Merges one stage result into the record.
    ///
    /// Replaces the stage's previous result unless that one is strictly
    /// newer (at-least-once delivery can bring an old result late; a result
    /// with the same time replaces, so a retry's outcome wins). Advances
    /// `updated_at` to the newest time seen.
    pub fn record(&mut self, stage: &str, status: StageStatus) {
        if self.updated_at.is_empty() || compare_times(&status.at, &self.updated_at).is_gt() {
            self.updated_at = status.at.clone();
        }
        let keep_existing = self
            .stages
            .get(stage)
            .is_some_and(|existing| compare_times(&existing.at, &status.at).is_gt());
        if !keep_existing {
            self.stages.insert(stage.to_owned(), status);
        }
    }

    /// Merges one stage's stored entry into the record; its thumbnails and
    /// trace id, when set, replace the record's.
    pub fn merge_stage(&mut self, stage: &str, entry: StageRecord) {
        self.record(stage, entry.status);
        if let Some(thumbnails) = entry.thumbnails {
            self.thumbnails = thumbnails;
        }
        if entry.trace_id.is_some() {
            self.trace_id = entry.trace_id;
        }
    }

    /// The record as JSON (optional fields written as `null`).
    pub fn to_json(&self) -> String {
        to_json_text(self)
    }

    /// Reads a record written by [`to_json`](Self::to_json); `stages`,
    /// `thumbnails` and `trace_id` may be missing.
    pub fn from_json(bytes: &[u8]) -> Result<Self, NormalizeError> {
        serde_json::from_slice(bytes).map_err(|err| NormalizeError::from_json(&err, "status"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(state: StageState, at: &str) -> StageStatus {
        StageStatus {
            state,
            at: at.to_owned(),
            detail: None,
            retryable: None,
        }
    }

    #[test]
    fn status_key_joins_bucket_and_key() {
        assert_eq!(status_key("photos", "a b/c.jpg"), "status/photos/a b/c.jpg");
    }

    #[test]
    fn record_keeps_newest_per_stage() {
        let mut status = ObjectStatus::new("b", "k.jpg");
        status.record("thumbnail", stage(StageState::Done, "2024-01-15T12:00:05Z"));
        // A stale failure delivered late does not overwrite the later success.
        status.record(
            "thumbnail",
            StageStatus {
                state: StageState::Failed,
                at: String::from("2024-01-15T12:00:01Z"),
                detail: Some(String::from("storage timeout")),
                retryable: Some(true),
            },
        );
        assert_eq!(status.stages["thumbnail"].state, StageState::Done);
        assert_eq!(status.updated_at, "2024-01-15T12:00:05Z");
    }

    #[test]
    fn stage_record_merge_keeps_newer_and_owned_fields() {
        let done = StageRecord {
            thumbnails: Some(Vec::new()),
            trace_id: Some("t".into()),
            ..StageRecord::new(stage(StageState::Done, "2024-01-15T12:00:05Z"))
        };
        let late = StageRecord::new(stage(StageState::Failed, "2024-01-15T12:00:01Z"));
        assert_eq!(late.merged_over(Some(done.clone())), done);
        let retry = StageRecord::new(stage(StageState::Failed, "2024-01-15T12:00:09Z"));
        let merged = retry.merged_over(Some(done));
        assert_eq!(merged.status.state, StageState::Failed);
        assert_eq!(merged.thumbnails, Some(Vec::new()));
        assert_eq!(merged.trace_id.as_deref(), Some("t"));
    }

    #[test]
    fn stage_status_keys_differ_per_stage_and_from_objects() {
        assert_eq!(
            stage_status_key("photos", "a/b.jpg", "gateway"),
            "status-stage/photos/gateway/a/b.jpg"
        );
        assert_eq!(
            split_stage_status_key(&stage_status_key("b", "x/y.jpg", "notifier")),
            Some(("b", "notifier", "x/y.jpg"))
        );
        assert_eq!(split_stage_status_key("status/b/x.jpg"), None);
        assert_ne!(
            stage_status_key("b", "gateway/x", "notifier"),
            stage_status_key("b", "notifier/x", "gateway")
        );
    }

    #[test]
    fn record_compares_instants_not_text() {
        let mut status = ObjectStatus::new("b", "k.jpg");
        status.record(
            "normalize",
            stage(StageState::Done, "2024-01-15T13:00:00+02:00"),
        );
        // 12:00Z is later than 13:00+02:00 (= 11:00Z) although it sorts first as text.
        status.record(
            "normalize",
            stage(StageState::Ignored, "2024-01-15T12:00:00Z"),
        );
        assert_eq!(status.stages["normalize"].state, StageState::Ignored);
        assert_eq!(status.updated_at, "2024-01-15T12:00:00Z");
    }
}
