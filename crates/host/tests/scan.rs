//! `thumbflow scan` (the built binary) against a real S3 server, Ceph RGW
//! started by `scripts/s3/rgw.sh`: a backfill of 100 objects killed half-way
//! and resumed renders each object exactly once and a second scan publishes
//! nothing; non-images, thumbflow's own outputs and marked objects are
//! skipped; `--dry-run` publishes nothing; wrong credentials and a missing
//! token stop the scan with exit code 2 and a message naming the fix.
//!
//! The events go either to the real pipeline in S3 mode on our host (renders
//! counted from the thumbnail-created events on Redis) or, to test the
//! scan's own decisions, to a stand-in gateway that runs the real normalizer
//! on each event and then writes the thumbnail the way the thumbnailer does
//! (renders counted per event). Skipped with a printed message when radosgw
//! is not installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::s3::{Rgw, S3};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

/// Renders per source key.
type Renders = Arc<Mutex<BTreeMap<String, u32>>>;

fn total(renders: &Renders) -> u32 {
    renders.lock().unwrap().values().sum()
}

/// The thumbflow binary under test.
fn thumbflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_thumbflow"))
}

/// `thumbflow scan ARGS` with the RGW credentials in the environment.
fn scan_command(rgw: &Rgw, gateway: &str, checkpoints: &Path, args: &[&str]) -> Command {
    let mut command = thumbflow();
    command
        .arg("scan")
        .args(args)
        .arg("--checkpoint-dir")
        .arg(checkpoints)
        .env("THUMBFLOW_URL", gateway)
        .env_remove("THUMBFLOW_TOKEN")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("SPIN_VARIABLE_RECIPES")
        .env_remove("SPIN_VARIABLE_THUMBNAIL_PREFIX")
        .stdin(Stdio::null());
    for (name, value) in rgw.env() {
        command.env(name, value);
    }
    command
}

/// Run a scan to its end (off the async threads); its exit code, JSON
/// summary (when `--json`) and stderr.
async fn run_scan(mut command: Command) -> (i32, serde_json::Value, String) {
    let output: Output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
    (output.status.code().unwrap_or(-1), summary, stderr)
}

/// Poll `check` until it holds, or panic naming `what` after `deadline`.
async fn wait_for(deadline: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn keys_of(items: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = items
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["key"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

/// What the stand-in gateway does with an accepted event.
#[derive(Clone)]
enum Backend {
    /// Stand in for the thumbnailer too: run the real normalizer and store
    /// the thumbnail the way the thumbnailer does (generated marker, recipe
    /// version, source ETag), counting one render per object.
    Render(Box<S3>, Renders),
    /// Forward the request unchanged to the real gateway at this base URL.
    Forward(String),
}

/// A gateway in front of the scan, with a gate: once `limit` events are
/// accepted it answers `503` (nothing forwarded or rendered) until the
/// limit is raised, so a test can kill the scan at a moment when every
/// accepted event is known to the scan. Requires `Bearer TOKEN` when given.
#[derive(Clone)]
struct StandIn {
    base: String,
    accepted: Arc<AtomicUsize>,
    limit: Arc<AtomicUsize>,
}

impl StandIn {
    async fn start(backend: Backend, token: Option<&'static str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stand_in = Self {
            base: format!("http://{}", listener.local_addr().unwrap()),
            accepted: Arc::default(),
            limit: Arc::new(AtomicUsize::new(usize::MAX)),
        };
        let state = (stand_in.clone(), backend, reqwest::Client::new());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(handle(req, &state, token).await)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        stand_in
    }
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    (stand_in, backend, http): &(StandIn, Backend, reqwest::Client),
    token: Option<&str>,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: u16, body: &str| {
        hyper::Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap()
    };
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/healthz") => reply(200, "{\"status\":\"ok\"}"),
        ("POST", "/events") => {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let Some(token) = token {
                if auth.as_deref() != Some(format!("Bearer {token}").as_str()) {
                    return reply(401, "{\"error\":\"missing or wrong bearer token\"}");
                }
            }
            // Reserve a slot under the limit before doing the work, so
            // concurrent requests never pass it.
            let limit = stand_in.limit.load(Ordering::SeqCst);
            let reserved = stand_in
                .accepted
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < limit).then_some(n + 1)
                })
                .is_ok();
            if !reserved {
                return reply(503, "{\"error\":\"gate closed by the test\"}");
            }
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let status = match backend {
                Backend::Render(s3, renders) => render(s3, renders, &body).await,
                Backend::Forward(base) => {
                    let mut request = http.post(format!("{base}/events")).body(body.to_vec());
                    if let Some(auth) = &auth {
                        request = request.header("authorization", auth);
                    }
                    request.send().await.unwrap().status().as_u16()
                }
            };
            if !(200..300).contains(&status) {
                stand_in.accepted.fetch_sub(1, Ordering::SeqCst);
            }
            reply(status, "{}")
        }
        _ => reply(404, "{\"error\":\"no such route\"}"),
    }
}

