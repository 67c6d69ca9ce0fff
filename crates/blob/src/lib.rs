//! Blob store layout over a key-value store.
//!
//! Spin documents a 1 MB value limit for portable key-value stores, while
//! photos are often larger. This crate stores each object as chunks of at
//! most [`CHUNK_SIZE`] bytes plus a small JSON [`Manifest`] (size, content
//! type, sha256, chunk count, metadata), and says where thumbnails live.
//! It is plain Rust: the Spin glue implements [`KvBackend`] over
//! `spin_sdk::key_value::Store`, and tests use [`MemoryKv`].
//!
//! Modules:
//! - [`layout`]: the key names (manifest, chunks, thumbnails) and their validation;
//! - [`manifest`]: the manifest record;
//! - [`generated`]: the metadata marking thumbnails as generated (both stores);
//! - [`status`]: per-stage status entries and rejected events, written without
//!   read-modify-write of a shared entry;
//! - [`store`]: [`BlobStore`], the put/get/head/delete protocol over a [`KvBackend`];
//! - [`error`]: the error type, [`BlobError`].
#![deny(missing_docs)]

pub mod error;
pub mod generated;
pub mod layout;
pub mod manifest;
pub mod status;
pub mod store;

pub use error::BlobError;
pub use generated::{is_generated, GeneratedFrom};
pub use layout::{chunk_key, manifest_key, thumbnail_key, validate_location};
pub use manifest::Manifest;
pub use store::{BlobStore, KvBackend, MemoryKv};

/// Largest chunk written, in bytes: half of Spin's documented 1 MB portable
/// value limit, leaving room for any per-value overhead a store adds.
pub const CHUNK_SIZE: usize = 512 * 1024;

/// Metadata key that marks an object as written by thumbflow itself, so the
/// normalizer's recursion guard can recognise it whatever its key.
pub const GENERATED_MARKER: &str = "thumbflow-generated";
