//! `thumbflow-bench`: times the real thumbnail engine component
//! (`thumbnailer_core.wasm`) in wasmtime, one file after another on one
//! thread, for `make bench` (`bench/run.py` drives it and compares with
//! Pillow and vipsthumbnail).
//!
//! Per file it prints one JSON line: the wall time of the render call
//! (a fresh instance each time, as in the pipeline; the fastest of
//! `--repeat` runs), the peak linear memory of that instance, and the output's size and path, or the
//! engine's typed error. The component is compiled and warmed up on the
//! first file before anything is timed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use thumbflow::cores::{CallError, ImageFormat, ImageLimits};
use thumbflow::runtime::CompileCache;
use thumbflow::{InvocationLimits, Runtime, ThumbnailerCore};

#[derive(Parser)]
#[command(
    name = "thumbflow-bench",
    about = "Time the thumbnail engine component over image files (one JSON line per file)"
)]
struct Args {
    /// Image files to thumbnail, in this order.
    #[arg(required_unless_present = "stdin")]
    files: Vec<PathBuf>,
    /// Also read file paths from standard input, one per line, answering
    /// each before reading the next (lets `bench/run.py` interleave tools
    /// file by file, so background load hits them alike).
    #[arg(long)]
    stdin: bool,
    /// Directory the thumbnails are written to (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Recipe in the engine's syntax (default: the classic 300x300 JPEG).
    #[arg(long, default_value = "")]
    recipe: String,
    /// The thumbnail engine component.
    #[arg(
        long,
        env = "THUMBFLOW_THUMBNAILER",
        default_value = "target/wasm32-wasip2/release/thumbnailer_core.wasm"
    )]
    component: PathBuf,
    /// Memory limit of one instance, in MiB.
    #[arg(long, default_value_t = 512)]
    max_memory_mib: usize,
    /// Render each file this many times and report the fastest (noise on
    /// a shared machine only ever adds time).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Write `/tmp/perf-PID.map` so `perf record` names the guest's
    /// compiled functions (profiling the engine as it really runs).
    #[arg(long)]
    perf_map: bool,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let limits = InvocationLimits {
        memory_bytes: args.max_memory_mib << 20,
        deadline: Duration::from_secs(60),
    };
    let runtime = if args.perf_map {
        let mut config = Runtime::config(&limits);
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        Runtime::from_config(config, limits, &CompileCache::Disabled)?
    } else {
        Runtime::new(limits)?
    };
    let core = ThumbnailerCore::load(&runtime, &args.component).with_context(|| {
        format!(
            "loading {} (build it: cargo build --target wasm32-wasip2 --release -p thumbnailer-core)",
            args.component.display()
        )
    })?;
    let recipes = core
        .parse_recipes(&args.recipe)
        .context("parsing --recipe")?;
    let memory = u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX);
    let image_limits = ImageLimits {
        max_pixels: 100_000_000,
        max_side: 16_384,
        max_input_bytes: memory / 2,
        max_frames: 10_000,
        // Leave room in the instance for the input and the output.
        memory_budget: memory / 4 * 3,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    // Warm-up: compile caches, page in the code, size the pool.
    if let Some(first) = args.files.first() {
        let bytes = std::fs::read(first).with_context(|| format!("reading {}", first.display()))?;
        let _ = core.render_measured(&bytes, &recipes, &image_limits);
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let from_stdin = std::io::stdin()
        .lines()
        .take_while(|_| args.stdin)
        .map_while(Result::ok)
        .filter(|line| !line.trim().is_empty())
        .map(|line| PathBuf::from(line.trim()));
    for file in args.files.iter().cloned().chain(from_stdin) {
        let file = &file;
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let mut seconds = f64::INFINITY;
        let mut peak = 0;
        let mut result = None;
        for _ in 0..args.repeat.max(1) {
            let started = Instant::now();
            let (answer, memory) = core.render_measured(&bytes, &recipes, &image_limits);
            seconds = seconds.min(started.elapsed().as_secs_f64());
            peak = peak.max(memory);
            result = Some(answer);
        }
        let Some(result) = result else {
            continue;
        };
        let mut line = serde_json::json!({
            "file": file.display().to_string(),
            "seconds": seconds,
            "peak_memory_bytes": peak,
            "input_bytes": bytes.len(),
        });
        match result {
            Ok(rendered) => {
                let mut outputs = Vec::new();
                for r in rendered {
                    let path = output_path(&args.out, file, &r.recipe, r.format);
                    std::fs::write(&path, &r.bytes)
                        .with_context(|| format!("writing {}", path.display()))?;
                    outputs.push(serde_json::json!({
                        "recipe": r.recipe,
                        "width": r.width,
                        "height": r.height,
                        "bytes": r.bytes.len(),
                        "path": path.display().to_string(),
                    }));
                }
                line["ok"] = true.into();
                line["outputs"] = outputs.into();
            }
            Err(e) => {
                line["ok"] = false.into();
                line["error_kind"] = match e {
                    CallError::Trap(_) => "trap",
                    CallError::Reject(_) => "reject",
                    CallError::Retry(_) => "retry",
                }
                .into();
                line["error"] = e.to_string().into();
            }
        }
        writeln!(out, "{line}").context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
    }
    Ok(())
}

/// `DIR/{file name}.{recipe}.{ext}`: the full name keeps `a.jpg` and
/// `a.png` apart.
fn output_path(dir: &Path, file: &Path, recipe: &str, format: ImageFormat) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = match format {
        ImageFormat::Jpeg => "jpg",
        ImageFormat::Png => "png",
        ImageFormat::Webp => "webp",
    };
    dir.join(format!("{name}.{recipe}.{ext}"))
}
