//! `thumbflow`: the project's own wasmtime host.
//!
//! - `thumbflow up [--manifest spin.toml] [--listen ADDR] [--state-dir .spin]
//!   [--variable K=V]…` runs the application the way `spin up` does;
//! - `thumbflow render FILES… --out DIR [--recipe SPEC]…` runs the pipeline's
//!   thumbnail engine (`thumbnailer_core.wasm`, the very file `spin.toml`
//!   wires in) on local files;
//! - `thumbflow scan s3://BUCKET[/PREFIX]` publishes events for the objects
//!   of a bucket that lack current thumbnails (see `thumbflow::scan`);
//! - `thumbflow upload`, `send`, `status` and `watch` drive a running
//!   pipeline, local or remote (see `thumbflow::client`).
//!
//! Both cache compiled components on disk the way `spin up` does
//! (`--cache FILE` / `WASMTIME_CACHE_FILE`, `--disable-cache` /
//! `DISABLE_WASMTIME_CACHE`; see `thumbflow::runtime`), so only the first
//! start pays for compilation.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use thumbflow::cores::{ImageFormat, ImageLimits};
use thumbflow::limits::{InstancePool, TriggerLimits};
use thumbflow::runtime::CompileCache;
use thumbflow::{InvocationLimits, Runtime, ThumbnailerCore};

#[derive(Parser)]
#[command(
    name = "thumbflow",
    version,
    about = "thumbflow's wasmtime host, and the CLI of a running pipeline (local or remote)",
    after_help = "Exit codes (every verb):\n  \
        0  everything asked for succeeded\n  \
        1  the pipeline answered with a failure (an upload, a stage or a render failed, an event was refused)\n  \
        2  usage or connection: bad flags, gateway unreachable, token refused, a server error\n  \
        3  `status`: no record of that key\n\n\
        The gateway verbs take --url and --token (env THUMBFLOW_URL, THUMBFLOW_TOKEN) and --json."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Spin application (manifest version 2) on this host.
    Up(UpArgs),
    /// Render thumbnails of local files with the thumbnail engine component.
    Render(RenderArgs),
    /// Publish events for the objects of an S3 bucket that lack current
    /// thumbnails (backfill and repair; resumable).
    Scan(thumbflow::scan::ScanArgs),
    /// Upload files or folders through the gateway and wait for their thumbnails.
    Upload(thumbflow::client::upload::UploadArgs),
    /// Send a raw storage event (S3, EventBridge, CloudEvents, ...) to the gateway.
    Send(thumbflow::client::status::SendArgs),
    /// Show an object's pipeline status (optionally waiting for the end).
    Status(thumbflow::client::status::StatusArgs),
    /// Print the pipeline's stage events live, from its Redis channels.
    Watch(thumbflow::client::watch::WatchArgs),
    /// List or replay the stages' dead letters (events that failed for good).
    Dlq(thumbflow::client::dlq::DlqArgs),
    /// Wake every stage to drain its queue (hosts that do not on their own, like real Spin).
    Drain(thumbflow::client::dlq::DrainArgs),
}

/// The compile cache flags, named and read from the environment as `spin up` does.
#[derive(clap::Args)]
struct CacheArgs {
    /// Compile every component afresh instead of using the on-disk compile cache.
    #[arg(
        long = "disable-cache",
        env = "DISABLE_WASMTIME_CACHE",
        conflicts_with = "cache",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    disable_cache: bool,
    /// Wasmtime cache configuration file (TOML, `[cache] directory = "..."`); default: wasmtime's
    /// own ($HOME/.config/wasmtime/config.toml if present, entries in $HOME/.cache/wasmtime).
    #[arg(long = "cache", env = "WASMTIME_CACHE_FILE", value_name = "FILE")]
    cache: Option<PathBuf>,
}

impl CacheArgs {
    fn compile_cache(&self) -> CompileCache {
        CompileCache::from_flags(self.disable_cache, self.cache.clone())
    }
}

