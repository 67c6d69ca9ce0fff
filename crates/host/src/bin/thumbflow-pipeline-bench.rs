//! `thumbflow-pipeline-bench`: what our host adds to each stage of the
//! pipeline, and how long one upload takes end to end, for
//! `make bench-pipeline` (issue 3). A benchmark, not a test: it asserts
//! nothing about time, it measures and reports, and writes its section of
//! `docs/benchmarks.md` between the `bench-pipeline` marker lines.
//!
//! It starts what the integration-test harness starts (a `redis-server` of
//! its own on a free port, the repo's `spin.toml` with the release `.wasm`
//! files loaded by the host library in-process) and then:
//!
//! - **Part A, per-stage host overhead.** For each component of the app,
//!   many invocations of exactly what a trigger does per event: a new store,
//!   a fresh instance from the component's pre-instance, a call of its
//!   trigger export with a minimal input that makes the guest do almost
//!   nothing (see [`minimal_inputs`]), the guest's captured output read
//!   back, the store dropped. Timed twice: instantiate only, and
//!   instantiate + call. The call includes the guest's own minimal work.
//!   Every answer is checked; a trap, a guest error or an unexpected answer
//!   is a failure, counted and printed.
//! - **Part B, end to end.** The triggers run (`thumbflow::up::run`, HTTP on
//!   port 0); a small real photo is uploaded with `PUT /objects/...`, one
//!   upload at a time with distinct keys. The clock runs from just before
//!   the `PUT` to the moment the host's notifier invocation for that upload
//!   returns (its status record is written by then). That moment is taken
//!   in-process from the host's own Redis-trigger event (the `tracing` event
//!   `thumbflow::trigger::redis` emits when an invocation ends), so there
//!   is no polling delay in the figure; one `GET /status/...` afterwards
//!   checks that every stage says `done`.
//! - **S3 mode beside KV mode** (issue 9). The same uploads of the same
//!   photo, timed the same way, on a second host whose app runs with
//!   `store=s3` against a real Ceph RGW (`scripts/s3/rgw.sh`, a bucket made
//!   with CreateBucket), its own `redis-server` and its own key-value
//!   database. The two hosts take turns upload by upload (one upload in
//!   flight at a time), so background load falls on both alike. Skipped,
//!   with a printed and written note, when radosgw is not installed.
//! - **Throughput** (issue 13). Corpus photos (`--corpus`, only files the
//!   engine accepts, cycled) uploaded by `--clients` concurrent clients,
//!   each uploading, waiting for its photo's notifier, then uploading the
//!   next, with the host's trigger concurrency at 1, 2, 4 and 8 (and one
//!   client at concurrency 1: one message at a time). Per row a fresh
//!   `redis-server`, a fresh key-value database and the host started with
//!   `thumbflow::up::run_with` and that [`TriggerLimits`]; uploads/s,
//!   latency, and the CPU time of this process (host and clients) and of
//!   `redis-server` over the wall time. An upload's end is its notifier
//!   invocation's end event, matched to the upload through the
//!   thumbnail-created event the bench also receives on Redis.
//!
//! `--only` runs some parts and leaves the doc alone: its section is always
//! one run of everything. Components are compiled once per run (a compile
//! cache in the bench's scratch directory), so the later app loads of the
//! S3 and throughput parts only deserialize them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use thumbflow::app::{App, AppComponent, AppOptions, Entry};
use thumbflow::cores::ImageLimits;
use thumbflow::limits::{InstancePool, TriggerLimits};
use thumbflow::runtime::CompileCache;
use thumbflow::{InvocationLimits, Runtime, ThumbnailerCore};
use thumbflow_events::{
    gateway_put_event, normalize, thumbnail_created_envelope, NormalizeOptions, Outcome,
    ThumbnailCreated, ThumbnailInfo,
};
use tokio::sync::mpsc;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::Layer as _;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::WasiHttpView as _;

/// First line of this tool's section of `docs/benchmarks.md`.
const BEGIN_MARKER: &str = "<!-- bench-pipeline:begin -->";
/// Last line of this tool's section of `docs/benchmarks.md`.
const END_MARKER: &str = "<!-- bench-pipeline:end -->";
/// The pipeline's stages in the order an upload goes through them.
const STAGES: [&str; 4] = ["gateway", "normalizer", "thumbnailer", "notifier"];
/// The goal of issue 3: host overhead per stage invocation under this.
const GOAL: Duration = Duration::from_millis(1);
/// Where the host's Redis trigger reports each finished invocation.
const REDIS_TRIGGER_TARGET: &str = "thumbflow::trigger::redis";
/// Bucket of the part A inputs, apart from the uploads of part B.
const STAGE_BUCKET: &str = "bench-stage";
/// The bucket the S3-mode app uploads into (its `bucket` variable).
const S3_BUCKET: &str = "thumbflow-bench";
/// The image limits of `spin.toml`'s defaults (`max_pixels`,
/// `max_object_bytes`, `max_decode_bytes`): a photo the engine probes
/// successfully with them is one the pipeline thumbnails.
const PIPELINE_IMAGE_LIMITS: ImageLimits = ImageLimits {
    max_pixels: 100_000_000,
    max_side: 16_384,
    max_input_bytes: 64 << 20,
    max_frames: 10_000,
    memory_budget: 402_653_184,
};

#[derive(Parser)]
#[command(
    name = "thumbflow-pipeline-bench",
    about = "Per-stage host overhead and end-to-end latency of the pipeline on thumbflow's host (make bench-pipeline)"
)]
struct Args {
    /// The application manifest (its `.wasm` files come from `make build`).
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// The photo uploaded in part B.
    #[arg(long, default_value = "tests/fixtures/images/upright.jpg")]
    photo: PathBuf,
    /// The thumbnail engine, used once to read the photo's dimensions.
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/thumbnailer_core.wasm"
    )]
    thumbnailer_core: PathBuf,
    /// Part A: timed invocations per stage and measure.
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    /// Part A: untimed rounds first (compiled code and caches warm, pool slots touched).
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Part B: timed uploads.
    #[arg(long, default_value_t = 100)]
    uploads: usize,
    /// Part B: untimed uploads first.
    #[arg(long, default_value_t = 5)]
    warmup_uploads: usize,
    /// Part B: longest wait for one upload to go through every stage, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// S3 mode: the script that starts and stops a throw-away Ceph RGW.
    #[arg(long, default_value = "scripts/s3/rgw.sh")]
    rgw_script: PathBuf,
    /// Throughput: the photos uploaded (files the engine does not accept are left out).
    #[arg(long, env = "THUMBFLOW_CORPUS", default_value = "../shared/corpus")]
    corpus: PathBuf,
    /// Throughput: timed uploads per row (the corpus photos, cycled).
    #[arg(long, default_value_t = 300)]
    throughput_uploads: usize,
    /// Throughput: concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Throughput: the host's trigger concurrencies measured with `--clients`
    /// clients (the machine's cores, the default, is added when missing).
    #[arg(long, value_delimiter = ',', default_values = ["1", "2", "4", "8"])]
    host_concurrency: Vec<NonZeroUsize>,
    /// Throughput: untimed uploads per row first (every client busy at once).
    #[arg(long, default_value_t = 16)]
    throughput_warmup: usize,
    /// Run only these parts (comma-separated); the doc is then left alone.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// File whose `bench-pipeline` section is written (created if missing).
    #[arg(long, default_value = "docs/benchmarks.md")]
    doc: PathBuf,
    /// Print the summary only; leave the doc alone.
    #[arg(long)]
    no_doc: bool,
}

/// The parts of the bench, for `--only`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// Per-stage host overhead (part A).
    Overhead,
    /// End-to-end latency in KV mode, one upload at a time (part B).
    Latency,
    /// Part B in S3 mode beside KV mode (runs the KV uploads too).
    S3,
    /// Uploads/s at several host concurrencies.
    Throughput,
}

impl Args {
    /// Whether `part` runs.
    fn runs(&self, part: Part) -> bool {
        self.only.is_empty()
            || self.only.contains(&part)
            || (part == Part::Latency && self.only.contains(&Part::S3))
    }

    /// The doc is written only for a run of every part.
    fn writes_doc(&self) -> bool {
        !self.no_doc && self.only.is_empty()
    }
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: some invocations or uploads failed (listed above); their figures leave them out");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Everything; `Ok(false)` when something failed but figures were still made.
fn run(args: &Args) -> anyhow::Result<bool> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; `make bench-pipeline` builds it with --release");
    }
    let (ends_tx, ends_rx) = mpsc::unbounded_channel();
    install_tracing(ends_tx)?;
    let scratch = Scratch::new()?;
    let runtime = Arc::new(bench_runtime(args, &scratch)?);
    let core = ThumbnailerCore::load(&runtime, &args.thumbnailer_core).with_context(|| {
        format!(
            "loading {} (build it: make build)",
            args.thumbnailer_core.display()
        )
    })?;
    let photo = Photo::read(&core, &args.photo)?;
    let tokio = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = tokio.block_on(bench(
        args,
        Arc::clone(&runtime),
        &core,
        &photo,
        &scratch,
        ends_rx,
    ))?;
    drop(tokio);
    drop(scratch);
    let machine = Machine::describe();
    let section = report.section(args, &machine, &photo);
    println!("\n{section}");
    report.print_failures();
    if args.writes_doc() {
        write_section(&args.doc, &section)?;
        println!("wrote the bench-pipeline section of {}", args.doc.display());
    } else if !args.only.is_empty() {
        println!(
            "--only: {} left alone (its section is one run of every part)",
            args.doc.display()
        );
    }
    Ok(report.ok())
}

