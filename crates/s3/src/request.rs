//! Signed requests for the S3 operations thumbflow uses.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use rusty_s3::actions::S3Action;
use rusty_s3::{Bucket, Credentials, UrlStyle};

use crate::{S3Config, S3Error};

/// How long a signed URL stays valid. Requests are sent as soon as they are
/// built; a quarter of an hour leaves room for a large upload to start on a
/// slow link and for modest clock skew.
pub const SIGNATURE_TTL: Duration = Duration::from_secs(15 * 60);

/// Longest object key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// An HTTP request ready to send: every header listed must be sent with
/// exactly this value (most are covered by the signature), and nothing
/// else is needed: authentication is in the URL's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// `HEAD`, `GET`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The presigned URL (path percent-encoded, `X-Amz-*` query).
    pub url: String,
    /// Headers to send, lowercase names; `content-length` for a `PUT`.
    pub headers: Vec<(String, String)>,
    /// The request body (empty except for `PUT`).
    pub body: Vec<u8>,
}

/// What a `PutObject` stores beside the bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// MIME type served with the object.
    pub content_type: String,
    /// `Cache-Control` served with the object, if any.
    pub cache_control: Option<String>,
    /// User metadata, sent as `x-amz-meta-{name}`: names are lowercased
    /// (S3 does the same), values must be printable ASCII (encode others
    /// first, e.g. percent-encoding).
    pub metadata: BTreeMap<String, String>,
}

/// Builds signed requests for one S3 endpoint and set of credentials.
///
/// Sans-IO: it only computes; the caller sends the [`SignedRequest`] and
/// reads the answer with [`crate::response`].
#[derive(Debug, Clone)]
pub struct S3Client {
    config: S3Config,
    credentials: Credentials,
    /// Signing time for reproducible tests; `None` signs with the clock.
    fixed_time: Option<Timestamp>,
}

impl S3Client {
    /// A client for `config`, signing with the current time.
    pub fn new(config: S3Config) -> Self {
        let credentials = Credentials::new(
            config.access_key_id.clone(),
            config.secret_access_key.clone(),
        );
        Self {
            config,
            credentials,
            fixed_time: None,
        }
    }

    /// The same client signing every request as if at `time` (for tests
    /// that compare signatures with known answers).
    pub fn with_fixed_time(mut self, time: SystemTime) -> Self {
        self.fixed_time = Timestamp::try_from(time).ok();
        self
    }

    /// The configuration this client signs for.
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// `HeadObject`: the object's size, ETag, content type and metadata
    /// without its bytes (read the answer with
    /// [`ObjectHead::from_headers`](crate::ObjectHead::from_headers)).
    pub fn head_object(&self, bucket: &str, key: &str) -> Result<SignedRequest, S3Error> {
        let bucket = self.bucket(bucket)?;
        check_key(key)?;
        let action = bucket.head_object(Some(&self.credentials), key);
        Ok(self.finish(&action, "HEAD", Vec::new(), Vec::new()))
    }

    /// `GetObject`; with `if_match` (an ETag, quoted or not) the server
    /// answers `412` instead of the bytes when the object has changed since.
    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<SignedRequest, S3Error> {
        let bucket = self.bucket(bucket)?;
        check_key(key)?;
        let mut action = bucket.get_object(Some(&self.credentials), key);
        let mut headers = Vec::new();
        if let Some(etag) = if_match {
            let quoted = quote_etag(etag);
            check_header("if-match", &quoted)?;
            action.headers_mut().insert("if-match", quoted.clone());
            headers.push(("if-match".to_owned(), quoted));
        }
        Ok(self.finish(&action, "GET", headers, Vec::new()))
    }

