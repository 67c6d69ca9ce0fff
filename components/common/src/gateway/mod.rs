//! The HTTP gateway: uploads, raw events, objects and status.
//!
//! One implementation for two components: the pipeline's `gateway` hands
//! each raw event to the normalizer's durable queue ([`Queued`]); the
//! HTTP-only app's `gateway-inline` runs the three stages on it inside the
//! request ([`Inline`], [`crate::stages::inline`]). The component picks one
//! with the type parameter of [`handle`], so a gateway built with
//! [`Queued`] imports no engine and one built with [`Inline`] no Redis.
//!
//! Routes (mounted at `/...`):
//! - `PUT /objects/{key}[?bucket=b]`: store an image, queue an S3-style
//!   ObjectCreated raw event; `201` with where to find status and thumbnail;
//! - `POST /events`: queue a raw event (any supported format) unchanged for
//!   the normalizer, `202` once it is durable in Redis (503 when Redis is
//!   down: nothing was accepted); CloudEvents binary mode is turned into
//!   structured mode first (its attributes live in headers);
//! - `GET /objects/{key}[?bucket=b]`: any stored object, typed by its bytes;
//! - `GET /status/{key}[?bucket=b]`: the object's pipeline status as JSON;
//! - `GET /status`: the recently rejected raw events (malformed ones name no
//!   object); their previews only with the API token when one is set;
//! - `GET /healthz`;
//! - `/admin/...`: the stages' queues, dead letters and activity ([`admin`];
//!   only with queues: 404 in the HTTP-only app);
//! - `GET /` and `GET /assets/*`: the gallery page ([`gallery`]).
//!
//! Objects live in the store the `store` variable names: the key-value
//! layout (`kv`) or the S3 bucket (`s3`), so the same routes work in both.
//!
//! Uploads must be images: the type stored and served is read from the
//! bytes ([`thumbflow_events::upload`]), never the client's header (415
//! otherwise); keys under `thumbnail_prefix` are refused (403); keys must
//! follow [`check_object_key`] (400). Objects are served with
//! `X-Content-Type-Options: nosniff`.
//!
//! Write routes require `Authorization: Bearer <api_token>` when `api_token`
//! is set; `POST /events` also takes it as `?token=<api_token>`, since
//! storage webhooks cannot send headers. Tokens are never logged.
mod admin;
mod gallery;

use spin_sdk::http::{Params, Request, Response, Router};
use thumbflow_blob::layout::DEFAULT_RECIPE;
use thumbflow_blob::thumbnail_key;
use thumbflow_events::{
    check_api_token, check_object_key, check_upload_target, gateway_put_event_in_trace,
    sniff_image, structured_from_binary, trace_id, upload_content_type, upload_sequencer,
    upload_traceparent, StageState, StageStatus, UploadError,
};
use thumbflow_s3::{PutOptions, S3Error};

use crate::stages::inline;
use crate::store::ObjectStore;
use crate::{clock, kv, queue, vars};

/// Stage name used in status records.
const STAGE: &str = "gateway";

/// Where the gateway hands the raw events it makes (uploads) and receives
/// (`POST /events`).
pub trait Forward {
    /// Whether the stages have queues (the `/admin/...` routes).
    const QUEUES: bool;

    /// Hand on one raw event; what to tell the client about it.
    fn forward(raw: &[u8]) -> Result<Forwarded, HttpError>;
}

/// What became of a raw event the gateway handed on.
pub enum Forwarded {
    /// Durable in the normalizer's queue on this channel.
    Queued(String),
    /// Every stage ran; what became of each object it named.
    Ran(Vec<inline::Ran>),
}

/// The pipeline's gateway: raw events go to the normalizer's durable queue
/// (`raw_channel`), and the stages run behind their Redis triggers.
pub struct Queued;

impl Forward for Queued {
    const QUEUES: bool = true;

    fn forward(raw: &[u8]) -> Result<Forwarded, HttpError> {
        queue::enqueue("raw_channel", raw)
            .map(Forwarded::Queued)
            .map_err(|e| HttpError(503, format!("{e:#}")))
    }
}

