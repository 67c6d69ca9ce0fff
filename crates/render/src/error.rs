//! Every way a render fails, as the HTTP status and JSON body a client
//! can act on.
//!
//! The engine answers `reject(message)` or `retry(message)`; which of the
//! pipeline's typed errors a reject is comes from its message, which the
//! engine (`thumbflow-imaging`'s `ImagingError`) words with a fixed opening
//! per kind. [`classify`] reads that opening; its tests build every
//! `ImagingError` variant, so a change of wording fails them.

use crate::answer::Answer;

/// What kind of failure a render is, for clients that branch on it (the
/// JSON body's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not an image, or a format the engine does not decode (415).
    NotAnImage,
    /// Over a limit: body size, pixels, side, frames, decode memory (413).
    TooLarge,
    /// A supported format that is truncated or corrupt (422).
    Corrupt,
    /// The recipe is malformed (400).
    BadRecipe,
    /// A recipe's `max=` size cannot be met (422).
    Unreachable,
    /// Any other reject (422).
    Rejected,
    /// The engine failed producing the output (500).
    Failed,
    /// A transient engine failure: the same request may succeed later (503).
    Transient,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> u16 {
        match self {
            Self::NotAnImage => 415,
            Self::TooLarge => 413,
            Self::Corrupt | Self::Unreachable | Self::Rejected => 422,
            Self::BadRecipe => 400,
            Self::Failed => 500,
            Self::Transient => 503,
        }
    }

    /// The name in the JSON body.
    pub fn name(self) -> &'static str {
        match self {
            Self::NotAnImage => "not-an-image",
            Self::TooLarge => "too-large",
            Self::Corrupt => "corrupt",
            Self::BadRecipe => "bad-recipe",
            Self::Unreachable => "unreachable-size",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Transient => "transient",
        }
    }
}

/// The kind of an engine reject, from the opening of its message.
pub fn classify(message: &str) -> ErrorKind {
    let over_limit = message.contains("over the limit") || message.contains("over the budget");
    if message.starts_with("unsupported image format") {
        ErrorKind::NotAnImage
    } else if message.starts_with("cannot decode image") {
        ErrorKind::Corrupt
    } else if message.starts_with("invalid recipe") {
        ErrorKind::BadRecipe
    } else if message.starts_with("cannot produce thumbnail") {
        ErrorKind::Failed
    } else if message.starts_with("recipe ") && message.contains("max_bytes") {
        ErrorKind::Unreachable
    } else if over_limit
        && [
            "input is ",
            "image is ",
            "animation declares",
            "decoding needs",
        ]
        .iter()
        .any(|opening| message.starts_with(opening))
    {
        ErrorKind::TooLarge
    } else {
        ErrorKind::Rejected
    }
}

/// Why a render request got no thumbnail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// Another path than `/render`: the client has the wrong URL (404).
    #[error("no route {path:?}: POST the image to /render[?recipe=NAME=WxH,...]")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// Another method than `POST` (405).
    #[error("method {method} is not allowed on /render: POST the image as the body")]
    MethodNotAllowed {
        /// The method used.
        method: String,
    },
    /// The query is not `recipe=...` (400).
    #[error("{0}")]
    BadQuery(String),
    /// No body (400).
    #[error("empty body: POST the image as the request body")]
    EmptyBody,
    /// The body is over [`crate::MAX_BODY_BYTES`] (413).
    #[error("{} over the limit of {limit} bytes (the pipeline's max_object_bytes)", match size { Some(s) => format!("body of {s} bytes is"), None => "body is".to_owned() })]
    BodyTooLarge {
        /// Its size, when the client declared it.
        size: Option<u64>,
        /// The limit.
        limit: u64,
    },
    /// The body could not be read (400).
    #[error("reading the request body failed: {0}")]
    BodyRead(String),
    /// The body does not start like an image (415).
    #[error("the body is not an image (JPEG, PNG, GIF, WebP, BMP or TIFF, by its first bytes)")]
    NotAnImage,
    /// The engine refused or failed; `kind` says which typed error it is.
    #[error("{message}")]
    Engine {
        /// The typed error.
        kind: ErrorKind,
        /// The engine's message.
        message: String,
    },
}

impl RenderError {
    /// An engine `reject(message)`.
    pub fn reject(message: String) -> Self {
        Self::Engine {
            kind: classify(&message),
            message,
        }
    }

    /// An engine `retry(message)`.
    pub fn retry(message: String) -> Self {
        Self::Engine {
            kind: ErrorKind::Transient,
            message,
        }
    }