    /// `PutObject` of `body` with its content type, cache control and
    /// `x-amz-meta-*` metadata, all signed (AWS refuses unsigned `x-amz-*`
    /// headers). Read the new ETag from the answer with
    /// [`crate::response::etag_of`].
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        options: &PutOptions,
    ) -> Result<SignedRequest, S3Error> {
        let bucket = self.bucket(bucket)?;
        check_key(key)?;
        let mut signed: Vec<(String, String)> = Vec::new();
        if !options.content_type.is_empty() {
            signed.push(("content-type".to_owned(), options.content_type.clone()));
        }
        if let Some(cc) = options.cache_control.as_ref().filter(|c| !c.is_empty()) {
            signed.push(("cache-control".to_owned(), cc.clone()));
        }
        for (name, value) in &options.metadata {
            let name = name.to_ascii_lowercase();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(S3Error::InvalidHeader {
                    name: format!("x-amz-meta-{name}"),
                    reason: "metadata names are ASCII letters, digits, '-' and '_'",
                });
            }
            signed.push((format!("x-amz-meta-{name}"), value.clone()));
        }
        for (name, value) in &signed {
            check_header(name, value)?;
        }
        let mut action = bucket.put_object(Some(&self.credentials), key);
        for (name, value) in &signed {
            action.headers_mut().insert(name.clone(), value.clone());
        }
        let mut headers = signed;
        headers.push(("content-length".to_owned(), body.len().to_string()));
        Ok(self.finish(&action, "PUT", headers, body))
    }

    /// `DeleteObject` (S3 answers `204` whether or not the object existed).
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<SignedRequest, S3Error> {
        let bucket = self.bucket(bucket)?;
        check_key(key)?;
        let action = bucket.delete_object(Some(&self.credentials), key);
        Ok(self.finish(&action, "DELETE", Vec::new(), Vec::new()))
    }

    /// `ListObjectsV2` of the keys under `prefix` (all keys when empty),
    /// continuing from `continuation_token` (from the previous
    /// [`ListPage::next_continuation_token`](crate::ListPage)), at most
    /// `max_keys` per page when given (S3's default and ceiling is 1000).
    /// Keys are requested URL-encoded and decoded by
    /// [`ListPage::parse`](crate::ListPage::parse), so any key survives XML.
    pub fn list_objects_v2(
        &self,
        bucket: &str,
        prefix: &str,
        continuation_token: Option<&str>,
        max_keys: Option<usize>,
    ) -> Result<SignedRequest, S3Error> {
        let bucket = self.bucket(bucket)?;
        let mut action = bucket.list_objects_v2(Some(&self.credentials));
        if !prefix.is_empty() {
            action.with_prefix(prefix);
        }
        if let Some(token) = continuation_token {
            action.with_continuation_token(token);
        }
        if let Some(max) = max_keys {
            action.with_max_keys(max);
        }
        Ok(self.finish(&action, "GET", Vec::new(), Vec::new()))
    }

    /// `CreateBucket` (in the default location; S3 answers `409
    /// BucketAlreadyOwnedByYou` when it exists). thumbflow itself never
    /// creates buckets; tests and set-up tools do.
    pub fn create_bucket(&self, bucket: &str) -> Result<SignedRequest, S3Error> {
        let bucket = self.bucket(bucket)?;
        let action = bucket.create_bucket(&self.credentials);
        Ok(self.finish(
            &action,
            "PUT",
            vec![("content-length".to_owned(), "0".to_owned())],
            Vec::new(),
        ))
    }

    fn bucket(&self, name: &str) -> Result<Bucket, S3Error> {
        let style = if self.config.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        if name.is_empty() || name.contains('/') {
            return Err(S3Error::InvalidBucket {
                bucket: name.to_owned(),
                reason: "empty or contains '/'".to_owned(),
            });
        }
        Bucket::new(
            self.config.endpoint.clone(),
            style,
            name.to_owned(),
            self.config.region.clone(),
        )
        .map_err(|e| S3Error::InvalidBucket {
            bucket: name.to_owned(),
            reason: e.to_string(),
        })
    }

    fn finish<'a>(
        &self,
        action: &impl S3Action<'a>,
        method: &'static str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> SignedRequest {
        let url = match &self.fixed_time {
            Some(time) => action.sign_with_time(SIGNATURE_TTL, time),
            None => action.sign(SIGNATURE_TTL),
        };
        SignedRequest {
            method,
            url: url.into(),
            headers,
            body,
        }
    }
}

