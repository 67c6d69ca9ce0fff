//! The CLI verbs that drive a running thumbflow through its HTTP gateway,
//! local or remote, on our host or on real Spin: `thumbflow upload`,
//! `send`, `status`, and `watch` (which reads the pipeline's Redis
//! channels, as the stages do).
//!
//! Modules:
//! - [`verdict`]: where an object stands, from its status record (pure);
//! - [`upload`]: files and folders in, a concurrent upload with a progress
//!   bar, a wait for each object's verdict, a summary;
//! - [`status`]: `status KEY` and `send EVENT.json|-`;
//! - [`watch`]: live stage events from Redis;
//! - [`dlq`]: `dlq list`, `dlq replay` and `drain`, over the gateway's admin routes.
//!
//! This module holds what they share: the [`GatewayArgs`] flags, the
//! [`Gateway`] client, its typed [`ClientError`], and the exit codes every
//! verb uses, so scripts can rely on them:
//!
//! | exit | meaning |
//! |------|---------|
//! | 0 | everything asked for succeeded |
//! | 1 | the pipeline answered with a failure (an upload or stage failed, an event was refused) |
//! | 2 | usage or connection: bad flags, gateway unreachable, token refused, a server error |
//! | 3 | `status`: no record of that key |

pub mod dlq;
pub mod status;
pub mod upload;
pub mod verdict;
pub mod watch;

use std::process::ExitCode;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use thumbflow_events::ObjectStatus;

/// Exit code: everything succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the pipeline answered with a failure.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage, connection, authentication or server error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: `status` found no record of the key.
pub const EXIT_NOT_FOUND: u8 = 3;

/// Where the gateway is and how to authenticate, shared by every verb that
/// talks to it (the same flags and variables as `thumbflow scan`).
#[derive(clap::Args, Debug, Clone)]
pub struct GatewayArgs {
    /// The thumbflow gateway (our host or real Spin, local or remote).
    #[arg(long, env = "THUMBFLOW_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// The gateway's API token (the app's `api_token`), sent as a bearer token.
    #[arg(long, env = "THUMBFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Bucket of the objects (default: the app's `bucket` variable).
    #[arg(long)]
    pub bucket: Option<String>,
}

/// Why a request to the gateway did not give an answer the verb can use.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The gateway could not be reached or the connection broke.
    #[error("cannot reach the gateway at {url}: {reason}")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// The transport error with its causes (`connection refused`, ...).
        reason: String,
    },
    /// The gateway refused the token (or its absence).
    #[error("the gateway refused the token (401: {message}): set --token or THUMBFLOW_TOKEN to the app's api_token")]
    Unauthorized {
        /// The gateway's message (missing or wrong token).
        message: String,
    },
    /// The gateway refused the input itself: retrying the same input will
    /// not help (400, 413, 415, ...).
    #[error("refused ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The gateway's error message.
        message: String,
    },
    /// The gateway or its store failed (5xx): retrying may help.
    #[error("gateway error ({status}): {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The gateway's error message.
        message: String,
    },
    /// The answer was not what the gateway answers.
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected {
        /// The URL requested.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
}

impl ClientError {
    /// The exit code a verb returns when this is its last word.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Refused { .. } => EXIT_FAILED,
            _ => EXIT_USAGE,
        }
    }
}

/// Characters escaped in a key put into a URL path: everything a path
/// segment cannot carry literally, but not `/`, which the gateway's routes
/// take as part of the key.
const KEY_IN_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'+')
    .add(b'&')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// A thumbflow gateway, as the CLI talks to it.
#[derive(Debug, Clone)]
pub struct Gateway {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    bucket: Option<String>,
}

/// What `PUT /objects/{key}` answered for a stored upload.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Stored {
    /// The bucket it was stored in.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The type the gateway read from its bytes.
    pub content_type: String,
}

