//! The on-disk compile cache (`thumbflow up`/`render` `--cache FILE`): a
//! second load of the same component is served from the cache, composed
//! components included, while a changed `.wasm` or a changed compile setting
//! compiles afresh. Every test uses its own temporary cache directory through
//! a wasmtime cache configuration file, the way `--cache FILE` does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thumbflow::app::{App, AppOptions};
use thumbflow::runtime::{CacheStats, CompileCache};
use thumbflow::{InvocationLimits, NotifierCore, Runtime, ThumbnailerCore};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wasm(name: &str) -> PathBuf {
    let path = root()
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make build` first",
        path.display()
    );
    path
}

/// A temporary cache directory and the configuration file naming it.
struct TempCache {
    dir: tempfile::TempDir,
    setting: CompileCache,
}

impl TempCache {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("wasmtime-cache.toml");
        let entries = dir.path().join("entries");
        std::fs::write(
            &config,
            format!("[cache]\ndirectory = {:?}\n", entries.display().to_string()),
        )
        .unwrap();
        Self {
            dir,
            setting: CompileCache::ConfigFile(config),
        }
    }

    /// A runtime as one process start would make it.
    fn runtime(&self, limits: InvocationLimits) -> Runtime {
        Runtime::with_cache(limits, &self.setting).unwrap()
    }

    /// Compiled components stored (wasmtime names them by a base64 hash,
    /// without a dot; its bookkeeping files have one).
    fn entries(&self) -> usize {
        let modules = self.dir.path().join("entries/modules");
        let Ok(versions) = std::fs::read_dir(&modules) else {
            return 0;
        };
        versions
            .flat_map(|version| std::fs::read_dir(version.unwrap().path()).unwrap())
            .filter(|entry| {
                let entry = entry.as_ref().unwrap();
                entry.file_type().unwrap().is_file()
                    && !entry.file_name().to_string_lossy().contains('.')
            })
            .count()
    }
}

fn stats(hits: usize, misses: usize) -> Option<CacheStats> {
    Some(CacheStats { hits, misses })
}

/// `bytes` with a custom section appended (a component may carry custom
/// sections anywhere; they change the bytes, not the behaviour).
fn with_custom_section(bytes: &[u8], payload: &[u8]) -> Vec<u8> {
    let name = b"thumbflow-test";
    let size = 1 + name.len() + payload.len();
    assert!(size < 128 && name.len() < 128, "single-byte LEB128 sizes");
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push(u8::try_from(size).unwrap());
    out.push(u8::try_from(name.len()).unwrap());
    out.extend_from_slice(name);
    out.extend_from_slice(payload);
    out
}

#[test]
fn compile_cache_second_start_loads_the_thumbnail_engine_from_disk() {
    let cache = TempCache::new();
    let path = wasm("thumbnailer_core");

    let first = cache.runtime(InvocationLimits::default());
    ThumbnailerCore::load(&first, &path).unwrap();
    assert_eq!(first.cache_stats(), stats(0, 1));
    assert_eq!(cache.entries(), 1);
    assert!(first
        .cache_directory()
        .unwrap()
        .starts_with(cache.dir.path().canonicalize().unwrap()));

    // A second "process": a fresh engine on the same cache directory.
    let second = cache.runtime(InvocationLimits::default());
    let core = ThumbnailerCore::load(&second, &path).unwrap();
    assert_eq!(second.cache_stats(), stats(1, 0));
    assert_eq!(cache.entries(), 1);
    // The code loaded from the cache runs.
    let recipes = core.parse_recipes("thumb=300x300,jpeg,q90").unwrap();
    assert_eq!(recipes.len(), 1);
}

#[test]
fn compile_cache_changed_wasm_is_compiled_not_served_stale() {
    let cache = TempCache::new();
    let original = std::fs::read(wasm("notifier_core")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let variant_a = dir.path().join("a.wasm");
    let variant_b = dir.path().join("b.wasm");
    std::fs::write(&variant_a, with_custom_section(&original, b"build 1")).unwrap();
    // One byte different from variant a.
    std::fs::write(&variant_b, with_custom_section(&original, b"build 2")).unwrap();

    let runtime = cache.runtime(InvocationLimits::default());
    NotifierCore::load(&runtime, &wasm("notifier_core")).unwrap();
    NotifierCore::load(&runtime, &variant_a).unwrap();
    NotifierCore::load(&runtime, &variant_b).unwrap();
    assert_eq!(runtime.cache_stats(), stats(0, 3));
    assert_eq!(cache.entries(), 3);

    // Each variant, loaded again, is served its own entry.
    let again = cache.runtime(InvocationLimits::default());
    NotifierCore::load(&again, &variant_b).unwrap();
    NotifierCore::load(&again, &variant_a).unwrap();
    assert_eq!(again.cache_stats(), stats(2, 0));
}

#[test]
fn compile_cache_changed_compile_setting_is_compiled_not_served_stale() {
    let cache = TempCache::new();
    let path = wasm("notifier_core");
    let limits = InvocationLimits::default();

    let runtime = cache.runtime(limits);
    NotifierCore::load(&runtime, &path).unwrap();
    assert_eq!(runtime.cache_stats(), stats(0, 1));

    // Cranelift's optimization level changes the machine code.
    let mut config = Runtime::config(&limits);
    config.cranelift_opt_level(wasmtime::OptLevel::None);
    let unoptimized = Runtime::from_config(config, limits, &cache.setting).unwrap();
    NotifierCore::load(&unoptimized, &path).unwrap();
    assert_eq!(unoptimized.cache_stats(), stats(0, 1));

    // So do the linear-memory guard pages (bounds checks are compiled in).
    let mut config = Runtime::config(&limits);
    config.memory_guard_size(64 << 10);
    let small_guard = Runtime::from_config(config, limits, &cache.setting).unwrap();
    NotifierCore::load(&small_guard, &path).unwrap();
    assert_eq!(small_guard.cache_stats(), stats(0, 1));
    assert_eq!(cache.entries(), 3);
}

#[test]
fn compile_cache_memory_limit_reuses_the_code_it_does_not_change() {
    let cache = TempCache::new();
    let path = wasm("notifier_core");
    let runtime = cache.runtime(InvocationLimits::default());
    NotifierCore::load(&runtime, &path).unwrap();
    assert_eq!(runtime.cache_stats(), stats(0, 1));

    // The instance memory limit is applied when instantiating, not compiled
    // in, so `--max-memory-mib` may change without recompiling.
    let limits = InvocationLimits {
        memory_bytes: 64 << 20,
        ..InvocationLimits::default()
    };
    let smaller = cache.runtime(limits);
    NotifierCore::load(&smaller, &path).unwrap();
    assert_eq!(smaller.cache_stats(), stats(1, 0));
    assert_eq!(cache.entries(), 1);
}

/// `spin.toml` loaded as `thumbflow up` loads it, with a fresh engine.
fn load_app(cache: &TempCache, state: &Path) -> Arc<Runtime> {
    let runtime = Arc::new(cache.runtime(InvocationLimits::default()));
    let options = AppOptions {
        components: Vec::new(),
        manifest: root().join("spin.toml"),
        state_dir: state.to_owned(),
        variables: Vec::new(),
    };
    App::load(runtime.clone(), &options).unwrap();
    runtime
}

#[test]
fn compile_cache_second_start_of_the_app_compiles_nothing() {
    let cache = TempCache::new();
    let state = tempfile::tempdir().unwrap();

    let first = load_app(&cache, state.path());
    let compiled = first.cache_stats().unwrap();
    assert_eq!(compiled.hits, 0);
    assert!(compiled.misses >= 4, "{compiled:?}");

    // Composition (glue + engine) yields the same bytes again, so every
    // composed component is found in the cache.
    let second = load_app(&cache, state.path());
    assert_eq!(second.cache_stats(), stats(compiled.misses, 0));
    assert_eq!(cache.entries(), compiled.misses);
}

#[test]
fn compile_cache_bad_configuration_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cache.toml");
    std::fs::write(&config, "[cache]\nno-such-setting = 1\n").unwrap();
    let err = Runtime::with_cache(
        InvocationLimits::default(),
        &CompileCache::ConfigFile(config.clone()),
    )
    .err()
    .expect("a bad configuration is an error");
    let message = format!("{err:#}");
    assert!(message.contains(&config.display().to_string()), "{message}");
    assert!(message.contains("--disable-cache"), "{message}");
}

#[test]
fn compile_cache_flags_disable_wins_then_file_then_default() {
    let file = PathBuf::from("/etc/wasmtime-cache.toml");
    assert_eq!(
        CompileCache::from_flags(true, Some(file.clone())),
        CompileCache::Disabled
    );
    assert_eq!(
        CompileCache::from_flags(false, Some(file.clone())),
        CompileCache::ConfigFile(file)
    );
    assert_eq!(
        CompileCache::from_flags(false, None),
        CompileCache::SystemDefault
    );
    let runtime = Runtime::new(InvocationLimits::default()).unwrap();
    assert_eq!(runtime.cache_stats(), None);
}
