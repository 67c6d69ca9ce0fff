//! The manifest record stored beside an object's chunks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Layout version written by this crate; readers reject versions they do not know.
///
/// Version 2 names chunks by a per-write [`Manifest::generation`]; version 1
/// named them by the content hash, and is still read.
pub const MANIFEST_VERSION: u32 = 2;

/// Oldest layout version still read (its chunks are named by the content hash).
pub const OLDEST_MANIFEST_VERSION: u32 = 1;

/// Everything needed to reassemble and verify an object, and to serve it.
///
/// Written after all chunks, so a reader that finds a manifest finds a
/// complete object: the manifest write is the commit point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// Object size in bytes.
    pub size: u64,
    /// MIME type served with the object.
    pub content_type: String,
    /// Lowercase hex sha256 of the whole object: integrity check and chunk namespace.
    pub sha256: String,
    /// Chunk size used when writing (the last chunk may be shorter).
    pub chunk_size: u32,
    /// Number of chunks (0 for an empty object).
    pub chunks: u32,
    /// User metadata (e.g. [`crate::GENERATED_MARKER`], recipe name and version).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Unique name of the write that stored this version, the namespace of
    /// its chunks: no other write ever sets or deletes them, so a reader
    /// holding this manifest finds its chunks intact or gone, never
    /// replaced. Empty in version 1 manifests, whose chunks are named by
    /// [`sha256`](Self::sha256).
    #[serde(default)]
    pub generation: String,
}

impl Manifest {
    /// The namespace of this version's chunks: [`generation`](Self::generation),
    /// or the content hash for version 1 manifests.
    pub fn chunk_namespace(&self) -> &str {
        if self.generation.is_empty() {
            &self.sha256
        } else {
            &self.generation
        }
    }

    /// Quoted strong ETag derived from the content hash, for HTTP responses and events.
    pub fn etag(&self) -> String {
        let short = self.sha256.get(..32).unwrap_or(&self.sha256);
        format!("\"{short}\"")
    }
}