impl Gateway {
    /// A client of the gateway `args` names.
    pub fn new(args: &GatewayArgs) -> Result<Self, String> {
        let base = args.url.trim_end_matches('/').to_owned();
        match url::Url::parse(&base) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(format!(
                    "--url {:?} is not an http:// or https:// URL",
                    args.url
                ))
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base,
            token: args.token.clone().filter(|t| !t.is_empty()),
            bucket: args.bucket.clone(),
        })
    }

    /// The URL of `path` (already encoded) with the bucket query, if set.
    fn url(&self, path: &str) -> String {
        match &self.bucket {
            Some(bucket) => format!(
                "{}{path}?bucket={}",
                self.base,
                utf8_percent_encode(bucket, KEY_IN_PATH)
            ),
            None => format!("{}{path}", self.base),
        }
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Send `request` to `url`; the body of a 2xx answer, or the typed error.
    async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, bytes::Bytes), ClientError> {
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: url.to_owned(),
            reason: error_chain(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(unreachable)?;
        if (200..300).contains(&status) || status == 404 {
            return Ok((status, body));
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        Err(match status {
            401 => ClientError::Unauthorized { message },
            500.. => ClientError::Server { status, message },
            _ => ClientError::Refused { status, message },
        })
    }

    /// `PUT /objects/{key}`: store `bytes` and start the pipeline.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<Stored, ClientError> {
        let url = self.url(&format!(
            "/objects/{}",
            utf8_percent_encode(key, KEY_IN_PATH)
        ));
        let request = self.authorized(self.http.put(&url).body(bytes));
        let (status, body) = self.send(&url, request).await?;
        if status == 404 {
            return Err(ClientError::Unexpected {
                url,
                reason: "404: is this a thumbflow gateway?".to_owned(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Unexpected {
            url,
            reason: format!("upload answer is not thumbflow's: {e}"),
        })
    }

    /// `POST /events`: publish a raw storage event; the gateway's answer.
    pub async fn post_event(&self, event: Vec<u8>) -> Result<serde_json::Value, ClientError> {
        let url = format!("{}/events", self.base);
        let request = self.authorized(
            self.http
                .post(&url)
                .header("content-type", "application/json")
                .body(event),
        );
        let (status, body) = self.send(&url, request).await?;
        if status == 404 {
            return Err(ClientError::Unexpected {
                url,
                reason: "404: is this a thumbflow gateway?".to_owned(),
            });
        }
        Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    /// `GET /status/{key}`: the object's status record, `None` when the
    /// gateway has none.
    pub async fn status(&self, key: &str) -> Result<Option<ObjectStatus>, ClientError> {
        let url = self.url(&format!(
            "/status/{}",
            utf8_percent_encode(key, KEY_IN_PATH)
        ));
        let (status, body) = self.send(&url, self.http.get(&url)).await?;
        if status == 404 {
            return Ok(None);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| ClientError::Unexpected {
                url,
                reason: format!("status record is not thumbflow's: {e}"),
            })
    }
}

impl Gateway {
    /// `GET` or `POST` an admin route (`/admin/...`, with its query) with
    /// the token; its JSON answer. A 404 means a gateway without admin
    /// routes (an older thumbflow) or, for a replay, no such dead letter.
    pub async fn admin(
        &self,
        post: bool,
        path_and_query: &str,
    ) -> Result<serde_json::Value, ClientError> {
        let url = format!("{}{path_and_query}", self.base);
        let request = if post {
            self.http.post(&url)
        } else {
            self.http.get(&url)
        };
        let (status, body) = self.send(&url, self.authorized(request)).await?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| ClientError::Unexpected {
                url: url.clone(),
                reason: format!("answer is not JSON: {e}"),
            })?;
        if status == 404 {
            let message = value
                .get("error")
                .and_then(|m| m.as_str())
                .unwrap_or("not found")
                .to_owned();
            return Err(ClientError::Refused { status, message });
        }
        Ok(value)
    }
}

/// An error and its causes, `: `-separated: reqwest's own message alone
/// ("error sending request") does not say what went wrong.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Run a verb's `work` on a fresh async runtime; the usage exit code when
/// none can start.
pub fn block_on(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => usage(format!("starting the async runtime: {e}")),
    }
}

/// Print `message` as the error it is and return the usage exit code.
pub fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// Print `value` as one line of JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("error: writing JSON: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_slashes_and_escape_what_a_path_cannot_carry() {
        let encoded = utf8_percent_encode("photos/a b+c%d&é?.jpg", KEY_IN_PATH).to_string();
        assert_eq!(encoded, "photos/a%20b%2Bc%25d%26%C3%A9%3F.jpg");
    }

    #[test]
    fn gateway_url_must_be_http() {
        let args = |url: &str| GatewayArgs {
            url: url.to_owned(),
            token: None,
            bucket: None,
        };
        assert!(Gateway::new(&args("ftp://x")).is_err());
        assert!(Gateway::new(&args("not a url")).is_err());
        let gateway = Gateway::new(&args("http://127.0.0.1:3000/")).unwrap();
        assert_eq!(gateway.url("/healthz"), "http://127.0.0.1:3000/healthz");
    }
}
