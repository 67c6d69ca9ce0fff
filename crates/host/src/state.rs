//! The state every store carries: WASI context, resource table, limits.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::limits::MemoryLimiter;
use crate::InvocationLimits;

/// Per-instance host state: one per store, one store per invocation.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory limit enforced through the store's resource limiter.
    pub(crate) limiter: MemoryLimiter,
}

impl HostState {
    /// Fresh state with stdout/stderr inherited and the given memory limit.
    pub fn new(limits: &InvocationLimits) -> Self {
        Self {
            wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory_bytes),
        }
    }
}

impl HostState {
    /// Largest linear memory size the instance reached, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.limiter.peak()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
