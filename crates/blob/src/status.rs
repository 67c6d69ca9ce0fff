//! Status records and the rejected-event list over a [`KvBackend`].
//!
//! The key-value store offers get, set and delete and no compare-and-swap,
//! so nothing here reads, changes and writes back an entry another writer
//! may change at the same time:
//! - each stage writes only its own entry of an object
//!   ([`thumbflow_events::stage_status_key`]); [`read_status`] merges them,
//!   so two stages finishing at once both show;
//! - each rejected raw event goes to one of [`REJECT_SLOTS`] slots picked
//!   from its content and time; [`read_rejects`] reads them all, newest
//!   first. Two rejects at once land in the same slot only by chance
//!   (1 in [`REJECT_SLOTS`]), and then one replaces the other.

use sha2::{Digest, Sha256};
use thumbflow_events::{
    stage_status_key, status_key, ObjectStatus, StageRecord, StageStatus, STAGES,
};

use crate::{BlobError, KvBackend};

/// Prefix of the rejected-event slots (`status/_rejected/{slot}`); `_` is
/// not allowed in bucket names, so no object's status lives here.
pub const REJECTS_PREFIX: &str = "status/_rejected/";
/// How many rejected events are kept at most.
pub const REJECT_SLOTS: usize = 64;
/// Bytes of a rejected event kept as its preview.
pub const PREVIEW_BYTES: usize = 200;

fn backend(key: &str) -> impl FnOnce(String) -> BlobError + '_ {
    move |message| BlobError::Backend {
        key: key.to_owned(),
        message,
    }
}

fn corrupt(key: &str, reason: String) -> BlobError {
    BlobError::Corrupt {
        bucket: "status".to_owned(),
        key: key.to_owned(),
        reason,
    }
}

/// Record what `stage` did for `bucket`/`key`, with the fields that stage
/// owns (`entry`'s thumbnails and trace id). Touches only the stage's own
/// entry, so it cannot lose another stage's result.
pub fn record_stage<K: KvBackend>(
    kv: &K,
    bucket: &str,
    key: &str,
    stage: &str,
    entry: StageRecord,
) -> Result<(), BlobError> {
    let skey = stage_status_key(bucket, key, stage);
    // Only another run of this same stage for this same object writes here;
    // the newer result wins either way (StageRecord::merged_over).
    let previous = match kv.get(&skey).map_err(backend(&skey))? {
        Some(bytes) => StageRecord::from_json(&bytes).ok(),
        None => None,
    };
    let entry = entry.merged_over(previous);
    kv.set(&skey, entry.to_json().as_bytes())
        .map_err(backend(&skey))
}

/// Record `status` for `stage` with no other field (see [`record_stage`]).
pub fn record_stage_status<K: KvBackend>(
    kv: &K,
    bucket: &str,
    key: &str,
    stage: &str,
    status: StageStatus,
) -> Result<(), BlobError> {
    record_stage(kv, bucket, key, stage, StageRecord::new(status))
}

/// The merged status record of `bucket`/`key`, or `None` if no stage has
/// recorded anything.
pub fn read_status<K: KvBackend>(
    kv: &K,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectStatus>, BlobError> {
    let legacy_key = status_key(bucket, key);
    let mut found = false;
    let mut record = match kv.get(&legacy_key).map_err(backend(&legacy_key))? {
        Some(bytes) => {
            found = true;
            ObjectStatus::from_json(&bytes).map_err(|e| corrupt(&legacy_key, e.to_string()))?
        }
        None => ObjectStatus::new(bucket, key),
    };
    for stage in STAGES {
        let skey = stage_status_key(bucket, key, stage);
        if let Some(bytes) = kv.get(&skey).map_err(backend(&skey))? {
            let entry =
                StageRecord::from_json(&bytes).map_err(|e| corrupt(&skey, e.to_string()))?;
            record.merge_stage(stage, entry);
            found = true;
        }
    }
    Ok(found.then_some(record))
}

/// Remember a rejected raw event (error, size and a preview of its first
/// [`PREVIEW_BYTES`] bytes) in its slot, so `GET /status` can show what was
/// wrong with events that name no object to hang a status on.
pub fn record_reject<K: KvBackend>(
    kv: &K,
    at: &str,
    error: &str,
    raw: &[u8],
) -> Result<(), BlobError> {
    let mut hash = Sha256::new();
    hash.update(at.as_bytes());
    hash.update([0]);
    hash.update(raw);
    let digest = hash.finalize();
    let slot = u64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ]) % REJECT_SLOTS as u64;
    let preview = String::from_utf8_lossy(&raw[..raw.len().min(PREVIEW_BYTES)]).into_owned();
    let value =
        serde_json::json!({ "at": at, "error": error, "bytes": raw.len(), "preview": preview });
    let skey = format!("{REJECTS_PREFIX}{slot}");
    kv.set(&skey, value.to_string().as_bytes())
        .map_err(backend(&skey))
}

