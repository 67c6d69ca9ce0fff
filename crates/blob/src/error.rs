//! Errors of the blob store.

/// Why a blob operation failed; [`BlobError::is_retryable`] tells the caller
/// whether the same call may succeed later.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The key-value store itself failed (I/O, connection, quota): transient.
    #[error("key-value store error on {key:?}: {message}")]
    Backend {
        /// The store key being read or written.
        key: String,
        /// The backend's own message.
        message: String,
    },
    /// The bucket name cannot be used (empty, contains `/`, too long).
    #[error("invalid bucket {bucket:?}: {reason}")]
    InvalidBucket {
        /// The rejected bucket name.
        bucket: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The object key cannot be used (empty, too long, contains NUL).
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The object is larger than the store accepts.
    #[error("object of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size offered.
        size: u64,
        /// Largest size accepted.
        max: u64,
    },
    /// Stored data does not match its manifest (missing chunk, wrong size or
    /// checksum, unreadable manifest). Reading again will not fix it.
    #[error("object {bucket}/{key} is corrupt: {reason}")]
    Corrupt {
        /// Bucket of the object.
        bucket: String,
        /// Key of the object.
        key: String,
        /// What does not match.
        reason: String,
    },
    /// The object was replaced under a reader this many times in a row;
    /// reading again later will succeed once writes pause.
    #[error("object {bucket}/{key} was replaced {attempts} times while being read: read it again")]
    Contended {
        /// Bucket of the object.
        bucket: String,
        /// Key of the object.
        key: String,
        /// Versions the reader tried.
        attempts: u32,
    },
}

impl BlobError {
    /// Whether retrying the same operation may succeed (backend failures and contention).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BlobError::Backend { .. } | BlobError::Contended { .. }
        )
    }
}