/// The engine every app of the run shares: its instance pool has room for
/// every trigger at the highest concurrency measured (as `thumbflow up`
/// sizes it), and a compile cache in the scratch directory compiles each
/// component once per run.
fn bench_runtime(args: &Args, scratch: &Scratch) -> anyhow::Result<Runtime> {
    let manifest = thumbflow::manifest::Manifest::from_file(&args.manifest)
        .with_context(|| format!("reading {}", args.manifest.display()))?;
    let triggers = manifest.redis_triggers.len() + usize::from(!manifest.http_triggers.is_empty());
    let highest = host_concurrencies(args)
        .into_iter()
        .max()
        .unwrap_or(NonZeroUsize::MIN);
    let pool = InstancePool::for_triggers(triggers, highest);
    let cache_dir = scratch.0.join("compile-cache");
    let config = scratch.0.join("compile-cache.toml");
    std::fs::write(
        &config,
        format!(
            "[cache]\ndirectory = {:?}\n",
            cache_dir.display().to_string()
        ),
    )
    .with_context(|| format!("writing {}", config.display()))?;
    Runtime::with_pool_and_cache(
        InvocationLimits::default(),
        pool,
        &CompileCache::ConfigFile(config),
    )
}

async fn bench(
    args: &Args,
    runtime: Arc<Runtime>,
    core: &ThumbnailerCore<'_>,
    photo: &Photo,
    scratch: &Scratch,
    mut ends: mpsc::UnboundedReceiver<StageEnd>,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    if args.runs(Part::Overhead) || args.runs(Part::Latency) {
        let redis = Redis::start(&scratch.0.join("redis"))?;
        eprintln!(
            "loading {} (composing, compiling, pre-instantiating)...",
            args.manifest.display()
        );
        let app = load_app(
            runtime.clone(),
            &args.manifest,
            scratch.0.join("state"),
            vec![("redis_address".to_owned(), redis.url())],
        )
        .await?;
        if args.runs(Part::Overhead) {
            eprintln!(
                "part A: {} warm-up rounds, then {} timed invocations per stage and measure...",
                args.warmup, args.iterations
            );
            report.overhead = Some(part_a(&app, args.warmup, args.iterations).await?);
        }
        if args.runs(Part::Latency) {
            let kv = Host::start(app.clone(), &redis, TriggerLimits::default()).await?;
            let mut addrs = vec![kv.addr];
            // Dropped (RGW stopped, its Redis killed) after its host stopped.
            let mut s3 = None;
            if args.runs(Part::S3) {
                match S3Side::start(args, runtime.clone(), scratch).await {
                    Ok(side) => {
                        addrs.push(side.host.addr);
                        s3 = Some(side);
                    }
                    Err(e) => {
                        let reason = format!("{e:#}");
                        eprintln!("S3 mode not measured: {reason}");
                        report.s3 = Some(S3Outcome::NotMeasured(reason));
                    }
                }
            }
            eprintln!(
                "part B: {} warm-up uploads, then {} timed uploads of {}{}...",
                args.warmup_uploads,
                args.uploads,
                args.photo.display(),
                if addrs.len() > 1 {
                    ", KV and S3 mode taking turns"
                } else {
                    ""
                }
            );
            let latency = part_b(args, &addrs, photo, &mut ends).await;
            kv.stop().await;
            if let Some(side) = s3 {
                let S3Side {
                    host,
                    rgw,
                    redis: s3_redis,
                } = side;
                host.stop().await;
                drop(s3_redis);
                let version = rgw.version.clone();
                drop(rgw);
                if let Ok(latency) = &latency {
                    if let Some(s3_latency) = latency.get(1) {
                        report.s3 = Some(S3Outcome::Measured {
                            latency: s3_latency.clone(),
                            server: version,
                        });
                    }
                }
            }
            report.latency = latency?.into_iter().next();
        }
        drop(app);
        drop(redis);
    }
    if args.runs(Part::Throughput) {
        report.throughput = Some(throughput(args, &runtime, core, scratch, ends).await?);
    }
    Ok(report)
}

/// Load `manifest` with `variables` on `runtime`, its key-value database in `state_dir`.
async fn load_app(
    runtime: Arc<Runtime>,
    manifest: &Path,
    state_dir: PathBuf,
    variables: Vec<(String, String)>,
) -> anyhow::Result<Arc<App>> {
    let options = AppOptions {
        components: Vec::new(),
        manifest: manifest.to_owned(),
        state_dir,
        variables,
    };
    let app = tokio::task::spawn_blocking(move || App::load(runtime, &options))
        .await
        .context("loading the app")?
        .context("loading the app (the components come from `make build`)")?;
    Ok(Arc::new(app))
}

/// One app's triggers running in this process (`thumbflow::up::run_with`),
/// HTTP on 127.0.0.1 port 0, until [`Host::stop`].
struct Host {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Host {
    /// Start the triggers and wait until every Redis subscription is in place.
    async fn start(app: Arc<App>, redis: &Redis, limits: TriggerLimits) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the HTTP trigger to 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(thumbflow::up::run_with(
            app.clone(),
            listener,
            limits,
            async move {
                let _ = stop_rx.await;
            },
        ));
        wait_subscribed(&app, redis).await?;
        Ok(Self { addr, stop, task })
    }

    /// Stop the triggers and wait for them to drain.
    async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: the host stopped with an error: {e:#}"),
            Err(e) => eprintln!("warning: the host task failed: {e}"),
        }
    }
}

// ---------------------------------------------------------------- part A

/// The input each stage gets in part A, and the answer that shows the
/// guest took the short path it was meant to.
enum MinimalInput {
    /// An HTTP request, answered with `status` and a body containing `body`.
    Http {
        path: &'static str,
        status: u16,
        body: &'static str,
    },
    /// A Redis message, handled with `Ok` and this on the guest's stdout.
    Redis { payload: Vec<u8>, stdout: String },
}

/// One stage's part A input with a sentence on what the guest does with it.
struct StageInput {
    stage: &'static str,
    input: MinimalInput,
    what: String,
}

/// The cheapest input each stage handles successfully, no image work anywhere.
fn minimal_inputs() -> anyhow::Result<Vec<StageInput>> {
    let original = "bench/stage.jpg";
    let now = "2026-01-01T00:00:00Z";
    // A real canonical event for the original, as the normalizer makes it.
    let put = gateway_put_event(STAGE_BUCKET, original, 28_264, "0123", "image/jpeg", now);
    let source = match normalize(put.as_bytes(), &NormalizeOptions::default())
        .context("normalizing the part A gateway event")?
        .pop()
    {
        Some(Outcome::Accepted { event, .. }) => event,
        other => anyhow::bail!("the part A gateway event was not accepted: {other:?}"),
    };
    // The same for a key under the thumbnail prefix (prefix check off, so
    // the normalizer accepts it): the thumbnailer skips it as its own output.
    let thumb_key = format!("thumbnails/{original}");
    let put = gateway_put_event(STAGE_BUCKET, &thumb_key, 1_234, "4567", "image/jpeg", now);
    let no_prefix = NormalizeOptions {
        thumbnail_prefix: String::new(),
        ..NormalizeOptions::default()
    };
    let thumb_envelope = match normalize(put.as_bytes(), &no_prefix)
        .context("normalizing the part A thumbnail event")?
        .pop()
    {
        Some(Outcome::Accepted { envelope, .. }) => envelope,
        other => anyhow::bail!("the part A thumbnail event was not accepted: {other:?}"),
    };
    let created = ThumbnailCreated {
        bucket: STAGE_BUCKET.to_owned(),
        key: original.to_owned(),
        source_event_id: source.id.clone(),
        thumbnails: vec![ThumbnailInfo {
            recipe: "thumb".to_owned(),
            recipe_version: 1,
            key: thumb_key.clone(),
            width: 300,
            height: 169,
            content_type: "image/jpeg".to_owned(),
            bytes: 1_234,
        }],
    };
    Ok(vec![
        StageInput {
            stage: "gateway",
            input: MinimalInput::Http {
                path: "/healthz",
                status: 200,
                body: r#""status":"ok""#,
            },
            what: "`GET /healthz`, answered 200 by the router: no Spin host call, only the \
                   `wasi:http` request and response plumbing"
                .to_owned(),
        },
        StageInput {
            stage: "normalizer",
            input: MinimalInput::Redis {
                payload: include_bytes!("../../../events/tests/samples/s3-test-event.json")
                    .to_vec(),
                stdout: "ignored (no object): S3 test event".to_owned(),
            },
            what: "the S3 `s3:TestEvent` sample, ignored: reads 3 variables, calls its composed \
                   normalizer engine, opens the pooled outbound Redis connection and the \
                   key-value store, publishes nothing"
                .to_owned(),
        },
        StageInput {
            stage: "thumbnailer",
            input: MinimalInput::Redis {
                payload: thumb_envelope.into_bytes(),
                stdout: format!("skipped {STAGE_BUCKET}/{thumb_key}: skipped: the object is one of thumbflow's own outputs"),
            },
            what: "a canonical event for a key under `thumbnails/`, skipped as thumbflow's own \
                   output before any image is read: 1 variable, one status-record read and \
                   write in the key-value store"
                .to_owned(),
        },
        StageInput {
            stage: "notifier",
            input: MinimalInput::Redis {
                payload: thumbnail_created_envelope(&source, &created, now).into_bytes(),
                stdout: format!("notified {STAGE_BUCKET}/{original}: no webhook configured"),
            },
            what: "a thumbnail-created event with no webhook configured: 1 variable, one \
                   status-record read and write in the key-value store"
                .to_owned(),
        },
    ])
}