/// The kept rejected raw events, newest first.
pub fn read_rejects<K: KvBackend>(kv: &K) -> Result<Vec<serde_json::Value>, BlobError> {
    let mut list = Vec::new();
    for slot in 0..REJECT_SLOTS {
        let skey = format!("{REJECTS_PREFIX}{slot}");
        if let Some(bytes) = kv.get(&skey).map_err(backend(&skey))? {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                list.push(value);
            }
        }
    }
    let at = |v: &serde_json::Value| v["at"].as_str().unwrap_or("").to_owned();
    list.sort_by_key(|v| std::cmp::Reverse(at(v)));
    Ok(list)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use thumbflow_events::{StageState, ThumbnailInfo};

    use super::*;
    use crate::MemoryKv;

    fn done(at: &str, detail: &str) -> StageStatus {
        StageStatus {
            state: StageState::Done,
            at: at.to_owned(),
            detail: Some(detail.to_owned()),
            retryable: None,
        }
    }

    /// Another writer's whole update, run once.
    type OtherWriter<'a> = Box<dyn FnOnce(&MemoryKv) + 'a>;

    /// A store that runs another writer's whole update between this
    /// writer's first read and its write: the interleaving that lost a
    /// stage when the record was one read-modify-written entry.
    struct Interleaving<'a> {
        inner: &'a MemoryKv,
        other: Cell<Option<OtherWriter<'a>>>,
    }

    impl KvBackend for Interleaving<'_> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
            let value = self.inner.get(key);
            if let Some(other) = self.other.take() {
                other(self.inner);
            }
            value
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), String> {
            self.inner.delete(key)
        }
    }

    #[test]
    fn record_stage_concurrent_stages_both_kept() {
        let kv = MemoryKv::default();
        let thumbnails = vec![ThumbnailInfo {
            recipe: "thumb".into(),
            recipe_version: 1,
            key: "thumbnails/thumb/a.jpg.jpg".into(),
            width: 10,
            height: 8,
            content_type: "image/jpeg".into(),
            bytes: 100,
        }];
        let racing = Interleaving {
            inner: &kv,
            other: Cell::new(Some(Box::new(|kv: &MemoryKv| {
                let entry = StageRecord {
                    thumbnails: Some(thumbnails.clone()),
                    ..StageRecord::new(done("2024-01-15T12:00:02Z", "stored"))
                };
                record_stage(kv, "b", "a.jpg", "thumbnailer", entry).unwrap();
            }))),
        };
        let gateway = done("2024-01-15T12:00:01Z", "uploaded");
        record_stage_status(&racing, "b", "a.jpg", "gateway", gateway).unwrap();

        let status = read_status(&kv, "b", "a.jpg").unwrap().unwrap();
        assert_eq!(
            status.stages.keys().collect::<Vec<_>>(),
            ["gateway", "thumbnailer"]
        );
        assert_eq!(status.thumbnails, thumbnails);
        assert_eq!(status.updated_at, "2024-01-15T12:00:02Z");
    }

    #[test]
    fn record_stage_threads_never_lose_a_stage() {
        for round in 0..200 {
            let kv = MemoryKv::default();
            std::thread::scope(|s| {
                for stage in STAGES {
                    let kv = &kv;
                    s.spawn(move || {
                        let status = done("2024-01-15T12:00:01Z", stage);
                        record_stage_status(kv, "b", "k", stage, status).unwrap();
                    });
                }
            });
            let status = read_status(&kv, "b", "k").unwrap().unwrap();
            assert_eq!(status.stages.len(), STAGES.len(), "round {round}");
        }
    }

    #[test]
    fn read_status_shape_unchanged_and_legacy_merged() {
        let kv = MemoryKv::default();
        assert_eq!(read_status(&kv, "b", "k.jpg").unwrap(), None);
        let mut legacy = ObjectStatus::new("b", "k.jpg");
        legacy.record("normalizer", done("2024-01-15T12:00:00Z", "old"));
        kv.set(&status_key("b", "k.jpg"), legacy.to_json().as_bytes())
            .unwrap();
        let entry = StageRecord {
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            ..StageRecord::new(done("2024-01-15T12:00:03Z", "published"))
        };
        record_stage(&kv, "b", "k.jpg", "normalizer", entry).unwrap();
        let status = read_status(&kv, "b", "k.jpg").unwrap().unwrap();
        let json: serde_json::Value = serde_json::from_str(&status.to_json()).unwrap();
        assert_eq!(json["bucket"], "b");
        assert_eq!(json["key"], "k.jpg");
        assert_eq!(json["updated_at"], "2024-01-15T12:00:03Z");
        assert_eq!(json["stages"]["normalizer"]["detail"], "published");
        assert_eq!(json["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(json["thumbnails"], serde_json::json!([]));
    }

    #[test]
    fn record_reject_keeps_concurrent_rejects_newest_first() {
        let kv = MemoryKv::default();
        record_reject(&kv, "2024-01-15T12:00:01Z", "not JSON", b"hello").unwrap();
        record_reject(&kv, "2024-01-15T12:00:02Z", "no records", &[b'x'; 500]).unwrap();
        let list = read_rejects(&kv).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["error"], "no records");
        assert_eq!(list[0]["bytes"], 500);
        assert_eq!(list[0]["preview"].as_str().unwrap().len(), PREVIEW_BYTES);
        assert_eq!(list[1]["preview"], "hello");
        for i in 0..1000 {
            record_reject(
                &kv,
                &format!("2024-01-16T00:00:{:02}Z", i % 60),
                "e",
                &[i as u8],
            )
            .unwrap();
        }
        assert!(read_rejects(&kv).unwrap().len() <= REJECT_SLOTS);
    }
}
