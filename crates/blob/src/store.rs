//! The put/get/head/delete protocol over any key-value backend.
//!
//! # Overwrites and concurrent readers
//!
//! A key-value store offers no transaction spanning the manifest and the
//! chunks, so a reader may hold a manifest that a writer is replacing. The
//! protocol keeps such a reader correct with two rules:
//!
//! - **Chunks are immutable and private to one write.** Each `put` names
//!   its chunks by a fresh [`Manifest::generation`] (content hash, clock,
//!   process counter and per-process random bits, hashed), writes them, then
//!   the manifest (the commit point), then deletes the chunks of the
//!   manifest it replaced. No write ever overwrites chunks another manifest
//!   points at, and chunks are deleted only once their manifest is no
//!   longer current.
//! - **A reader that finds a chunk gone re-reads the manifest.** A missing
//!   chunk then means exactly one of two things: the version was replaced
//!   or deleted while being read (the manifest changed: read the new
//!   version, or answer "no such object"), or the data is damaged (the
//!   manifest is unchanged: [`BlobError::Corrupt`]). Each retry follows a
//!   completed write, so a reader only gives up, after [`READ_ATTEMPTS`]
//!   versions in a row were replaced under it, with the retryable
//!   [`BlobError::Contended`].
//!
//! So a reader of an object being overwritten gets the old bytes or the new
//! ones, never a mix and never `Corrupt`. Deferred deletion (a grace period
//! before old chunks go) would need a list of pending deletions updated by
//! read-modify-write, which Spin's key-value interface cannot do safely;
//! retrying the read needs nothing beyond get/set/delete.
//!
//! Two writers of one key racing may leave the loser's chunks unreferenced
//! (each deletes only the version it saw before writing): garbage, never
//! corruption.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::layout::{chunk_key, manifest_key, validate_location};
use crate::manifest::{Manifest, MANIFEST_VERSION, OLDEST_MANIFEST_VERSION};
use crate::{BlobError, CHUNK_SIZE};

/// How many versions in a row a reader follows when each is replaced while
/// it reads, before answering [`BlobError::Contended`].
pub const READ_ATTEMPTS: u32 = 8;

/// The three operations the blob layout needs from a key-value store.
///
/// Spin's `key-value` interface, SQLite and a `HashMap` all provide them;
/// errors are plain strings because the layout only reports them.
pub trait KvBackend {
    /// Value at `key`, or `None` if absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Set `key` to `value`, replacing any previous value.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String>;
    /// Remove `key`; absent keys are not an error.
    fn delete(&self, key: &str) -> Result<(), String>;
}

/// A shared reference is a backend too, so several stores (or a store and a
/// test) can use one backend at once.
impl<T: KvBackend + ?Sized> KvBackend for &T {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), String> {
        (**self).delete(key)
    }
}

