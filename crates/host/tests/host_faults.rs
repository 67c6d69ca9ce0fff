//! The host under faults, with real parts: a Redis restarted mid-run, a
//! burst of uploads against a small instance pool, a shutdown with events
//! still queued, and the memory limit of a composed instance. Each test
//! starts its own `redis-server` and runs the repo's `spin.toml` with the
//! real `.wasm` files on our host, in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::collections::BTreeSet;
use std::net::TcpListener as StdListener;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use thumbflow::app::{App, AppOptions, Entry};
use thumbflow::limits::{InstancePool, TriggerLimits};
use thumbflow::spin::kv::KvDatabase;
use thumbflow::{InvocationLimits, Runtime};
use thumbflow_blob::status::read_status;
use thumbflow_blob::{KvBackend, MemoryKv};
use thumbflow_events::split_stage_status_key;

// Test support. Kept in this file so it builds on its own; the launcher
// that can restart Redis and the host that can shut down gracefully are
// candidates for the shared harness (tests/common).

/// Repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `check` until it holds or the deadline passes (then panic naming `what`).
fn wait_until(deadline: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A real photo stored rotated (EXIF orientation 6), committed as a fixture.
fn photo() -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/images/orient6.jpg")).unwrap()
}

/// `stage` of a status record is in `state`.
fn stage_is(status: &serde_json::Value, stage: &str, state: &str) -> bool {
    status["stages"][stage]["state"] == state
}

/// The thumbnailer has finished with the object, one way or the other.
fn thumbnail_done(status: &serde_json::Value) -> bool {
    stage_is(status, "thumbnailer", "done") || stage_is(status, "thumbnailer", "failed")
}

/// An S3 `Records[]` notification for `bucket`/`key`, as S3 sends it.
fn s3_event(bucket: &str, key: &str) -> String {
    format!(
        r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-27T10:00:00.000Z","eventName":"ObjectCreated:Put","s3":{{"s3SchemaVersion":"1.0","bucket":{{"name":"{bucket}","arn":"arn:aws:s3:::{bucket}"}},"object":{{"key":"{key}","size":1234,"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"0055AED6DCD90281E5"}}}}}}]}}"#
    )
}

