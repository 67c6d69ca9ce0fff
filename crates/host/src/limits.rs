//! Per-invocation limits: how much memory a component instance may grow to
//! and how long one call may run.

use std::time::Duration;

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
