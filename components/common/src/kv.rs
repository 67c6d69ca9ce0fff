//! The blob store and status records over Spin's key-value store.

use anyhow::Context as _;
use spin_sdk::key_value::Store;
use thumbflow_blob::{status, BlobStore, KvBackend};
use thumbflow_events::{ObjectStatus, StageRecord, StageStatus};

/// Name of the key-value store every component opens (Spin's default store).
pub const STORE: &str = "default";

/// [`KvBackend`] over a Spin key-value store.
pub struct SpinKv(Store);

impl SpinKv {
    /// Open the app's store (the component must list it in `key_value_stores`).
    pub fn open() -> anyhow::Result<Self> {
        let store =
            Store::open(STORE).with_context(|| format!("opening key-value store {STORE:?}"))?;
        Ok(Self(store))
    }
}

impl KvBackend for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.0.get(key).map_err(|e| e.to_string())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0.set(key, value).map_err(|e| e.to_string())
    }
    fn delete(&self, key: &str) -> Result<(), String> {
        self.0.delete(key).map_err(|e| e.to_string())
    }
}

/// The blob store over the app's key-value store, limited to `max_object_bytes`.
pub fn blob_store(max_object_bytes: u64) -> anyhow::Result<BlobStore<SpinKv>> {
    Ok(BlobStore::new(SpinKv::open()?, max_object_bytes))
}

/// Read the status record of (bucket, key), merged from every stage's entry, or `None`.
pub fn read_status(kv: &SpinKv, bucket: &str, key: &str) -> anyhow::Result<Option<ObjectStatus>> {
    status::read_status(kv, bucket, key)
        .with_context(|| format!("reading the status of {bucket}/{key}"))
}

/// Record what `stage` did for (bucket, key), letting `edit` set the fields
/// that stage owns (thumbnails, trace id).
///
/// Writes only the stage's own entry, so stages running at once cannot
/// lose each other's results.
pub fn record_stage(
    kv: &SpinKv,
    bucket: &str,
    key: &str,
    stage: &str,
    status: StageStatus,
    edit: impl FnOnce(&mut StageRecord),
) -> anyhow::Result<()> {
    let mut entry = StageRecord::new(status);
    edit(&mut entry);
    status::record_stage(kv, bucket, key, stage, entry)
        .with_context(|| format!("recording stage {stage} of {bucket}/{key}"))
}

/// Remember a rejected raw event, so `GET /status` shows what was wrong
/// with events that name no object to hang a status on.
pub fn record_reject(kv: &SpinKv, at: &str, error: &str, raw: &[u8]) -> anyhow::Result<()> {
    status::record_reject(kv, at, error, raw).context("recording a rejected raw event")
}

/// The kept rejected raw events, newest first.
pub fn read_rejects(kv: &SpinKv) -> anyhow::Result<Vec<serde_json::Value>> {
    status::read_rejects(kv).context("reading the rejected raw events")
}
