//! Harness for the pipeline tests: a real `redis-server` on a free port,
//! the repo's `spin.toml` and real `.wasm` files on our host in-process on
//! port 0 ([`Pipeline`]) or on real Spin as a child process
//! ([`spin::RealSpin`]), both reached through one [`Endpoint`] so the
//! [`scenarios`] run unchanged on either, and waiting on conditions with
//! deadlines (no sleeps as asserts).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

pub mod browser;
pub mod jco;
pub mod s3;
pub mod scenarios;
pub mod spin;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thumbflow::app::{App, AppOptions};
use thumbflow::limits::TriggerLimits;
use thumbflow::{InvocationLimits, Runtime};

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A test whose optional part (`spin`: real Spin, `rgw`: Ceph RGW, `corpus`:
/// the photo corpus) is missing here: panics when `THUMBFLOW_REQUIRE` names
/// the part (`.ci/run` names every part it installed or found, so CI can
/// never pass a test that did not run), else says it skipped on stderr and
/// in `target/test-skips.txt`, which `make test` prints at the end (cargo
/// hides the output of passing tests).
pub fn skip(part: &str, why: &str) {
    let required = std::env::var("THUMBFLOW_REQUIRE").unwrap_or_default();
    if required.split(',').any(|p| p.trim() == part) {
        panic!("{part} is required here (THUMBFLOW_REQUIRE={required}) but: {why}");
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let line = format!("SKIPPED {test} ({part}): {why}");
    eprintln!("{line}");
    let log = root().join("target/test-skips.txt");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        use std::io::Write as _;
        let _ = writeln!(file, "{line}");
    }
}

/// A `redis-server` owned by one test, killed on drop.
pub struct Redis {
    /// `None` for a server this test did not start ([`Redis::on_default_port`]).
    child: Option<Child>,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// The Redis at `127.0.0.1:6379`, where `redis_address` points by
    /// default: the one already running there, else one started there.
    pub fn on_default_port() -> Self {
        const PORT: u16 = 6379;
        if std::net::TcpStream::connect(("127.0.0.1", PORT)).is_ok() {
            return Self {
                child: None,
                port: PORT,
                _dir: tempfile::tempdir().unwrap(),
            };
        }
        Self::start_on(PORT)
    }

    fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found on PATH: install it (apt-get install redis-server)");
        let redis = Self {
            child: Some(child),
            port,
            _dir: dir,
        };
        wait_until(
            Duration::from_secs(10),
            "redis-server to accept connections",
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `check` until it holds or the deadline passes (then panic naming `what`).
pub fn wait_until(deadline: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a test talks to: the gateway's base URL, and the key-value database
/// the components share (our host's and Spin's use the same SQLite schema).
pub struct Endpoint {
    pub base: String,
    pub http: reqwest::Client,
    pub kv_path: PathBuf,
    /// The Redis channels the app subscribes to.
    pub channels: Vec<String>,
}

/// The pipeline running on our host, shut down on drop.
pub struct Pipeline {
    pub app: Arc<App>,
    pub endpoint: Endpoint,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _state: Option<tempfile::TempDir>,
}

impl Pipeline {
    /// Start `manifest` with `variables` (plus `redis_address`) against `redis`.
    pub async fn start_with(
        manifest: &Path,
        redis: &Redis,
        variables: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::start_replica(
            manifest,
            redis,
            variables,
            &[],
            None,
            TriggerLimits::default(),
        )
        .await
    }

    /// Start only `components` of `manifest` (all when empty) with
    /// `limits`, keeping key-value data in `state_dir` when given (replicas
    /// on one machine share it, as replicas elsewhere share Redis).
    pub async fn start_replica(
        manifest: &Path,
        redis: &Redis,
        variables: &[(&str, &str)],
        components: &[&str],
        state_dir: Option<&Path>,
        limits: TriggerLimits,
    ) -> anyhow::Result<Self> {
        let mut vars = vec![("redis_address".to_owned(), redis.url())];
        vars.extend(
            variables
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let pipeline = Self::start_app(manifest, vars, components, state_dir, limits).await?;
        pipeline.endpoint.wait_subscribed(redis).await;
        Ok(pipeline)
    }

    /// Start an app with no Redis at all (`deploy/http-only/spin.toml`).
    pub async fn start_without_redis(
        manifest: &Path,
        variables: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let vars = variables
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::start_app(manifest, vars, &[], None, TriggerLimits::default()).await
    }

    async fn start_app(
        manifest: &Path,
        vars: Vec<(String, String)>,
        components: &[&str],
        state_dir: Option<&Path>,
        limits: TriggerLimits,
    ) -> anyhow::Result<Self> {
        let owned = match state_dir {
            Some(_) => None,
            None => Some(tempfile::tempdir()?),
        };
        let state_path = state_dir
            .map(Path::to_owned)
            .or_else(|| owned.as_ref().map(|t| t.path().to_owned()))
            .unwrap();
        let options = AppOptions {
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            manifest: manifest.to_owned(),
            state_dir: state_path,
            variables: vars,
        };
        let runtime = Arc::new(Runtime::new(InvocationLimits::default())?);
        let app =
            Arc::new(tokio::task::spawn_blocking(move || App::load(runtime, &options)).await??);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn({
            let app = app.clone();
            async move {
                let _ = thumbflow::up::run_with(app, listener, limits, async {
                    let _ = rx.await;
                })
                .await;
            }
        });
        let endpoint = Endpoint {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            kv_path: app.kv_path.clone(),
            channels: app.redis.iter().map(|s| s.channel.clone()).collect(),
        };
        Ok(Self {
            app,
            endpoint,
            shutdown: Some(tx),
            task: Some(task),
            _state: owned,
        })
    }

    pub async fn start(redis: &Redis, variables: &[(&str, &str)]) -> Self {
        Self::start_with(&root().join("spin.toml"), redis, variables)
            .await
            .unwrap()
    }
}

impl std::ops::Deref for Pipeline {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Endpoint {
    /// Wait until every channel has a subscriber, so no published event is lost.
    pub async fn wait_subscribed(&self, redis: &Redis) {
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let channels = &self.channels;
        let start = Instant::now();
        loop {
            let mut cmd = redis::cmd("PUBSUB");
            cmd.arg("NUMSUB");
            for c in channels {
                cmd.arg(c);
            }
            let counts: Vec<redis::Value> = cmd.query_async(&mut conn).await.unwrap();
            let subscribed = counts
                .chunks(2)
                .all(|pair| matches!(pair.get(1), Some(redis::Value::Int(n)) if *n > 0));
            if subscribed {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "host never subscribed to {channels:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> reqwest::Response {
        self.http
            .put(self.url(&format!("/objects/{key}")))
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// `POST /events` with a raw event, which the gateway must accept (`202`).
    pub async fn post_event(&self, body: impl Into<reqwest::Body>) {
        let response = self
            .http
            .post(self.url("/events"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "POST /events");
    }

    pub async fn status(&self, key: &str) -> Option<serde_json::Value> {
        let response = self
            .http
            .get(self.url(&format!("/status/{key}")))
            .send()
            .await
            .unwrap();
        if response.status() == 404 {
            return None;
        }
        Some(response.json().await.unwrap())
    }

    /// Poll `/status/{key}` until `done(status)` or the deadline.
    pub async fn wait_status(
        &self,
        key: &str,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            if let Some(status) = self.status(key).await {
                if done(&status) {
                    return status;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "timed out waiting for {what}; last status {status:#}"
                );
            } else {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "timed out waiting for {what}; no status for {key}"
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A blob store over the same key-value database the components use.
    pub fn blobs(&self) -> thumbflow_blob::BlobStore<thumbflow::spin::kv::DefaultStore> {
        let db = Arc::new(thumbflow::spin::kv::KvDatabase::open(&self.kv_path).unwrap());
        thumbflow_blob::BlobStore::new(thumbflow::spin::kv::DefaultStore(db), u64::MAX)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The counters and backlog of the stage queue reading `channel`.
pub fn stage_stats(redis: &Redis, channel: &str) -> thumbflow_queue::Stats {
    let queue = thumbflow_queue::Queue::new(
        thumbflow_queue::redis::NativeRedis::connect(&redis.url()).unwrap(),
        "test",
        channel,
        thumbflow_queue::QueueConfig::default(),
    );
    queue.stats().unwrap()
}

/// `stage` of a status record is in `state`.
pub fn stage_is(status: &serde_json::Value, stage: &str, state: &str) -> bool {
    status["stages"][stage]["state"] == state
}

/// A real photo stored rotated (EXIF orientation 6) and the size its
/// thumbnail must have when displayed upright: from the corpus when present
/// (1920x1280 stored, 1280x1920 displayed), else a committed fixture
/// (270x480 stored, 480x270 displayed).
pub fn photo() -> (String, Vec<u8>, (u32, u32)) {
    let corpus = std::env::var("THUMBFLOW_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("../shared/corpus"));
    let from_corpus = corpus.join("mate_Storm_orient6.jpg");
    if let Ok(bytes) = std::fs::read(&from_corpus) {
        return (from_corpus.display().to_string(), bytes, (200, 300));
    }
    let fixture = root().join("tests/fixtures/images/orient6.jpg");
    (
        fixture.display().to_string(),
        std::fs::read(&fixture).unwrap(),
        (300, 169),
    )
}

/// Guest output lines the in-process host logged (`target: "guest"`), as
/// (component, line), captured by a `tracing` layer installed on first use.
static GUEST_LINES: std::sync::OnceLock<std::sync::Mutex<Vec<(String, String)>>> =
    std::sync::OnceLock::new();

struct GuestCapture;

#[derive(Default)]
struct GuestFields {
    component: String,
    message: String,
}

impl tracing::field::Visit for GuestFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "component" {
            self.component = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for GuestCapture {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target() != "guest" {
            return;
        }
        let mut fields = GuestFields::default();
        event.record(&mut fields);
        if let Some(lines) = GUEST_LINES.get() {
            lines
                .lock()
                .unwrap()
                .push((fields.component, fields.message));
        }
    }
}

/// Start capturing the in-process host's guest log lines (idempotent; call
/// before starting the [`Pipeline`]).
pub fn capture_guest_logs() {
    use tracing_subscriber::layer::SubscriberExt as _;
    GUEST_LINES.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(GuestCapture),
        );
        std::sync::Mutex::new(Vec::new())
    });
}

/// Every captured line of `component`, newline-separated.
pub fn guest_log(component: &str) -> String {
    GUEST_LINES.get().map_or_else(String::new, |lines| {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == component)
            .map(|(_, line)| line.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    })
}
