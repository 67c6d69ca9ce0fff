//! The wasmtime engine: pooling allocator, epoch interruption, the ticker
//! that advances epochs so deadlines fire, and the on-disk compile cache.
//!
//! # Compile cache
//!
//! Compiling the thumbnail engine (about 3 MB of wasm) with Cranelift takes
//! seconds, and `thumbflow up` compiles every component of `spin.toml` at each
//! start. With a [`CompileCache`] other than [`CompileCache::Disabled`] the
//! engine uses wasmtime's compile cache, exactly as `spin up` does (`--cache
//! FILE`, `--disable-cache`): the second start deserializes the machine code
//! instead of compiling it.
//!
//! An entry is never served stale. wasmtime (`CodeBuilder::compile_cached`
//! in wasmtime 48) names each entry by a SHA-256 of everything compilation
//! reads: the exact bytes being compiled (for `thumbflow up`, the component
//! *after* composition with its dependencies, so a changed dependency is a
//! changed key too), the compiler's target triple, its shared and
//! CPU-feature flags, the engine's tunables (epoch interruption, memory
//! reservation and guards, …), the enabled wasm features and the module
//! version; and it keeps entries under a directory named after the wasmtime
//! release, so another wasmtime never reads them. A changed `.wasm`, a changed
//! compile setting or a new wasmtime therefore compiles afresh. Settings that
//! do not change the compiled code (the pooling allocator's memory limit, the
//! deadline) are not part of the key, and need not be: they are applied when
//! an instance is created, not baked into the code.
//!
//! Composition (`crate::compose`) is deterministic (same inputs, same bytes),
//! which is what lets a composed component hit the cache on the next start.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::{Cache, Config, Engine, InstanceAllocationStrategy};

use crate::limits::InstancePool;
use crate::InvocationLimits;

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Where compiled components are cached between runs.
///
/// The command-line flags mirror `spin up`: `--cache FILE` (env
/// `WASMTIME_CACHE_FILE`) and `--disable-cache` (env `DISABLE_WASMTIME_CACHE`),
/// see [`CompileCache::from_flags`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileCache {
    /// No cache: every load compiles. [`Runtime::new`] uses it, so the tests
    /// and benchmarks never read or write the user's cache directory (and a
    /// benchmark of loading measures compilation, not a cache hit).
    Disabled,
    /// wasmtime's default configuration, as `spin up` without `--cache`:
    /// `$HOME/.config/wasmtime/config.toml` if it exists, otherwise the
    /// defaults, which keep entries in `$HOME/.cache/wasmtime`.
    SystemDefault,
    /// A wasmtime cache configuration file: TOML with a `[cache]` table,
    /// e.g. `directory = "/absolute/path"`
    /// (<https://docs.wasmtime.dev/cli-cache.html>).
    ConfigFile(PathBuf),
}

impl CompileCache {
    /// The cache the command-line flags ask for: disabled wins, then an
    /// explicit configuration file, else wasmtime's default.
    pub fn from_flags(disable: bool, config_file: Option<PathBuf>) -> Self {
        match (disable, config_file) {
            (true, _) => Self::Disabled,
            (false, Some(path)) => Self::ConfigFile(path),
            (false, None) => Self::SystemDefault,
        }
    }

    /// The wasmtime cache (which starts its background worker), or `None`
    /// when disabled.
    fn open(&self) -> anyhow::Result<Option<Cache>> {
        let path = match self {
            Self::Disabled => return Ok(None),
            Self::SystemDefault => None,
            Self::ConfigFile(path) => Some(path.as_path()),
        };
        let cache = Cache::from_file(path)
            .map_err(anyhow::Error::from)
            .with_context(|| match path {
                Some(path) => format!(
                    "loading the wasmtime cache configuration {} (fix it, or pass --disable-cache)",
                    path.display()
                ),
                None => "opening wasmtime's default compile cache \
                         ($HOME/.cache/wasmtime, configured by $HOME/.config/wasmtime/config.toml): \
                         pass --cache FILE or --disable-cache"
                    .to_owned(),
            })?;
        Ok(Some(cache))
    }
}

