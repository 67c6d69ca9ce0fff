//! The scan's I/O: list, HEAD, publish, checkpoint, report.
//!
//! Requests to S3 are built and signed by [`thumbflow_s3::S3Client`] and sent
//! here with `reqwest`; answers go back to [`thumbflow_s3::check_status`] and
//! its parsers. Pages are listed in order; each object is checked by its own
//! task, at most `concurrency` at once; events go out no faster than the rate
//! allows. The [`Tracker`] moves the checkpoint, which is saved after every
//! change, so a kill at any moment loses at most the answer of an event in
//! flight. Ctrl-C stops the listing, lets the objects in flight finish and
//! saves the position.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use thumbflow_s3::{check_status, ListPage, ObjectHead, S3Client, S3Error, SignedRequest};
use tokio::time::Instant;

use super::checkpoint::{self, Checkpoint, Settled, Tracker};
use super::plan;
use super::ScanConfig;

/// Attempts of one S3 request or one event before it counts as failed.
const ATTEMPTS: u32 = 4;
/// Wait before the second attempt; doubled for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Events failing one after another that mean the gateway is gone: the
/// scan stops instead of failing every remaining object.
const MAX_CONSECUTIVE_FAILURES: u32 = 5;
/// How long one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the scan did, printed at the end (`--json`: as one object).
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// `s3://bucket/prefix`.
    pub target: String,
    /// Nothing was published (`--dry-run`).
    pub dry_run: bool,
    /// This run continued from a checkpoint.
    pub resumed: bool,
    /// Objects listed by this run.
    pub listed: u64,
    /// Listed objects an earlier, interrupted run had already settled.
    pub already_done: u64,
    /// Objects whose thumbnails are current.
    pub skipped_existing: u64,
    /// Objects that are not thumbflow's business (not images, thumbflow's
    /// own outputs, deleted since listed).
    pub skipped_other: u64,
    /// Events the gateway accepted (`--dry-run`: events it would have been sent).
    pub published: u64,
    /// Objects whose event was not accepted or that could not be checked.
    pub failed: u64,
    /// Every failure, with its reason.
    pub failures: Vec<KeyReason>,
    /// `--dry-run`: each object that would get an event, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_publish: Vec<KeyReason>,
    /// `--dry-run`: each object skipped as not thumbflow's business, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_skip: Vec<KeyReason>,
    /// Every listed object is settled (the checkpoint was removed).
    pub complete: bool,
    /// Why the scan stopped early, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// An object key and a reason.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReason {
    /// The object key.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// How one object ended.
enum Outcome {
    UpToDate,
    NotOurs(String),
    Published(String),
    WouldPublish { etag: String, why: String },
}

/// Why one object failed; `fatal` errors stop the whole scan (wrong
/// credentials or token: every other object would fail the same way).
struct ObjectError {
    message: String,
    fatal: bool,
}

impl ObjectError {
    fn from_s3(what: &str, e: S3Error) -> Self {
        let fatal = matches!(e, S3Error::AccessDenied { .. });
        let message = if fatal {
            credentials_message(&e)
        } else {
            format!("{what}: {e}")
        };
        Self { message, fatal }
    }
}

/// The message for credentials S3 refused, naming the CLI's settings.
fn credentials_message(e: &S3Error) -> String {
    let detail = match e {
        S3Error::AccessDenied { code, message } => format!("{code}: {message}"),
        other => other.to_string(),
    };
    format!(
        "S3 refused the credentials ({detail}): check S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY \
         (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), --region, and that this user may read the bucket"
    )
}

/// The shared context of one scan's requests.
struct Scan<'a> {
    config: &'a ScanConfig,
    s3: S3Client,
    http: reqwest::Client,
    /// When the next event may go out.
    next_publish: tokio::sync::Mutex<Instant>,
}