/// How `thumbflow up` writes its log.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(clap::Args)]
struct UpArgs {
    /// The application manifest.
    #[arg(
        long = "manifest",
        alias = "from",
        short = 'f',
        default_value = "spin.toml"
    )]
    manifest: PathBuf,
    /// Address the HTTP trigger listens on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: std::net::SocketAddr,
    /// Directory for host state (the key-value database).
    #[arg(long, default_value = ".spin")]
    state_dir: PathBuf,
    /// Set an application variable, `NAME=VALUE` (repeatable; wins over SPIN_VARIABLE_NAME).
    #[arg(long = "variable", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
    /// Memory limit of one component instance (all its linear memories together), in MiB.
    #[arg(long, default_value_t = 512)]
    max_memory_mib: usize,
    /// Deadline of one invocation, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// Events one Redis subscription (and requests the HTTP trigger) runs at
    /// once; more wait for a free instance [default: the machine's cores].
    #[arg(long)]
    concurrency: Option<std::num::NonZeroUsize>,
    /// Run only this component and its triggers (repeatable), like `spin up
    /// --component-id`: e.g. gateway-only replicas and worker replicas, all
    /// sharing the stages' durable queues in Redis.
    #[arg(long = "component-id", value_name = "ID")]
    component_ids: Vec<String>,
    /// How often each Redis-triggered stage is woken to drain its queue
    /// (work left after an outage, retries coming due, a crashed worker's
    /// expired lease) when no message arrives, in milliseconds; 0: never.
    #[arg(long, default_value_t = 2000)]
    drain_interval_ms: u64,
    /// On Ctrl-C, how long to wait for received events and requests to finish, in seconds.
    #[arg(long, default_value_t = 30)]
    shutdown_timeout_secs: u64,
    /// Log lines as text for people, or one JSON object per line (fields: component, trace_id, ...).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9090); off when unset.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    cache: CacheArgs,
}

fn parse_variable(s: &str) -> Result<(String, String), String> {
    thumbflow::manifest::parse_variable_flag(s).map_err(|e| e.to_string())
}

#[derive(clap::Args)]
struct RenderArgs {
    /// Image files to thumbnail.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Directory the thumbnails are written to (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Recipe in the engine's syntax, e.g. `thumb=300x300,jpeg,q90` (repeatable; default: the 300x300 JPEG).
    #[arg(long = "recipe")]
    recipes: Vec<String>,
    /// The thumbnail engine component.
    #[arg(
        long,
        env = "THUMBFLOW_THUMBNAILER",
        default_value = "target/wasm32-wasip2/release/thumbnailer_core.wasm"
    )]
    component: PathBuf,
    /// Largest image (width × height from its header) accepted.
    #[arg(long, default_value_t = 100_000_000)]
    max_pixels: u64,
    /// Memory limit of one engine instance, in MiB.
    #[arg(long, default_value_t = 512)]
    max_memory_mib: usize,
    /// Deadline of one render, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// Print one JSON document (every file: its thumbnails or its error) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up(args),
        Command::Render(args) => render(&args),
        Command::Scan(args) => return thumbflow::scan::main(&args),
        Command::Upload(args) => return thumbflow::client::upload::main(&args),
        Command::Send(args) => return thumbflow::client::status::send_main(&args),
        Command::Status(args) => return thumbflow::client::status::main(&args),
        Command::Watch(args) => return thumbflow::client::watch::main(&args),
        Command::Dlq(args) => return thumbflow::client::dlq::main(&args),
        Command::Drain(args) => return thumbflow::client::dlq::drain_main(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(false)
            .init(),
    }
    if thumbflow::otel::init_from_env()? {
        tracing::info!("exporting traces over OTLP (OTEL_EXPORTER_OTLP_* settings, as Spin)");
    }
    let limits = InvocationLimits {
        memory_bytes: args.max_memory_mib << 20,
        deadline: Duration::from_secs(args.timeout_secs),
    };
    let defaults = TriggerLimits::default();
    let triggers = TriggerLimits {
        concurrency: args.concurrency.unwrap_or(defaults.concurrency),
        drain_timeout: Duration::from_secs(args.shutdown_timeout_secs),
        drain_interval: (args.drain_interval_ms > 0)
            .then(|| Duration::from_millis(args.drain_interval_ms)),
        ..defaults
    };
    // Room for every trigger at full concurrency; an unreadable manifest is
    // reported by `App::load` below.
    let trigger_count = thumbflow::manifest::Manifest::from_file(&args.manifest)
        .map(|m| m.redis_triggers.len() + usize::from(!m.http_triggers.is_empty()))
        .unwrap_or(0);
    let pool = InstancePool::for_triggers(trigger_count, triggers.concurrency);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = std::sync::Arc::new(Runtime::with_pool_and_cache(
            limits,
            pool,
            &args.cache.compile_cache(),
        )?);
        let options = thumbflow::app::AppOptions {
            components: args.component_ids,
            manifest: args.manifest,
            state_dir: args.state_dir,
            variables: args.variables,
        };
        let started = Instant::now();
        let app = std::sync::Arc::new(thumbflow::app::App::load(engine.clone(), &options)?);
        log_loaded(&engine, started.elapsed());
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        if let Some(addr) = args.metrics_listen {
            let metrics = thumbflow::metrics::bind(addr).await?;
            println!("Metrics at http://{}/metrics", metrics.local_addr()?);
            // Ends with the process: scrapes keep working while triggers drain.
            tokio::spawn(thumbflow::metrics::serve(
                app.metrics.clone(),
                metrics,
                std::future::pending::<()>(),
            ));
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            println!("Shutting down");
        };
        let ran = thumbflow::up::run_with(app, listener, triggers, shutdown).await;
        thumbflow::otel::shutdown();
        ran?;
        Ok(ExitCode::SUCCESS)
    })
}