/// How often the compile cache answered since the runtime was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Components loaded from the cache instead of compiled.
    pub hits: usize,
    /// Components compiled and written to the cache.
    pub misses: usize,
}

/// A configured engine plus the thread that drives its epochs.
///
/// Dropping the runtime stops the ticker.
pub struct Runtime {
    engine: Engine,
    limits: InvocationLimits,
    /// How many instances the pooling allocator holds at once.
    pool: InstancePool,
    /// The compile cache the engine uses, kept to report its statistics.
    cache: Option<Cache>,
    stop: Arc<AtomicBool>,
}

impl Runtime {
    /// An engine with the pooling allocator sized for `limits` and epoch
    /// interruption on, so every call gets a deadline; no compile cache.
    pub fn new(limits: InvocationLimits) -> anyhow::Result<Self> {
        Self::with_cache(limits, &CompileCache::Disabled)
    }

    /// [`Runtime::new`] with compiled components cached on disk as `cache` says.
    pub fn with_cache(limits: InvocationLimits, cache: &CompileCache) -> anyhow::Result<Self> {
        Self::with_pool_and_cache(limits, InstancePool::default(), cache)
    }

    /// [`Runtime::new`] with room for `pool.instances` component instances
    /// alive at once (see [`InstancePool`]).
    pub fn with_pool(limits: InvocationLimits, pool: InstancePool) -> anyhow::Result<Self> {
        Self::with_pool_and_cache(limits, pool, &CompileCache::Disabled)
    }

    /// [`Runtime::with_pool`] with compiled components cached on disk as `cache` says.
    pub fn with_pool_and_cache(
        limits: InvocationLimits,
        pool: InstancePool,
        cache: &CompileCache,
    ) -> anyhow::Result<Self> {
        let mut runtime = Self::from_config(Self::pooled_config(&limits, &pool), limits, cache)?;
        runtime.pool = pool;
        Ok(runtime)
    }

    /// The engine settings thumbflow runs with: the component model, epoch
    /// interruption and the pooling allocator sized for `limits`.
    ///
    /// Public so that a caller can vary one setting and pass the result to
    /// [`Runtime::from_config`] (the tests use it to show that a changed
    /// compile setting does not reuse a cache entry).
    pub fn config(limits: &InvocationLimits) -> Config {
        Self::pooled_config(limits, &InstancePool::default())
    }

    /// [`Runtime::config`] with the pool sized for `pool`.
    fn pooled_config(limits: &InvocationLimits, pool: &InstancePool) -> Config {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(
                pool.pooling_config(limits),
            ));
        config
    }

    /// A runtime on `config` (normally [`Runtime::config`], whose pool is
    /// [`InstancePool::default`]), whose stores get `limits`, with the
    /// compile cache `cache`.
    pub fn from_config(
        mut config: Config,
        limits: InvocationLimits,
        cache: &CompileCache,
    ) -> anyhow::Result<Self> {
        let cache = cache.open()?;
        config.cache(cache.clone());
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("creating the wasmtime engine")?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ticker, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("thumbflow-epoch".to_owned())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                }
            })
            .context("starting the epoch ticker thread")?;
        Ok(Self {
            engine,
            limits,
            pool: InstancePool::default(),
            cache,
            stop,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The limits every invocation gets.
    pub fn limits(&self) -> &InvocationLimits {
        &self.limits
    }

    /// How many component instances may be alive at once.
    pub fn instance_pool(&self) -> &InstancePool {
        &self.pool
    }

    /// Cache hits and misses so far, or `None` without a compile cache.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|cache| CacheStats {
            hits: cache.cache_hits(),
            misses: cache.cache_misses(),
        })
    }

    /// The directory compiled components are cached in, or `None` without a
    /// compile cache.
    pub fn cache_directory(&self) -> Option<&Path> {
        self.cache.as_ref().map(|cache| cache.directory().as_path())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
