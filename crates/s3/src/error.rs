//! Errors: invalid settings, and S3 answers classified by what to do next.

/// An `s3_*` setting is missing or malformed; the message names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `s3_endpoint` cannot be used.
    #[error("s3_endpoint = {value:?} is not usable: {reason}; set it to the S3 API's base URL, e.g. http://127.0.0.1:7480")]
    Endpoint {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A required credential is empty.
    #[error(
        "{name} is empty: set s3_access_key_id and s3_secret_access_key to the S3 user's keys"
    )]
    Missing {
        /// The setting's name.
        name: &'static str,
    },
    /// `s3_path_style` is not a boolean.
    #[error("s3_path_style = {value:?} is not true or false")]
    PathStyle {
        /// The value given.
        value: String,
    },
}

/// Why an S3 request failed, classified so the caller knows what to do:
/// [`S3Error::is_retryable`] says whether the same request may succeed
/// later; [`NotFound`](S3Error::NotFound) and
/// [`PreconditionFailed`](S3Error::PreconditionFailed) usually mean the
/// work is moot (the object was deleted or replaced) rather than failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3Error {
    /// No such object (`404`, `NoSuchKey`): deleted, or never there.
    #[error("no such object: {message}")]
    NotFound {
        /// The server's message, or what was asked for.
        message: String,
    },
    /// The server refused the credentials or the signature
    /// (`InvalidAccessKeyId`, `SignatureDoesNotMatch`, `AccessDenied`, `403`).
    /// Retrying will not help until the configuration changes.
    #[error("S3 refused the request ({code}: {message}): check s3_access_key_id and s3_secret_access_key, and that this user may access the bucket")]
    AccessDenied {
        /// The S3 error code (`AccessDenied` when the answer had no body).
        code: String,
        /// The server's message.
        message: String,
    },
    /// A condition (`If-Match`) failed (`412`): the object changed since
    /// its ETag was read, so the request is superseded, not failed.
    #[error("the object changed since it was read (412 PreconditionFailed): {message}")]
    PreconditionFailed {
        /// The server's message.
        message: String,
    },
    /// The object is larger than the caller accepts ([`S3Error::too_large`]),
    /// or the server refused an upload as too large (`EntityTooLarge`).
    #[error("{message}")]
    TooLarge {
        /// What is too large for what limit.
        message: String,
    },
    /// A transient failure: `5xx`, `SlowDown`, `RequestTimeout`, or the
    /// connection itself failed. The same request may succeed later.
    #[error("S3 temporarily failed ({code}): {message}")]
    Transient {
        /// The S3 error code, HTTP status, or `connection`.
        code: String,
        /// The server's or the transport's message.
        message: String,
    },
    /// Any other refusal (`4xx`): a bad request, a missing bucket, a
    /// skewed clock. Retrying the same request will not help.
    #[error("S3 rejected the request ({status} {code}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The S3 error code (the status text when the answer had no body).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The object key cannot be addressed by a URL (empty, `.`/`..`
    /// segments, too long): refused before anything is sent.
    #[error("object key {key:?} cannot be used with S3: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The bucket name cannot be put in a URL of the configured style.
    #[error("bucket {bucket:?} cannot be used with S3: {reason}")]
    InvalidBucket {
        /// The bucket.
        bucket: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A metadata or header value cannot be sent (non-ASCII, control
    /// characters, bad name).
    #[error("header {name:?} cannot be sent to S3: {reason}")]
    InvalidHeader {
        /// The header name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A success answer could not be understood (missing ETag, bad XML).
    #[error("unexpected S3 response: {reason}")]
    InvalidResponse {
        /// What could not be read.
        reason: String,
    },
}

impl S3Error {
    /// Whether sending the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, S3Error::Transient { .. })
    }

    /// An object of `size` bytes refused because the limit named `limit`
    /// (e.g. `max_object_bytes`) is `max`.
    pub fn too_large(size: u64, limit: &str, max: u64) -> Self {
        S3Error::TooLarge {
            message: format!("object of {size} bytes exceeds {limit} = {max}"),
        }
    }

    /// A failure of the HTTP exchange itself (DNS, refused or reset
    /// connection, timeout): transient.
    pub fn connection(message: impl Into<String>) -> Self {
        S3Error::Transient {
            code: "connection".to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_only_transient_is_retryable() {
        assert!(S3Error::connection("refused").is_retryable());
        let denied = S3Error::AccessDenied {
            code: "InvalidAccessKeyId".into(),
            message: "unknown key".into(),
        };
        assert!(!denied.is_retryable());
        assert!(
            denied.to_string().contains("s3_secret_access_key"),
            "{denied}"
        );
        assert!(!S3Error::NotFound {
            message: "k".into()
        }
        .is_retryable());
    }
}