/// In-memory [`KvBackend`], for tests and tools that need no persistence.
///
/// Thread-safe, so tests can read and write one store from several threads.
#[derive(Debug, Default)]
pub struct MemoryKv {
    values: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryKv {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Vec<u8>>) -> T) -> Result<T, String> {
        let mut values = self
            .values
            .lock()
            .map_err(|_| "in-memory store poisoned by a panic".to_owned())?;
        Ok(f(&mut values))
    }

    /// Number of values held (to check that nothing leaks).
    pub fn len(&self) -> usize {
        self.with(|v| v.len()).unwrap_or(0)
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Largest value held, in bytes (to check the chunk limit holds).
    pub fn largest_value(&self) -> usize {
        self.with(|v| v.values().map(Vec::len).max().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Every key held, sorted (to check what a layout wrote).
    pub fn keys(&self) -> Vec<String> {
        let mut keys = self
            .with(|v| v.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

impl KvBackend for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.with(|v| v.get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.with(|v| {
            v.insert(key.to_owned(), value.to_vec());
        })
    }
    fn delete(&self, key: &str) -> Result<(), String> {
        self.with(|v| {
            v.remove(key);
        })
    }
}

/// Objects as chunks plus a manifest over a [`KvBackend`].
#[derive(Debug)]
pub struct BlobStore<B> {
    backend: B,
    chunk_size: usize,
    max_object_bytes: u64,
}

impl<B: KvBackend> BlobStore<B> {
    /// A store with [`CHUNK_SIZE`] chunks and no size limit beyond `max_object_bytes`.
    pub fn new(backend: B, max_object_bytes: u64) -> Self {
        Self::with_chunk_size(backend, CHUNK_SIZE, max_object_bytes)
    }

    /// A store with another chunk size (tests use small ones to exercise edges).
    pub fn with_chunk_size(backend: B, chunk_size: usize, max_object_bytes: u64) -> Self {
        Self {
            backend,
            chunk_size: chunk_size.max(1),
            max_object_bytes,
        }
    }

    /// The backend, e.g. to read other records from the same store.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Store `bytes` at (bucket, key), replacing any previous version.
    ///
    /// Chunks go first, under a fresh generation, and the manifest last, so
    /// readers never see a half-written object; the replaced version's
    /// chunks are removed after (see the module docs for why that is safe
    /// for a reader of the old version).
    pub fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: &[u8],
        content_type: &str,
        metadata: BTreeMap<String, String>,
    ) -> Result<Manifest, BlobError> {
        validate_location(bucket, key)?;
        let size = bytes.len() as u64;
        if size > self.max_object_bytes {
            return Err(BlobError::TooLarge {
                size,
                max: self.max_object_bytes,
            });
        }
        let sha256 = hex(&Sha256::digest(bytes));
        let generation = new_generation(&sha256);
        let previous = self.head(bucket, key)?;
        let mut chunks = 0u32;
        for (index, chunk) in bytes.chunks(self.chunk_size).enumerate() {
            let index = u32::try_from(index).map_err(|_| BlobError::TooLarge {
                size,
                max: self.max_object_bytes,
            })?;
            let ck = chunk_key(&generation, index, bucket, key);
            self.backend.set(&ck, chunk).map_err(|m| backend(&ck, m))?;
            chunks = index + 1;
        }
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            size,
            content_type: content_type.to_owned(),
            sha256,
            chunk_size: u32::try_from(self.chunk_size).unwrap_or(u32::MAX),
            chunks,
            metadata,
            generation,
        };
        let mk = manifest_key(bucket, key);
        let encoded = serde_json::to_vec(&manifest).map_err(|e| backend(&mk, e.to_string()))?;
        self.backend
            .set(&mk, &encoded)
            .map_err(|m| backend(&mk, m))?;
        if let Some(old) =
            previous.filter(|old| old.chunk_namespace() != manifest.chunk_namespace())
        {
            self.delete_chunks(bucket, key, &old)?;
        }
        Ok(manifest)
    }

    /// The manifest of (bucket, key), or `None` if no such object.
    pub fn head(&self, bucket: &str, key: &str) -> Result<Option<Manifest>, BlobError> {
        validate_location(bucket, key)?;
        let mk = manifest_key(bucket, key);
        let Some(raw) = self.backend.get(&mk).map_err(|m| backend(&mk, m))? else {
            return Ok(None);
        };
        let manifest: Manifest = serde_json::from_slice(&raw)
            .map_err(|e| corrupt(bucket, key, format!("unreadable manifest: {e}")))?;
        if !(OLDEST_MANIFEST_VERSION..=MANIFEST_VERSION).contains(&manifest.version) {
            return Err(corrupt(
                bucket,
                key,
                format!("unknown manifest version {}", manifest.version),
            ));
        }
        Ok(Some(manifest))
    }

    /// The object's manifest and bytes, verified against size and sha256.
    ///
    /// When the object is replaced while it is read, answers the version
    /// current once a read completes; when it is deleted meanwhile, `None`.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<(Manifest, Vec<u8>)>, BlobError> {
        let Some(mut manifest) = self.head(bucket, key)? else {
            return Ok(None);
        };
        let mut attempts = 1;
        loop {
            let missing = match self.read_chunks(bucket, key, &manifest)? {
                Ok(bytes) => return Ok(Some((manifest, bytes))),
                Err(missing) => missing,
            };
            // A chunk is gone: either this version was replaced or deleted
            // while we read it, or the data is damaged.
            let Some(current) = self.head(bucket, key)? else {
                return Ok(None);
            };
            if current.chunk_namespace() == manifest.chunk_namespace() {
                return Err(corrupt(bucket, key, format!("chunk {missing} is missing")));
            }
            if attempts >= READ_ATTEMPTS {
                return Err(BlobError::Contended {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    attempts,
                });
            }
            attempts += 1;
            manifest = current;
        }
    }

    /// The bytes `manifest` describes, verified; `Ok(Err(index))` when chunk
    /// `index` is absent.
    fn read_chunks(
        &self,
        bucket: &str,
        key: &str,
        manifest: &Manifest,
    ) -> Result<Result<Vec<u8>, u32>, BlobError> {
        let capacity = usize::try_from(manifest.size).unwrap_or(0);
        let mut bytes = Vec::with_capacity(capacity.min(256 * 1024 * 1024));
        for index in 0..manifest.chunks {
            let ck = chunk_key(manifest.chunk_namespace(), index, bucket, key);
            match self.backend.get(&ck).map_err(|m| backend(&ck, m))? {
                Some(chunk) => bytes.extend_from_slice(&chunk),
                None => return Ok(Err(index)),
            }
        }
        if bytes.len() as u64 != manifest.size {
            return Err(corrupt(
                bucket,
                key,
                format!(
                    "{} bytes stored, manifest says {}",
                    bytes.len(),
                    manifest.size
                ),
            ));
        }
        if hex(&Sha256::digest(&bytes)) != manifest.sha256 {
            return Err(corrupt(bucket, key, "sha256 mismatch".to_owned()));
        }
        Ok(Ok(bytes))
    }

    /// Remove (bucket, key); returns whether it existed.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<bool, BlobError> {
        let Some(manifest) = self.head(bucket, key)? else {
            return Ok(false);
        };
        let mk = manifest_key(bucket, key);
        self.backend.delete(&mk).map_err(|m| backend(&mk, m))?;
        self.delete_chunks(bucket, key, &manifest)?;
        Ok(true)
    }

    fn delete_chunks(&self, bucket: &str, key: &str, manifest: &Manifest) -> Result<(), BlobError> {
        for index in 0..manifest.chunks {
            let ck = chunk_key(manifest.chunk_namespace(), index, bucket, key);
            self.backend.delete(&ck).map_err(|m| backend(&ck, m))?;
        }
        Ok(())
    }
}

