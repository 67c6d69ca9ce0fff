//! The object-store port: originals and thumbnails in the app's key-value
//! store or in the user's S3 bucket, chosen by the `store` variable.
//!
//! - `kv` (default): the chunked layout of `thumbflow-blob` over Spin's
//!   key-value store;
//! - `s3`: requests built and signed by `thumbflow-s3`, sent through Spin's
//!   outbound HTTP to `s3_endpoint` (which the manifest must grant in
//!   `allowed_outbound_hosts`).
//!
//! Both answer with `thumbflow-s3`'s types, so callers handle one error
//! type whatever the backend. Status records stay in the key-value store
//! ([`crate::kv`]) in both modes.

use anyhow::Context as _;
use spin_sdk::http::{ErrorCode, Method, Request, Response, SendError};
use thumbflow_blob::{BlobError, BlobStore};
use thumbflow_s3::response::unquote_etag;
use thumbflow_s3::{check_status, ObjectHead, PutOptions, S3Client, S3Config, S3Error};

use crate::kv::SpinKv;
use crate::vars;

/// Which backend an [`ObjectStore`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The app's key-value store.
    Kv,
    /// An S3-compatible server.
    S3,
}

/// Objects by (bucket, key) in the configured backend.
pub struct ObjectStore {
    backend: Backend,
    max_object_bytes: u64,
}

enum Backend {
    Kv(BlobStore<SpinKv>),
    S3(S3Client),
}

impl ObjectStore {
    /// Open the backend named by the `store` variable, refusing objects
    /// larger than `max_object_bytes`. In `s3` mode an invalid `s3_*`
    /// variable is a [`thumbflow_s3::ConfigError`] in the returned chain.
    pub fn open(max_object_bytes: u64) -> anyhow::Result<Self> {
        let backend = match vars::get("store")?.trim() {
            "" | "kv" => Backend::Kv(BlobStore::new(SpinKv::open()?, max_object_bytes)),
            "s3" => {
                let config = S3Config::new(
                    &vars::get("s3_endpoint")?,
                    &vars::get("s3_region")?,
                    &vars::get("s3_access_key_id")?,
                    &vars::get("s3_secret_access_key")?,
                    &vars::get("s3_path_style")?,
                )
                .context("store = \"s3\" needs valid s3_* variables")?;
                Backend::S3(S3Client::new(config))
            }
            other => {
                anyhow::bail!("Spin variable \"store\" = {other:?} is not valid: use kv or s3")
            }
        };
        Ok(Self {
            backend,
            max_object_bytes,
        })
    }

    /// The backend in use.
    pub fn kind(&self) -> StoreKind {
        match self.backend {
            Backend::Kv(_) => StoreKind::Kv,
            Backend::S3(_) => StoreKind::S3,
        }
    }

    /// The object's head, or `None` when there is no such object.
    pub fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectHead>, S3Error> {
        match &self.backend {
            Backend::Kv(blobs) => Ok(blobs
                .head(bucket, key)
                .map_err(blob_error)?
                .map(|m| kv_head(&m))),
            Backend::S3(client) => {
                let (status, headers, body) = send(client.head_object(bucket, key)?)?;
                if status == 404 {
                    return Ok(None);
                }
                check_status(status, &headers, &body)?;
                ObjectHead::from_headers(&headers).map(Some)
            }
        }
    }

