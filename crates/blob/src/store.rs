//! The put/get/head/delete protocol over any key-value backend.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::layout::{chunk_key, manifest_key, validate_location};
use crate::manifest::{Manifest, MANIFEST_VERSION};
use crate::{BlobError, CHUNK_SIZE};

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

/// In-memory [`KvBackend`], for tests and tools that need no persistence.
#[derive(Debug, Default)]
pub struct MemoryKv {
    values: RefCell<HashMap<String, Vec<u8>>>,
}

impl MemoryKv {
    /// Number of values held (to check that nothing leaks).
    pub fn len(&self) -> usize {
        self.values.borrow().len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.values.borrow().is_empty()
    }

    /// Largest value held, in bytes (to check the chunk limit holds).
    pub fn largest_value(&self) -> usize {
        self.values
            .borrow()
            .values()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
    }
}

impl KvBackend for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.values.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.values
            .borrow_mut()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), String> {
        self.values.borrow_mut().remove(key);
        Ok(())
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
    /// Chunks go first and the manifest last, so readers never see a
    /// half-written object; the replaced version's chunks are removed after.
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
        let previous = self.head(bucket, key)?;
        let mut chunks = 0u32;
        for (index, chunk) in bytes.chunks(self.chunk_size).enumerate() {
            let index = u32::try_from(index).map_err(|_| BlobError::TooLarge {
                size,
                max: self.max_object_bytes,
            })?;
            let ck = chunk_key(&sha256, index, bucket, key);
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
        };
        let mk = manifest_key(bucket, key);
        let encoded = serde_json::to_vec(&manifest).map_err(|e| backend(&mk, e.to_string()))?;
        self.backend
            .set(&mk, &encoded)
            .map_err(|m| backend(&mk, m))?;
        if let Some(old) = previous.filter(|old| old.sha256 != manifest.sha256) {
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
        if manifest.version != MANIFEST_VERSION {
            return Err(corrupt(
                bucket,
                key,
                format!("unknown manifest version {}", manifest.version),
            ));
        }
        Ok(Some(manifest))
    }

    /// The object's manifest and bytes, verified against size and sha256.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<(Manifest, Vec<u8>)>, BlobError> {
        let Some(manifest) = self.head(bucket, key)? else {
            return Ok(None);
        };
        let capacity = usize::try_from(manifest.size).unwrap_or(0);
        let mut bytes = Vec::with_capacity(capacity.min(256 * 1024 * 1024));
        for index in 0..manifest.chunks {
            let ck = chunk_key(&manifest.sha256, index, bucket, key);
            let chunk = self
                .backend
                .get(&ck)
                .map_err(|m| backend(&ck, m))?
                .ok_or_else(|| corrupt(bucket, key, format!("chunk {index} is missing")))?;
            bytes.extend_from_slice(&chunk);
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
        Ok(Some((manifest, bytes)))
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
            let ck = chunk_key(&manifest.sha256, index, bucket, key);
            self.backend.delete(&ck).map_err(|m| backend(&ck, m))?;
        }
        Ok(())
    }
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
            .set(&chunk_key(&m.sha256, 1, "b", "k"), b"XXXX")
            .unwrap();
        let err = s.get("b", "k").unwrap_err();
        assert!(matches!(err, BlobError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("sha256"), "{err}");
        s.backend()
            .delete(&chunk_key(&m.sha256, 2, "b", "k"))
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
}