/// Part A figures for one stage.
struct Overhead {
    stage: &'static str,
    what: String,
    instantiate: Vec<Duration>,
    call: Vec<Duration>,
    failures: Vec<String>,
}

/// Time every stage, round-robin (each round: every stage, both measures,
/// so background load on a shared machine falls on all of them alike).
async fn part_a(app: &App, warmup: usize, iterations: usize) -> anyhow::Result<Vec<Overhead>> {
    let mut rows = Vec::new();
    for input in minimal_inputs()? {
        let component = app.components.get(input.stage).with_context(|| {
            format!(
                "the manifest has no component {:?}: this bench expects the pipeline's spin.toml",
                input.stage
            )
        })?;
        let fits = matches!(
            (&component.entry, &input.input),
            (Entry::Http(_), MinimalInput::Http { .. })
                | (Entry::Redis(_), MinimalInput::Redis { .. })
        );
        anyhow::ensure!(
            fits,
            "component {:?} is not triggered the way this bench expects",
            input.stage
        );
        rows.push((
            component.clone(),
            input.input,
            Overhead {
                stage: input.stage,
                what: input.what,
                instantiate: Vec::with_capacity(iterations),
                call: Vec::with_capacity(iterations),
                failures: Vec::new(),
            },
        ));
    }
    for round in 0..warmup + iterations {
        let timed = round >= warmup;
        for (component, input, row) in &mut rows {
            // Alternate which measure goes first.
            for which in [round % 2 == 0, round % 2 != 0] {
                let (result, samples) = if which {
                    (instantiate_only(app, component).await, &mut row.instantiate)
                } else {
                    (invoke(app, component, input).await, &mut row.call)
                };
                match result {
                    Ok(elapsed) if timed => samples.push(elapsed),
                    Ok(_) => {}
                    Err(e) => row.failures.push(format!("{e:#}")),
                }
            }
        }
    }
    Ok(rows.into_iter().map(|(_, _, row)| row).collect())
}

/// New store, fresh instance, store dropped.
async fn instantiate_only(app: &App, component: &AppComponent) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut store = app.store(component);
    match &component.entry {
        Entry::Http(pre) => {
            pre.instantiate_async(&mut store).await?;
        }
        Entry::Redis(pre) => {
            pre.instantiate_async(&mut store).await?;
        }
    }
    drop(store);
    Ok(start.elapsed())
}

/// New store, fresh instance, one call of the trigger export (for HTTP
/// with the response read), the guest's output read back, store dropped;
/// the answer is checked after the clock stops.
async fn invoke(
    app: &App,
    component: &AppComponent,
    input: &MinimalInput,
) -> anyhow::Result<Duration> {
    match (&component.entry, input) {
        (Entry::Http(pre), MinimalInput::Http { path, status, body }) => {
            let start = Instant::now();
            let mut store = app.store(component);
            let request = hyper::Request::get(format!("http://localhost{path}"))
                .body(Empty::<Bytes>::new())
                .context("building the request")?;
            let (sender, receiver) = tokio::sync::oneshot::channel();
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, request)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            // The guest streams the body while it runs: read it meanwhile,
            // as the HTTP trigger's server does.
            let call = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            };
            let read = async {
                let response = match receiver.await {
                    Ok(Ok(response)) => response,
                    Ok(Err(code)) => return Err(format!("error code {code:?}")),
                    Err(_) => return Err("no response".to_owned()),
                };
                let status = response.status().as_u16();
                match response.into_body().collect().await {
                    Ok(collected) => Ok((status, collected.to_bytes())),
                    Err(e) => Err(format!("reading the body: {e:?}")),
                }
            };
            let (called, read) = futures::join!(call, read);
            let (_, stderr) = store.data().output();
            drop(store);
            let elapsed = start.elapsed();
            called.map_err(|trap| {
                anyhow::anyhow!("component trapped: {trap:#}{}", stderr_note(&stderr))
            })?;
            let (got_status, got_body) = read.map_err(|e| anyhow::anyhow!("{e}"))?;
            let text = String::from_utf8_lossy(&got_body);
            anyhow::ensure!(
                got_status == *status && text.contains(body),
                "GET {path}: expected {status} with {body}, got {got_status} {text:?}"
            );
            Ok(elapsed)
        }
        (Entry::Redis(pre), MinimalInput::Redis { payload, stdout }) => {
            let start = Instant::now();
            let mut store = app.store(component);
            let result = async {
                let instance = pre.instantiate_async(&mut store).await?;
                instance
                    .fermyon_spin_inbound_redis()
                    .call_handle_message(&mut store, payload)
                    .await
            }
            .await;
            let (out, err) = store.data().output();
            drop(store);
            let elapsed = start.elapsed();
            match result {
                Ok(Ok(())) => {
                    let out = String::from_utf8_lossy(&out);
                    anyhow::ensure!(
                        out.contains(stdout.as_str()),
                        "handled, but the guest printed {out:?} instead of {stdout:?}{}",
                        stderr_note(&err)
                    );
                    Ok(elapsed)
                }
                Ok(Err(e)) => {
                    anyhow::bail!("component returned an error: {e:?}{}", stderr_note(&err))
                }
                Err(trap) => anyhow::bail!("component trapped: {trap:#}{}", stderr_note(&err)),
            }
        }
        _ => anyhow::bail!("component {:?}: input of the wrong kind", component.id),
    }
}

fn stderr_note(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(" (guest stderr: {text})")
    }
}

// ---------------------------------------------------------------- part B

/// A Redis-trigger invocation that ended, as the host reported it.
#[derive(Debug)]
struct StageEnd {
    /// When the host reported it (just after the call returned).
    at: Instant,
    /// The component that ran.
    component: String,
    /// The id of the event it handled (the trigger's `event` field).
    event: String,
    /// The event's level: anything above DEBUG means the invocation failed.
    level: tracing::Level,
    /// The host's message (`handled`, or what went wrong).
    message: String,
}

/// A `tracing` layer that forwards the host Redis trigger's per-invocation
/// events (each carries a `component` field) as [`StageEnd`]s.
struct StageEnds(mpsc::UnboundedSender<StageEnd>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StageEnds {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let at = Instant::now();
        let mut fields = EventFields::default();
        event.record(&mut fields);
        if let Some(component) = fields.component {
            let _ = self.0.send(StageEnd {
                at,
                component,
                event: fields.event,
                level: *event.metadata().level(),
                message: fields.message,
            });
        }
    }
}

#[derive(Default)]
struct EventFields {
    component: Option<String>,
    event: String,
    message: String,
}

impl tracing::field::Visit for EventFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "component" => self.component = Some(value.to_owned()),
            "event" => self.event = value.to_owned(),
            "message" => self.message = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "component" => self.component = Some(format!("{value:?}")),
            "event" => self.event = format!("{value:?}"),
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }
}

/// Host warnings and errors to stderr (`RUST_LOG` overrides), and the Redis
/// trigger's per-invocation events to part B.
fn install_tracing(ends: mpsc::UnboundedSender<StageEnd>) -> anyhow::Result<()> {
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        );
    let ends = StageEnds(ends).with_filter(
        tracing_subscriber::filter::Targets::new()
            .with_target(REDIS_TRIGGER_TARGET, tracing::Level::DEBUG),
    );
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(stderr).with(ends))
        .context("installing the tracing subscriber")
}

/// Part B figures: per timed upload, when each stage had finished,
/// counted from just before its `PUT`.
#[derive(Clone)]
struct Latency {
    /// One entry per successful timed upload, one duration per stage of [`STAGES`].
    samples: Vec<[Duration; 4]>,
    /// The thumbnail the last successful upload got, as its status record lists it.
    thumbnail: Option<String>,
    failures: Vec<String>,
    /// Uploads attempted (timed ones).
    attempted: usize,
}

/// Part B on one host per address (KV mode, then S3 mode if present), the
/// hosts taking turns upload by upload (who goes first alternates), one
/// upload in flight at a time; one [`Latency`] per host, in order.
async fn part_b(
    args: &Args,
    addrs: &[std::net::SocketAddr],
    photo: &Photo,
    ends: &mut mpsc::UnboundedReceiver<StageEnd>,
) -> anyhow::Result<Vec<Latency>> {
    let mut clients = Vec::new();
    for addr in addrs {
        clients.push(Client::connect(*addr).await?);
    }
    let body = Bytes::from(photo.bytes.clone());
    let mut latencies: Vec<Latency> = addrs
        .iter()
        .map(|_| Latency {
            samples: Vec::with_capacity(args.uploads),
            thumbnail: None,
            failures: Vec::new(),
            attempted: args.uploads,
        })
        .collect();
    let deadline = Duration::from_secs(args.timeout_secs);
    for n in 0..args.warmup_uploads + args.uploads {
        let timed = n >= args.warmup_uploads;
        let key = if timed {
            format!("bench/upload-{:03}.jpg", n - args.warmup_uploads)
        } else {
            format!("bench/warmup-{n}.jpg")
        };
        for turn in 0..clients.len() {
            let which = if n % 2 == 0 {
                turn
            } else {
                clients.len() - 1 - turn
            };
            let (Some(client), Some(latency)) = (clients.get_mut(which), latencies.get_mut(which))
            else {
                continue;
            };
            // Nothing from an earlier upload may count for this one.
            while ends.try_recv().is_ok() {}
            match upload(client, &key, body.clone(), ends, deadline).await {
                Ok((sample, thumbnail)) => {
                    if timed {
                        latency.samples.push(sample);
                    }
                    latency.thumbnail = Some(thumbnail);
                }
                Err(e) => latency.failures.push(format!("{key}: {e:#}")),
            }
        }
    }
    Ok(latencies)
}

