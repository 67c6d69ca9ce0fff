//! Durable delivery from real parts: a `redis-server` per test, hosts
//! in-process (replicas share the key-value database through one state
//! directory, as replicas elsewhere share it through Redis) or as child
//! processes killed with SIGKILL. What a user is promised
//! (docs/reliability.md): work accepted while a stage is down waits for
//! it; replicas share the work and a duplicate or a late older version
//! never runs its effects again; a crashed worker's work is taken over
//! after its lease; a message that keeps failing ends in the dead-letter
//! stream with its error and is replayed once fixed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::scenarios::{get_image, webhook_receiver_failing, webhook_variables, Received};
use common::{free_port, root, stage_is, stage_stats, Pipeline, Redis};
use futures::StreamExt as _;
use thumbflow::limits::TriggerLimits;
use thumbflow_queue::Stats;

const FRONT: &[&str] = &["gateway", "normalizer", "notifier"];
const WORKER: &[&str] = &["thumbnailer"];

/// Short leases, retries and doorbells, so faults resolve in seconds.
fn fast_variables(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("work_lease_ms", "3000".to_owned()),
        ("retry_backoff_ms", "100".to_owned()),
        ("max_attempts", "3".to_owned()),
    ];
    vars.extend(extra.iter().cloned());
    vars
}

fn fast_limits() -> TriggerLimits {
    TriggerLimits {
        drain_interval: Some(Duration::from_millis(200)),
        ..TriggerLimits::default()
    }
}

fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn replica(
    redis: &Redis,
    vars: &[(&'static str, String)],
    components: &[&str],
    state: &Path,
) -> Pipeline {
    Pipeline::start_replica(
        &root().join("spin.toml"),
        redis,
        &borrowed(vars),
        components,
        Some(state),
        fast_limits(),
    )
    .await
    .unwrap()
}

async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/images").join(name)).unwrap()
}

/// How many webhooks `received` holds for source key `key`.
fn webhooks_for(received: &Received, key: &str) -> usize {
    let quoted = format!("\"key\":\"{key}\"");
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| String::from_utf8_lossy(body).contains(&quoted))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_accepted_while_the_thumbnailer_is_down_are_all_thumbnailed_once_it_starts() {
    const UPLOADS: usize = 200;
    let redis = Redis::start();
    let state = tempfile::tempdir().unwrap();
    let (origin, received) = webhook_receiver_failing(Arc::new(Mutex::new(None))).await;
    let vars = fast_variables(&webhook_variables(&origin));
    let front = replica(&redis, &vars, FRONT, state.path()).await;

    let bytes = fixture("rocket.jpg");
    let codes: Vec<u16> = futures::stream::iter(0..UPLOADS)
        .map(|i| {
            let (front, bytes) = (&front, bytes.clone());
            async move {
                let response = front
                    .put(&format!("outage/{i:03}.jpg"), bytes, "image/jpeg")
                    .await;
                response.status().as_u16()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        codes.iter().all(|c| *c == 201),
        "every upload accepted: {codes:?}"
    );
    wait_for(
        "the normalizer to queue every upload",
        Duration::from_secs(60),
        || stage_stats(&redis, "thumbflow.images").backlog == UPLOADS as u64,
    )
    .await;
    assert_eq!(
        received.lock().unwrap().len(),
        0,
        "nothing is thumbnailed yet"
    );

    let started = Instant::now();
    let _worker = replica(&redis, &vars, WORKER, state.path()).await;
    wait_for("200 webhooks", Duration::from_secs(180), || {
        received.lock().unwrap().len() >= UPLOADS
    })
    .await;
    let drained = started.elapsed();
    for i in 0..UPLOADS {
        let key = format!("outage/{i:03}.jpg");
        assert_eq!(webhooks_for(&received, &key), 1, "{key}: one webhook");
        let status = front.status(&key).await.unwrap();
        assert!(
            stage_is(&status, "thumbnailer", "done"),
            "{key}: {status:#}"
        );
    }
    let thumb = get_image(&front, "/objects/thumbnails/thumb/outage/199.jpg.jpg").await;
    assert_eq!((thumb.width(), thumb.height()), (300, 201));
    let stats = stage_stats(&redis, "thumbflow.images");
    assert_eq!(stats.counter("processed"), UPLOADS as u64, "{stats:?}");
    assert_eq!((stats.backlog, stats.dead_letters), (0, 0), "{stats:?}");
    // Let a late duplicate webhook show up, if there were one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received.lock().unwrap().len(), UPLOADS, "no webhook twice");
    println!(
        "outage: {UPLOADS} queued uploads drained in {drained:?} after the thumbnailer started"
    );
}

/// An S3 notification for `key` at version (`etag`, `sequencer`).
fn s3_event(key: &str, etag: &str, sequencer: &str) -> String {
    format!(
        r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-12-02T10:00:00.000Z","eventName":"ObjectCreated:Put","s3":{{"s3SchemaVersion":"1.0","bucket":{{"name":"photos","arn":"arn:aws:s3:::photos"}},"object":{{"key":"{key}","size":1234,"eTag":"{etag}","sequencer":"{sequencer}"}}}}}}]}}"#
    )
}

/// The canonical event id the normalizer gives the raw event `raw`.
fn canonical_id(raw: &str) -> String {
    let outcomes = thumbflow_events::normalize(raw.as_bytes(), &Default::default()).unwrap();
    match outcomes.as_slice() {
        [thumbflow_events::Outcome::Accepted { event, .. }] => event.id.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_render_each_object_once_through_duplicates_and_late_older_versions() {
    const SINGLE: usize = 100;
    const TWICE: usize = 50;
    let redis = Redis::start();
    let state = tempfile::tempdir().unwrap();
    let vars = fast_variables(&[]);
    let front = replica(&redis, &vars, &["gateway", "normalizer"], state.path()).await;
    // Objects already in storage (as a bucket's are); the 50 "twice" ones
    // hold their second version, the one the newest event names.
    let blobs = front.blobs();
    let (v1, v2) = (fixture("rocket.jpg"), fixture("orient1.jpg"));
    let key = |i: usize| format!("replicas/{i:03}.jpg");
    for i in 0..SINGLE + TWICE {
        let bytes = if i < SINGLE { &v1 } else { &v2 };
        blobs
            .put("photos", &key(i), bytes, "image/jpeg", Default::default())
            .unwrap();
    }
    let _replicas = [
        replica(&redis, &vars, WORKER, state.path()).await,
        replica(&redis, &vars, WORKER, state.path()).await,
        replica(&redis, &vars, WORKER, state.path()).await,
    ];
    // Renders counted apart from the queue's own counters: every
    // thumbnail-created event the thumbnailers forward is also published on
    // the notifier channel's :feed, with the canonical id it was made for.
    let renders: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut feed = redis::Client::open(redis.url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    feed.subscribe("thumbflow.thumbnails:feed").await.unwrap();
    let counter = renders.clone();
    let _listener = tokio::spawn(async move {
        let mut messages = feed.on_message();
        while let Some(message) = messages.next().await {
            let payload: Vec<u8> = message.get_payload().unwrap();
            if let Ok((_, created)) = thumbflow_events::parse_thumbnail_created(&payload) {
                counter
                    .lock()
                    .unwrap()
                    .push((created.key, created.source_event_id));
            }
        }
    });
    let settled = |stats: &Stats| {
        ["processed", "duplicate", "superseded", "ignored"]
            .iter()
            .map(|c| stats.counter(c))
            .sum::<u64>()
    };

    // Each event delivered twice; the newest version of the "twice" objects first.
    let newest: Vec<String> = (0..SINGLE + TWICE)
        .map(|i| s3_event(&key(i), &format!("etag-{i}-2"), "0000000002"))
        .collect();
    futures::stream::iter(newest.iter().chain(newest.iter()))
        .for_each_concurrent(8, |event| front.post_event(event.clone()))
        .await;
    wait_for(
        "every delivery of the newest versions",
        Duration::from_secs(120),
        || settled(&stage_stats(&redis, "thumbflow.images")) == 2 * (SINGLE + TWICE) as u64,
    )
    .await;
    // Then the older versions, late, each twice too.
    let late: Vec<String> = (SINGLE..SINGLE + TWICE)
        .map(|i| s3_event(&key(i), &format!("etag-{i}-1"), "0000000001"))
        .collect();
    futures::stream::iter(late.iter().chain(late.iter()))
        .for_each_concurrent(8, |event| front.post_event(event.clone()))
        .await;
    wait_for(
        "every delivery of the late versions",
        Duration::from_secs(60),
        || settled(&stage_stats(&redis, "thumbflow.images")) == 2 * (SINGLE + 2 * TWICE) as u64,
    )
    .await;

    let stats = stage_stats(&redis, "thumbflow.images");
    assert_eq!(
        (
            stats.counter("processed"),
            stats.counter("duplicate"),
            stats.counter("superseded")
        ),
        (
            (SINGLE + TWICE) as u64,
            (SINGLE + TWICE) as u64,
            2 * TWICE as u64
        ),
        "200 events delivered twice: one render per object, {stats:?}"
    );
    assert_eq!((stats.backlog, stats.dead_letters), (0, 0), "{stats:?}");
    // Exactly one render per object, made for its newest event.
    wait_for("a render event per object", Duration::from_secs(10), || {
        renders.lock().unwrap().len() >= SINGLE + TWICE
    })
    .await;
    let renders = renders.lock().unwrap().clone();
    assert_eq!(renders.len(), SINGLE + TWICE, "one render per object");
    for (i, raw) in newest.iter().enumerate() {
        let newest_id = canonical_id(raw);
        let made: Vec<&String> = renders
            .iter()
            .filter(|(k, _)| *k == key(i))
            .map(|(_, id)| id)
            .collect();
        assert_eq!(
            made,
            [&newest_id],
            "{}: rendered once, for its newest event",
            key(i)
        );
    }
    for i in [0, SINGLE - 1, SINGLE, SINGLE + TWICE - 1] {
        let thumb = get_image(
            &front,
            &format!("/objects/thumbnails/thumb/{}.jpg?bucket=photos", key(i)),
        )
        .await;
        let expected = if i < SINGLE { (300, 201) } else { (300, 169) };
        assert_eq!(
            (thumb.width(), thumb.height()),
            expected,
            "{}: newest wins",
            key(i)
        );
    }
}

/// `thumbflow up` as a child process in its own process group.
struct HostProcess {
    child: Child,
    log: PathBuf,
    killed: bool,
}

impl HostProcess {
    fn start(redis: &Redis, state: &Path, components: &[&str], vars: &[(&str, String)]) -> Self {
        let log = state.join(format!("host-{}.log", free_port()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_thumbflow"));
        cmd.arg("up")
            .arg("--manifest")
            .arg(root().join("spin.toml"))
            .arg("--state-dir")
            .arg(state)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .args(["--concurrency", "1", "--drain-interval-ms", "200"])
            .arg("--variable")
            .arg(format!("redis_address={}", redis.url()));
        for (k, v) in vars {
            cmd.arg("--variable").arg(format!("{k}={v}"));
        }
        for c in components {
            cmd.arg("--component-id").arg(c);
        }
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap();
        Self {
            child,
            log,
            killed: false,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL to the whole group: no shutdown, no drain, no goodbye.
    fn kill(&mut self) {
        if !self.killed {
            common::spin::kill_group(&mut self.child);
            self.killed = true;
        }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PNG big enough that rendering it takes a while (PNG cannot be
/// decoded at a reduced size).
fn big_png(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(4000, 3000, |x, y| {
        image::Rgb([
            (x % 256) as u8,
            (y % 256) as u8,
            seed.wrapping_add(((x ^ y) % 256) as u8),
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_render_loses_nothing_and_another_replica_finishes_its_work() {
    const IMAGES: usize = 6;
    let redis = Redis::start();
    let state = tempfile::tempdir().unwrap();
    let (origin, received) = webhook_receiver_failing(Arc::new(Mutex::new(None))).await;
    let vars = fast_variables(&webhook_variables(&origin));
    let front = replica(&redis, &vars, FRONT, state.path()).await;
    let mut doomed = HostProcess::start(&redis, state.path(), WORKER, &vars);
    wait_for(
        "the doomed worker to subscribe",
        Duration::from_secs(120),
        || {
            let client = redis::Client::open(redis.url()).unwrap();
            let mut conn = client.get_connection().unwrap();
            let counts: Vec<redis::Value> = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg("thumbflow.images")
                .query(&mut conn)
                .unwrap();
            matches!(counts.get(1), Some(redis::Value::Int(n)) if *n > 0)
        },
    )
    .await;

    for i in 0..IMAGES {
        let response = front
            .put(&format!("crash/{i}.png"), big_png(i as u8), "image/png")
            .await;
        assert_eq!(response.status(), 201);
    }
    // Kill it while it holds work it has not settled.
    wait_for(
        "the worker to take a render",
        Duration::from_secs(60),
        || {
            let stats = stage_stats(&redis, "thumbflow.images");
            stats.in_flight > 0 && stats.counter("processed") < IMAGES as u64
        },
    )
    .await;
    doomed.kill();
    let before = stage_stats(&redis, "thumbflow.images");
    assert!(
        before.counter("processed") < IMAGES as u64,
        "killed too late: {before:?}\n{}",
        doomed.log()
    );

    let killed_at = Instant::now();
    let _successor = replica(&redis, &vars, WORKER, state.path()).await;
    wait_for("every image's webhook", Duration::from_secs(120), || {
        received.lock().unwrap().len() >= IMAGES
    })
    .await;
    for i in 0..IMAGES {
        let key = format!("crash/{i}.png");
        assert_eq!(webhooks_for(&received, &key), 1, "{key}: one webhook");
        let status = front.status(&key).await.unwrap();
        assert!(
            stage_is(&status, "thumbnailer", "done"),
            "{key}: {status:#}"
        );
    }
    let after = stage_stats(&redis, "thumbflow.images");
    assert_eq!(after.counter("processed"), IMAGES as u64, "{after:?}");
    assert_eq!((after.backlog, after.dead_letters), (0, 0), "{after:?}");
    // What the dead worker held was taken over once its lease ran out, not
    // before: reclaimed (not dead-lettered, not retried as a failure).
    assert!(before.in_flight > 0, "killed holding nothing: {before:?}");
    assert_eq!(
        after.counter("reclaimed"),
        before.in_flight,
        "the killed worker's work was reclaimed: {after:?}"
    );
    assert!(
        killed_at.elapsed() >= Duration::from_secs(3),
        "the killed worker's render waited for its lease"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_dead_lettered_and_replayed_once_fixed() {
    let redis = Redis::start();
    let state = tempfile::tempdir().unwrap();
    let fail = Arc::new(Mutex::new(Some("poison/".to_owned())));
    let (origin, received) = webhook_receiver_failing(fail.clone()).await;
    let vars = fast_variables(&webhook_variables(&origin));
    let pipeline = replica(&redis, &vars, &[], state.path()).await;
    let bytes = fixture("rocket.jpg");
    assert_eq!(
        pipeline
            .put("poison/a.jpg", bytes.clone(), "image/jpeg")
            .await
            .status(),
        201
    );
    for i in 0..5 {
        let key = format!("fine/{i}.jpg");
        assert_eq!(
            pipeline
                .put(&key, bytes.clone(), "image/jpeg")
                .await
                .status(),
            201
        );
    }
    // The others flow while the poison one retries.
    for i in 0..5 {
        let key = format!("fine/{i}.jpg");
        pipeline
            .wait_status(&key, "notified", |s| stage_is(s, "notifier", "done"))
            .await;
    }
    let status = pipeline
        .wait_status("poison/a.jpg", "dead-lettered", |s| {
            s["stages"]["notifier"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("dead-lettered"))
        })
        .await;
    assert!(stage_is(&status, "notifier", "dead"), "{status:#}");
    assert!(
        status["stages"]["notifier"]["detail"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{status:#}"
    );

    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_thumbflow"))
            .args(args)
            .args(["--url", &pipeline.base])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, listed) = cli(&["dlq", "list", "--json"]);
    assert_eq!(code, Some(0), "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let letters = listed["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{listed:#}");
    assert_eq!(letters[0]["stage"], "notifier");
    assert_eq!(letters[0]["attempts"], 3);
    assert!(letters[0]["error"].as_str().unwrap().contains("HTTP 500"));
    assert_eq!(webhooks_for(&received, "poison/a.jpg"), 0);

    // An id that is no dead letter: a clear error, nothing replayed.
    let (code, out) = cli(&["dlq", "replay", "9-9", "--stage", "notifier"]);
    assert_ne!(code, Some(0), "{out}");
    // The receiver is fixed; replay that one letter by its id.
    *fail.lock().unwrap() = None;
    let id = letters[0]["id"].as_str().unwrap().to_owned();
    let (code, out) = cli(&["dlq", "replay", &id, "--stage", "notifier"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("replayed notifier"), "{out}");
    pipeline
        .wait_status("poison/a.jpg", "notified after replay", |s| {
            stage_is(s, "notifier", "done")
        })
        .await;
    assert_eq!(webhooks_for(&received, "poison/a.jpg"), 1);
    let (_, listed) = cli(&["dlq", "list"]);
    assert!(listed.contains("no dead letters"), "{listed}");
}