fn render(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let limits = InvocationLimits {
        memory_bytes: args.max_memory_mib << 20,
        deadline: Duration::from_secs(args.timeout_secs),
    };
    let runtime = Runtime::with_cache(limits, &args.cache.compile_cache())?;
    let core = ThumbnailerCore::load(&runtime, &args.component)
        .context("loading the thumbnail engine (run `make build` first?)")?;
    let recipes = core
        .parse_recipes(&args.recipes.join(";"))
        .context("parsing --recipe")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let image_limits = ImageLimits {
        max_pixels: args.max_pixels,
        max_side: 16_384,
        max_input_bytes: u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX),
        max_frames: 10_000,
        // Three quarters of the instance: the input and the outputs live
        // there too, and an over-budget image must be a typed reject, not
        // an out-of-memory trap.
        memory_budget: u64::try_from(limits.memory_bytes / 4 * 3).unwrap_or(u64::MAX),
    };
    let mut failures = 0usize;
    let mut report = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut fail = |error: String| {
            if !args.json {
                println!("{}: {error}", file.display());
            }
            report.push(serde_json::json!({"file": file, "ok": false, "error": error}));
            failures += 1;
        };
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                fail(format!("cannot read: {e}"));
                continue;
            }
        };
        let started = Instant::now();
        match core.render(&bytes, &recipes, &image_limits) {
            Ok(rendered) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                let mut thumbnails = Vec::with_capacity(rendered.len());
                for r in rendered {
                    let out = output_path(&args.out, &name, &r.recipe, r.format);
                    std::fs::write(&out, &r.bytes)
                        .with_context(|| format!("writing {}", out.display()))?;
                    if !args.json {
                        println!(
                            "{}: {} {}x{} {} bytes in {ms:.1} ms -> {}",
                            file.display(),
                            r.recipe,
                            r.width,
                            r.height,
                            r.bytes.len(),
                            out.display()
                        );
                    }
                    thumbnails.push(serde_json::json!({
                        "recipe": r.recipe, "width": r.width, "height": r.height,
                        "bytes": r.bytes.len(), "path": out,
                    }));
                }
                report.push(serde_json::json!({
                    "file": file, "ok": true, "ms": ms, "thumbnails": thumbnails,
                }));
            }
            Err(e) => fail(e.to_string()),
        }
    }
    if args.json {
        let doc = serde_json::json!({"files": report, "failed": failures});
        println!("{doc:#}");
    } else if failures > 0 {
        println!("{failures} of {} files failed", args.files.len());
    }
    Ok(if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Log how the components were loaded: compiled, or from the compile cache.
fn log_loaded(runtime: &Runtime, took: Duration) {
    let ms = took.as_secs_f64() * 1000.0;
    match (runtime.cache_stats(), runtime.cache_directory()) {
        (Some(stats), Some(dir)) => tracing::info!(
            "components loaded in {ms:.0} ms: {} compiled and cached, {} from the compile cache in {}",
            stats.misses,
            stats.hits,
            dir.display()
        ),
        _ => tracing::info!("components compiled in {ms:.0} ms (compile cache disabled)"),
    }
}

/// `DIR/{file stem}.{recipe}.{ext}`, e.g. `out/photo.thumb.jpg`.
fn output_path(dir: &Path, file_name: &str, recipe: &str, format: ImageFormat) -> PathBuf {
    let stem = file_name
        .rsplit_once('.')
        .map_or(file_name, |(stem, _)| stem);
    let ext = match format {
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Png => "png",
        ImageFormat::Webp => "webp",
    };
    dir.join(format!("{stem}.{recipe}.{ext}"))
}