/// [`Backend::Render`]: normalize `body` and store each accepted object's thumbnail.
async fn render(s3: &S3, renders: &Renders, body: &[u8]) -> u16 {
    let options = thumbflow_events::NormalizeOptions {
        thumbnail_prefix: "thumbnails/".into(),
        received_at: "2026-12-01T00:00:00Z".into(),
        max_event_bytes: 1 << 20,
    };
    let Ok(outcomes) = thumbflow_events::normalize(body, &options) else {
        return 400;
    };
    for outcome in outcomes {
        if let thumbflow_events::Outcome::Accepted { event, .. } = outcome {
            let data = &event.data;
            let etag = data.etag.clone().unwrap_or_default();
            let key = thumbflow_blob::thumbnail_key("thumbnails/", "thumb", &data.key, "jpg");
            let metadata = thumbflow_blob::GeneratedFrom {
                recipe: "thumb".into(),
                recipe_version: 1,
                source_key: data.key.clone(),
                source_etag: etag,
            }
            .to_metadata();
            let metadata: Vec<(&str, &str)> = metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            s3.put(
                &data.bucket,
                &key,
                b"thumbnail".to_vec(),
                "image/jpeg",
                &metadata,
            )
            .await;
            *renders.lock().unwrap().entry(data.key.clone()).or_default() += 1;
        }
    }
    202
}

/// How many of `keys` the checkpoint in `dir` records as published.
fn checkpointed(dir: &Path, keys: &[String]) -> usize {
    // The checkpoint itself, not a scan's temporary file beside it.
    let checkpoint = std::fs::read_dir(dir).ok().and_then(|entries| {
        entries.flatten().find(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("scan-") && name.ends_with(".json")
        })
    });
    let Some(entry) = checkpoint else {
        return 0;
    };
    let Ok(text) = std::fs::read_to_string(entry.path()) else {
        return 0;
    };
    let Ok(checkpoint) = serde_json::from_str::<serde_json::Value>(&text) else {
        return 0;
    };
    let through = checkpoint["through"].as_str().unwrap_or("");
    let ahead = checkpoint["published_ahead"]
        .as_object()
        .map_or(0, |m| m.len());
    keys.iter().filter(|k| k.as_str() <= through).count() + ahead
}

/// A small real JPEG (EXIF orientation 6), so the real thumbnailer can render it.
fn jpeg() -> Vec<u8> {
    std::fs::read(common::root().join("tests/fixtures/images/orient6.jpg")).unwrap()
}

/// Key `i` of the backfill bucket: a few carry spaces, `+`, `&`, `%` and non-ASCII.
fn backfill_key(i: usize) -> String {
    match i % 5 {
        0 => format!("photos/{i:03} with space.jpg"),
        1 => format!("photos/{i:03}+plus&amp.jpg"),
        2 => format!("photos/été/{i:03} 日本.jpg"),
        3 => format!("photos/{i:03}%25.jpeg"),
        _ => format!("photos/{i:03}.jpg"),
    }
}

