//! The wasmtime engine: pooling allocator, epoch interruption, and the
//! ticker that advances epochs so deadlines fire.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::{Config, Engine, InstanceAllocationStrategy};

use crate::limits::InstancePool;
use crate::InvocationLimits;

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A configured engine plus the thread that drives its epochs.
///
/// Dropping the runtime stops the ticker.
pub struct Runtime {
    engine: Engine,
    limits: InvocationLimits,
    /// How many instances the pooling allocator holds at once.
    pool: InstancePool,
    stop: Arc<AtomicBool>,
}

impl Runtime {
    /// An engine with the pooling allocator sized for `limits` and epoch
    /// interruption on, so every call gets a deadline.
    pub fn new(limits: InvocationLimits) -> anyhow::Result<Self> {
        Self::with_pool(limits, InstancePool::default())
    }

    /// [`Runtime::new`] with room for `pool.instances` component instances
    /// alive at once (see [`InstancePool`]).
    pub fn with_pool(limits: InvocationLimits, pool: InstancePool) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(
                pool.pooling_config(&limits),
            ));
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
            pool,
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
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