    /// The typed error this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } | Self::MethodNotAllowed { .. } => ErrorKind::Rejected,
            Self::BadQuery(_) | Self::EmptyBody | Self::BodyRead(_) => ErrorKind::Rejected,
            Self::BodyTooLarge { .. } => ErrorKind::TooLarge,
            Self::NotAnImage => ErrorKind::NotAnImage,
            Self::Engine { kind, .. } => *kind,
        }
    }

    /// Its HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::BadQuery(_) | Self::EmptyBody | Self::BodyRead(_) => 400,
            Self::BodyTooLarge { .. } | Self::NotAnImage | Self::Engine { .. } => {
                self.kind().status()
            }
        }
    }

    /// The response: its status, a JSON body `{"error", "kind", "retryable"}`,
    /// and `Allow` (405) or `Retry-After` (503) where they apply.
    pub fn answer(&self) -> Answer {
        let retryable = self.kind() == ErrorKind::Transient;
        let body = serde_json::json!({
            "error": self.to_string(),
            "kind": self.kind().name(),
            "retryable": retryable,
        })
        .to_string()
        .into_bytes();
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("content-length".to_owned(), body.len().to_string()),
        ];
        match self.status() {
            405 => headers.push(("allow".to_owned(), "POST".to_owned())),
            503 => headers.push(("retry-after".to_owned(), "1".to_owned())),
            _ => {}
        }
        Answer {
            status: self.status(),
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use thumbflow_imaging::ImagingError;

    /// Every engine error, as the engine words it, lands in its typed error.
    #[test]
    fn classify_maps_every_engine_error_to_its_typed_error() {
        let cases = [
            (
                ImagingError::InputTooLarge { bytes: 2, max: 1 },
                ErrorKind::TooLarge,
            ),
            (
                ImagingError::UnsupportedFormat("text".into()),
                ErrorKind::NotAnImage,
            ),
            (
                ImagingError::TooManyPixels {
                    width: 20_000,
                    height: 20_000,
                    max_pixels: 100,
                },
                ErrorKind::TooLarge,
            ),
            (
                ImagingError::SideTooLong {
                    width: 20_000,
                    height: 1,
                    max_side: 16_384,
                },
                ErrorKind::TooLarge,
            ),
            (
                ImagingError::TooManyFrames {
                    frames: 10_001,
                    max_frames: 10_000,
                },
                ErrorKind::TooLarge,
            ),
            (
                ImagingError::OverMemoryBudget {
                    needed: 2,
                    budget: 1,
                },
                ErrorKind::TooLarge,
            ),
            (
                ImagingError::ThumbnailTooLarge {
                    recipe: "thumb".into(),
                    bytes: 2,
                    max_bytes: 1,
                },
                ErrorKind::Unreachable,
            ),
            (
                ImagingError::Decode("truncated scan".into()),
                ErrorKind::Corrupt,
            ),
            (ImagingError::Encode("png".into()), ErrorKind::Failed),
            (
                ImagingError::InvalidRecipe("no box".into()),
                ErrorKind::BadRecipe,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(classify(&error.to_string()), kind, "{error}");
        }
        assert_eq!(classify("something new"), ErrorKind::Rejected);
    }

    #[test]
    fn typed_errors_have_the_pipelines_statuses() {
        let corrupt = RenderError::reject(ImagingError::Decode("bad".into()).to_string());
        assert_eq!(corrupt.status(), 422);
        let pixels = ImagingError::TooManyPixels {
            width: 2,
            height: 2,
            max_pixels: 1,
        };
        assert_eq!(RenderError::reject(pixels.to_string()).status(), 413);
        let format = ImagingError::UnsupportedFormat("x".into()).to_string();
        assert_eq!(RenderError::reject(format).status(), 415);
        assert_eq!(RenderError::NotAnImage.status(), 415);
        let big = RenderError::BodyTooLarge {
            size: None,
            limit: 1,
        };
        assert_eq!(big.status(), 413);
        assert_eq!(RenderError::retry("busy".into()).status(), 503);
    }

    #[test]
    fn error_answer_is_json_naming_the_kind() {
        let answer = RenderError::reject("cannot decode image: truncated".into()).answer();
        assert_eq!(answer.status, 422);
        assert_eq!(answer.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["kind"], "corrupt");
        assert_eq!(body["retryable"], false);
        assert_eq!(body["error"], "cannot decode image: truncated");
        assert_eq!(
            answer.header("content-length"),
            Some(answer.body.len().to_string().as_str())
        );

        let answer = RenderError::MethodNotAllowed {
            method: "GET".into(),
        }
        .answer();
        assert_eq!(answer.header("allow"), Some("POST"));
        let answer = RenderError::retry("busy".into()).answer();
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
}