/// A name no other write uses: the content hash, the clock, a process-wide
/// counter and random bits (std seeds each `RandomState` from the OS or
/// WASI random source), hashed to 32 hex digits.
fn new_generation(sha256: &str) -> String {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let count = WRITES.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let random = RandomState::new().hash_one(count);
    let mut hasher = Sha256::new();
    hasher.update(sha256.as_bytes());
    hasher.update(count.to_le_bytes());
    hasher.update(nanos.to_le_bytes());
    hasher.update(random.to_le_bytes());
    hex(&hasher.finalize()[..16])
}

fn backend(key: &str, message: String) -> BlobError {
    BlobError::Backend {
        key: key.to_owned(),
        message,
    }
}

fn corrupt(bucket: &str, key: &str, reason: String) -> BlobError {
    BlobError::Corrupt {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(chunk: usize) -> BlobStore<MemoryKv> {
        BlobStore::with_chunk_size(MemoryKv::default(), chunk, 10 << 20)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn blob_empty_object_round_trips_with_zero_chunks() {
        let s = store(4);
        let m = s
            .put("b", "empty.jpg", &[], "image/jpeg", BTreeMap::new())
            .unwrap();
        assert_eq!((m.size, m.chunks), (0, 0));
        let (got, bytes) = s.get("b", "empty.jpg").unwrap().unwrap();
        assert!(bytes.is_empty());
        assert_eq!(got, m);
        assert_eq!(s.backend().len(), 1, "only the manifest is stored");
    }

    #[test]
    fn blob_exact_multiple_has_no_short_tail_chunk() {
        let s = store(4);
        let data = pattern(12);
        let m = s
            .put("b", "k", &data, "image/png", BTreeMap::new())
            .unwrap();
        assert_eq!(m.chunks, 3);
        assert_eq!(s.get("b", "k").unwrap().unwrap().1, data);
        assert_eq!(s.backend().len(), 4);
    }

    #[test]
    fn blob_large_object_is_split_under_the_chunk_limit() {
        let s = BlobStore::new(MemoryKv::default(), 64 << 20);
        let data = pattern(CHUNK_SIZE * 5 + 123);
        let m = s
            .put("b", "big.tif", &data, "image/tiff", BTreeMap::new())
            .unwrap();
        assert_eq!(m.chunks, 6);
        assert!(s.backend().largest_value() <= CHUNK_SIZE);
        let (_, bytes) = s.get("b", "big.tif").unwrap().unwrap();
        assert_eq!(bytes, data);
    }

    #[test]
    fn blob_overwrite_removes_old_chunks() {
        let s = store(4);
        s.put("b", "k", &pattern(10), "image/jpeg", BTreeMap::new())
            .unwrap();
        s.put("b", "k", &pattern(5), "image/jpeg", BTreeMap::new())
            .unwrap();
        assert_eq!(s.get("b", "k").unwrap().unwrap().1, pattern(5));
        assert_eq!(
            s.backend().len(),
            1 + 2,
            "manifest + the new version's 2 chunks"
        );
        assert!(s.delete("b", "k").unwrap());
        assert!(s.backend().is_empty());
        assert!(!s.delete("b", "k").unwrap());
    }

    #[test]
    fn blob_missing_object_is_none() {
        assert!(store(4).get("b", "nope").unwrap().is_none());
    }

    #[test]
    fn blob_odd_keys_are_distinct_objects() {
        let s = store(8);
        let keys = [
            "a b.jpg",
            "a+b.jpg",
            "a%20b.jpg",
            "dir/../x.jpg",
            "日本/写真.jpg",
            "x.jpg#m",
        ];
        for (i, k) in keys.iter().enumerate() {
            s.put("b", k, &pattern(i + 1), "image/jpeg", BTreeMap::new())
                .unwrap();
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(s.get("b", k).unwrap().unwrap().1, pattern(i + 1), "{k}");
        }
    }

    #[test]
    fn blob_detects_missing_chunk_and_tampering() {
        let s = store(4);
        let m = s
            .put("b", "k", &pattern(10), "image/jpeg", BTreeMap::new())
            .unwrap();
        s.backend()
            .set(&chunk_key(m.chunk_namespace(), 1, "b", "k"), b"XXXX")
            .unwrap();
        let err = s.get("b", "k").unwrap_err();
        assert!(matches!(err, BlobError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("sha256"), "{err}");
        s.backend()
            .delete(&chunk_key(m.chunk_namespace(), 2, "b", "k"))
            .unwrap();
        assert!(s
            .get("b", "k")
            .unwrap_err()
            .to_string()
            .contains("chunk 2 is missing"));
    }

    #[test]
    fn blob_rejects_oversized_objects_before_writing() {
        let s = BlobStore::with_chunk_size(MemoryKv::default(), 4, 8);
        let err = s
            .put("b", "k", &pattern(9), "image/jpeg", BTreeMap::new())
            .unwrap_err();
        assert!(matches!(err, BlobError::TooLarge { size: 9, max: 8 }));
        assert!(s.backend().is_empty());
    }

    #[test]
    fn blob_metadata_round_trips() {
        let s = store(4);
        let meta = BTreeMap::from([(crate::GENERATED_MARKER.to_owned(), "true".to_owned())]);
        s.put("b", "t", &pattern(3), "image/jpeg", meta.clone())
            .unwrap();
        assert_eq!(s.head("b", "t").unwrap().unwrap().metadata, meta);
    }

    /// A backend that runs `hook` before each chunk read of the object it
    /// serves, so a test can overwrite or delete the object at exactly that
    /// point of a read.
    struct Interleaved<'a> {
        inner: &'a MemoryKv,
        chunk_reads: std::cell::Cell<u32>,
        hook: Box<dyn Fn(u32) + 'a>,
    }

    impl KvBackend for Interleaved<'_> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
            if key.starts_with("chunk/") {
                let n = self.chunk_reads.get();
                self.chunk_reads.set(n + 1);
                (self.hook)(n);
            }
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), String> {
            self.inner.delete(key)
        }
    }

    #[test]
    fn blob_read_during_overwrite_gets_old_or_new_bytes_at_every_step() {
        let (old, new) = (
            pattern(10),
            pattern(13).into_iter().rev().collect::<Vec<_>>(),
        );
        // Overwrite before the reader's n-th chunk read, for every n a read has.
        for at in 0..3 {
            let kv = MemoryKv::default();
            let writer = BlobStore::with_chunk_size(&kv, 4, 1 << 20);
            writer
                .put("b", "k", &old, "image/jpeg", BTreeMap::new())
                .unwrap();
            let reader = BlobStore::with_chunk_size(
                Interleaved {
                    inner: &kv,
                    chunk_reads: Default::default(),
                    hook: Box::new(|n| {
                        if n == at {
                            writer
                                .put("b", "k", &new, "image/jpeg", BTreeMap::new())
                                .unwrap();
                        }
                    }),
                },
                4,
                1 << 20,
            );
            let (manifest, bytes) = reader.get("b", "k").unwrap().unwrap();
            assert_eq!(
                bytes, new,
                "overwrite before chunk read {at}: the new version"
            );
            assert_eq!(manifest.size, 13);
            // The old version's chunks are gone: nothing leaks.
            assert_eq!(kv.len(), 1 + 4, "manifest + the new version's 4 chunks");
        }
    }

    #[test]
    fn blob_read_follows_several_overwrites_then_gives_up_retryably() {
        let kv = MemoryKv::default();
        let writer = BlobStore::with_chunk_size(&kv, 4, 1 << 20);
        writer
            .put("b", "k", &pattern(8), "image/jpeg", BTreeMap::new())
            .unwrap();
        let overwrites = &std::cell::Cell::new(0u32);
        let writer = &writer;
        let reader = |limit: u32| {
            BlobStore::with_chunk_size(
                Interleaved {
                    inner: &kv,
                    chunk_reads: Default::default(),
                    hook: Box::new(move |_| {
                        // Replace the object before each chunk read, `limit` times.
                        if overwrites.get() < limit {
                            overwrites.set(overwrites.get() + 1);
                            let len = 8 + overwrites.get() as usize;
                            writer
                                .put("b", "k", &pattern(len), "image/jpeg", BTreeMap::new())
                                .unwrap();
                        }
                    }),
                },
                4,
                1 << 20,
            )
        };
        let got = reader(READ_ATTEMPTS - 1).get("b", "k").unwrap().unwrap().1;
        assert_eq!(
            got,
            pattern(8 + READ_ATTEMPTS as usize - 1),
            "the last version written"
        );
        overwrites.set(0);
        let err = reader(u32::MAX).get("b", "k").unwrap_err();
        assert!(
            matches!(
                err,
                BlobError::Contended {
                    attempts: READ_ATTEMPTS,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.is_retryable(), "{err}");
    }

    #[test]
    fn blob_read_during_delete_is_none_not_corrupt() {
        let kv = MemoryKv::default();
        let writer = BlobStore::with_chunk_size(&kv, 4, 1 << 20);
        writer
            .put("b", "k", &pattern(10), "image/jpeg", BTreeMap::new())
            .unwrap();
        let reader = BlobStore::with_chunk_size(
            Interleaved {
                inner: &kv,
                chunk_reads: Default::default(),
                hook: Box::new(|n| {
                    if n == 1 {
                        writer.delete("b", "k").unwrap();
                    }
                }),
            },
            4,
            1 << 20,
        );
        assert!(reader.get("b", "k").unwrap().is_none());
    }

    #[test]
    fn blob_concurrent_readers_during_overwrites_never_error() {
        let kv = MemoryKv::default();
        let versions = [pattern(4096), pattern(3000).into_iter().rev().collect()];
        let store = BlobStore::with_chunk_size(&kv, 64, 1 << 20);
        store
            .put("b", "k", &versions[0], "image/png", BTreeMap::new())
            .unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        let reads = std::thread::scope(|scope| {
            let readers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        let mut reads = 0u32;
                        while !done.load(Ordering::Relaxed) || reads == 0 {
                            let (_, bytes) = store.get("b", "k").unwrap().unwrap();
                            assert!(versions.contains(&bytes), "a mix of versions was read");
                            reads += 1;
                        }
                        reads
                    })
                })
                .collect();
            for i in 0..300 {
                store
                    .put("b", "k", &versions[i % 2], "image/png", BTreeMap::new())
                    .unwrap();
            }
            done.store(true, Ordering::Relaxed);
            readers.into_iter().map(|r| r.join().unwrap()).sum::<u32>()
        });
        assert!(reads >= 3);
        // 1 manifest + the last version's 64-byte chunks (3000 bytes: 47 chunks).
        assert_eq!(kv.len(), 1 + 47, "no chunks leaked by the overwrites");
    }

    #[test]
    fn blob_reads_version_1_manifests_with_hash_named_chunks() {
        let kv = MemoryKv::default();
        let data = pattern(10);
        let sha = hex(&Sha256::digest(&data));
        for (i, chunk) in data.chunks(4).enumerate() {
            kv.set(&chunk_key(&sha, i as u32, "b", "k"), chunk).unwrap();
        }
        let v1 = serde_json::json!({
            "version": 1, "size": 10, "content_type": "image/jpeg", "sha256": sha,
            "chunk_size": 4, "chunks": 3, "metadata": {}
        });
        kv.set(&manifest_key("b", "k"), v1.to_string().as_bytes())
            .unwrap();
        let s = BlobStore::with_chunk_size(&kv, 4, 1 << 20);
        assert_eq!(s.get("b", "k").unwrap().unwrap().1, data);
        // Overwriting a version 1 object removes its hash-named chunks.
        s.put("b", "k", &pattern(3), "image/jpeg", BTreeMap::new())
            .unwrap();
        assert_eq!(kv.len(), 2, "manifest + 1 chunk: {:?}", kv.keys());
    }
}
