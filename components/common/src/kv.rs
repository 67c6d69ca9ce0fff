//! The blob store and status records over Spin's key-value store.

use anyhow::Context as _;
use spin_sdk::key_value::Store;
use thumbflow_blob::{BlobStore, KvBackend};
use thumbflow_events::{status_key, ObjectStatus, StageStatus};

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

/// Read the status record of (bucket, key), or `None`.
pub fn read_status(kv: &SpinKv, bucket: &str, key: &str) -> anyhow::Result<Option<ObjectStatus>> {
    let skey = status_key(bucket, key);
    let raw = kv
        .get(&skey)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("reading status record {skey:?}"))?;
    raw.map(|bytes| {
        ObjectStatus::from_json(&bytes).with_context(|| format!("parsing status record {skey:?}"))
    })
    .transpose()
}

/// Record what `stage` did for (bucket, key), letting `edit` change other fields too.
///
/// A read-modify-write: stages of one object run one after another, so
/// they do not race on the same record.
pub fn record_stage(
    kv: &SpinKv,
    bucket: &str,
    key: &str,
    stage: &str,
    status: StageStatus,
    edit: impl FnOnce(&mut ObjectStatus),
) -> anyhow::Result<()> {
    let mut record =
        read_status(kv, bucket, key)?.unwrap_or_else(|| ObjectStatus::new(bucket, key));
    record.record(stage, status);
    edit(&mut record);
    let skey = status_key(bucket, key);
    kv.set(&skey, record.to_json().as_bytes())
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("writing status record {skey:?}"))
}

/// Store key of the list of recently rejected raw events (they name no object).
pub const REJECTS_KEY: &str = "status/_rejected";
/// How many rejected events are kept.
const REJECTS_KEPT: usize = 50;

/// Remember a rejected raw event (newest first, bounded), so `GET /status`
/// shows what was wrong with events that name no object to hang a status on.
pub fn record_reject(kv: &SpinKv, at: &str, error: &str, raw: &[u8]) -> anyhow::Result<()> {
    let mut list = read_rejects(kv)?;
    let preview: String = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
    list.insert(
        0,
        serde_json::json!({ "at": at, "error": error, "bytes": raw.len(), "preview": preview }),
    );
    list.truncate(REJECTS_KEPT);
    kv.set(
        REJECTS_KEY,
        serde_json::Value::Array(list).to_string().as_bytes(),
    )
    .map_err(anyhow::Error::msg)
    .context("writing the rejected-events list")
}

/// The recently rejected raw events, newest first.
pub fn read_rejects(kv: &SpinKv) -> anyhow::Result<Vec<serde_json::Value>> {
    let raw = kv
        .get(REJECTS_KEY)
        .map_err(anyhow::Error::msg)
        .context("reading the rejected-events list")?;
    Ok(raw
        .and_then(|bytes| serde_json::from_slice::<Vec<serde_json::Value>>(&bytes).ok())
        .unwrap_or_default())
}