/// One upload through every stage: when each stage was done, from just
/// before the `PUT`, and the thumbnail made, as the status record lists it.
async fn upload(
    client: &mut Client,
    key: &str,
    body: Bytes,
    ends: &mut mpsc::UnboundedReceiver<StageEnd>,
    deadline: Duration,
) -> anyhow::Result<([Duration; 4], String)> {
    let request = client.request(
        hyper::Method::PUT,
        &format!("/objects/{key}"),
        Some("image/jpeg"),
        body,
    )?;
    let start = Instant::now();
    let (status, answer) = client.send(request).await?;
    let gateway = start.elapsed();
    anyhow::ensure!(
        status == 201,
        "PUT answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    let mut done = BTreeMap::new();
    let give_up = tokio::time::Instant::now() + deadline;
    // The notifier's end is the figure; the other two normally come first
    // but are waited for too (a stage's end event follows its publish).
    while !STAGES[1..].iter().all(|stage| done.contains_key(*stage)) {
        let end = tokio::time::timeout_at(give_up, ends.recv())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "not through every stage after {deadline:?}; finished: {:?}",
                    done.keys().collect::<Vec<_>>()
                )
            })?
            .context("the host's trigger events stopped")?;
        anyhow::ensure!(
            end.level == tracing::Level::DEBUG,
            "{} failed: {}",
            end.component,
            end.message
        );
        done.insert(end.component, end.at.duration_since(start));
    }
    let thumbnail = check_status(client, key).await?;
    let at = |stage: &str| {
        done.get(stage)
            .copied()
            .with_context(|| format!("no end event from {stage}"))
    };
    Ok((
        [
            gateway,
            at("normalizer")?,
            at("thumbnailer")?,
            at("notifier")?,
        ],
        thumbnail,
    ))
}

/// One keep-alive HTTP/1.1 connection to the host's HTTP trigger.
struct Client {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to the HTTP trigger at {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake with the host")?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("warning: client connection to the host: {e}");
            }
        });
        Ok(Self {
            sender,
            authority: addr.to_string(),
        })
    }

    fn request(
        &self,
        method: hyper::Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.authority);
        if let Some(content_type) = content_type {
            builder = builder.header(hyper::header::CONTENT_TYPE, content_type);
        }
        builder
            .body(Full::new(body))
            .with_context(|| format!("building the request for {path}"))
    }

    async fn send(&mut self, request: hyper::Request<Full<Bytes>>) -> anyhow::Result<(u16, Bytes)> {
        let what = format!("{} {}", request.method(), request.uri());
        self.sender
            .ready()
            .await
            .context("the connection to the host closed")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .with_context(|| what.clone())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the answer to {what}"))?
            .to_bytes();
        Ok((status, body))
    }
}

