//! Where the S3 server is and how to sign for it, validated once.

use std::fmt;

use url::Url;

use crate::ConfigError;

/// Region used when `s3_region` is empty. Most S3-compatible servers (Ceph
/// RGW, MinIO, Garage) accept any region in the signature; AWS needs the
/// bucket's own.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The validated `s3_*` settings.
///
/// Built with [`S3Config::new`] from the raw strings of the `s3_endpoint`,
/// `s3_region`, `s3_access_key_id`, `s3_secret_access_key` and
/// `s3_path_style` settings, so one set of checks (and one set of messages)
/// serves the Spin components and the native CLI. `Debug` never shows the
/// secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Base URL of the S3 API (`scheme://host[:port][/path]`), no query.
    pub(crate) endpoint: Url,
    /// SigV4 signing region.
    pub(crate) region: String,
    /// Access key id (the `AK` of the credential scope).
    pub(crate) access_key_id: String,
    /// Secret access key; never printed.
    pub(crate) secret_access_key: String,
    /// `true`: `endpoint/bucket/key` (RGW, MinIO, Garage); `false`:
    /// `bucket.endpoint-host/key` (AWS virtual-hosted style).
    pub(crate) path_style: bool,
}

impl S3Config {
    /// Validate the raw settings. `region` may be empty ([`DEFAULT_REGION`]);
    /// `path_style` is `true`/`false` (also `1`/`0`, `yes`/`no`; empty means
    /// `true`). The endpoint must be an `http` or `https` URL with a host and
    /// no query; a host under the reserved `.invalid` domain (the manifest's
    /// placeholder) is refused as "not set".
    pub fn new(
        endpoint: &str,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        path_style: &str,
    ) -> Result<Self, ConfigError> {
        let endpoint = parse_endpoint(endpoint.trim())?;
        let region = match region.trim() {
            "" => DEFAULT_REGION.to_owned(),
            r => r.to_owned(),
        };
        let access_key_id = access_key_id.trim();
        if access_key_id.is_empty() {
            return Err(ConfigError::Missing {
                name: "s3_access_key_id",
            });
        }
        if secret_access_key.is_empty() {
            return Err(ConfigError::Missing {
                name: "s3_secret_access_key",
            });
        }
        let path_style = match path_style.trim().to_ascii_lowercase().as_str() {
            "" | "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                return Err(ConfigError::PathStyle {
                    value: path_style.to_owned(),
                })
            }
        };
        Ok(Self {
            endpoint,
            region,
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            path_style,
        })
    }

    /// The endpoint URL as configured (with a trailing `/` added by the URL parser).
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The signing region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The access key id (safe to log; the secret is not exposed).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Whether requests use path-style URLs.
    pub fn path_style(&self) -> bool {
        self.path_style
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .finish()
    }
}

fn parse_endpoint(raw: &str) -> Result<Url, ConfigError> {
    let bad = |reason: &'static str| ConfigError::Endpoint {
        value: raw.to_owned(),
        reason,
    };
    if raw.is_empty() {
        return Err(bad("it is empty"));
    }
    let url = Url::parse(raw).map_err(|_| bad("it is not a URL like http://127.0.0.1:7480"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    let Some(host) = url.host_str() else {
        return Err(bad("it has no host"));
    };
    if host == "invalid" || host.ends_with(".invalid") {
        return Err(bad(
            "it is still the manifest's placeholder (a reserved .invalid host)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials go in s3_access_key_id and s3_secret_access_key, not in the URL",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_region_and_path_style() {
        let c = S3Config::new("http://127.0.0.1:7480", " ", "AK", "SK", "").unwrap();
        assert_eq!(c.region(), "us-east-1");
        assert!(c.path_style());
        assert_eq!(c.endpoint().as_str(), "http://127.0.0.1:7480/");
        let c = S3Config::new(
            "https://s3.eu-west-1.amazonaws.com",
            "eu-west-1",
            "AK",
            "SK",
            "false",
        )
        .unwrap();
        assert_eq!(c.region(), "eu-west-1");
        assert!(!c.path_style());
    }

    #[test]
    fn config_rejects_bad_endpoints_naming_the_setting() {
        for (endpoint, why) in [
            ("", "empty"),
            ("127.0.0.1:7480", "URL"),
            ("s3.local:7480", "scheme"),
            ("ftp://host", "scheme"),
            ("http://s3.invalid", "placeholder"),
            ("http://host:1/?x=1", "query"),
            ("http://ak:sk@host", "s3_access_key_id"),
            ("not a url", "URL"),
        ] {
            let err = S3Config::new(endpoint, "", "AK", "SK", "true").unwrap_err();
            let text = err.to_string();
            assert!(text.contains("s3_endpoint"), "{text}");
            assert!(text.contains(why), "{endpoint:?}: {text}");
        }
    }

    #[test]
    fn config_requires_credentials_and_a_boolean_path_style() {
        let err = S3Config::new("http://h:1", "", "", "SK", "true").unwrap_err();
        assert!(err.to_string().contains("s3_access_key_id"), "{err}");
        let err = S3Config::new("http://h:1", "", "AK", "", "true").unwrap_err();
        assert!(err.to_string().contains("s3_secret_access_key"), "{err}");
        let err = S3Config::new("http://h:1", "", "AK", "SK", "maybe").unwrap_err();
        assert!(err.to_string().contains("s3_path_style"), "{err}");
    }

    #[test]
    fn config_debug_hides_the_secret() {
        let c = S3Config::new("http://h:1", "", "AKID", "topsecret", "true").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("AKID"), "{shown}");
        assert!(!shown.contains("topsecret"), "{shown}");
    }
}
