//! Limits: how much memory one component instance may grow to and how long
//! one call may run ([`InvocationLimits`], enforced per store by the
//! [`MemoryLimiter`], which also records the peak for the benchmarks), how
//! many instances may be alive at once ([`InstancePool`]), and how many
//! events each trigger runs at once and how long shutdown waits for them
//! ([`TriggerLimits`]).

use std::num::NonZeroUsize;
use std::time::Duration;

use wasmtime::{PoolingAllocationConfig, ResourceLimiter};

/// Limits applied to every instance the host creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationLimits {
    /// Largest total linear memory one instance may grow to, in bytes: the
    /// sum over all its memories (a glue composed with its engine has
    /// several).
    pub memory_bytes: usize,
    /// Longest one call may run before it is interrupted (epoch deadline).
    pub deadline: Duration,
}

impl Default for InvocationLimits {
    /// 512 MiB and 30 s: a 100 MP image (the default `max_pixels`) needs a
    /// few hundred MiB to decode; no sane thumbnail takes 30 s.
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            deadline: Duration::from_secs(30),
        }
    }
}

impl InvocationLimits {
    /// The deadline in epoch ticks of [`crate::runtime::EPOCH_TICK`], at least one.
    pub fn deadline_ticks(&self) -> u64 {
        let tick = crate::runtime::EPOCH_TICK.as_millis().max(1);
        u64::try_from(self.deadline.as_millis().div_ceil(tick))
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// How many component instances one engine may keep alive at once.
///
/// The pooling allocator reserves its slots up front and fails an
/// instantiation when they run out. The pool is sized as `instances` times
/// what one component may hold (at most [`InstancePool::CORE_INSTANCES`]
/// core instances, [`InstancePool::MEMORIES`] memories and
/// [`InstancePool::TABLES`] tables, checked when a component is compiled),
/// so any `instances` instances fit; the app hands out that many slots
/// (`App::admit`) and every trigger takes one before it instantiates, so a
/// burst waits for a slot instead of failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstancePool {
    /// Component instances alive at once, across all triggers.
    pub instances: u32,
}

impl Default for InstancePool {
    /// 64 instances: every trigger of `spin.toml` at a concurrency of 16.
    /// Slots cost address space only (four 4 GiB reservations each), not memory.
    fn default() -> Self {
        Self { instances: 64 }
    }
}

impl InstancePool {
    /// Most core module instances one component may create (the composed
    /// thumbnailer, glue plus engine plus adapters, needs about a dozen).
    pub const CORE_INSTANCES: u32 = 32;
    /// Most linear memories one component may define (glue plus engine: two).
    pub const MEMORIES: u32 = 4;
    /// Most tables one component may define.
    pub const TABLES: u32 = 32;
    /// Linear memory a freed slot keeps resident, per memory: what the
    /// thumbnail engine needs for any photo of the benchmark corpus.
    pub const KEEP_RESIDENT_BYTES: usize = 32 << 20;
    /// Table bytes a freed slot keeps resident, per table.
    pub const KEEP_RESIDENT_TABLE_BYTES: usize = 64 << 10;

    /// A pool for `instances` instances (at least one).
    pub fn new(instances: u32) -> Self {
        Self {
            instances: instances.max(1),
        }
    }

    /// Room for `triggers` triggers each running `concurrency` instances at
    /// once, and never fewer than the default.
    pub fn for_triggers(triggers: usize, concurrency: NonZeroUsize) -> Self {
        let wanted = triggers.saturating_mul(concurrency.get());
        Self::new(
            u32::try_from(wanted)
                .unwrap_or(u32::MAX)
                .max(Self::default().instances),
        )
    }

