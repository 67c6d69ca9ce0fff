//! Sans-IO S3 for thumbflow: the requests to send and what their answers mean.
//!
//! Nothing here performs I/O. [`S3Client`] builds a [`SignedRequest`] (method,
//! URL, headers, body) for each operation thumbflow needs; the caller sends it
//! with whatever HTTP client it has (Spin's outbound HTTP inside the Wasm
//! components, `reqwest` in a native CLI) and hands the status, headers and
//! body back to the parsers here, which turn them into typed values or an
//! [`S3Error`] that says whether retrying can help.
//!
//! Requests are signed with AWS Signature Version 4 by [`rusty_s3`] as
//! presigned URLs (query-string authentication, `UNSIGNED-PAYLOAD`); every
//! header that S3 requires to be signed (`x-amz-meta-*`, and here also
//! `content-type`, `cache-control`, `if-match`) is signed, and must be sent
//! exactly as listed in [`SignedRequest::headers`].
//!
//! Modules:
//! - [`config`]: [`S3Config`], the endpoint, region, credentials and URL
//!   style, validated from the `s3_*` settings with errors naming the fix;
//! - [`request`]: [`S3Client`] and [`SignedRequest`]: HeadObject, GetObject
//!   (with `If-Match`), PutObject ([`PutOptions`]), DeleteObject,
//!   ListObjectsV2, and CreateBucket for set-up; object keys are checked and percent-encoded so any key
//!   (spaces, `+`, `%`, `&`, `?`, `#`, non-ASCII) addresses exactly that object;
//! - [`response`]: [`ObjectHead`] from HEAD/GET headers, [`ListPage`] from
//!   ListObjectsV2 XML, [`check_status`] mapping an error answer (status and
//!   S3 error XML) to an [`S3Error`];
//! - [`error`]: [`S3Error`], every variant classified (retry, reject,
//!   not found, superseded) and [`ConfigError`].
//!
//! A typical exchange, with `send` standing for the caller's HTTP client:
//!
//! ```
//! use thumbflow_s3::{check_status, ObjectHead, S3Client, S3Config};
//!
//! let config = S3Config::new("http://127.0.0.1:7480", "", "AK", "SK", "true").unwrap();
//! let client = S3Client::new(config);
//! let request = client.head_object("photos", "2026/a b+c.jpg").unwrap();
//! assert_eq!(request.method, "HEAD");
//! assert!(request.url.starts_with("http://127.0.0.1:7480/photos/2026/a%20b%2Bc.jpg?"));
//! // let (status, headers, body) = send(request);
//! let (status, headers) = (200, vec![("etag".to_owned(), "\"abc\"".to_owned()),
//!                                    ("content-length".to_owned(), "42".to_owned())]);
//! check_status(status, &headers, b"").unwrap();
//! let head = ObjectHead::from_headers(&headers).unwrap();
//! assert_eq!((head.size, head.etag.as_str()), (42, "abc"));
//! ```
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod request;
pub mod response;

pub use config::S3Config;
pub use error::{ConfigError, S3Error};
pub use request::{PutOptions, S3Client, SignedRequest};
pub use response::{check_status, etag_of, unquote_etag, ListPage, ListedObject, ObjectHead};