/// The backfill scenario shared by the stand-in and the real pipeline:
/// 100 objects, no notifications; a scan killed half-way, then resumed to
/// the end; every object rendered exactly once; a second scan publishes
/// nothing.
async fn backfill_killed_and_resumed(
    rgw: &Rgw,
    gateway: &StandIn,
    token: Option<&str>,
    renders: &Renders,
) {
    let s3 = rgw.client();
    let bucket = "backfill";
    s3.create_bucket(bucket).await;
    let image = jpeg();
    let mut keys = Vec::new();
    for i in 0..100 {
        let key = backfill_key(i);
        s3.put(bucket, &key, image.clone(), "image/jpeg", &[]).await;
        keys.push(key);
    }
    let checkpoints = tempfile::tempdir().unwrap();
    let mut args = vec!["s3://backfill", "--json", "--rate", "20/s"];
    if let Some(token) = token {
        args.extend(["--token", token]);
    }

    // Killed half-way: the gate lets 40 events through, and the scan is
    // SIGKILLed once its checkpoint holds all 40 (the rest are being refused
    // and retried), so no accepted event is unknown to the checkpoint.
    gateway.limit.store(40, Ordering::SeqCst);
    let mut first = scan_command(rgw, &gateway.base, checkpoints.path(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        Duration::from_secs(60),
        "40 events in the checkpoint",
        || checkpointed(checkpoints.path(), &keys) >= 40,
    )
    .await;
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first scan ended before it could be killed half-way"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(gateway.accepted.load(Ordering::SeqCst), 40);
    assert_eq!(checkpointed(checkpoints.path(), &keys), 40);
    gateway.limit.store(usize::MAX, Ordering::SeqCst);

    // Resumed: finishes, publishing only what the first run had not.
    let (code, summary, stderr) =
        run_scan(scan_command(rgw, &gateway.base, checkpoints.path(), &args)).await;
    assert_eq!(code, 0, "resumed scan failed: {summary:#} {stderr}");
    assert_eq!(summary["resumed"], true, "{summary:#}");
    assert_eq!(summary["complete"], true, "{summary:#}");
    assert_eq!(summary["failed"], 0, "{summary:#}");
    let already_done = summary["already_done"].as_u64().unwrap();
    assert_eq!(already_done, 40, "{summary:#}");
    assert_eq!(summary["published"], 60, "{summary:#}");
    wait_for(Duration::from_secs(120), "100 objects rendered", || {
        renders.lock().unwrap().len() == 100
    })
    .await;
    assert_eq!(
        std::fs::read_dir(checkpoints.path()).unwrap().count(),
        0,
        "a finished scan removes its checkpoint"
    );

    // A second scan finds nothing to do.
    let (code, summary, stderr) =
        run_scan(scan_command(rgw, &gateway.base, checkpoints.path(), &args)).await;
    assert_eq!(code, 0, "second scan failed: {summary:#} {stderr}");
    assert_eq!(summary["published"], 0, "{summary:#}");
    assert_eq!(summary["skipped_existing"], 100, "{summary:#}");
    // The 100 thumbnails were listed too, and skipped as thumbflow's own.
    assert_eq!(summary["skipped_other"], 100, "{summary:#}");
    assert_eq!(summary["resumed"], false, "{summary:#}");

    // Every object was rendered exactly once across the three scans.
    let renders = renders.lock().unwrap().clone();
    let mut expected: Vec<String> = keys.clone();
    expected.sort();
    assert_eq!(renders.keys().cloned().collect::<Vec<_>>(), expected);
    let twice: Vec<_> = renders.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "rendered more than once: {twice:?}");
    for key in &keys {
        let thumb = thumbflow_blob::thumbnail_key("thumbnails/", "thumb", key, "jpg");
        let head = s3.head(bucket, &thumb).await;
        assert!(
            head.is_some_and(|h| h.metadata.contains_key("thumbflow-generated")),
            "{thumb}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_killed_half_way_resumes_without_rerendering() {
    let Some(rgw) = Rgw::start() else {
        return;
    };
    let renders: Renders = Arc::default();
    let gateway = StandIn::start(
        Backend::Render(Box::new(rgw.client()), renders.clone()),
        Some("scan-token"),
    )
    .await;
    backfill_killed_and_resumed(&rgw, &gateway, Some("scan-token"), &renders).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_skips_what_is_not_thumbflows_business_and_refuses_bad_config() {
    let Some(rgw) = Rgw::start() else {
        return;
    };
    let s3 = rgw.client();
    s3.create_bucket("mixed").await;
    let image = jpeg();
    let photo_etag = s3
        .put("mixed", "a photo.jpg", image.clone(), "image/jpeg", &[])
        .await;
    s3.put("mixed", "no-extension", image.clone(), "image/png", &[])
        .await;
    s3.put("mixed", "notes.txt", b"hello".to_vec(), "text/plain", &[])
        .await;
    s3.put(
        "mixed",
        "thumbnails/old.jpg",
        image.clone(),
        "image/jpeg",
        &[],
    )
    .await;
    s3.put(
        "mixed",
        "exports/marked.jpg",
        image.clone(),
        "image/jpeg",
        &[("thumbflow-generated", "true")],
    )
    .await;
    let renders: Renders = Arc::default();
    let gateway = StandIn::start(
        Backend::Render(Box::new(s3.clone()), renders.clone()),
        Some("scan-token"),
    )
    .await;
    let checkpoints = tempfile::tempdir().unwrap();
    let dir = checkpoints.path();
    let token = ["--token", "scan-token"];

    // --dry-run: reports the two images, publishes and writes nothing.
    let (code, summary, stderr) = run_scan(scan_command(
        &rgw,
        &gateway.base,
        dir,
        &["s3://mixed", "--json", "--dry-run"],
    ))
    .await;
    assert_eq!(code, 0, "{summary:#} {stderr}");
    assert_eq!(summary["dry_run"], true);
    assert_eq!(summary["listed"], 5, "{summary:#}");
    assert_eq!(summary["published"], 2, "{summary:#}");
    assert_eq!(summary["skipped_other"], 3, "{summary:#}");
    assert_eq!(
        keys_of(&summary["would_publish"]),
        ["a photo.jpg", "no-extension"]
    );
    assert_eq!(total(&renders), 0);
    assert!(!dir.exists() || std::fs::read_dir(dir).unwrap().count() == 0);

    // Wrong secret: exit 2, the message names the variables to fix.
    let mut wrong = scan_command(&rgw, &gateway.base, dir, &["s3://mixed"]);
    wrong
        .args(token)
        .env("S3_SECRET_ACCESS_KEY", "not-the-secret");
    let (code, _, stderr) = run_scan(wrong).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("S3_SECRET_ACCESS_KEY"), "{stderr}");

    // No token for a gateway that wants one: exit 2, says how to pass it.
    let (code, summary, stderr) = run_scan(scan_command(
        &rgw,
        &gateway.base,
        dir,
        &["s3://mixed", "--json"],
    ))
    .await;
    assert_eq!(code, 2, "{summary:#} {stderr}");
    assert!(stderr.contains("--token"), "{stderr}");
    assert_eq!(total(&renders), 0);

    // No gateway at all: exit 2 before any work.
    let mut nowhere = scan_command(
        &rgw,
        &format!("http://127.0.0.1:{}", common::free_port()),
        dir,
        &["s3://mixed"],
    );
    nowhere.args(token);
    let (code, _, stderr) = run_scan(nowhere).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("THUMBFLOW_URL"), "{stderr}");

    // The real run: exactly the two images get events.
    let mut args = vec!["s3://mixed", "--json"];
    args.extend(token);
    let (code, summary, stderr) = run_scan(scan_command(&rgw, &gateway.base, dir, &args)).await;
    assert_eq!(code, 0, "{summary:#} {stderr}");
    assert_eq!(summary["published"], 2, "{summary:#}");
    let rendered = renders.lock().unwrap().clone();
    assert_eq!(
        rendered,
        BTreeMap::from([
            ("a photo.jpg".to_owned(), 1),
            ("no-extension".to_owned(), 1)
        ])
    );

    // A replaced object (new ETag) is stale again; nothing else is.
    let new_etag = s3
        .put(
            "mixed",
            "a photo.jpg",
            b"other bytes".to_vec(),
            "image/jpeg",
            &[],
        )
        .await;
    assert_ne!(new_etag, photo_etag);
    let (code, summary, stderr) = run_scan(scan_command(&rgw, &gateway.base, dir, &args)).await;
    assert_eq!(code, 0, "{summary:#} {stderr}");
    assert_eq!(summary["published"], 1, "{summary:#}");
    assert_eq!(summary["skipped_existing"], 1, "{summary:#}");
    assert_eq!(renders.lock().unwrap()["a photo.jpg"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_backfills_the_real_pipeline_in_s3_mode() {
    let Some(rgw) = Rgw::start() else {
        return;
    };
    let redis = common::Redis::start();
    let variables = rgw.pipeline_variables();
    let mut vars: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.push(("api_token", "scan-token"));
    let pipeline = common::Pipeline::start(&redis, &vars).await;

    // Renders counted from the thumbnailer's thumbnail-created events.
    let renders: Renders = Arc::default();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    // Every event queued for the notifier is also published on its :feed.
    pubsub.subscribe("thumbflow.thumbnails:feed").await.unwrap();
    let counter = renders.clone();
    let _listener = tokio::spawn(async move {
        let mut messages = pubsub.on_message();
        while let Some(message) = futures::StreamExt::next(&mut messages).await {
            let payload: Vec<u8> = message.get_payload().unwrap();
            if let Ok((_, created)) = thumbflow_events::parse_thumbnail_created(&payload) {
                *counter.lock().unwrap().entry(created.key).or_default() += 1;
            }
        }
    });
    let gateway = StandIn::start(Backend::Forward(pipeline.base.clone()), None).await;
    backfill_killed_and_resumed(&rgw, &gateway, Some("scan-token"), &renders).await;
}