/// The HTTP-only app's gateway: the three stages run on the raw event
/// inside the request, so it returns with the thumbnails stored.
pub struct Inline;

impl Forward for Inline {
    const QUEUES: bool = false;

    fn forward(raw: &[u8]) -> Result<Forwarded, HttpError> {
        inline::run(raw).map(Forwarded::Ran).map_err(|f| {
            let code = if f.retryable { 503 } else { 400 };
            HttpError(code, f.message)
        })
    }
}

impl Forwarded {
    /// The fields a response adds for it.
    fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Queued(channel) => serde_json::json!({ "channel": channel }),
            Self::Ran(objects) => serde_json::json!({
                "pipeline": "inline",
                "objects": objects.iter().map(inline::Ran::to_json).collect::<Vec<_>>(),
            }),
        }
    }
}

/// Answer one request, handing raw events on as `F` does.
pub fn handle<F: Forward>(req: Request) -> Response {
    let mut router = Router::new();
    router.get("/healthz", |_: Request, _: Params| {
        json(200, &serde_json::json!({"status": "ok"}))
    });
    router.put("/objects/*", |req: Request, p: Params| {
        respond(put_object::<F>(&req, &p))
    });
    router.get("/objects/*", |req: Request, p: Params| {
        respond(get_object(&req, &p))
    });
    router.post("/events", |req: Request, _: Params| {
        respond(post_event::<F>(&req))
    });
    router.get("/status/*", |req: Request, p: Params| {
        respond(get_status(&req, &p))
    });
    router.get("/status", |req: Request, _: Params| {
        respond(get_rejects(&req))
    });
    if F::QUEUES {
        router.get("/admin/queues", |req: Request, _: Params| {
            respond(admin::get_queues(&req))
        });
        router.get("/admin/dlq", |req: Request, p: Params| {
            respond(admin::get_dead_letters(&req, &p))
        });
        router.post("/admin/dlq/replay", |req: Request, p: Params| {
            respond(admin::replay(&req, &p))
        });
        router.post("/admin/drain", |req: Request, _: Params| {
            respond(admin::drain(&req))
        });
        router.get("/admin/activity", |req: Request, _: Params| {
            respond(admin::get_activity(&req))
        });
    } else {
        router.any("/admin/*", |_: Request, _: Params| {
            error(
                404,
                "no queues here: the HTTP-only app runs every stage inside the request",
            )
        });
    }
    router.get("/", gallery::index);
    router.get("/assets/*", gallery::assets);
    router.any("/*", |_: Request, _: Params| error(404, "no such route"));
    router.handle(req)
}

/// An HTTP error with its status code, as opposed to an internal failure.
pub struct HttpError(u16, String);

type Reply = Result<Response, HttpError>;

impl From<anyhow::Error> for HttpError {
    fn from(e: anyhow::Error) -> Self {
        HttpError(500, format!("{e:#}"))
    }
}

impl From<UploadError> for HttpError {
    fn from(e: UploadError) -> Self {
        HttpError(e.http_status(), e.to_string())
    }
}

fn respond(reply: Reply) -> Response {
    reply.unwrap_or_else(|HttpError(code, message)| {
        if code >= 500 {
            eprintln!("gateway error {code}: {message}");
        }
        error(code, &message)
    })
}