impl Scan<'_> {
    /// Send `request` once; the classified error for a non-2xx answer.
    async fn send_once(
        &self,
        request: &SignedRequest,
    ) -> Result<(Vec<(String, String)>, Vec<u8>), S3Error> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| S3Error::connection(e.to_string()))?;
        let mut builder = self.http.request(method, &request.url);
        for (name, value) in &request.headers {
            if name != "content-length" {
                builder = builder.header(name, value);
            }
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body.clone());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| S3Error::connection(format!("{e:#}")))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .bytes()
            .await
            .map_err(|e| S3Error::connection(format!("{e:#}")))?;
        check_status(status, &headers, &body)?;
        Ok((headers, body.to_vec()))
    }

    /// Send the request `build` makes, again with backoff while S3 says
    /// the failure is transient (each attempt is signed afresh).
    async fn send(
        &self,
        build: impl Fn(&S3Client) -> Result<SignedRequest, S3Error>,
    ) -> Result<(Vec<(String, String)>, Vec<u8>), S3Error> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let request = build(&self.s3)?;
            match self.send_once(&request).await {
                Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// HEAD `key`; `None` when it does not exist.
    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, S3Error> {
        let bucket = &self.config.target.bucket;
        match self.send(|s3| s3.head_object(bucket, key)).await {
            Ok((headers, _)) => ObjectHead::from_headers(&headers).map(Some),
            Err(S3Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of the listing.
    async fn list(&self, token: Option<&str>) -> Result<ListPage, S3Error> {
        let target = &self.config.target;
        let (_, body) = self
            .send(|s3| s3.list_objects_v2(&target.bucket, &target.prefix, token, None))
            .await?;
        ListPage::parse(&body)
    }

    /// Decide what `object` needs, and publish its event if it needs one.
    async fn check(&self, key: &str, listed_etag: &str) -> Result<Outcome, ObjectError> {
        let rules = &self.config.rules;
        if let Some(reason) = rules.own_output(key) {
            return Ok(Outcome::NotOurs(reason));
        }
        let expected = rules.expected_thumbnails(key);
        let heads = futures::future::join_all(expected.iter().map(|t| self.head(&t.key))).await;
        let mut found = Vec::with_capacity(heads.len());
        for (head, want) in heads.into_iter().zip(&expected) {
            found.push(head.map_err(|e| ObjectError::from_s3(&format!("HEAD {}", want.key), e))?);
        }
        let metadata: Vec<Option<&BTreeMap<String, String>>> = found
            .iter()
            .map(|h| h.as_ref().map(|h| &h.metadata))
            .collect();
        let stale = plan::staleness(&expected, &metadata, listed_etag);
        if stale.is_empty() {
            return Ok(Outcome::UpToDate);
        }
        let Some(source) = self
            .head(key)
            .await
            .map_err(|e| ObjectError::from_s3(&format!("HEAD {key}"), e))?
        else {
            return Ok(Outcome::NotOurs("deleted since it was listed".to_owned()));
        };
        if let Some(reason) =
            rules.ignore_reason(key, source.content_type.as_deref(), &source.metadata)
        {
            return Ok(Outcome::NotOurs(reason));
        }
        if self.config.dry_run {
            return Ok(Outcome::WouldPublish {
                etag: source.etag,
                why: stale.join("; "),
            });
        }
        let event = plan::object_event(
            &self.config.target.bucket,
            key,
            source.size,
            &source.etag,
            source.content_type.as_deref(),
            &now_rfc3339(),
        );
        self.publish(event).await?;
        Ok(Outcome::Published(source.etag))
    }

    /// Wait for the rate limit's next slot.
    async fn rate_limit(&self) {
        let mut next = self.next_publish.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep_until(*next).await;
        }
        *next = (*next).max(now) + self.config.publish_interval;
    }

    /// POST `event` to the gateway, again with backoff while it fails
    /// transiently (connection, 429, 5xx).
    async fn publish(&self, event: String) -> Result<(), ObjectError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            self.rate_limit().await;
            let mut request = self
                .http
                .post(self.config.events_url.clone())
                .header("content-type", "application/json")
                .body(event.clone());
            if let Some(token) = &self.config.token {
                request = request.bearer_auth(token);
            }
            let failure = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    let message = format!(
                        "the gateway answered {status} to POST {}: {}",
                        self.config.events_url,
                        body.trim()
                    );
                    if matches!(status.as_u16(), 401 | 403) {
                        return Err(ObjectError {
                            message: format!(
                                "{message}: pass the app's api_token with --token or THUMBFLOW_TOKEN"
                            ),
                            fatal: true,
                        });
                    }
                    if !(status.as_u16() == 429 || status.is_server_error()) {
                        return Err(ObjectError {
                            message,
                            fatal: false,
                        });
                    }
                    message
                }
                Err(e) => format!("POST {}: {e:#}", self.config.events_url),
            };
            if attempt >= ATTEMPTS {
                return Err(ObjectError {
                    message: format!("{failure} (after {ATTEMPTS} attempts)"),
                    fatal: false,
                });
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            attempt += 1;
        }
    }
}

