//! Per-invocation limits: how much memory a component instance may grow to
//! and how long one call may run, and the limiter that enforces the first
//! while recording the peak (for the memory figures in the benchmarks).

use std::time::Duration;

use wasmtime::ResourceLimiter;

/// Limits applied to every instance the host creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationLimits {
    /// Largest linear memory one instance may grow to, in bytes.
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

/// Enforces the memory limit on every linear memory of an instance and
/// remembers the largest size any of them reached.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: usize,
    peak: usize,
}

impl MemoryLimiter {
    /// A limiter allowing each linear memory up to `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { limit, peak: 0 }
    }

    /// Largest size, in bytes, that any linear memory of the instance grew to.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.limit && maximum.is_none_or(|max| desired <= max);
        if allowed {
            self.peak = self.peak.max(desired);
            Ok(true)
        } else {
            Err(wasmtime::format_err!(
                "linear memory would grow to {desired} bytes, over the {} byte limit",
                self.limit
            ))
        }
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