/// Wait until the host subscribed to every channel, so no event is lost.
async fn wait_subscribed(app: &App, redis: &Redis) -> anyhow::Result<()> {
    let client = redis::Client::open(redis.url())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connecting to {}", redis.url()))?;
    let channels: Vec<&str> = app.redis.iter().map(|s| s.channel.as_str()).collect();
    let start = Instant::now();
    loop {
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg("NUMSUB").arg(&channels);
        let counts: Vec<redis::Value> = cmd.query_async(&mut conn).await?;
        let subscribed = counts
            .chunks(2)
            .all(|pair| matches!(pair.get(1), Some(redis::Value::Int(n)) if *n > 0));
        if subscribed {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(20),
            "the host never subscribed to {channels:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- S3 mode

/// What became of the S3 mode of part B.
enum S3Outcome {
    /// Measured on `server`.
    Measured { latency: Latency, server: String },
    /// Not measured, and why (radosgw missing, or it would not start).
    NotMeasured(String),
}

/// The S3-mode host of part B and what it runs on.
struct S3Side {
    host: Host,
    redis: Redis,
    rgw: Rgw,
}

impl S3Side {
    /// Start RGW, create the bucket, start a `redis-server` and the host of
    /// `spin.toml` with `store=s3` on them.
    async fn start(args: &Args, runtime: Arc<Runtime>, scratch: &Scratch) -> anyhow::Result<Self> {
        let rgw = Rgw::start(&args.rgw_script, &scratch.0.join("rgw"))?;
        rgw.create_bucket(S3_BUCKET).await?;
        let redis = Redis::start(&scratch.0.join("redis-s3"))?;
        let mut variables = vec![("redis_address".to_owned(), redis.url())];
        variables.extend(rgw.pipeline_variables(S3_BUCKET));
        eprintln!(
            "loading {} again with store=s3 on {}...",
            args.manifest.display(),
            rgw.endpoint
        );
        let app = load_app(
            runtime,
            &args.manifest,
            scratch.0.join("state-s3"),
            variables,
        )
        .await?;
        let host = Host::start(app, &redis, TriggerLimits::default()).await?;
        Ok(Self { host, redis, rgw })
    }
}

/// A throw-away Ceph RGW started by `scripts/s3/rgw.sh`, stopped on drop.
struct Rgw {
    script: PathBuf,
    dir: PathBuf,
    endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    /// `radosgw --version`, for the doc.
    version: String,
}

impl Rgw {
    fn start(script: &Path, dir: &Path) -> anyhow::Result<Self> {
        let missing: Vec<&str> = ["radosgw", "ceph-mon", "ceph-osd"]
            .into_iter()
            .filter(|tool| !on_path(tool))
            .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "{} not installed (scripts/s3/rgw.sh install installs them)",
            missing.join(", ")
        );
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        eprintln!("starting Ceph RGW ({} start)...", script.display());
        let out = Command::new("bash")
            .arg(script)
            .arg("start")
            .arg(dir)
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        // From here on the daemons may be up: stop them on any error.
        let mut rgw = Self {
            script: script.to_owned(),
            dir: dir.to_owned(),
            endpoint: String::new(),
            region: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            version: String::new(),
        };
        anyhow::ensure!(
            out.status.success(),
            "{} start failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        let vars: BTreeMap<&str, &str> = printed
            .lines()
            .filter_map(|line| line.split_once('='))
            .collect();
        let get = |name: &str| {
            vars.get(name)
                .map(|v| (*v).to_owned())
                .with_context(|| format!("{} start printed no {name}", script.display()))
        };
        rgw.endpoint = get("S3_ENDPOINT")?;
        rgw.region = get("S3_REGION")?;
        rgw.access_key_id = get("S3_ACCESS_KEY_ID")?;
        rgw.secret_access_key = get("S3_SECRET_ACCESS_KEY")?;
        rgw.version = Command::new("radosgw")
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|v| !v.is_empty())
            .map_or("Ceph RGW (version unknown)".to_owned(), |v| {
                // "ceph version 16.2.15 (<hash>) pacific (stable)": drop the hash.
                let words: Vec<&str> = v
                    .split_whitespace()
                    .filter(|w| !w.starts_with('('))
                    .collect();
                format!("Ceph RGW, {}", words.join(" "))
            });
        Ok(rgw)
    }

    /// The pipeline variables that put the app's objects in `bucket` here.
    fn pipeline_variables(&self, bucket: &str) -> Vec<(String, String)> {
        [
            ("store", "s3"),
            ("s3_endpoint", self.endpoint.as_str()),
            ("s3_region", self.region.as_str()),
            ("s3_access_key_id", self.access_key_id.as_str()),
            ("s3_secret_access_key", self.secret_access_key.as_str()),
            ("s3_path_style", "true"),
            ("bucket", bucket),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// CreateBucket (an existing bucket of ours is fine).
    async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let config = thumbflow_s3::S3Config::new(
            &self.endpoint,
            &self.region,
            &self.access_key_id,
            &self.secret_access_key,
            "true",
        )
        .context("the S3 settings rgw.sh printed")?;
        let request = thumbflow_s3::S3Client::new(config)
            .create_bucket(bucket)
            .with_context(|| format!("signing CreateBucket {bucket}"))?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .context("the CreateBucket method")?;
        let mut builder = reqwest::Client::new().request(method, &request.url);
        for (name, value) in &request.headers {
            // reqwest sets the length from the body itself.
            if name != "content-length" {
                builder = builder.header(name, value);
            }
        }
        let response = builder
            .body(request.body)
            .send()
            .await
            .with_context(|| format!("CreateBucket {bucket} on {}", self.endpoint))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = response
            .bytes()
            .await
            .context("reading the CreateBucket answer")?;
        if status == 409 && String::from_utf8_lossy(&body).contains("BucketAlreadyOwnedByYou") {
            return Ok(());
        }
        thumbflow_s3::check_status(status, &headers, &body)
            .with_context(|| format!("CreateBucket {bucket} on {}", self.endpoint))
    }
}

impl Drop for Rgw {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether `program` is on `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

// ---------------------------------------------------------------- throughput

/// A corpus photo of the throughput part, with the content type a client
/// that knows its file sends.
struct CorpusPhoto {
    name: String,
    bytes: Bytes,
    content_type: String,
}

/// The throughput part's figures.
struct Throughput {
    corpus: PathBuf,
    /// Distinct photos uploaded, and their bytes together.
    photos: usize,
    photo_bytes: u64,
    /// Corpus files the engine does not accept, left out.
    left_out: Vec<String>,
    rows: Vec<ThroughputRow>,
    /// `TriggerLimits::default().concurrency` here.
    default_concurrency: NonZeroUsize,
    cores: usize,
}

/// One configuration: host trigger concurrency and client count.
struct ThroughputRow {
    host_concurrency: NonZeroUsize,
    clients: usize,
    attempted: usize,
    /// End-to-end latency of every upload that went through every stage.
    latencies: Vec<Duration>,
    failures: Vec<String>,
    /// Invocations the host reported failed during the timed uploads.
    host_errors: Vec<String>,
    /// From the first timed `PUT` to the last upload's end.
    wall: Duration,
    /// User + system CPU time of this process (host and clients) over `wall`.
    cpu: Option<Duration>,
    /// The same for the row's `redis-server`.
    redis_cpu: Option<Duration>,
}

impl ThroughputRow {
    fn per_second(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.latencies.len() as f64 / secs
        } else {
            0.0
        }
    }

    fn failed(&self) -> usize {
        self.attempted.saturating_sub(self.latencies.len())
    }
}

/// The host concurrencies measured with several clients: the ones asked
/// for, and the default (the machine's cores) if missing.
fn host_concurrencies(args: &Args) -> Vec<NonZeroUsize> {
    let mut all = args.host_concurrency.clone();
    all.push(TriggerLimits::default().concurrency);
    all.sort();
    all.dedup();
    all
}

/// One client and host concurrency 1 (one message at a time), then every
/// host concurrency with `--clients` clients; each row on a fresh host.
async fn throughput(
    args: &Args,
    runtime: &Arc<Runtime>,
    core: &ThumbnailerCore<'_>,
    scratch: &Scratch,
    mut ends: mpsc::UnboundedReceiver<StageEnd>,
) -> anyhow::Result<Throughput> {
    let (photos, left_out) = read_corpus(&args.corpus, core)?;
    anyhow::ensure!(
        !photos.is_empty(),
        "no file in {} that the thumbnail engine accepts: set THUMBFLOW_CORPUS or --corpus to a directory of photos",
        args.corpus.display()
    );
    let photo_bytes = photos.iter().map(|p| p.bytes.len() as u64).sum();
    let photos = Arc::new(photos);
    let mut configs = vec![(NonZeroUsize::MIN, 1)];
    for concurrency in host_concurrencies(args) {
        configs.push((concurrency, args.clients.max(1)));
    }
    let mut rows = Vec::new();
    for (index, (concurrency, clients)) in configs.into_iter().enumerate() {
        eprintln!(
            "throughput: host concurrency {concurrency}, {clients} client(s): {} warm-up, then {} timed uploads of {} corpus photos...",
            args.throughput_warmup,
            args.throughput_uploads,
            photos.len()
        );
        let dir = scratch.0.join(format!("throughput-{index}"));
        let (row, back) =
            throughput_row(args, runtime, &dir, &photos, concurrency, clients, ends).await?;
        ends = back;
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!(
            "  {:.2} uploads/s, {} of {} failed",
            row.per_second(),
            row.failed(),
            row.attempted
        );
        rows.push(row);
    }
    Ok(Throughput {
        corpus: args.corpus.clone(),
        photos: photos.len(),
        photo_bytes,
        left_out,
        rows,
        default_concurrency: TriggerLimits::default().concurrency,
        cores: std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
    })
}

/// The corpus files the engine accepts (probed with the pipeline's default
/// limits), by name, and the names of those left out.
fn read_corpus(
    dir: &Path,
    core: &ThumbnailerCore<'_>,
) -> anyhow::Result<(Vec<CorpusPhoto>, Vec<String>)> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "reading the corpus {} (set THUMBFLOW_CORPUS or --corpus)",
            dir.display()
        )
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let (mut photos, mut left_out) = (Vec::new(), Vec::new());
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        match core.probe(&bytes, &PIPELINE_IMAGE_LIMITS) {
            Ok(info) => photos.push(CorpusPhoto {
                name,
                bytes: Bytes::from(bytes),
                content_type: format!("image/{}", info.format),
            }),
            Err(_) => left_out.push(name),
        }
    }
    Ok((photos, left_out))
}

/// One row on a fresh `redis-server`, key-value database and host.
async fn throughput_row(
    args: &Args,
    runtime: &Arc<Runtime>,
    dir: &Path,
    photos: &Arc<Vec<CorpusPhoto>>,
    concurrency: NonZeroUsize,
    clients: usize,
    mut ends: mpsc::UnboundedReceiver<StageEnd>,
) -> anyhow::Result<(ThroughputRow, mpsc::UnboundedReceiver<StageEnd>)> {
    let redis = Redis::start(&dir.join("redis"))?;
    let app = load_app(
        runtime.clone(),
        &args.manifest,
        dir.join("state"),
        vec![("redis_address".to_owned(), redis.url())],
    )
    .await?;
    let notifier = STAGES[3];
    let channel = app
        .redis
        .iter()
        .find(|s| s.component == notifier)
        .map(|s| s.channel.clone())
        .with_context(|| format!("the manifest has no Redis trigger for {notifier:?}"))?;
    let limits = TriggerLimits {
        concurrency,
        ..TriggerLimits::default()
    };
    let host = Host::start(app.clone(), &redis, limits).await?;
    while ends.try_recv().is_ok() {}
    let tracker = Arc::new(std::sync::Mutex::new(Tracker::default()));
    let created = watch_created(&redis, &channel, tracker.clone()).await?;
    let (stop_ends, ends_task) = watch_ends(ends, tracker.clone());
    let deadline = Duration::from_secs(args.timeout_secs);
    let batch = |prefix: String, total: usize| Batch {
        addr: host.addr,
        clients,
        photos: photos.clone(),
        prefix,
        total,
        tracker: tracker.clone(),
        deadline,
    };

    let warm = batch(
        format!("warmup/c{concurrency}-k{clients}"),
        args.throughput_warmup,
    )
    .run()
    .await;
    let warm_failures: Vec<String> = warm.into_iter().filter_map(Result::err).collect();
    print_some("throughput warm-up", &warm_failures);
    lock(&tracker).errors.clear();

    let redis_pid = redis.pid();
    let (cpu_before, redis_before) = (cpu_time(std::process::id()), cpu_time(redis_pid));
    let start = Instant::now();
    let outcomes = batch(
        format!("throughput/c{concurrency}-k{clients}"),
        args.throughput_uploads,
    )
    .run()
    .await;
    let wall = start.elapsed();
    let (cpu_after, redis_after) = (cpu_time(std::process::id()), cpu_time(redis_pid));
    let host_errors = std::mem::take(&mut lock(&tracker).errors);

    // Untimed: every completed upload's status record says done.
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let mut client = Client::connect(host.addr).await?;
    for outcome in outcomes {
        match outcome {
            Ok((key, latency)) => match check_status(&mut client, &key).await {
                Ok(_) => latencies.push(latency),
                Err(e) => failures.push(format!("{key}: {e:#}")),
            },
            Err(e) => failures.push(e),
        }
    }
    drop(client);
    host.stop().await;
    created.abort();
    let _ = stop_ends.send(());
    let ends = ends_task
        .await
        .context("the bench's event watcher failed")?;
    drop(app);
    drop(redis);
    let row = ThroughputRow {
        host_concurrency: concurrency,
        clients,
        attempted: args.throughput_uploads,
        latencies,
        failures,
        host_errors,
        wall,
        cpu: cpu_after.zip(cpu_before).map(|(a, b)| a.saturating_sub(b)),
        redis_cpu: redis_after
            .zip(redis_before)
            .map(|(a, b)| a.saturating_sub(b)),
    };
    Ok((row, ends))
}

/// Uploads made by several clients at once, each client uploading a photo,
/// waiting until the notifier has handled it, then uploading the next.
struct Batch {
    addr: std::net::SocketAddr,
    clients: usize,
    photos: Arc<Vec<CorpusPhoto>>,
    /// Keys are `{prefix}/{n:04}-{photo name}`.
    prefix: String,
    total: usize,
    tracker: Arc<std::sync::Mutex<Tracker>>,
    /// Longest wait for one upload's notifier.
    deadline: Duration,
}

impl Batch {
    /// Per upload: its key and end-to-end latency, or what went wrong.
    async fn run(self) -> Vec<Result<(String, Duration), String>> {
        let batch = Arc::new(self);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..batch.clients {
            let (batch, next) = (batch.clone(), next.clone());
            tasks.push(tokio::spawn(async move { batch.client(&next).await }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            match task.await {
                Ok(list) => outcomes.extend(list),
                Err(e) => outcomes.push(Err(format!("a client task failed: {e}"))),
            }
        }
        outcomes
    }

    /// One client: uploads until every upload of the batch was taken.
    async fn client(
        &self,
        next: &std::sync::atomic::AtomicUsize,
    ) -> Vec<Result<(String, Duration), String>> {
        let mut outcomes = Vec::new();
        let mut client = match Client::connect(self.addr).await {
            Ok(client) => client,
            Err(e) => {
                outcomes.push(Err(format!("{e:#}")));
                return outcomes;
            }
        };
        loop {
            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n >= self.total {
                return outcomes;
            }
            let Some(photo) = self.photos.get(n % self.photos.len().max(1)) else {
                return outcomes;
            };
            let key = format!("{}/{n:04}-{}", self.prefix, photo.name);
            outcomes.push(
                self.upload(&mut client, &key, photo)
                    .await
                    .map(|latency| (key.clone(), latency))
                    .map_err(|e| format!("{key}: {e:#}")),
            );
        }
    }

    /// `PUT` one photo and wait for its notifier: the time between.
    async fn upload(
        &self,
        client: &mut Client,
        key: &str,
        photo: &CorpusPhoto,
    ) -> anyhow::Result<Duration> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.tracker).waiting.insert(key.to_owned(), tx);
        let result = async {
            let request = client.request(
                hyper::Method::PUT,
                &format!("/objects/{key}"),
                Some(&photo.content_type),
                photo.bytes.clone(),
            )?;
            let start = Instant::now();
            let (status, answer) = client.send(request).await?;
            anyhow::ensure!(
                status == 201,
                "PUT answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
            let done = tokio::time::timeout(self.deadline, rx)
                .await
                .map_err(|_| anyhow::anyhow!("not through every stage after {:?}", self.deadline))?
                .context("the bench stopped watching the host's events")?;
            Ok(done.saturating_duration_since(start))
        }
        .await;
        if result.is_err() {
            lock(&self.tracker).waiting.remove(key);
        }
        result
    }
}

/// Matches notifier ends to uploads: the host's end event names the
/// thumbnail-created event's id, which the bench's own subscription maps
/// to the upload's key. Either may come first.
#[derive(Default)]
struct Tracker {
    /// Notifier ends not matched yet, by event id.
    ends: HashMap<String, Instant>,
    /// Thumbnail-created events not matched yet: id to the object's key.
    keys: HashMap<String, String>,
    /// Uploads waiting for their end, by key.
    waiting: HashMap<String, tokio::sync::oneshot::Sender<Instant>>,
    /// Invocations the host reported failed.
    errors: Vec<String>,
}

impl Tracker {
    fn ended(&mut self, end: StageEnd) {
        if end.level != tracing::Level::DEBUG {
            self.errors.push(format!(
                "{} on event {}: {}",
                end.component, end.event, end.message
            ));
            return;
        }
        if end.component != STAGES[3] {
            return;
        }
        match self.keys.remove(&end.event) {
            Some(key) => self.done(&key, end.at),
            None => {
                self.ends.insert(end.event, end.at);
            }
        }
    }

    fn created(&mut self, id: String, key: String) {
        match self.ends.remove(&id) {
            Some(at) => self.done(&key, at),
            None => {
                self.keys.insert(id, key);
            }
        }
    }

    fn done(&mut self, key: &str, at: Instant) {
        if let Some(waiter) = self.waiting.remove(key) {
            let _ = waiter.send(at);
        }
    }
}

/// The tracker, even if a holder panicked (its maps stay usable).
fn lock(tracker: &std::sync::Mutex<Tracker>) -> std::sync::MutexGuard<'_, Tracker> {
    tracker
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Feed the host's Redis-trigger ends to `tracker` until told to stop;
/// the receiver comes back for the next row.
fn watch_ends(
    mut ends: mpsc::UnboundedReceiver<StageEnd>,
    tracker: Arc<std::sync::Mutex<Tracker>>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<mpsc::UnboundedReceiver<StageEnd>>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                end = ends.recv() => match end {
                    Some(end) => lock(&tracker).ended(end),
                    None => break,
                },
                _ = &mut stopped => break,
            }
        }
        ends
    });
    (stop, task)
}

/// Subscribe to the thumbnail-created channel (confirmed before this
/// returns) and feed each event's id and key to `tracker`.
async fn watch_created(
    redis: &Redis,
    channel: &str,
    tracker: Arc<std::sync::Mutex<Tracker>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let client = redis::Client::open(redis.url())?;
    let mut pubsub = client
        .get_async_pubsub()
        .await
        .with_context(|| format!("subscribing to {} on {}", channel, redis.url()))?;
    pubsub
        .subscribe(channel)
        .await
        .with_context(|| format!("subscribing to {} on {}", channel, redis.url()))?;
    Ok(tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(message) = futures::StreamExt::next(&mut messages).await {
            if let Ok((attrs, created)) =
                thumbflow_events::parse_thumbnail_created(message.get_payload_bytes())
            {
                lock(&tracker).created(attrs.id, created.key);
            }
        }
    }))
}

/// `GET /status/{key}`: every stage done and a thumbnail listed; the
/// thumbnail as the record lists it.
async fn check_status(client: &mut Client, key: &str) -> anyhow::Result<String> {
    let request = client.request(
        hyper::Method::GET,
        &format!("/status/{key}"),
        None,
        Bytes::new(),
    )?;
    let (status, record) = client.send(request).await?;
    anyhow::ensure!(
        status == 200,
        "GET /status/{key} answered {status}: {}",
        String::from_utf8_lossy(&record)
    );
    let record: serde_json::Value =
        serde_json::from_slice(&record).context("parsing the status record")?;
    for stage in STAGES {
        anyhow::ensure!(
            record["stages"][stage]["state"] == "done",
            "stage {stage} is not done in the status record: {record}"
        );
    }
    match record["thumbnails"].as_array().map(Vec::as_slice) {
        Some([t]) => Ok(format!(
            "`{}`, {}x{} {}, {} bytes",
            t["recipe"].as_str().unwrap_or("?"),
            t["width"],
            t["height"],
            t["content_type"].as_str().unwrap_or("?"),
            t["bytes"]
        )),
        _ => anyhow::bail!("not exactly one thumbnail in the status record: {record}"),
    }
}

/// User + system CPU time process `pid` has used so far (all its threads),
/// from `/proc/PID/stat`; `None` where that cannot be read.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // after it come field 3 (state) onwards: utime is field 14, stime 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / clock_ticks() as f64,
    ))
}

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on
/// every mainstream Linux if that cannot be run).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|&t: &u64| t > 0)
            .unwrap_or(100)
    })
}

// ---------------------------------------------------------------- set-up

/// The photo of part B.
struct Photo {
    path: PathBuf,
    bytes: Vec<u8>,
    format: String,
    width: u32,
    height: u32,
}

impl Photo {
    /// Read it, and its format and size as the thumbnail engine sees them.
    fn read(core: &ThumbnailerCore<'_>, path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let info = core
            .probe(&bytes, &PIPELINE_IMAGE_LIMITS)
            .with_context(|| format!("probing {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            bytes,
            format: info.format,
            width: info.width,
            height: info.height,
        })
    }
}

/// A scratch directory for Redis and the key-value database, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("thumbflow-pipeline-bench.{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing the stale {}", path.display()))?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `redis-server` of our own on a free port, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port for redis-server")?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => anyhow::anyhow!(
                    "redis-server not found on PATH: install it (apt-get install redis-server)"
                ),
                _ => anyhow::Error::new(e).context("starting redis-server"),
            })?;
        let mut redis = Self { child, port };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = redis.child.try_wait()? {
                anyhow::bail!("redis-server on port {port} exited at start-up ({status})");
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not accept connections on port {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the figures were measured on.
struct Machine {
    cpus: String,
    ram: String,
    kernel: String,
    date: String,
    wasmtime: String,
    commit: String,
}

impl Machine {
    fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let count = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or("unknown model", |(_, m)| m.trim())
            .to_owned();
        let ram = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let line = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
                line.split_whitespace().nth(1)?.parse::<f64>().ok()
            })
            .map_or("unknown".to_owned(), |kib| {
                format!("{:.1} GiB", kib / 1024.0 / 1024.0)
            });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown".to_owned(), |k| k.trim().to_owned());
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .unwrap_or_else(|_| "unknown".to_owned());
        Self {
            cpus: format!("{count} CPUs ({model})"),
            ram,
            kernel: format!("Linux {kernel}"),
            date,
            wasmtime: locked_version("wasmtime").unwrap_or_else(|| "unknown".to_owned()),
            commit: commit().unwrap_or_else(|| "unknown".to_owned()),
        }
    }
}

/// The version of `package` in `Cargo.lock` (what this binary was built with).
fn locked_version(package: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Lock {
        package: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
        version: String,
    }
    let lock: Lock = toml::from_str(&std::fs::read_to_string("Cargo.lock").ok()?).ok()?;
    lock.package
        .into_iter()
        .find(|p| p.name == package)
        .map(|p| p.version)
}

/// The checked-out commit, and whether the work tree differs from it.
fn commit() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])?;
    Some(if dirty.is_empty() {
        head
    } else {
        format!("{head} plus uncommitted changes")
    })
}

// ---------------------------------------------------------------- report

/// What the parts measured; `None` for a part that did not run.
#[derive(Default)]
struct Report {
    overhead: Option<Vec<Overhead>>,
    latency: Option<Latency>,
    s3: Option<S3Outcome>,
    throughput: Option<Throughput>,
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mean(samples: &[Duration]) -> Duration {
    match u32::try_from(samples.len()) {
        Ok(n) if n > 0 => samples.iter().sum::<Duration>() / n,
        _ => Duration::ZERO,
    }
}

/// p50, p95, p99, min, max and mean of some samples.
struct Stats {
    min: Duration,
    p50: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
    mean: Duration,
}

impl Stats {
    fn of(samples: &[Duration]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort();
        Self {
            min: sorted.first().copied().unwrap_or_default(),
            p50: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
            p99: percentile(&sorted, 99.0),
            max: sorted.last().copied().unwrap_or_default(),
            mean: mean(&sorted),
        }
    }
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

impl Report {
    fn ok(&self) -> bool {
        let overhead = self
            .overhead
            .iter()
            .flatten()
            .all(|o| o.failures.is_empty());
        let latency = self.latency.iter().all(|l| l.failures.is_empty());
        let s3 = match &self.s3 {
            Some(S3Outcome::Measured { latency, .. }) => latency.failures.is_empty(),
            Some(S3Outcome::NotMeasured(_)) | None => true,
        };
        let throughput = self
            .throughput
            .iter()
            .flat_map(|t| &t.rows)
            .all(|r| r.failed() == 0);
        overhead && latency && s3 && throughput
    }

    /// The markdown section (without the marker lines).
    fn section(&self, args: &Args, machine: &Machine, photo: &Photo) -> String {
        let mut s = String::new();
        let mut add = |line: &str| {
            s.push_str(line);
            s.push('\n');
        };
        add(
            "## Pipeline: host overhead, end-to-end latency, S3 mode, throughput (issues 3, 9, 13)",
        );
        add("");
        add("Generated by `make bench-pipeline` (`target/host/thumbflow-pipeline-bench`); do not edit by hand, rerun it.");
        add("");
        let command = if args.only.is_empty() {
            "`make bench-pipeline`".to_owned()
        } else {
            format!(
                "`thumbflow-pipeline-bench --only ...` ({} part(s) only)",
                args.only.len()
            )
        };
        add(&format!("- Command: {command}"));
        add(&format!(
            "- Machine: {}, {} RAM, {}",
            machine.cpus, machine.ram, machine.kernel
        ));
        add(&format!("- Date: {}", machine.date));
        add(&format!(
            "- Versions: wasmtime {} (our host, `crates/host`), commit {}",
            machine.wasmtime, machine.commit
        ));
        let profile = if cfg!(debug_assertions) {
            "**debug** (not comparable)"
        } else {
            "`host` (optimized, no LTO)"
        };
        add(&format!(
            "- Build: host {profile} profile; components wasm32-wasip2 `release` (`make build`), the files `{}` names, composed with their engines; wasmtime with the pooling allocator and epoch deadlines, as `thumbflow up` runs them (compiled once per run: later app loads of the run read a compile cache in the bench's scratch directory)",
            args.manifest.display()
        ));
        add("");
        if let Some(overhead) = &self.overhead {
            overhead_section(&mut add, args, overhead);
        }
        if let Some(latency) = &self.latency {
            latency_section(&mut add, args, photo, latency, self.s3.is_some());
        }
        if let Some(s3) = &self.s3 {
            s3_section(&mut add, self.latency.as_ref(), s3);
        }
        if let Some(throughput) = &self.throughput {
            throughput_section(&mut add, args, throughput);
        }
        s
    }

    fn print_failures(&self) {
        for row in self.overhead.iter().flatten() {
            print_some(&format!("part A, {}", row.stage), &row.failures);
        }
        if let Some(latency) = &self.latency {
            print_some("part B (KV mode)", &latency.failures);
        }
        if let Some(S3Outcome::Measured { latency, .. }) = &self.s3 {
            print_some("part B (S3 mode)", &latency.failures);
        }
        for row in self.throughput.iter().flat_map(|t| &t.rows) {
            let what = format!(
                "throughput, host concurrency {}, {} client(s)",
                row.host_concurrency, row.clients
            );
            print_some(&what, &row.failures);
            print_some(&format!("{what}, host-reported errors"), &row.host_errors);
        }
    }
}

fn overhead_section(add: &mut impl FnMut(&str), args: &Args, overhead: &[Overhead]) {
    add("### Per-stage host overhead");
    add("");
    add(&format!(
        "What one trigger invocation costs the host, timed {} times per stage and measure after {} warm-up rounds, one invocation at a time (stages and measures interleaved round by round, so background load on the machine falls on all alike):",
        args.iterations, args.warmup
    ));
    add("");
    add("- **instantiate**: a new store (WASI context, grants, memory limit, deadline) + a fresh instance from the component's pre-instance + dropping the store;");
    add("- **instantiate + call**: the same plus one call of the trigger export (`wasi:http/incoming-handler` or `fermyon:spin/inbound-redis`) with the minimal input below, the guest's captured stdout/stderr read back as the trigger does to log it, and for HTTP the response and its body read. The call includes the guest's own minimal work, so it is an upper bound on the host's share. The HTTP server (hyper parsing and writing) is not in it; it is in the end-to-end figures.");
    add("");
    add("Minimal inputs (no image work anywhere; every answer is checked, and a trap, guest error or unexpected answer counts as a failure):");
    add("");
    for row in overhead {
        add(&format!("- {}: {}.", row.stage, row.what));
    }
    add("");
    add("| stage | instantiate p50 µs | p95 µs | mean µs | instantiate + call p50 µs | p95 µs | p99 µs | mean µs | failures | < 1 ms (p95 of instantiate + call) |");
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in overhead {
        let i = Stats::of(&row.instantiate);
        let c = Stats::of(&row.call);
        add(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.stage,
            us(i.p50),
            us(i.p95),
            us(i.mean),
            us(c.p50),
            us(c.p95),
            us(c.p99),
            us(c.mean),
            row.failures.len(),
            verdict(&row.call, row.failures.len())
        ));
    }
    add("");
    let met: Vec<&str> = overhead
        .iter()
        .filter(|r| goal_met(&r.call, r.failures.len()))
        .map(|r| r.stage)
        .collect();
    let missed: Vec<&str> = overhead
        .iter()
        .filter(|r| !goal_met(&r.call, r.failures.len()))
        .map(|r| r.stage)
        .collect();
    add(&format!(
        "Goal (under 1 ms host overhead per stage invocation, judged on the p95 of instantiate + call): {}.",
        match (met.is_empty(), missed.is_empty()) {
            (_, true) => "**met for every stage**".to_owned(),
            (true, _) => "**not met for any stage**".to_owned(),
            _ => format!(
                "met for {}; **not met for {}**",
                met.join(", "),
                missed.join(", ")
            ),
        }
    ));
    add("");
}

fn latency_section(
    add: &mut impl FnMut(&str),
    args: &Args,
    photo: &Photo,
    latency: &Latency,
    with_s3: bool,
) {
    add("### End to end");
    add("");
    add(&format!(
        "{} uploads of `{}` ({} bytes, {}x{} {}, a real photo), after {} warm-up uploads not counted, one at a time, each under its own key (`PUT /objects/bench/upload-NNN.jpg`), through the whole pipeline: a `redis-server` of the bench's own on a free port, and the host in-process (`thumbflow::up::run_with` with `{}` and its default variables, the default trigger limits, HTTP on 127.0.0.1 port 0), client and host in one process on the same machine, over one keep-alive connection.{} Each upload made one thumbnail: {}.",
        latency.attempted,
        photo.path.display(),
        photo.bytes.len(),
        photo.width,
        photo.height,
        photo.format.to_uppercase(),
        args.warmup_uploads,
        args.manifest.display(),
        if with_s3 {
            " The S3-mode uploads of the next section took turns with these, upload by upload (still one in flight at a time)."
        } else {
            ""
        },
        latency.thumbnail.as_deref().unwrap_or("none (every upload failed)"),
    ));
    add("");
    add("Clock: from just before the `PUT` to the moment the host's notifier invocation for that upload returned (its status record written), taken in-process from the event the host's Redis trigger emits when an invocation ends (`thumbflow::trigger::redis`), so no polling interval is in the figures; the normalizer and thumbnailer rows are their invocations' ends the same way, the gateway row is when the `201` answer was read. A stage's end comes after it has published its event, so the next stage already runs meanwhile: on a busy machine a stage can be reported done after the next one (its row can exceed the next row). One `GET /status/...` afterwards (not timed) checks that all four stages say `done` and a thumbnail is listed.");
    add("");
    add("| stage done, counted from just before the PUT | p50 ms | p95 ms | max ms | mean ms |");
    add("|---|---:|---:|---:|---:|");
    let names = [
        "gateway (`201` read by the client)",
        "normalizer",
        "thumbnailer (includes the image work)",
        "notifier = **end to end**",
    ];
    for (index, name) in names.iter().enumerate() {
        let samples: Vec<Duration> = latency.samples.iter().map(|s| s[index]).collect();
        let st = Stats::of(&samples);
        add(&format!(
            "| {name} | {} | {} | {} | {} |",
            ms(st.p50),
            ms(st.p95),
            ms(st.max),
            ms(st.mean)
        ));
    }
    add("");
    add(&format!(
        "Uploads completed: {} of {}; failures: {}.",
        latency.samples.len(),
        latency.attempted,
        latency.failures.len()
    ));
    add("");
}

fn s3_section(add: &mut impl FnMut(&str), kv: Option<&Latency>, s3: &S3Outcome) {
    add("### S3 mode beside KV mode (issue 9)");
    add("");
    let (latency, server) = match s3 {
        S3Outcome::Measured { latency, server } => (latency, server),
        S3Outcome::NotMeasured(reason) => {
            add(&format!(
                "**S3 row skipped**: not measured in this run: {reason}."
            ));
            add("");
            return;
        }
    };
    add(&format!(
        "The same uploads of the same photo, timed the same way, on a second host in the same process whose app is the same `spin.toml` with `store=s3`: originals and thumbnails in a bucket (`{S3_BUCKET}`, made with CreateBucket) of a real Ceph RADOS Gateway ({server}; single node on loopback, OSD on `memstore`, started by `scripts/s3/rgw.sh`), path-style SigV4 requests from the gateway and thumbnailer; status records stay in the key-value store. Each mode has its own `redis-server` and key-value database; the two hosts took turns upload by upload (one upload in flight at a time, who goes first alternating), so background load on the machine fell on both alike. In S3 mode the gateway's `PUT` stores the photo with a `PutObject` to RGW, and the thumbnailer reads it back (`HeadObject`, `GetObject`) and writes the thumbnail with a `PutObject`."
    ));
    add("");
    add("| store | uploads completed | failures | gateway `201` p50 ms | end to end p50 ms | p95 ms | mean ms | min ms | max ms |");
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let row = |add: &mut dyn FnMut(&str), name: &str, l: &Latency| {
        let gateway: Vec<Duration> = l.samples.iter().map(|s| s[0]).collect();
        let end: Vec<Duration> = l.samples.iter().map(|s| s[3]).collect();
        let e = Stats::of(&end);
        add(&format!(
            "| {name} | {} of {} | {} | {} | {} | {} | {} | {} | {} |",
            l.samples.len(),
            l.attempted,
            l.failures.len(),
            ms(Stats::of(&gateway).p50),
            ms(e.p50),
            ms(e.p95),
            ms(e.mean),
            ms(e.min),
            ms(e.max)
        ));
    };
    if let Some(kv) = kv {
        row(add, "`kv` (the app's key-value store, SQLite)", kv);
    }
    row(add, "`s3` (Ceph RGW on loopback)", latency);
    add("");
    if let Some(kv) = kv {
        let end = |l: &Latency| Stats::of(&l.samples.iter().map(|s| s[3]).collect::<Vec<_>>());
        let (k, s) = (end(kv), end(latency));
        if !k.p50.is_zero() {
            add(&format!(
                "S3 mode vs KV mode, end to end: p50 {:+.1} ms ({:.2}x), p95 {:+.1} ms.",
                (s.p50.as_secs_f64() - k.p50.as_secs_f64()) * 1e3,
                s.p50.as_secs_f64() / k.p50.as_secs_f64(),
                (s.p95.as_secs_f64() - k.p95.as_secs_f64()) * 1e3,
            ));
            add("");
        }
    }
}

fn throughput_section(add: &mut impl FnMut(&str), args: &Args, t: &Throughput) {
    add("### Throughput at concurrency (issue 13)");
    add("");
    let left_out = if t.left_out.is_empty() {
        "none left out".to_owned()
    } else {
        format!(
            "left out as not accepted by the engine: {}",
            t.left_out
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    add(&format!(
        "{} uploads per row of the {} corpus photos the thumbnail engine accepts (`{}`, {:.1} MiB together, {}; cycled in name order, each upload under its own key, with the content type of its format), after {} untimed warm-up uploads per row. Each of the row's clients has its own keep-alive connection and uploads a photo (`PUT /objects/...`), waits until the notifier has handled it, then uploads the next: a row never has more uploads in flight than clients. Each row runs on a fresh `redis-server`, a fresh key-value database and a fresh host (`thumbflow::up::run_with` with `TriggerLimits {{ concurrency, .. }}`: each Redis subscription, and the HTTP trigger, runs at most `concurrency` events at once, the rest wait in order), the instance pool sized for every trigger at the highest concurrency (`InstancePool::for_triggers`). Rows ran in the order listed.",
        args.throughput_uploads,
        t.photos,
        t.corpus.display(),
        t.photo_bytes as f64 / (1024.0 * 1024.0),
        left_out,
        args.throughput_warmup,
    ));
    add("");
    add(&format!(
        "Latency: from just before an upload's `PUT` to the end of its notifier invocation (the host's Redis-trigger event, matched to the upload through the thumbnail-created event the bench also receives on Redis); afterwards (not timed) a `GET /status/...` per upload checks that all four stages say `done` and a thumbnail is listed, and an upload that fails it, fails its `PUT`, or is not through every stage within {} s counts as a failure. Wall time: from the first timed `PUT` to the last upload's end. CPU utilisation: user + system CPU time (`/proc/PID/stat`) over the wall time, divided by the machine's {} cores: of this process (the host and the clients; the clients' share is small) and, apart, of the row's `redis-server`.",
        args.timeout_secs,
        t.cores,
    ));
    add("");
    let baseline = t
        .rows
        .iter()
        .find(|r| r.host_concurrency == NonZeroUsize::MIN && r.clients == 1);
    add("| host concurrency | clients | uploads completed | failures | wall s | uploads/s | vs one at a time | p50 ms | p95 ms | max ms | CPU, this process | CPU, redis-server |");
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &t.rows {
        let st = Stats::of(&row.latencies);
        let ratio = baseline
            .map(ThroughputRow::per_second)
            .filter(|b| *b > 0.0)
            .map_or("-".to_owned(), |b| format!("{:.2}x", row.per_second() / b));
        let util = |cpu: Option<Duration>| {
            cpu.map_or("-".to_owned(), |c| {
                let wall = row.wall.as_secs_f64() * t.cores as f64;
                if wall > 0.0 {
                    format!("{:.0}%", 100.0 * c.as_secs_f64() / wall)
                } else {
                    "-".to_owned()
                }
            })
        };
        let default = if row.host_concurrency == t.default_concurrency && row.clients > 1 {
            " (default)"
        } else {
            ""
        };
        add(&format!(
            "| {}{default} | {} | {} of {} | {} | {:.2} | {:.2} | {ratio} | {} | {} | {} | {} | {} |",
            row.host_concurrency,
            row.clients,
            row.latencies.len(),
            row.attempted,
            row.failed(),
            row.wall.as_secs_f64(),
            row.per_second(),
            ms(st.p50),
            ms(st.p95),
            ms(st.max),
            util(row.cpu),
            util(row.redis_cpu),
        ));
    }
    add("");
    let many = |concurrency: NonZeroUsize| {
        t.rows
            .iter()
            .find(|r| r.host_concurrency == concurrency && r.clients > 1)
    };
    let at_default = many(t.default_concurrency);
    match (at_default, baseline) {
        (Some(row), Some(base)) if base.per_second() > 0.0 => {
            let ratio = row.per_second() / base.per_second();
            let failures = row.failed() + base.failed();
            let met = ratio >= 1.8 && failures == 0;
            add(&format!(
                "**{} clients at the default concurrency ({}, the machine's cores) vs one message at a time (1 client, concurrency 1): {:.2}x uploads/s** ({:.2} vs {:.2}), {} failures. Goal of issue 13 (≥ 1.8x with 0 failures, on this 2-core machine): **{}**.",
                row.clients,
                t.default_concurrency,
                ratio,
                row.per_second(),
                base.per_second(),
                failures,
                if met { "met" } else { "not met" }
            ));
            if let Some(one) = many(NonZeroUsize::MIN) {
                if one.per_second() > 0.0 {
                    add("");
                    add(&format!(
                        "The same {} clients with the host at concurrency 1 (one message per channel at a time, the three Redis stages still overlapping each other): {:.2} uploads/s; the default concurrency gives {:.2}x that.",
                        one.clients,
                        one.per_second(),
                        row.per_second() / one.per_second()
                    ));
                }
            }
        }
        _ => add("The ratio needs the one-at-a-time row and the default-concurrency row, and uploads completed in both."),
    }
    add("");
}

fn goal_met(call: &[Duration], failures: usize) -> bool {
    failures == 0 && !call.is_empty() && Stats::of(call).p95 < GOAL
}

fn verdict(call: &[Duration], failures: usize) -> String {
    if goal_met(call, failures) {
        "yes".to_owned()
    } else if failures > 0 || call.is_empty() {
        "no (failures)".to_owned()
    } else {
        "**no**".to_owned()
    }
}

/// Print how many failed and the first few distinct messages.
fn print_some(what: &str, failures: &[String]) {
    if failures.is_empty() {
        return;
    }
    let mut distinct: Vec<&String> = Vec::new();
    for f in failures {
        if !distinct.contains(&f) {
            distinct.push(f);
        }
    }
    let mut text = format!("{what}: {} failures", failures.len());
    for f in distinct.iter().take(5) {
        let _ = write!(text, "\n  - {f}");
    }
    if distinct.len() > 5 {
        let _ = write!(text, "\n  - ... and {} more distinct", distinct.len() - 5);
    }
    eprintln!("{text}");
}

/// Replace the marked section of `doc`, or append it with its markers;
/// everything outside the markers is kept as it is.
fn write_section(doc: &Path, section: &str) -> anyhow::Result<()> {
    let old = match std::fs::read_to_string(doc) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", doc.display())),
    };
    let block = format!("{BEGIN_MARKER}\n{section}{END_MARKER}\n");
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    let find = |marker: &str| lines.iter().position(|l| l.trim_end() == marker);
    let new = match (find(BEGIN_MARKER), find(END_MARKER)) {
        (Some(begin), Some(end)) if begin < end => {
            format!(
                "{}{block}{}",
                lines[..begin].concat(),
                lines[end + 1..].concat()
            )
        }
        (None, None) => {
            let mut text = old.clone();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text + &block
        }
        _ => anyhow::bail!(
            "{} has a broken bench-pipeline section: need one {BEGIN_MARKER:?} line before one {END_MARKER:?} line; fix the markers and rerun",
            doc.display()
        ),
    };
    if let Some(dir) = doc.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(doc, new).with_context(|| format!("writing {}", doc.display()))
}
