//! `fermyon:spin/key-value@2.0.0` on SQLite under the state directory, like
//! Spin's default store (`.spin/sqlite_key_value.db`), limited to the
//! component's `key_value_stores`.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context as _;
use rusqlite::{params, OptionalExtension};
use wasmtime::component::Resource;

use crate::bindings::spin::fermyon::spin2_0_0::key_value::{Error, Host, HostStore};
use crate::state::HostState;

/// The only store label defined without a runtime config, as in Spin.
pub const DEFAULT_STORE: &str = "default";

/// The SQLite database holding every store's keys.
pub struct KvDatabase {
    conn: Mutex<rusqlite::Connection>,
}

impl KvDatabase {
    /// Open (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let conn = rusqlite::Connection::open(path)
            .with_context(|| format!("opening key-value database {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 10000;
             CREATE TABLE IF NOT EXISTS spin_key_value (
                 store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                 PRIMARY KEY (store, key));",
        )
        .with_context(|| format!("initialising key-value database {}", path.display()))?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| "key-value database lock poisoned".to_owned())?;
        f(&conn).map_err(|e| e.to_string())
    }

    /// Value of `key` in `store`.
    pub fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.with(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![store, key], |row| row.get(0))
                .optional()
        })
    }

    /// Set `key` in `store`.
    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), String> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![store, key, value])
            .map(|_| ())
        })
    }

    /// Delete `key` from `store` (absent keys are fine).
    pub fn delete(&self, store: &str, key: &str) -> Result<(), String> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![store, key])
                .map(|_| ())
        })
    }

    /// Every key of `store`.
    pub fn keys(&self, store: &str) -> Result<Vec<String>, String> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?;
            let rows = stmt.query_map(params![store], |row| row.get(0))?;
            rows.collect()
        })
    }
}

/// The default store as a blob-store backend, so tools and tests can read
/// and write objects exactly where the components do.
pub struct DefaultStore(pub std::sync::Arc<KvDatabase>);

impl thumbflow_blob::KvBackend for DefaultStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.0.get(DEFAULT_STORE, key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0.set(DEFAULT_STORE, key, value)
    }
    fn delete(&self, key: &str) -> Result<(), String> {
        self.0.delete(DEFAULT_STORE, key)
    }
}

/// The host side of a guest's open `store` resource.
pub struct StoreHandle {
    label: String,
}

impl Host for HostState {}

impl HostStore for HostState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, Error>> {
        let Some(spin) = self.spin.as_ref() else {
            return Ok(Err(Error::AccessDenied));
        };
        if !spin.grants.key_value_stores.contains(&label) {
            eprintln!(
                "[{}] key-value store {label:?} is not in the component's key_value_stores: access denied",
                spin.grants.component
            );
            return Ok(Err(Error::AccessDenied));
        }
        if label != DEFAULT_STORE {
            return Ok(Err(Error::NoSuchStore));
        }
        Ok(Ok(self.table.push(StoreHandle { label })?))
    }

    async fn get(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let label = self.table.get(&store)?.label.clone();
        Ok(self.kv()?.get(&label, &key).map_err(Error::Other))
    }

    async fn set(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let label = self.table.get(&store)?.label.clone();
        Ok(self.kv()?.set(&label, &key, &value).map_err(Error::Other))
    }

    async fn delete(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let label = self.table.get(&store)?.label.clone();
        Ok(self.kv()?.delete(&label, &key).map_err(Error::Other))
    }

    async fn exists(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let label = self.table.get(&store)?.label.clone();
        Ok(self
            .kv()?
            .get(&label, &key)
            .map(|v| v.is_some())
            .map_err(Error::Other))
    }

    async fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let label = self.table.get(&store)?.label.clone();
        Ok(self.kv()?.keys(&label).map_err(Error::Other))
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl HostState {
    fn kv(&self) -> wasmtime::Result<std::sync::Arc<KvDatabase>> {
        self.spin
            .as_ref()
            .map(|s| s.services.kv.clone())
            .ok_or_else(|| wasmtime::format_err!("no key-value service in this store"))
    }
}