    /// The pooling allocator's settings: per-component caps, totals for
    /// `instances` components, each memory at most `limits.memory_bytes`.
    pub fn pooling_config(&self, limits: &InvocationLimits) -> PoolingAllocationConfig {
        let n = self.instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .max_core_instances_per_component(Self::CORE_INSTANCES)
            .max_memories_per_component(Self::MEMORIES)
            .max_tables_per_component(Self::TABLES)
            .total_core_instances(n.saturating_mul(Self::CORE_INSTANCES))
            .total_memories(n.saturating_mul(Self::MEMORIES))
            .total_tables(n.saturating_mul(Self::TABLES))
            .total_stacks(n.max(1000))
            .max_memory_size(limits.memory_bytes)
            // A freed slot keeps up to this much of its memory mapped and is
            // reset with memset (only the pages the guest dirtied, found with
            // the PAGEMAP_SCAN ioctl where the kernel has it) instead of
            // madvise: the next instance in the slot takes no page faults.
            // Faults were about a fifth of a small image's render time.
            .linear_memory_keep_resident(Self::KEEP_RESIDENT_BYTES)
            .table_keep_resident(Self::KEEP_RESIDENT_TABLE_BYTES)
            .pagemap_scan(wasmtime::Enabled::Auto);
        pool
    }
}

/// How the triggers share the instances: at most `concurrency` events of one
/// Redis subscription (and `concurrency` HTTP requests) run at once; more
/// wait, in order, for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerLimits {
    /// Events of one subscription (and HTTP requests) handled at once.
    pub concurrency: NonZeroUsize,
    /// How long shutdown waits for received events and requests in flight
    /// to finish before abandoning them.
    pub drain_timeout: Duration,
    /// How long an HTTP request waits for a free instance before it is
    /// answered `503 Service Unavailable` with `Retry-After`.
    pub http_queue_timeout: Duration,
    /// How often each Redis subscription's component is woken with the
    /// doorbell when it has no message waiting (and once at start), so
    /// work queued while no replica ran, retries coming due and expired
    /// leases are picked up without waiting for the next publish; `None`: never.
    pub drain_interval: Option<Duration>,
}

impl Default for TriggerLimits {
    /// The machine's cores, a 30 s drain, a 30 s HTTP queue, a doorbell every 2 s.
    fn default() -> Self {
        Self {
            concurrency: std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            drain_timeout: Duration::from_secs(30),
            http_queue_timeout: Duration::from_secs(30),
            drain_interval: Some(Duration::from_secs(2)),
        }
    }
}

/// Enforces the memory limit on the sum of all linear memories of one store
/// (one instance: a composed component has a memory per core module that
/// defines one) and remembers the largest total reached.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: usize,
    /// Bytes of all the store's linear memories right now.
    total: usize,
    /// Growth allowed by the last `memory_growing`, taken back if it failed.
    pending: usize,
    peak: usize,
}

impl MemoryLimiter {
    /// A limiter allowing the store's memories together up to `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            total: 0,
            pending: 0,
            peak: 0,
        }
    }

    /// Largest total size, in bytes, that the store's linear memories reached.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.total.saturating_add(growth);
        if total > self.limit {
            return Err(wasmtime::format_err!(
                "linear memory would grow to {desired} bytes, making the instance's memories \
                 {total} bytes in all, over the {} byte limit (--max-memory-mib)",
                self.limit
            ));
        }
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.total = total;
        self.pending = growth;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.total = self.total.saturating_sub(self.pending);
        self.pending = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn memory_limiter_counts_every_memory_of_the_instance() {
        let mut limiter = MemoryLimiter::new(10 * MIB);
        assert!(limiter.memory_growing(0, 4 * MIB, None).unwrap());
        assert!(limiter.memory_growing(0, 4 * MIB, None).unwrap());
        let err = limiter.memory_growing(4 * MIB, 7 * MIB, None).unwrap_err();
        assert!(
            err.to_string().contains("over the 10485760 byte limit"),
            "{err}"
        );
        assert!(limiter.memory_growing(4 * MIB, 6 * MIB, None).unwrap());
        assert_eq!(limiter.peak(), 10 * MIB);
    }

    #[test]
    fn memory_limiter_takes_back_growth_that_failed() {
        let mut limiter = MemoryLimiter::new(8 * MIB);
        assert!(limiter.memory_growing(0, 6 * MIB, None).unwrap());
        limiter
            .memory_grow_failed(wasmtime::format_err!("mmap failed"))
            .unwrap();
        assert!(limiter.memory_growing(0, 8 * MIB, None).unwrap());
    }

    #[test]
    fn memory_limiter_refuses_growth_past_the_memory_maximum_without_counting_it() {
        let mut limiter = MemoryLimiter::new(8 * MIB);
        assert!(!limiter.memory_growing(MIB, 3 * MIB, Some(2 * MIB)).unwrap());
        assert!(limiter.memory_growing(0, 8 * MIB, None).unwrap());
    }

    #[test]
    fn trigger_limits_default_to_the_machines_cores() {
        let cores = std::thread::available_parallelism().unwrap();
        assert_eq!(TriggerLimits::default().concurrency, cores);
    }
}
