//! Reading S3's answers: object heads, listings, and error classification.

use std::collections::BTreeMap;

use instant_xml::FromXml;

use crate::S3Error;

/// Prefix of user-metadata headers.
const META_PREFIX: &str = "x-amz-meta-";

/// What HEAD (or GET) tells about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHead {
    /// Size in bytes (`Content-Length`).
    pub size: u64,
    /// Entity tag without its surrounding quotes (`"abc"` -> `abc`), the
    /// form canonical events carry.
    pub etag: String,
    /// `Content-Type`, when the server sent one.
    pub content_type: Option<String>,
    /// User metadata: `x-amz-meta-{name}` headers, names lowercased
    /// without the prefix (`thumbflow-generated`).
    pub metadata: BTreeMap<String, String>,
    /// `x-amz-version-id`, when the bucket is versioned.
    pub version_id: Option<String>,
    /// `Cache-Control`, when set.
    pub cache_control: Option<String>,
}

impl ObjectHead {
    /// Read a successful HEAD or GET answer's headers (names in any case).
    /// `Content-Length` and `ETag` are required.
    pub fn from_headers(headers: &[(String, String)]) -> Result<Self, S3Error> {
        let mut head = ObjectHead::default();
        let mut size = None;
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            let value = value.trim();
            match name.as_str() {
                "content-length" => {
                    size = Some(value.parse::<u64>().map_err(|_| {
                        invalid(format!("Content-Length {value:?} is not a number"))
                    })?);
                }
                "etag" => head.etag = unquote_etag(value).to_owned(),
                "content-type" => head.content_type = Some(value.to_owned()),
                "cache-control" => head.cache_control = Some(value.to_owned()),
                "x-amz-version-id" if !value.is_empty() && value != "null" => {
                    head.version_id = Some(value.to_owned());
                }
                _ => {
                    if let Some(meta) = name.strip_prefix(META_PREFIX) {
                        head.metadata.insert(meta.to_owned(), value.to_owned());
                    }
                }
            }
        }
        head.size = size.ok_or_else(|| invalid("no Content-Length header".to_owned()))?;
        if head.etag.is_empty() {
            return Err(invalid("no ETag header".to_owned()));
        }
        Ok(head)
    }
}

impl ObjectHead {
    /// Why this object is not the version an event named, or `None` when
    /// it is (or the event named none). A version id decides when both the
    /// event and the object have one; otherwise the ETag does (compared
    /// without quotes). An event for a replaced object is superseded: the
    /// newer object has (or will have) its own event.
    pub fn superseded(&self, etag: Option<&str>, version_id: Option<&str>) -> Option<String> {
        if let (Some(wanted), Some(held)) = (version_id, self.version_id.as_deref()) {
            return (wanted != held).then(|| {
                format!("the event names version {wanted:?} but the bucket holds version {held:?}")
            });
        }
        let wanted = unquote_etag(etag?.trim());
        (!wanted.is_empty() && wanted != self.etag).then(|| {
            format!(
                "the event names ETag {wanted:?} but the bucket holds ETag {:?}",
                self.etag
            )
        })
    }
}

/// The ETag of a successful PUT (quotes removed).
pub fn etag_of(headers: &[(String, String)]) -> Result<String, S3Error> {
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("etag"))
        .map(|(_, value)| unquote_etag(value.trim()).to_owned())
        .filter(|etag| !etag.is_empty())
        .ok_or_else(|| invalid("no ETag header".to_owned()))
}

/// `"abc"` -> `abc`; anything else unchanged.
pub fn unquote_etag(etag: &str) -> &str {
    etag.strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or(etag)
}

/// `Ok` for a `2xx` answer; otherwise the classified [`S3Error`], read from
/// the S3 error XML body when there is one (HEAD answers have none, so the
/// status alone decides).
pub fn check_status(status: u16, headers: &[(String, String)], body: &[u8]) -> Result<(), S3Error> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let parsed = std::str::from_utf8(body).ok().and_then(|text| {
        instant_xml::from_str::<ErrorXml>(text.trim_start_matches('\u{feff}')).ok()
    });
    let header_code = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-error-code"))
        .map(|(_, v)| v.clone());
    let (code, message) = match parsed {
        Some(e) => (e.code, e.message.unwrap_or_default()),
        None => (header_code.unwrap_or_default(), String::new()),
    };
    Err(classify(status, code, message))
}