/// A `redis-server` on a free port with the append-only file on, which a
/// test can kill (SIGKILL) and start again on the same port and data.
struct AofRedis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl AofRedis {
    fn start() -> Self {
        let mut redis = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        redis.spawn();
        redis
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found on PATH: install it (apt-get install redis-server)");
        self.child = Some(child);
        let port = self.port;
        wait_until(
            Duration::from_secs(10),
            "redis-server to accept connections",
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
    }

    /// SIGKILL, then a new server on the same port and append-only file.
    fn kill_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        self.spawn();
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for AofRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The repo's `spin.toml` on our host with a chosen instance pool and
/// trigger limits; unlike the shared harness it can be shut down
/// gracefully and waited for.
struct Host {
    app: Arc<App>,
    base: String,
    http: reqwest::Client,
    kv_path: PathBuf,
    channels: Vec<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _state: tempfile::TempDir,
}

impl Host {
    async fn start(redis_url: &str, pool: InstancePool, limits: TriggerLimits) -> Self {
        let state = tempfile::tempdir().unwrap();
        let options = AppOptions {
            components: Vec::new(),
            manifest: root().join("spin.toml"),
            state_dir: state.path().to_owned(),
            variables: vec![
                ("redis_address".to_owned(), redis_url.to_owned()),
                // An event a worker held when Redis died is taken again after this.
                ("work_lease_ms".to_owned(), "2000".to_owned()),
            ],
        };
        let runtime = Arc::new(Runtime::with_pool(InvocationLimits::default(), pool).unwrap());
        let app = Arc::new(
            tokio::task::spawn_blocking(move || App::load(runtime, &options))
                .await
                .unwrap()
                .unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn({
            let app = app.clone();
            async move {
                thumbflow::up::run_with(app, listener, limits, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            }
        });
        let host = Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            kv_path: app.kv_path.clone(),
            channels: app.redis.iter().map(|s| s.channel.clone()).collect(),
            app,
            stop: Some(stop),
            task: Some(task),
            _state: state,
        };
        wait_subscribed(redis_url, &host.channels).await;
        host
    }

    /// Signal shutdown; the handle resolves once the host has drained and stopped.
    fn signal_shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap()
    }

    /// Signal shutdown and wait until the host has drained and stopped.
    async fn shut_down(mut self) {
        self.signal_shutdown().await.unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.http
            .put(self.url(&format!("/objects/{key}")))
            .header("content-type", "image/jpeg")
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// Poll `GET /status/{key}` until `done(status)`, for at most 60 s.
    async fn wait_status(
        &self,
        key: &str,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let response = self
                .http
                .get(self.url(&format!("/status/{key}")))
                .send()
                .await
                .unwrap();
            let last = if response.status() == 200 {
                let status: serde_json::Value = response.json().await.unwrap();
                if done(&status) {
                    return status;
                }
                status.to_string()
            } else {
                format!("HTTP {}", response.status())
            };
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}; last status {last}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The channel the normalizer (the first stage) subscribes to.
    fn raw_channel(&self) -> String {
        let sub = self.app.redis.iter().find(|s| s.component == "normalizer");
        sub.unwrap().channel.clone()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Wait until every channel has a subscriber on the Redis at `url`.
async fn wait_subscribed(url: &str, channels: &[String]) {
    let start = Instant::now();
    loop {
        if let Ok(mut conn) = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
        {
            let mut cmd = redis::cmd("PUBSUB");
            cmd.arg("NUMSUB").arg(channels);
            if let Ok(counts) = cmd.query_async::<Vec<redis::Value>>(&mut conn).await {
                let subscribed = counts
                    .chunks(2)
                    .all(|pair| matches!(pair.get(1), Some(redis::Value::Int(n)) if *n > 0));
                if subscribed {
                    return;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "host never subscribed to {channels:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The status records in the key-value database, one per object, merged
/// from the per-stage entries as `GET /status/...` merges them.
fn statuses(kv_path: &Path) -> Vec<serde_json::Value> {
    let db = KvDatabase::open(kv_path).unwrap();
    let entries = MemoryKv::default();
    let mut objects = BTreeSet::new();
    for k in db.keys("default").unwrap() {
        if let Some((bucket, _, key)) = split_stage_status_key(&k) {
            objects.insert((bucket.to_owned(), key.to_owned()));
            if let Some(raw) = db.get("default", &k).unwrap() {
                entries.set(&k, &raw).unwrap();
            }
        }
    }
    objects
        .iter()
        .filter_map(|(bucket, key)| read_status(&entries, bucket, key).unwrap())
        .map(|record| serde_json::from_str(&record.to_json()).unwrap())
        .collect()
}

/// Poll the key-value database until `count` statuses satisfy `done`.
async fn wait_statuses(
    kv_path: &Path,
    count: usize,
    deadline: Duration,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let all = statuses(kv_path);
        if all.iter().filter(|s| done(s)).count() >= count {
            return all;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out waiting for {what}: {} of {count} after {deadline:?}",
            all.iter().filter(|s| done(s)).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn limits(concurrency: usize) -> TriggerLimits {
    TriggerLimits {
        concurrency: NonZeroUsize::new(concurrency).unwrap(),
        ..TriggerLimits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_stream_loses_no_accepted_upload_and_publishing_heals() {
    const UPLOADS: usize = 40;
    let mut redis = AofRedis::start();
    let host = Host::start(&redis.url(), InstancePool::default(), limits(2)).await;
    let bytes = photo();

    // Uploads keep coming while Redis is killed and restarted under them.
    let accepted_so_far = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let uploads = futures::stream::iter(0..UPLOADS)
        .map(|i| {
            let (host, bytes, counter) = (&host, bytes.clone(), accepted_so_far.clone());
            async move {
                let key = format!("mid/{i:02}.jpg");
                let status = host.put(&key, bytes).await.status().as_u16();
                if status == 201 {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                (key, status)
            }
        })
        .buffer_unordered(2)
        .collect::<Vec<_>>();
    // The kill comes mid-stream: after some uploads were accepted, at a
    // moment when accepted work still waits in the stages' streams (so the
    // AOF, not luck, is what keeps it).
    let url = redis.url();
    let restart = async {
        let client = redis::Client::open(url.clone()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let start = Instant::now();
        loop {
            let mut backlog = 0u64;
            for stream in [
                "thumbflow.raw:work",
                "thumbflow.images:work",
                "thumbflow.thumbnails:work",
            ] {
                backlog += redis::cmd("XLEN")
                    .arg(stream)
                    .query_async::<u64>(&mut conn)
                    .await
                    .unwrap_or(0);
            }
            let accepted = accepted_so_far.load(std::sync::atomic::Ordering::SeqCst);
            if accepted >= 4 && backlog > 0 {
                break (accepted, backlog);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never saw accepted work waiting in a stream"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let kill = async {
        let (accepted, backlog) = restart.await;
        redis.kill_and_restart();
        (accepted, backlog)
    };
    let (results, (accepted_at_kill, backlog_at_kill)) = tokio::join!(uploads, kill);
    assert!(
        accepted_at_kill < UPLOADS,
        "the restart came after every upload: {results:?}"
    );
    let accepted: Vec<&String> = results
        .iter()
        .filter(|(_, status)| *status == 201)
        .map(|(key, _)| key)
        .collect();
    for (key, status) in &results {
        assert!(
            *status == 201 || *status == 503,
            "{key}: {status} (an upload is accepted or refused, never half-done)"
        );
    }
    assert!(!accepted.is_empty(), "{results:?}");
    wait_subscribed(&redis.url(), &host.channels).await;

    // Every accepted upload is thumbnailed: the queue survived in the AOF.
    for key in &accepted {
        let status = host
            .wait_status(key, "the accepted upload's thumbnail", thumbnail_done)
            .await;
        assert!(
            stage_is(&status, "thumbnailer", "done"),
            "{key}: {status:#}"
        );
    }

    // The gateway's outbound connection broke with the restart: the next
    // publish must go out on a new one (a 503 would mean it was reused).
    let response = host.put("after.jpg", bytes).await;
    let status = response.status();
    assert_eq!(status, 201, "{}", response.text().await.unwrap());
    let after = host
        .wait_status(
            "after.jpg",
            "the thumbnail after the restart",
            thumbnail_done,
        )
        .await;
    assert!(stage_is(&after, "thumbnailer", "done"), "{after:#}");
    println!(
        "restart mid-stream: killed with {accepted_at_kill} uploads accepted and {backlog_at_kill} \
         stream entries waiting; {} of {UPLOADS} uploads accepted in all, all thumbnailed",
        accepted.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_500_uploads_on_a_small_instance_pool_all_get_thumbnails() {
    const UPLOADS: usize = 500;
    let concurrency = std::env::var("THUMBFLOW_BURST_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    // Three instances for four triggers at `concurrency` each: invocations
    // must wait for the pool, never fail on it. (Both settable, to measure.)
    let pool = std::env::var("THUMBFLOW_BURST_POOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let redis = AofRedis::start();
    let triggers = TriggerLimits {
        http_queue_timeout: Duration::from_secs(600),
        ..limits(concurrency)
    };
    let host = Host::start(&redis.url(), InstancePool::new(pool), triggers).await;
    let bytes = photo();

    let started = Instant::now();
    let puts = (0..UPLOADS).map(|i| {
        let (http, url, bytes) = (
            host.http.clone(),
            host.url(&format!("/objects/burst/{i}.jpg")),
            bytes.clone(),
        );
        async move {
            let response = http
                .put(url)
                .header("content-type", "image/jpeg")
                .body(bytes)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    });
    let codes = futures::future::join_all(puts).await;
    let accepted = started.elapsed();
    let refused: Vec<_> = codes.iter().filter(|c| **c != 201).collect();
    assert!(refused.is_empty(), "every upload accepted: {refused:?}");

    let all = wait_statuses(
        &host.kv_path,
        UPLOADS,
        Duration::from_secs(900),
        "500 thumbnails",
        thumbnail_done,
    )
    .await;
    let thumbnailed = all
        .iter()
        .filter(|s| stage_is(s, "thumbnailer", "done"))
        .count();
    assert_eq!(
        thumbnailed, UPLOADS,
        "all thumbnailed, none failed or dropped"
    );
    println!(
        "burst: {UPLOADS} uploads at concurrency {concurrency} on a {pool}-instance pool: \
         accepted in {:.1} s, all thumbnailed in {:.1} s",
        accepted.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Publish `count` S3 events for objects `drain/{i}.jpg` on the raw channel, at once.
async fn publish_raw_events(url: &str, channel: &str, count: usize) {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut pipe = redis::pipe();
    for i in 0..count {
        pipe.publish(channel, s3_event("photos", &format!("drain/{i}.jpg")));
    }
    let receivers: Vec<i64> = pipe.query_async(&mut conn).await.unwrap();
    assert!(
        receivers.iter().all(|n| *n == 1),
        "the host is subscribed: {receivers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_runs_every_received_event_before_returning() {
    const EVENTS: usize = 50;
    let redis = AofRedis::start();
    let host = Host::start(&redis.url(), InstancePool::new(1), limits(1)).await;
    // The test holds the pool's only instance: nothing runs until shutdown.
    let slot = host.app.admit().await.unwrap();
    publish_raw_events(&redis.url(), &host.raw_channel(), EVENTS).await;
    let kv_path = host.kv_path.clone();
    let mut host = host;
    let stopped = host.signal_shutdown();
    assert!(statuses(&kv_path).is_empty(), "nothing ran before shutdown");
    drop(slot);
    stopped.await.unwrap();
    let normalized = statuses(&kv_path)
        .iter()
        .filter(|s| stage_is(s, "normalizer", "done"))
        .count();
    assert_eq!(
        normalized, EVENTS,
        "the host ran every event it had received"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_queued_events_after_the_drain_timeout() {
    let redis = AofRedis::start();
    let triggers = TriggerLimits {
        drain_timeout: Duration::from_millis(200),
        ..limits(1)
    };
    let host = Host::start(&redis.url(), InstancePool::new(1), triggers).await;
    let _slot = host.app.admit().await.unwrap();
    publish_raw_events(&redis.url(), &host.raw_channel(), 5).await;
    let kv_path = host.kv_path.clone();
    // The events can never run (the test keeps the only instance), yet
    // shutdown returns once the drain timeout has passed.
    tokio::time::timeout(Duration::from_secs(60), host.shut_down())
        .await
        .expect("shutdown returned despite events that could not run");
    assert!(
        statuses(&kv_path).is_empty(),
        "the abandoned events never ran"
    );
}

/// Instantiate the thumbnailer (its glue composed with the engine: two
/// linear memories) under `limits`; `Ok` carries the instance's total memory.
async fn instantiate_thumbnailer(limits: InvocationLimits) -> Result<usize, String> {
    let dir = tempfile::tempdir().unwrap();
    let wasm = root().join("target/wasm32-wasip2/release");
    let manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "memory"
[application.trigger.redis]
address = "redis://127.0.0.1:6379"
[[trigger.redis]]
channel = "images"
component = "thumbnailer"
[component.thumbnailer]
source = "{}"
[component.thumbnailer.dependencies]
"thumbflow:pipeline/thumbnail@0.1.0" = {{ path = "{}" }}
"#,
        wasm.join("thumbnailer.wasm").display(),
        wasm.join("thumbnailer_core.wasm").display()
    );
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    let options = AppOptions {
        components: Vec::new(),
        manifest: dir.path().join("spin.toml"),
        state_dir: dir.path().to_owned(),
        variables: Vec::new(),
    };
    let runtime = Arc::new(Runtime::new(limits).unwrap());
    let app = tokio::task::spawn_blocking(move || App::load(runtime, &options))
        .await
        .unwrap()
        .unwrap();
    let component = &app.components["thumbnailer"];
    let Entry::Redis(pre) = &component.entry else {
        panic!("the thumbnailer is a Redis component");
    };
    let mut store = app.store(component);
    match pre.instantiate_async(&mut store).await {
        Ok(_) => Ok(store.data().peak_memory()),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// The numbers in "would grow to D bytes, making the instance's memories T bytes in all".
fn growth(message: &str) -> (usize, usize) {
    let number = |after: &str| -> usize {
        let rest = &message[message.find(after).unwrap() + after.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (number("would grow to "), number("instance's memories "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_applies_to_all_memories_of_a_composed_instance() {
    let total = instantiate_thumbnailer(InvocationLimits::default())
        .await
        .unwrap();
    let limit = total - 65_536;
    let err = instantiate_thumbnailer(InvocationLimits {
        memory_bytes: limit,
        ..InvocationLimits::default()
    })
    .await
    .unwrap_err();
    assert!(err.contains("over the"), "{err}");
    let (memory, all) = growth(&err);
    // The memory that tripped the limit fits on its own: only the sum is over.
    assert!(memory <= limit, "{memory} > {limit}: {err}");
    assert!(all > limit, "{all} <= {limit}: {err}");
}