/// Check that `key` addresses exactly one object once put in a URL path.
///
/// Any character is fine (the path is percent-encoded), but `.` and `..`
/// segments would be resolved away by URL parsing and name another object,
/// and an empty key names the bucket itself.
pub fn check_key(key: &str) -> Result<(), S3Error> {
    let bad = |reason| S3Error::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return Err(bad("empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(bad("longer than 1024 bytes"));
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(bad(
            "a '.' or '..' path segment cannot be sent in a URL unchanged",
        ));
    }
    Ok(())
}

/// `etag` in double quotes, as `If-Match` wants it (`W/` weak tags kept as given).
fn quote_etag(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

fn check_header(name: &str, value: &str) -> Result<(), S3Error> {
    if !value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Err(S3Error::InvalidHeader {
            name: name.to_owned(),
            reason: "values must be printable ASCII (percent-encode other text)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fri, 24 May 2013 00:00:00 GMT, the date of AWS's SigV4 examples.
    fn client(endpoint: &str, path_style: &str) -> S3Client {
        let config = S3Config::new(
            endpoint,
            "us-east-1",
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            path_style,
        )
        .unwrap();
        S3Client::new(config)
            .with_fixed_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600))
    }

    fn query(url: &str, name: &str) -> Option<String> {
        let url = url::Url::parse(url).unwrap();
        url.query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    }

    #[test]
    fn get_object_matches_aws_presigned_example() {
        // AWS "Authenticating Requests: Using Query Parameters" example,
        // virtual-hosted style, 86400 s expiry there; ours is 900 s, so
        // compare the parts that do not depend on the expiry.
        let c = client("https://s3.amazonaws.com", "false");
        let r = c.get_object("examplebucket", "test.txt", None).unwrap();
        assert_eq!(r.method, "GET");
        assert!(
            r.url
                .starts_with("https://examplebucket.s3.amazonaws.com/test.txt?"),
            "{}",
            r.url
        );
        assert_eq!(
            query(&r.url, "X-Amz-Credential").as_deref(),
            Some("AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request")
        );
        assert_eq!(
            query(&r.url, "X-Amz-Date").as_deref(),
            Some("20130524T000000Z")
        );
        assert_eq!(query(&r.url, "X-Amz-Expires").as_deref(), Some("900"));
        assert_eq!(
            query(&r.url, "X-Amz-SignedHeaders").as_deref(),
            Some("host")
        );
        assert_eq!(query(&r.url, "X-Amz-Signature").map(|s| s.len()), Some(64));
        assert!(r.headers.is_empty());
    }

    #[test]
    fn signature_changes_with_the_secret() {
        let a = client("http://127.0.0.1:7480", "true");
        let mut config = a.config().clone();
        config.secret_access_key = "other".to_owned();
        let b = S3Client::new(config)
            .with_fixed_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600));
        let ra = a.head_object("b", "k").unwrap();
        let rb = b.head_object("b", "k").unwrap();
        assert_ne!(
            query(&ra.url, "X-Amz-Signature"),
            query(&rb.url, "X-Amz-Signature")
        );
    }

    #[test]
    fn put_object_signs_content_type_cache_control_and_metadata() {
        let c = client("http://127.0.0.1:7480", "true");
        let options = PutOptions {
            content_type: "image/jpeg".into(),
            cache_control: Some("public, max-age=31536000, immutable".into()),
            metadata: BTreeMap::from([
                ("thumbflow-generated".into(), "true".into()),
                ("Thumbflow-Recipe".into(), "thumb".into()),
            ]),
        };
        let r = c
            .put_object("photos", "thumbnails/a.jpg", b"abc".to_vec(), &options)
            .unwrap();
        assert_eq!(r.method, "PUT");
        assert_eq!(r.body, b"abc");
        assert!(r
            .url
            .starts_with("http://127.0.0.1:7480/photos/thumbnails/a.jpg?"));
        assert_eq!(
            query(&r.url, "X-Amz-SignedHeaders").as_deref(),
            Some("cache-control;content-type;host;x-amz-meta-thumbflow-generated;x-amz-meta-thumbflow-recipe")
        );
        let header = |n: &str| {
            r.headers
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("content-type"), Some("image/jpeg"));
        assert_eq!(header("x-amz-meta-thumbflow-recipe"), Some("thumb"));
        assert_eq!(header("content-length"), Some("3"));
        assert_eq!(
            header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
    }

    #[test]
    fn put_object_refuses_non_ascii_metadata() {
        let c = client("http://127.0.0.1:7480", "true");
        let options = PutOptions {
            content_type: "image/jpeg".into(),
            cache_control: None,
            metadata: BTreeMap::from([("thumbflow-source-key".into(), "ü.jpg".into())]),
        };
        let err = c.put_object("b", "k", Vec::new(), &options).unwrap_err();
        assert!(matches!(err, S3Error::InvalidHeader { .. }), "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn get_object_if_match_is_quoted_and_signed() {
        let c = client("http://127.0.0.1:7480", "true");
        let r = c.get_object("b", "k", Some("d41d8cd9")).unwrap();
        assert_eq!(
            r.headers,
            [("if-match".to_owned(), "\"d41d8cd9\"".to_owned())]
        );
        assert_eq!(
            query(&r.url, "X-Amz-SignedHeaders").as_deref(),
            Some("host;if-match")
        );
        let r = c.get_object("b", "k", Some("\"d41d8cd9\"")).unwrap();
        assert_eq!(r.headers[0].1, "\"d41d8cd9\"");
    }

    #[test]
    fn object_url_encodes_every_awkward_key_exactly() {
        let c = client("http://127.0.0.1:7480", "true");
        for (key, path) in [
            ("a b.jpg", "/b/a%20b.jpg"),
            ("a+b.jpg", "/b/a%2Bb.jpg"),
            ("100%.jpg", "/b/100%25.jpg"),
            ("x&y=z.jpg", "/b/x%26y%3Dz.jpg"),
            ("what?.jpg", "/b/what%3F.jpg"),
            ("#1.jpg", "/b/%231.jpg"),
            ("dir/ü 日本.jpg", "/b/dir/%C3%BC%20%E6%97%A5%E6%9C%AC.jpg"),
            ("a//b", "/b/a//b"),
        ] {
            let r = c.head_object("b", key).unwrap();
            let url = url::Url::parse(&r.url).unwrap();
            assert_eq!(url.path(), path, "key {key:?}");
            // Decoding the path gives the key back: the server addresses exactly it.
            let decoded = percent_encoding::percent_decode_str(&url.path()[3..])
                .decode_utf8()
                .unwrap();
            assert_eq!(decoded, key);
            assert_eq!(url.fragment(), None);
        }
    }

    #[test]
    fn create_bucket_is_a_signed_put_of_the_bucket_url() {
        let c = client("http://127.0.0.1:7480", "true");
        let r = c.create_bucket("photos").unwrap();
        assert_eq!(r.method, "PUT");
        assert!(
            r.url.starts_with("http://127.0.0.1:7480/photos/?"),
            "{}",
            r.url
        );
        assert!(query(&r.url, "X-Amz-Signature").is_some());
        assert!(r.body.is_empty());
    }

    #[test]
    fn keys_that_urls_cannot_carry_are_refused() {
        let c = client("http://127.0.0.1:7480", "true");
        for key in ["", "a/../b", "./x", "..", &"k".repeat(1025)] {
            let err = c.head_object("b", key).unwrap_err();
            assert!(matches!(err, S3Error::InvalidKey { .. }), "{key:?}: {err}");
        }
        assert!(c.head_object("b", "a..b/.x/...").is_ok());
    }

    #[test]
    fn virtual_hosted_style_puts_the_bucket_in_the_host() {
        let c = client("https://s3.eu-west-1.amazonaws.com", "false");
        let r = c.delete_object("photos", "a b").unwrap();
        assert_eq!(r.method, "DELETE");
        assert!(
            r.url
                .starts_with("https://photos.s3.eu-west-1.amazonaws.com/a%20b?"),
            "{}",
            r.url
        );
        assert!(matches!(
            c.head_object("bad/bucket", "k"),
            Err(S3Error::InvalidBucket { .. })
        ));
    }

    #[test]
    fn list_objects_v2_carries_prefix_and_continuation() {
        let c = client("http://127.0.0.1:7480", "true");
        let r = c
            .list_objects_v2("b", "photos/ü ", Some("tok/+="), Some(100))
            .unwrap();
        assert!(r.url.starts_with("http://127.0.0.1:7480/b/?"), "{}", r.url);
        assert_eq!(query(&r.url, "list-type").as_deref(), Some("2"));
        assert_eq!(query(&r.url, "prefix").as_deref(), Some("photos/ü "));
        assert_eq!(
            query(&r.url, "continuation-token").as_deref(),
            Some("tok/+=")
        );
        assert_eq!(query(&r.url, "max-keys").as_deref(), Some("100"));
        assert_eq!(query(&r.url, "encoding-type").as_deref(), Some("url"));
    }
}