fn classify(status: u16, code: String, message: String) -> S3Error {
    let code_or_status = |code: String| {
        if code.is_empty() {
            format!("HTTP {status}")
        } else {
            code
        }
    };
    let message = if message.is_empty() {
        format!("HTTP status {status}")
    } else {
        message
    };
    match code.as_str() {
        "NoSuchKey" => return S3Error::NotFound { message },
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "AccessDenied"
        | "InvalidSecurity"
        | "ExpiredToken"
        | "InvalidToken" => return S3Error::AccessDenied { code, message },
        "PreconditionFailed" => return S3Error::PreconditionFailed { message },
        "EntityTooLarge" => {
            return S3Error::TooLarge {
                message: format!("the server refused the upload as too large: {message}"),
            }
        }
        "SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable"
        | "OperationAborted" => return S3Error::Transient { code, message },
        _ => {}
    }
    match status {
        404 if code.is_empty() => S3Error::NotFound { message },
        401 | 403 if code.is_empty() => S3Error::AccessDenied {
            code: "AccessDenied".to_owned(),
            message,
        },
        412 => S3Error::PreconditionFailed { message },
        413 => S3Error::TooLarge {
            message: format!("the server refused the upload as too large: {message}"),
        },
        408 | 429 | 500..=599 => S3Error::Transient {
            code: code_or_status(code),
            message,
        },
        _ => S3Error::Rejected {
            status,
            code: code_or_status(code),
            message,
        },
    }
}

fn invalid(reason: String) -> S3Error {
    S3Error::InvalidResponse { reason }
}

/// The `<Error>` document of an S3 error answer (other fields ignored).
#[derive(Debug, FromXml)]
#[xml(rename = "Error")]
struct ErrorXml {
    #[xml(rename = "Code")]
    code: String,
    #[xml(rename = "Message")]
    message: Option<String>,
}

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The key, decoded.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes (empty if the server sent none).
    pub etag: String,
    /// `LastModified` as the server wrote it (RFC 3339), when present.
    pub last_modified: Option<String>,
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// The objects on this page, in key order.
    pub objects: Vec<ListedObject>,
    /// Pass to the next [`list_objects_v2`](crate::S3Client::list_objects_v2)
    /// call to continue; `None` on the last page.
    pub next_continuation_token: Option<String>,
}

