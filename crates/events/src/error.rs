//! The one error type of this crate.
//!
//! Every variant is a *reject* in the WIT `stage-error` sense: the input is
//! malformed, unsupported or too large, and delivering the same bytes again
//! will fail the same way. The glue maps all of them to `reject(message)`.

/// Why a raw event (or one of thumbflow's own JSON documents) could not be read.
///
/// The message names the offending field and what was expected, so an operator
/// reading a dead-letter entry knows what to fix without the source at hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// The raw event is larger than the configured limit; checked before any
    /// parsing so a hostile payload costs nothing.
    #[error(
        "event is {size} bytes, over the {max}-byte limit: raise max_event_bytes if this producer really sends events this large"
    )]
    TooLarge {
        /// Size of the raw event in bytes.
        size: usize,
        /// The limit it exceeded (`NormalizeOptions::max_event_bytes`).
        max: usize,
    },

    /// The bytes are not a JSON document (syntax error, truncated, not UTF-8).
    #[error("event is not JSON: {0}")]
    NotJson(String),

    /// Valid JSON, but not any event shape this crate knows; the message says
    /// what was seen (top-level keys, CloudEvents type, EventBridge source).
    #[error("unknown event format: {0}")]
    UnknownFormat(String),

    /// A recognised format lacks a field it cannot do without.
    #[error("{format} event is missing `{field}`")]
    MissingField {
        /// Which format was being read (`s3`, `gcs`, `azure-blob`, ...).
        format: &'static str,
        /// JSON path of the missing field, e.g. `Records[0].s3.bucket.name`.
        field: String,
    },

    /// A field is present but has the wrong type or an unusable value.
    #[error("invalid `{field}`: {detail}")]
    InvalidField {
        /// JSON path (or attribute name) of the field.
        field: String,
        /// What was wrong and what was expected.
        detail: String,
    },

    /// An S3-style form-encoded key could not be decoded (bad `%XX` escape,
    /// or the decoded bytes are not UTF-8).
    #[error("object key {key:?} cannot be decoded: {detail}")]
    InvalidKeyEncoding {
        /// The key exactly as the event carried it.
        key: String,
        /// Where and why decoding failed.
        detail: String,
    },
}

impl NormalizeError {
    /// Whether delivering the same input again could succeed.
    ///
    /// Always `false`: every variant describes the input itself. The method
    /// exists so callers can treat this error like the other stages' errors
    /// (which do have transient variants) without special-casing it.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// Builds an [`InvalidField`](Self::InvalidField) error.
    pub(crate) fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// Maps a `serde_json` error from reading a whole document: syntax and
    /// end-of-input errors mean "not JSON", data errors mean a field of
    /// `what` has the wrong shape.
    pub(crate) fn from_json(err: &serde_json::Error, what: &str) -> Self {
        use serde_json::error::Category;
        match err.classify() {
            Category::Io | Category::Syntax | Category::Eof => Self::NotJson(err.to_string()),
            Category::Data => Self::invalid(what, err.to_string()),
        }
    }
}