fn json(code: u16, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

fn error(code: u16, message: &str) -> Response {
    json(code, &serde_json::json!({ "error": message }))
}

/// Reject the request unless it carries the configured API token (as a
/// bearer token, or as `?token=` where `query_token` allows it).
fn authorize(req: &Request, query_token: bool) -> Result<(), HttpError> {
    let token = vars::get("api_token")?;
    let header = req.header("authorization").and_then(|v| v.as_str());
    check_api_token(&token, header, req.query(), query_token)
        .map_err(|e| HttpError(401, e.to_string()))
}

/// An object-store failure as an HTTP error: what the client can act on.
fn store_error(e: S3Error) -> HttpError {
    let code = match &e {
        S3Error::NotFound { .. } => 404,
        S3Error::TooLarge { .. } => 413,
        S3Error::PreconditionFailed { .. } => 409,
        S3Error::InvalidKey { .. } | S3Error::InvalidBucket { .. } => 400,
        S3Error::InvalidHeader { .. } => 400,
        S3Error::Transient { .. } => 503,
        S3Error::AccessDenied { .. } | S3Error::Rejected { .. } => 502,
        S3Error::InvalidResponse { .. } => 502,
    };
    HttpError(code, e.to_string())
}

/// Bucket (from `?bucket=` or the `bucket` variable) and decoded key from the wildcard.
fn location(req: &Request, params: &Params) -> Result<(String, String), HttpError> {
    let raw = params.wildcard().unwrap_or("");
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    let key = check_object_key(&decoded)?.to_owned();
    let bucket = form_urlencoded::parse(req.query().as_bytes())
        .find(|(name, _)| name == "bucket")
        .map(|(_, value)| value.into_owned());
    let bucket = match bucket {
        Some(b) => b,
        None => vars::get("bucket")?,
    };
    thumbflow_blob::validate_location(&bucket, &key).map_err(|e| HttpError(400, e.to_string()))?;
    Ok((bucket, key))
}

fn put_object<F: Forward>(req: &Request, params: &Params) -> Reply {
    authorize(req, false)?;
    let (bucket, key) = location(req, params)?;
    let prefix = vars::get("thumbnail_prefix")?;
    check_upload_target(&key, &prefix)?;
    let max: u64 = vars::parse("max_object_bytes")?;
    let body = req.body();
    if body.len() as u64 > max {
        return Err(HttpError(
            413,
            format!(
                "upload of {} bytes exceeds max_object_bytes = {max}",
                body.len()
            ),
        ));
    }
    if body.is_empty() {
        return Err(HttpError(400, "empty upload body".into()));
    }
    let content_type = upload_content_type(body)?.to_owned();
    let options = PutOptions {
        content_type: content_type.clone(),
        ..PutOptions::default()
    };
    let stored = ObjectStore::open(max)?
        .put(&bucket, &key, body.to_vec(), &options)
        .map_err(store_error)?;
    let etag = format!("\"{}\"", stored.etag);
    let now = clock::now_rfc3339();
    // The trace starts here (or joins the caller's): every stage logs its id.
    let incoming = req.header("traceparent").and_then(|v| v.as_str());
    let traceparent = upload_traceparent(incoming, &format!("{bucket}/{key}/{etag}/{now}"));
    let trace = trace_id(&traceparent).unwrap_or_default().to_owned();
    let event = gateway_put_event_in_trace(
        &bucket,
        &key,
        stored.size,
        &etag,
        &content_type,
        &now,
        Some(&traceparent),
        Some(&upload_sequencer(clock::unix_nanos())),
    );
    let status = StageStatus {
        state: StageState::Done,
        at: now.clone(),
        detail: Some(format!("stored {} bytes as {content_type}", stored.size)),
        retryable: None,
    };
    kv::record_stage(&kv::SpinKv::open()?, &bucket, &key, STAGE, status, |_| {})?;
    println!(
        "stored {bucket}/{key}: {} bytes as {content_type} trace={trace}",
        stored.size
    );
    let forwarded = F::forward(event.as_bytes()).map_err(|HttpError(code, e)| {
        HttpError(
            code,
            format!("object stored but its event could not be handed on (PUT again): {e}"),
        )
    })?;
    if F::QUEUES {
        let detail = format!("stored {} bytes as {content_type}", stored.size);
        queue::note_upload(&bucket, &key, &trace, &detail, &now);
    }
    let encoded = encode_key(&key);
    let query = format!(
        "?bucket={}",
        form_urlencoded::byte_serialize(bucket.as_bytes()).collect::<String>()
    );
    let mut body = serde_json::json!({
            "bucket": bucket,
            "key": key,
            "size": stored.size,
            "etag": etag,
            "sha256": stored.sha256,
            "content_type": content_type,
            "trace_id": trace,
            "status_url": format!("/status/{encoded}{query}"),
            // Where the default recipe (`thumb`, JPEG) puts its thumbnail;
            // the status record lists every recipe's.
            "thumbnail_url": format!(
                "/objects/{}{query}",
                encode_key(&thumbnail_key(&prefix, DEFAULT_RECIPE, &key, "jpg"))
            ),
    });
    if let (Forwarded::Ran(_), Some(fields)) = (&forwarded, body.as_object_mut()) {
        // Inline, the stages are done: say how each ended.
        if let serde_json::Value::Object(ran) = forwarded.to_json() {
            fields.extend(ran);
        }
    }
    Ok(json(201, &body))
}

fn get_object(req: &Request, params: &Params) -> Reply {
    let (bucket, key) = location(req, params)?;
    let (head, bytes) = ObjectStore::open(u64::MAX)?
        .get(&bucket, &key, None)
        .map_err(store_error)?
        .ok_or_else(|| HttpError(404, format!("no object {bucket}/{key}")))?;
    // Typed by the bytes: whatever type the object was stored with (by an
    // older gateway, or directly in the S3 bucket), non-images are served inert.
    let content_type = sniff_image(&bytes).unwrap_or("application/octet-stream");
    Ok(Response::builder()
        .status(200)
        .header("content-type", content_type)
        .header("x-content-type-options", "nosniff")
        .header("etag", format!("\"{}\"", head.etag))
        .header(
            "cache-control",
            head.cache_control.unwrap_or_else(|| "no-cache".to_owned()),
        )
        .body(bytes)
        .build())
}

fn post_event<F: Forward>(req: &Request) -> Reply {
    // Storage webhooks (e.g. Ceph RGW's push endpoint) cannot send headers.
    authorize(req, true)?;
    let max: usize = vars::parse("max_event_bytes")?;
    let body = req.body();
    if body.len() > max {
        return Err(HttpError(
            413,
            format!(
                "event of {} bytes exceeds max_event_bytes = {max}",
                body.len()
            ),
        ));
    }
    let payload = if req.header("ce-specversion").is_some() {
        let headers: Vec<(String, String)> = req
            .headers()
            .filter_map(|(name, value)| Some((name.to_owned(), value.as_str()?.to_owned())))
            .collect();
        structured_from_binary(&headers, body).map_err(|e| HttpError(400, e.to_string()))?
    } else {
        if body.is_empty() {
            return Err(HttpError(400, "empty event body".into()));
        }
        body.to_vec()
    };
    let forwarded = F::forward(&payload)?;
    let mut body = serde_json::json!({ "accepted": true, "bytes": payload.len() });
    if let (Some(fields), serde_json::Value::Object(more)) =
        (body.as_object_mut(), forwarded.to_json())
    {
        fields.extend(more);
    }
    // Queued: accepted for later (202); inline: done (200).
    let code = match forwarded {
        Forwarded::Queued(_) => 202,
        Forwarded::Ran(_) => 200,
    };
    Ok(json(code, &body))
}

fn get_status(req: &Request, params: &Params) -> Reply {
    let (bucket, key) = location(req, params)?;
    let store = kv::SpinKv::open()?;
    let record = kv::read_status(&store, &bucket, &key)?
        .ok_or_else(|| HttpError(404, format!("no status for {bucket}/{key}")))?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(record.to_json())
        .build())
}

/// The recently rejected raw events (malformed events name no object).
///
/// Their previews are parts of whatever someone posted, so when `api_token`
/// is set they are shown only to requests carrying it.
fn get_rejects(req: &Request) -> Reply {
    let store = kv::SpinKv::open()?;
    let mut rejects = kv::read_rejects(&store)?;
    let hidden = authorize(req, false).is_err();
    if hidden {
        for reject in &mut rejects {
            if let Some(fields) = reject.as_object_mut() {
                fields.remove("preview");
            }
        }
    }
    Ok(json(
        200,
        &serde_json::json!({ "rejected_events": rejects, "previews_hidden": hidden }),
    ))
}

/// Percent-encode a key for a URL path, keeping `/` as the separator.
fn encode_key(key: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(key, SEGMENT).to_string()
}