impl ListPage {
    /// Parse a successful ListObjectsV2 XML body (keys URL-decoded when the
    /// answer says `EncodingType` `url`, as our requests ask).
    pub fn parse(body: &[u8]) -> Result<Self, S3Error> {
        let text = std::str::from_utf8(body)
            .map_err(|_| invalid("ListObjectsV2 answer is not UTF-8".to_owned()))?;
        let parsed = rusty_s3::actions::ListObjectsV2::parse_response(text)
            .map_err(|e| invalid(format!("ListObjectsV2 answer: {e}")))?;
        Ok(ListPage {
            objects: parsed
                .contents
                .into_iter()
                .map(|c| ListedObject {
                    etag: c
                        .etag
                        .as_deref()
                        .map(|e| unquote_etag(e).to_owned())
                        .unwrap_or_default(),
                    key: c.key,
                    size: c.size.unwrap_or(0),
                    last_modified: c.last_modified,
                })
                .collect(),
            next_continuation_token: parsed.next_continuation_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn object_head_reads_rgw_head_headers() {
        // Headers of a HEAD answer from Ceph RGW 16.2 (request ids shortened).
        let head = ObjectHead::from_headers(&h(&[
            ("Content-Length", "2389711"),
            ("Accept-Ranges", "bytes"),
            ("Last-Modified", "Tue, 01 Dec 2026 08:00:00 GMT"),
            ("x-rgw-object-type", "Normal"),
            ("ETag", "\"9b2cf535f27731c974343645a3985328\""),
            ("x-amz-meta-thumbflow-generated", "true"),
            ("X-Amz-Meta-Thumbflow-Recipe", "thumb"),
            ("x-amz-request-id", "tx0000-0065"),
            ("Content-Type", "image/jpeg"),
            ("Cache-Control", "public, max-age=86400"),
        ]))
        .unwrap();
        assert_eq!(head.size, 2_389_711);
        assert_eq!(head.etag, "9b2cf535f27731c974343645a3985328");
        assert_eq!(head.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(head.metadata["thumbflow-generated"], "true");
        assert_eq!(head.metadata["thumbflow-recipe"], "thumb");
        assert_eq!(head.metadata.len(), 2);
        assert_eq!(head.version_id, None);
        assert_eq!(head.cache_control.as_deref(), Some("public, max-age=86400"));
    }

    #[test]
    fn object_head_reads_aws_version_and_multipart_etag() {
        // From the AWS HeadObject documentation's versioned example.
        let head = ObjectHead::from_headers(&h(&[
            (
                "x-amz-version-id",
                "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
            ),
            ("ETag", "\"3858f62230ac3c915f300c664312c11f-9\""),
            ("Content-Length", "10485760"),
        ]))
        .unwrap();
        assert_eq!(head.etag, "3858f62230ac3c915f300c664312c11f-9");
        assert_eq!(
            head.version_id.as_deref(),
            Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo")
        );
        // "null" is what unversioned objects report in versioned buckets.
        let head = ObjectHead::from_headers(&h(&[
            ("x-amz-version-id", "null"),
            ("ETag", "\"a\""),
            ("Content-Length", "1"),
        ]))
        .unwrap();
        assert_eq!(head.version_id, None);
    }

    #[test]
    fn object_head_without_etag_or_length_is_an_invalid_response() {
        let err = ObjectHead::from_headers(&h(&[("Content-Length", "1")])).unwrap_err();
        assert!(matches!(err, S3Error::InvalidResponse { .. }), "{err}");
        let err = ObjectHead::from_headers(&h(&[("ETag", "\"a\"")])).unwrap_err();
        assert!(err.to_string().contains("Content-Length"), "{err}");
    }

    #[test]
    fn superseded_compares_version_then_etag() {
        let head = ObjectHead {
            size: 1,
            etag: "new".into(),
            version_id: Some("v2".into()),
            ..ObjectHead::default()
        };
        assert_eq!(head.superseded(None, None), None);
        assert_eq!(head.superseded(Some("\"new\""), None), None);
        let why = head.superseded(Some("old"), None).unwrap();
        assert!(why.contains("\"old\"") && why.contains("\"new\""), "{why}");
        // The version decides when both sides have one.
        assert_eq!(head.superseded(Some("other"), Some("v2")), None);
        assert!(head.superseded(Some("new"), Some("v1")).is_some());
        // No version on the object: fall back to the ETag.
        let unversioned = ObjectHead {
            version_id: None,
            ..head
        };
        assert_eq!(unversioned.superseded(Some("new"), Some("v1")), None);
    }

    #[test]
    fn etag_of_put_answer_is_unquoted() {
        assert_eq!(
            etag_of(&h(&[("etag", "\"d41d8cd98f00b204e9800998ecf8427e\"")])).unwrap(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert!(etag_of(&[]).is_err());
    }

    const RGW_NO_SUCH_KEY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message></Message><BucketName>photos</BucketName><RequestId>tx00000b2c5a2b8f5e1a4d2-0065f1c2a3-1014-default</RequestId><HostId>1014-default-default</HostId></Error>"#;

    const AWS_SIGNATURE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>SignatureDoesNotMatch</Code>
  <Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message>
  <AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>
  <StringToSign>AWS4-HMAC-SHA256</StringToSign>
  <RequestId>4442587FB7D0A2F9</RequestId>
</Error>"#;

    #[test]
    fn check_status_classifies_s3_error_documents() {
        assert_eq!(check_status(200, &[], b""), Ok(()));
        assert_eq!(check_status(204, &[], b""), Ok(()));

        let err = check_status(404, &[], RGW_NO_SUCH_KEY.as_bytes()).unwrap_err();
        assert!(matches!(err, S3Error::NotFound { .. }), "{err}");

        let err = check_status(403, &[], AWS_SIGNATURE.as_bytes()).unwrap_err();
        match &err {
            S3Error::AccessDenied { code, message } => {
                assert_eq!(code, "SignatureDoesNotMatch");
                assert!(message.starts_with("The request signature"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("s3_access_key_id"), "{err}");

        let invalid_key = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><RequestId>tx1</RequestId><HostId>h</HostId></Error>"#;
        let err = check_status(403, &[], invalid_key.as_bytes()).unwrap_err();
        assert!(matches!(err, S3Error::AccessDenied { .. }), "{err}");
        assert!(!err.is_retryable());

        let slow = r#"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"#;
        let err = check_status(503, &[], slow.as_bytes()).unwrap_err();
        assert!(err.is_retryable(), "{err}");

        let no_bucket = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><BucketName>nope</BucketName></Error>"#;
        let err = check_status(404, &[], no_bucket.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, S3Error::Rejected { status: 404, code, .. } if code == "NoSuchBucket"),
            "{err:?}"
        );

        let precondition = r#"<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-Match</Condition></Error>"#;
        let err = check_status(412, &[], precondition.as_bytes()).unwrap_err();
        assert!(matches!(err, S3Error::PreconditionFailed { .. }), "{err}");

        let too_large = r#"<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>"#;
        let err = check_status(400, &[], too_large.as_bytes()).unwrap_err();
        assert!(matches!(err, S3Error::TooLarge { .. }), "{err}");
        assert!(!err.is_retryable());

        let skew = r#"<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>"#;
        let err = check_status(403, &[], skew.as_bytes()).unwrap_err();
        assert!(
            matches!(err, S3Error::Rejected { status: 403, .. }),
            "{err}"
        );
    }

    #[test]
    fn check_status_without_body_uses_the_status() {
        // HEAD answers carry no body.
        for (status, retry, kind) in [
            (404, false, "not found"),
            (403, false, "denied"),
            (412, false, "precondition"),
            (500, true, "transient"),
            (503, true, "transient"),
            (429, true, "transient"),
            (400, false, "rejected"),
            (301, false, "rejected"),
        ] {
            let err = check_status(status, &[], b"").unwrap_err();
            assert_eq!(err.is_retryable(), retry, "{status}: {err}");
            let ok = match kind {
                "not found" => matches!(err, S3Error::NotFound { .. }),
                "denied" => matches!(err, S3Error::AccessDenied { .. }),
                "precondition" => matches!(err, S3Error::PreconditionFailed { .. }),
                "transient" => matches!(err, S3Error::Transient { .. }),
                _ => matches!(err, S3Error::Rejected { .. }),
            };
            assert!(ok, "{status}: {err:?}");
        }
        // A non-XML body (a proxy's HTML page) falls back to the status too.
        let err = check_status(502, &[], b"<html>Bad Gateway</html>").unwrap_err();
        assert!(err.is_retryable());
    }

    #[test]
    fn list_page_parses_rgw_listing_with_encoded_keys() {
        // A ListObjectsV2 answer as RGW 16.2 writes it for encoding-type=url.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>photos</Name><Prefix></Prefix><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><EncodingType>url</EncodingType><Contents><Key>a+b%2Bc.jpg</Key><LastModified>2026-12-01T08:00:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>%C3%BC%26x.jpg</Key><LastModified>2026-12-01T08:00:01.000Z</LastModified><ETag>&quot;3858f62230ac3c915f300c664312c11f-2&quot;</ETag><Size>10485760</Size><StorageClass>STANDARD</StorageClass></Contents><KeyCount>2</KeyCount><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>"#;
        let page = ListPage::parse(xml.as_bytes()).unwrap();
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].key, "a b+c.jpg");
        assert_eq!(page.objects[0].etag, "9b2cf535f27731c974343645a3985328");
        assert_eq!(page.objects[0].size, 1234);
        assert_eq!(page.objects[1].key, "ü&x.jpg");
        assert_eq!(page.objects[1].etag, "3858f62230ac3c915f300c664312c11f-2");
        assert_eq!(
            page.next_continuation_token.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
    }

    #[test]
    fn list_page_last_page_has_no_token() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>photos</Name><Prefix>none/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>"#;
        let page = ListPage::parse(xml.as_bytes()).unwrap();
        assert!(page.objects.is_empty());
        assert_eq!(page.next_continuation_token, None);
        assert!(ListPage::parse(b"<nope/>").is_err());
    }
}
