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

use std::collections::BTreeMap;
use std::fmt::Write as _;
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
    /// File whose `bench-pipeline` section is written (created if missing).
    #[arg(long, default_value = "docs/benchmarks.md")]
    doc: PathBuf,
    /// Print the summary only; leave the doc alone.
    #[arg(long)]
    no_doc: bool,
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
    let runtime = Arc::new(Runtime::new(InvocationLimits::default())?);
    let photo = Photo::read(&runtime, &args.photo, &args.thumbnailer_core)?;
    let scratch = Scratch::new()?;
    let redis = Redis::start(&scratch.0.join("redis"))?;
    let tokio = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = tokio.block_on(bench(args, runtime, &photo, &scratch, &redis, ends_rx))?;
    drop(redis);
    drop(scratch);
    let machine = Machine::describe();
    let section = report.section(args, &machine, &photo);
    println!("\n{section}");
    report.print_failures();
    if !args.no_doc {
        write_section(&args.doc, &section)?;
        println!("wrote the bench-pipeline section of {}", args.doc.display());
    }
    Ok(report.ok())
}

async fn bench(
    args: &Args,
    runtime: Arc<Runtime>,
    photo: &Photo,
    scratch: &Scratch,
    redis: &Redis,
    ends: mpsc::UnboundedReceiver<StageEnd>,
) -> anyhow::Result<Report> {
    let options = AppOptions {
        manifest: args.manifest.clone(),
        state_dir: scratch.0.join("state"),
        variables: vec![("redis_address".to_owned(), redis.url())],
    };
    eprintln!(
        "loading {} (composing, compiling, pre-instantiating)...",
        args.manifest.display()
    );
    let app = tokio::task::spawn_blocking(move || App::load(runtime, &options))
        .await
        .context("loading the app")?
        .context("loading the app (the components come from `make build`)")?;
    let app = Arc::new(app);

    eprintln!(
        "part A: {} warm-up rounds, then {} timed invocations per stage and measure...",
        args.warmup, args.iterations
    );
    let overhead = part_a(&app, args.warmup, args.iterations).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the HTTP trigger to 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let host = tokio::spawn(thumbflow::up::run(app.clone(), listener, async move {
        let _ = stop_rx.await;
    }));
    wait_subscribed(&app, redis).await?;
    eprintln!(
        "part B: {} warm-up uploads, then {} timed uploads of {}...",
        args.warmup_uploads,
        args.uploads,
        args.photo.display()
    );
    let latency = part_b(args, addr, photo, ends).await;
    let _ = stop_tx.send(());
    match host.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("warning: the host stopped with an error: {e:#}"),
        Err(e) => eprintln!("warning: the host task failed: {e}"),
    }
    Ok(Report {
        overhead,
        latency: latency?,
    })
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
                stdout: format!("skipped {STAGE_BUCKET}/{thumb_key}: thumbflow output"),
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
                level: *event.metadata().level(),
                message: fields.message,
            });
        }
    }
}

#[derive(Default)]
struct EventFields {
    component: Option<String>,
    message: String,
}

impl tracing::field::Visit for EventFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "component" => self.component = Some(value.to_owned()),
            "message" => self.message = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "component" => self.component = Some(format!("{value:?}")),
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
struct Latency {
    /// One entry per successful timed upload, one duration per stage of [`STAGES`].
    samples: Vec<[Duration; 4]>,
    /// The thumbnail the last successful upload got, as its status record lists it.
    thumbnail: Option<String>,
    failures: Vec<String>,
    /// Uploads attempted (timed ones).
    attempted: usize,
}