    /// The object's head and bytes, or `None` when there is no such object.
    ///
    /// With `if_match` (an ETag), S3 answers `412`
    /// ([`S3Error::PreconditionFailed`]) when the object changed since; the
    /// key-value store ignores it. An S3 object larger than
    /// `max_object_bytes` is refused ([`S3Error::TooLarge`]): check the size
    /// from [`head`](Self::head) first to refuse it before reading it.
    pub fn get(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<Option<(ObjectHead, Vec<u8>)>, S3Error> {
        match &self.backend {
            Backend::Kv(blobs) => Ok(blobs
                .get(bucket, key)
                .map_err(blob_error)?
                .map(|(manifest, bytes)| (kv_head(&manifest), bytes))),
            Backend::S3(client) => {
                let (status, headers, body) = send(client.get_object(bucket, key, if_match)?)?;
                if status == 404 {
                    check_status(status, &headers, &body).or_else(|e| match e {
                        S3Error::NotFound { .. } => Ok(()),
                        other => Err(other),
                    })?;
                    return Ok(None);
                }
                check_status(status, &headers, &body)?;
                let head = ObjectHead::from_headers(&headers)?;
                let size = body.len() as u64;
                if size > self.max_object_bytes {
                    return Err(S3Error::too_large(
                        size,
                        "max_object_bytes",
                        self.max_object_bytes,
                    ));
                }
                if size != head.size {
                    return Err(S3Error::Transient {
                        code: "short read".to_owned(),
                        message: format!("read {size} of {} bytes of {bucket}/{key}", head.size),
                    });
                }
                Ok(Some((head, body)))
            }
        }
    }

    /// Store `bytes` at (bucket, key) with `options`; returns the new ETag,
    /// unquoted. The key-value store keeps the content type and metadata
    /// (it serves no `Cache-Control`).
    pub fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        options: &PutOptions,
    ) -> Result<Stored, S3Error> {
        let size = bytes.len() as u64;
        if size > self.max_object_bytes {
            return Err(S3Error::too_large(
                size,
                "max_object_bytes",
                self.max_object_bytes,
            ));
        }
        match &self.backend {
            Backend::Kv(blobs) => {
                let manifest = blobs
                    .put(
                        bucket,
                        key,
                        &bytes,
                        &options.content_type,
                        options.metadata.clone(),
                    )
                    .map_err(blob_error)?;
                Ok(Stored {
                    etag: unquote_etag(&manifest.etag()).to_owned(),
                    size,
                    sha256: Some(manifest.sha256),
                })
            }
            Backend::S3(client) => {
                let (status, headers, body) =
                    send(client.put_object(bucket, key, bytes, options)?)?;
                check_status(status, &headers, &body)?;
                Ok(Stored {
                    etag: thumbflow_s3::etag_of(&headers)?,
                    size,
                    sha256: None,
                })
            }
        }
    }
}

/// What a [`put`](ObjectStore::put) stored.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The new ETag, unquoted.
    pub etag: String,
    /// Bytes stored.
    pub size: u64,
    /// Content hash, where the backend keeps one (the key-value layout).
    pub sha256: Option<String>,
}

fn kv_head(manifest: &thumbflow_blob::Manifest) -> ObjectHead {
    ObjectHead {
        size: manifest.size,
        etag: unquote_etag(&manifest.etag()).to_owned(),
        content_type: Some(manifest.content_type.clone()),
        metadata: manifest.metadata.clone(),
        version_id: None,
        cache_control: None,
    }
}

/// The key-value layout's errors in the port's terms.
fn blob_error(e: BlobError) -> S3Error {
    let message = e.to_string();
    match e {
        BlobError::Backend { .. } => S3Error::Transient {
            code: "key-value".to_owned(),
            message,
        },
        // Replaced under the reader again and again: reading later succeeds.
        BlobError::Contended { .. } => S3Error::Transient {
            code: "contended".to_owned(),
            message,
        },
        BlobError::TooLarge { .. } => S3Error::TooLarge { message },
        BlobError::InvalidBucket { bucket, reason } => S3Error::InvalidBucket {
            bucket,
            reason: reason.to_owned(),
        },
        BlobError::InvalidKey { key, reason } => S3Error::InvalidKey { key, reason },
        BlobError::Corrupt { .. } => S3Error::InvalidResponse { reason: message },
    }
}

/// An HTTP answer: status, headers, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// Send a signed request with Spin's outbound HTTP.
fn send(request: thumbflow_s3::SignedRequest) -> Result<Answer, S3Error> {
    let method = match request.method {
        "HEAD" => Method::Head,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => Method::Get,
    };
    // The origin only: the URL's query holds the signature.
    let origin = request
        .url
        .split_once("://")
        .map(|(scheme, rest)| format!("{scheme}://{}", rest.split('/').next().unwrap_or("")))
        .unwrap_or_default();
    let mut builder = Request::builder();
    builder.method(method).uri(request.url);
    for (name, value) in request.headers {
        builder.header(name, value);
    }
    builder.body(request.body);
    let outgoing = builder.build();
    let response: Response = spin_sdk::http::run(spin_sdk::http::send(outgoing)).map_err(|e| {
        match e {
            SendError::Http(ErrorCode::HttpRequestDenied) => S3Error::Rejected {
                status: 0,
                code: "HttpRequestDenied".to_owned(),
                message: format!(
                    "outbound HTTP to {origin} was denied: grant it in the component's allowed_outbound_hosts (s3_endpoint)"
                ),
            },
            other => S3Error::connection(format!("request to {origin} failed: {other}")),
        }
    })?;
    let status = *response.status();
    let headers = response
        .headers()
        .filter_map(|(name, value)| Some((name.to_owned(), value.as_str()?.to_owned())))
        .collect();
    Ok((status, headers, response.into_body()))
}