/// The current time, RFC 3339 (for the event's `eventTime`).
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// A stopped scan: its exit code and why.
struct Stop {
    code: u8,
    message: String,
}

impl Stop {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
    fn failed(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

/// Run the scan, print the summary (text or `json`), and return the exit code.
pub async fn main(config: &ScanConfig, json: bool) -> ExitCode {
    let bar = progress_bar(json);
    let mut summary = Summary {
        target: config.target.to_string(),
        dry_run: config.dry_run,
        ..Summary::default()
    };
    let result = scan(config, &bar, &mut summary).await;
    bar.finish_and_clear();
    let code = match &result {
        Ok(()) if summary.failed == 0 => 0,
        Ok(()) => 1,
        Err(stop) => {
            summary.stopped = Some(stop.message.clone());
            stop.code
        }
    };
    if json {
        match serde_json::to_string(&summary) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: writing the summary: {e}"),
        }
    } else {
        print_summary(config, &summary);
    }
    if let Err(stop) = &result {
        eprintln!("error: {}", stop.message);
    }
    ExitCode::from(code)
}

fn progress_bar(json: bool) -> ProgressBar {
    let visible = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = ProgressBar::with_draw_target(
        None,
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos} objects checked [{elapsed}] {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn print_summary(config: &ScanConfig, s: &Summary) {
    for item in &s.would_skip {
        println!("would skip {}: {}", item.key, item.reason);
    }
    for item in &s.would_publish {
        println!("would publish {}: {}", item.key, item.reason);
    }
    for item in &s.failures {
        println!("failed {}: {}", item.key, item.reason);
    }
    let published = if s.dry_run {
        "would publish"
    } else {
        "published"
    };
    let resumed = if s.resumed {
        format!(", {} already done by the interrupted scan", s.already_done)
    } else {
        String::new()
    };
    println!(
        "{}: {} listed{resumed}, {} up to date, {} not thumbflow's business, {published} {}, {} failed",
        s.target, s.listed, s.skipped_existing, s.skipped_other, s.published, s.failed
    );
    if s.dry_run {
        println!("dry run: nothing was published, no checkpoint written");
    } else if !s.complete {
        println!(
            "checkpoint kept in {}: run the same command again to resume",
            config.checkpoint_path.display()
        );
    }
}

type Check<'a> = Pin<Box<dyn Future<Output = (u64, String, Result<Outcome, ObjectError>)> + 'a>>;

/// The scan itself; fills `summary` as it goes.
async fn scan(config: &ScanConfig, bar: &ProgressBar, summary: &mut Summary) -> Result<(), Stop> {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| Stop::usage(format!("building the HTTP client: {e}")))?;
    let path = &config.checkpoint_path;
    let saved = if config.restart {
        None
    } else {
        checkpoint::load(path, &config.scope).map_err(|e| Stop::usage(e.to_string()))?
    };
    summary.resumed = saved.as_ref().is_some_and(Checkpoint::has_progress);
    let start = saved.unwrap_or_else(|| Checkpoint::new(config.scope.clone()));
    if !config.dry_run {
        check_gateway(&http, config).await?;
    }
    let scan = Scan {
        config,
        s3: S3Client::new(config.s3.clone()),
        http,
        next_publish: tokio::sync::Mutex::new(Instant::now()),
    };
    let mut tracker = Tracker::new(start.clone());
    let mut in_flight: FuturesUnordered<Check<'_>> = FuturesUnordered::new();
    let mut token = start.page_token.clone();
    let mut first_page = true;
    let mut listing_done = false;
    let mut stop: Option<Stop> = None;
    let mut consecutive_failures = 0u32;
    let mut page: std::vec::IntoIter<thumbflow_s3::ListedObject> = Vec::new().into_iter();
    let mut page_token: Option<String> = None;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);

    loop {
        // Feed the workers while there is room and something to list.
        while stop.is_none() && !listing_done && in_flight.len() < config.concurrency {
            let Some(object) = page.next() else {
                if !first_page && token.is_none() {
                    listing_done = true;
                    break;
                }
                let listed = match scan.list(token.as_deref()).await {
                    Err(S3Error::Rejected { status: 400, .. }) if first_page && token.is_some() => {
                        // The saved continuation token is no longer valid:
                        // list from the start; the checkpoint still skips
                        // the settled keys.
                        token = None;
                        scan.list(None).await
                    }
                    other => other,
                };
                let listed = listed.map_err(|e| listing_error(config, e))?;
                first_page = false;
                page_token = token.clone();
                token = listed.next_continuation_token.clone();
                page = listed.objects.into_iter();
                continue;
            };
            summary.listed += 1;
            if start.settled(&object.key, &object.etag) {
                summary.already_done += 1;
                bar.inc(1);
                continue;
            }
            let ticket = tracker.listed(&object.key, page_token.as_deref());
            let scan = &scan;
            in_flight.push(Box::pin(async move {
                let outcome = scan.check(&object.key, &object.etag).await;
                (ticket, object.key, outcome)
            }));
        }
        if in_flight.is_empty() {
            break;
        }
        let next = tokio::select! {
            next = in_flight.next() => next,
            _ = &mut interrupted, if stop.is_none() => {
                stop = Some(Stop::failed("interrupted: the objects in flight were finished and the position saved"));
                continue;
            }
        };
        let Some((ticket, key, outcome)) = next else {
            break;
        };
        bar.inc(1);
        let settled = match outcome {
            Ok(Outcome::UpToDate) => {
                summary.skipped_existing += 1;
                Settled::Skipped
            }
            Ok(Outcome::NotOurs(reason)) => {
                summary.skipped_other += 1;
                if config.dry_run {
                    summary.would_skip.push(KeyReason { key, reason });
                }
                Settled::Skipped
            }
            Ok(Outcome::Published(etag)) => {
                consecutive_failures = 0;
                summary.published += 1;
                Settled::Published(etag)
            }
            Ok(Outcome::WouldPublish { etag, why }) => {
                summary.published += 1;
                summary.would_publish.push(KeyReason { key, reason: why });
                Settled::Published(etag)
            }
            Err(e) => {
                summary.failed += 1;
                consecutive_failures += 1;
                if e.fatal && stop.is_none() {
                    stop = Some(Stop::usage(e.message.clone()));
                } else if consecutive_failures >= MAX_CONSECUTIVE_FAILURES && stop.is_none() {
                    stop = Some(Stop::failed(format!(
                        "{consecutive_failures} objects failed in a row, the last with: {}",
                        e.message
                    )));
                }
                summary.failures.push(KeyReason {
                    key,
                    reason: e.message,
                });
                Settled::Failed
            }
        };
        bar.set_message(format!(
            "{} published, {} up to date, {} skipped, {} failed",
            summary.published, summary.skipped_existing, summary.skipped_other, summary.failed
        ));
        if tracker.settle(ticket, settled) && !config.dry_run {
            checkpoint::save(path, tracker.checkpoint())
                .map_err(|e| Stop::failed(e.to_string()))?;
        }
    }

    if let Some(stop) = stop {
        return Err(stop);
    }
    summary.complete = tracker.all_settled();
    if !config.dry_run {
        if summary.complete {
            checkpoint::remove(path).map_err(|e| Stop::failed(e.to_string()))?;
        } else {
            checkpoint::save(path, tracker.checkpoint())
                .map_err(|e| Stop::failed(e.to_string()))?;
        }
    }
    Ok(())
}

/// A listing failure as the user should read it.
fn listing_error(config: &ScanConfig, e: S3Error) -> Stop {
    let target = &config.target;
    let endpoint = config.s3.endpoint();
    match &e {
        S3Error::AccessDenied { .. } => Stop::usage(credentials_message(&e)),
        S3Error::Rejected { code, .. } if code == "NoSuchBucket" => Stop::usage(format!(
            "bucket {:?} does not exist at {endpoint}: check the s3:// location and --endpoint",
            target.bucket
        )),
        S3Error::Transient { code, .. } if code == "connection" => Stop::usage(format!(
            "cannot reach the S3 endpoint {endpoint}: {e} (check --endpoint/S3_ENDPOINT)"
        )),
        _ => Stop::failed(format!("listing {target}: {e}")),
    }
}

/// Fail early, before any work, when no gateway answers at `--url`.
async fn check_gateway(http: &reqwest::Client, config: &ScanConfig) -> Result<(), Stop> {
    match http.get(config.health_url.clone()).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(Stop::usage(format!(
            "the thumbflow gateway at {} answered {} to GET {}: check --url/THUMBFLOW_URL",
            config.events_url,
            response.status(),
            config.health_url
        ))),
        Err(e) => Err(Stop::usage(format!(
            "no thumbflow gateway answers at {} ({e}): start it (`thumbflow up`, `spin up`) \
             or set --url/THUMBFLOW_URL",
            config.health_url
        ))),
    }
}
