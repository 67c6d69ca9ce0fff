//! The state every store carries: WASI context, resource table, limits.

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::InvocationLimits;

/// Per-instance host state: one per store, one store per invocation.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory limits enforced through the store's resource limiter.
    pub(crate) limits: StoreLimits,
}

impl HostState {
    /// Fresh state with stdout/stderr inherited and the given memory limit.
    pub fn new(limits: &InvocationLimits) -> Self {
        Self {
            wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
        }
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