async fn part_b(
    args: &Args,
    addr: std::net::SocketAddr,
    photo: &Photo,
    mut ends: mpsc::UnboundedReceiver<StageEnd>,
) -> anyhow::Result<Latency> {
    let mut client = Client::connect(addr).await?;
    let body = Bytes::from(photo.bytes.clone());
    let mut latency = Latency {
        samples: Vec::with_capacity(args.uploads),
        thumbnail: None,
        failures: Vec::new(),
        attempted: args.uploads,
    };
    let deadline = Duration::from_secs(args.timeout_secs);
    for n in 0..args.warmup_uploads + args.uploads {
        let timed = n >= args.warmup_uploads;
        let key = if timed {
            format!("bench/upload-{:03}.jpg", n - args.warmup_uploads)
        } else {
            format!("bench/warmup-{n}.jpg")
        };
        // Nothing from an earlier upload may count for this one.
        while ends.try_recv().is_ok() {}
        match upload(&mut client, &key, body.clone(), &mut ends, deadline).await {
            Ok((sample, thumbnail)) => {
                if timed {
                    latency.samples.push(sample);
                }
                latency.thumbnail = Some(thumbnail);
            }
            Err(e) => latency.failures.push(format!("{key}: {e:#}")),
        }
    }
    Ok(latency)
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
    let thumbnail = match record["thumbnails"].as_array().map(Vec::as_slice) {
        Some([t]) => format!(
            "`{}`, {}x{} {}, {} bytes",
            t["recipe"].as_str().unwrap_or("?"),
            t["width"],
            t["height"],
            t["content_type"].as_str().unwrap_or("?"),
            t["bytes"]
        ),
        _ => anyhow::bail!("not exactly one thumbnail in the status record: {record}"),
    };
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
    fn read(runtime: &Runtime, path: &Path, engine: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let core = ThumbnailerCore::load(runtime, engine)
            .with_context(|| format!("loading {} (build it: make build)", engine.display()))?;
        let limits = ImageLimits {
            max_pixels: 100_000_000,
            max_side: 16_384,
            max_input_bytes: 64 << 20,
            max_frames: 10_000,
            memory_budget: 1 << 30,
        };
        let info = core
            .probe(&bytes, &limits)
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

struct Report {
    overhead: Vec<Overhead>,
    latency: Latency,
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

/// p50, p95, p99, max and mean of some samples.
struct Stats {
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
        self.overhead.iter().all(|o| o.failures.is_empty()) && self.latency.failures.is_empty()
    }

    /// The markdown section (without the marker lines).
    fn section(&self, args: &Args, machine: &Machine, photo: &Photo) -> String {
        let mut s = String::new();
        let mut add = |line: &str| {
            s.push_str(line);
            s.push('\n');
        };
        add("## Pipeline: host overhead and end-to-end latency (issue 3)");
        add("");
        add("Generated by `make bench-pipeline` (`target/release/thumbflow-pipeline-bench`); do not edit by hand, rerun it.");
        add("");
        add("- Command: `make bench-pipeline`");
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
            "`release`"
        };
        add(&format!(
            "- Build: host {profile} profile; components wasm32-wasip2 `release` (`make build`), the files `{}` names, composed with their engines; wasmtime with the pooling allocator and epoch deadlines, as `thumbflow up` runs them",
            args.manifest.display()
        ));
        add("");

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
        for row in &self.overhead {
            add(&format!("- {}: {}.", row.stage, row.what));
        }
        add("");
        add("| stage | instantiate p50 µs | p95 µs | mean µs | instantiate + call p50 µs | p95 µs | p99 µs | mean µs | failures | < 1 ms (p95 of instantiate + call) |");
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for row in &self.overhead {
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
        let met: Vec<&str> = self
            .overhead
            .iter()
            .filter(|r| goal_met(&r.call, r.failures.len()))
            .map(|r| r.stage)
            .collect();
        let missed: Vec<&str> = self
            .overhead
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

        add("### End to end");
        add("");
        add(&format!(
            "{} uploads of `{}` ({} bytes, {}x{} {}, a real photo), after {} warm-up uploads not counted, one at a time, each under its own key (`PUT /objects/bench/upload-NNN.jpg`), through the whole pipeline: a `redis-server` of the bench's own on a free port, and the host in-process (`thumbflow::up::run` with `{}` and its default variables, HTTP on 127.0.0.1 port 0), client and host in one process on the same machine, over one keep-alive connection. Each upload made one thumbnail: {}.",
            self.latency.attempted,
            photo.path.display(),
            photo.bytes.len(),
            photo.width,
            photo.height,
            photo.format.to_uppercase(),
            args.warmup_uploads,
            args.manifest.display(),
            self.latency.thumbnail.as_deref().unwrap_or("none (every upload failed)"),
        ));
        add("");
        add("Clock: from just before the `PUT` to the moment the host's notifier invocation for that upload returned (its status record written), taken in-process from the event the host's Redis trigger emits when an invocation ends (`thumbflow::trigger::redis`), so no polling interval is in the figures; the normalizer and thumbnailer rows are their invocations' ends the same way, the gateway row is when the `201` answer was read. A stage's end comes after it has published its event, so the next stage already runs meanwhile: on a busy machine a stage can be reported done after the next one (its row can exceed the next row). One `GET /status/...` afterwards (not timed) checks that all four stages say `done` and a thumbnail is listed.");
        add("");
        add(
            "| stage done, counted from just before the PUT | p50 ms | p95 ms | max ms | mean ms |",
        );
        add("|---|---:|---:|---:|---:|");
        let names = [
            "gateway (`201` read by the client)",
            "normalizer",
            "thumbnailer (includes the image work)",
            "notifier = **end to end**",
        ];
        for (index, name) in names.iter().enumerate() {
            let samples: Vec<Duration> = self.latency.samples.iter().map(|s| s[index]).collect();
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
            self.latency.samples.len(),
            self.latency.attempted,
            self.latency.failures.len()
        ));
        s
    }

    fn print_failures(&self) {
        for row in &self.overhead {
            print_some(&format!("part A, {}", row.stage), &row.failures);
        }
        print_some("part B", &self.latency.failures);
    }
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
