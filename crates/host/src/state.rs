//! The state every store carries: WASI context, resource table, limits,
//! and for app components their Spin grants, HTTP context and captured output.

use std::future::Future;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::limits::MemoryLimiter;
use crate::manifest::AllowedHosts;
use crate::spin::SpinState;
use crate::InvocationLimits;

/// Largest guest stdout/stderr kept per invocation; more is dropped.
const OUTPUT_CAPACITY: usize = 1 << 20;

/// Per-instance host state: one per store, one store per invocation.
pub struct HostState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// Memory limit enforced through the store's resource limiter.
    pub(crate) limiter: MemoryLimiter,
    /// Spin capabilities (absent for the portable engines, which get none).
    pub(crate) spin: Option<SpinState>,
    http: WasiHttpCtx,
    hooks: OutboundHttp,
    output: Option<(MemoryOutputPipe, MemoryOutputPipe)>,
}

impl HostState {
    /// State for a portable engine: stdout/stderr inherited, no Spin capabilities.
    pub fn new(limits: &InvocationLimits) -> Self {
        Self {
            wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory_bytes),
            spin: None,
            http: WasiHttpCtx::new(),
            hooks: OutboundHttp { allowed: None },
            output: None,
        }
    }

    /// State for an app component: its grants, and stdout/stderr captured so
    /// the host can log them line by line under the component id.
    pub fn for_component(limits: &InvocationLimits, spin: SpinState) -> Self {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory_bytes),
            hooks: OutboundHttp {
                allowed: Some((
                    spin.grants.component.clone(),
                    spin.grants.allowed_hosts.clone(),
                )),
            },
            spin: Some(spin),
            http: WasiHttpCtx::new(),
            output: Some((stdout, stderr)),
        }
    }

    /// Largest linear memory size the instance reached, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.limiter.peak()
    }

    /// What the guest wrote to stdout and stderr so far (app components only).
    pub fn output(&self) -> (Vec<u8>, Vec<u8>) {
        match &self.output {
            Some((out, err)) => (out.contents().to_vec(), err.contents().to_vec()),
            None => (Vec::new(), Vec::new()),
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

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Outgoing HTTP limited to the component's `allowed_outbound_hosts`.
struct OutboundHttp {
    /// Component id and its grants; `None` denies everything.
    allowed: Option<(String, Arc<AllowedHosts>)>,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let url = request.uri().to_string();
        let allowed = match &self.allowed {
            Some((component, hosts)) => {
                let ok = hosts.allows(&url);
                if !ok {
                    // Without the query: a presigned S3 URL carries its signature there.
                    let uri = request.uri();
                    let shown = format!(
                        "{}://{}{}",
                        uri.scheme_str().unwrap_or("http"),
                        uri.authority().map_or("", |a| a.as_str()),
                        uri.path()
                    );
                    eprintln!("[{component}] outbound HTTP to {shown:?} is not in the component's allowed_outbound_hosts: denied");
                }
                ok
            }
            None => false,
        };
        if !allowed {
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        drop(fut);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            ))
        })
    }
}
