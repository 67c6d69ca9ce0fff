//! The portable stage engines (the `*-core` components), loaded once and
//! called per invocation.
//!
//! Each engine is compiled and pre-instantiated when loaded; a call makes a
//! fresh store (own memory limit and deadline) and instance from that, so a
//! trap in one call cannot affect the next.

use std::path::Path;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker};
use wasmtime::Store;

use crate::bindings::{normalizer, notifier, thumbnailer};
use crate::state::HostState;
use crate::Runtime;

pub use normalizer::exports::thumbflow::pipeline::normalize::{
    Accepted, CanonicalEvent, Ignored, NormalizeOptions, ObjectCreated, Outcome, SourceFormat,
};
pub use notifier::exports::thumbflow::pipeline::notify::{HttpRequest, WebhookOptions};
pub use thumbnailer::exports::thumbflow::pipeline::thumbnail::{
    FitMode, ImageFormat, Limits as ImageLimits, Recipe, Rendered, SourceInfo,
};

/// Why a call to an engine failed: the two failure layers kept apart.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The component trapped, ran out of memory or time, or could not be
    /// instantiated: a host-level failure, not an answer from the engine.
    #[error("component trapped: {0:#}")]
    Trap(anyhow::Error),
    /// The engine answered `reject`: retrying will not help.
    #[error("rejected: {0}")]
    Reject(String),
    /// The engine answered `retry`: the same input may succeed later.
    #[error("retryable: {0}")]
    Retry(String),
}

impl CallError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CallError::Retry(_))
    }
}

macro_rules! stage_error {
    ($module:ident, $iface:ident) => {
        impl From<$module::exports::thumbflow::pipeline::$iface::StageError> for CallError {
            fn from(e: $module::exports::thumbflow::pipeline::$iface::StageError) -> Self {
                use $module::exports::thumbflow::pipeline::$iface::StageError;
                match e {
                    StageError::Reject(m) => CallError::Reject(m),
                    StageError::Retry(m) => CallError::Retry(m),
                }
            }
        }
    };
}
stage_error!(normalizer, normalize);
stage_error!(thumbnailer, thumbnail);
stage_error!(notifier, notify);

/// A host-level failure of a call (trap, resource limit, instantiation).
fn trap(e: wasmtime::Error) -> CallError {
    CallError::Trap(e.into())
}

/// Compile a component file and a linker with WASI 0.2 (the only imports an engine may have).
fn compile(runtime: &Runtime, path: &Path) -> anyhow::Result<(Component, Linker<HostState>)> {
    let component = Component::from_file(runtime.engine(), path)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading component {}", path.display()))?;
    let mut linker = Linker::new(runtime.engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .map_err(anyhow::Error::from)
        .context("adding WASI 0.2 to the linker")?;
    Ok((component, linker))
}

/// A store for one invocation, with the runtime's memory limit and deadline.
fn store(runtime: &Runtime) -> Store<HostState> {
    let mut store = Store::new(runtime.engine(), HostState::new(runtime.limits()));
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(runtime.limits().deadline_ticks());
    store
}

macro_rules! core_engine {
    ($(#[$doc:meta])* $name:ident, $module:ident, $world:ident, $pre:ident) => {
        $(#[$doc])*
        pub struct $name<'r> {
            runtime: &'r Runtime,
            pre: $module::$pre<HostState>,
        }

        impl<'r> $name<'r> {
            /// Compile and pre-instantiate the component at `path`; fails,
            /// naming the interface, if it imports anything but WASI 0.2.
            pub fn load(runtime: &'r Runtime, path: &Path) -> anyhow::Result<Self> {
                let (component, linker) = compile(runtime, path)?;
                let pre = linker
                    .instantiate_pre(&component)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("linking {}", path.display()))?;
                let pre = $module::$pre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("{} does not export the expected interface", path.display()))?;
                Ok(Self { runtime, pre })
            }

            fn instantiate(&self) -> Result<(Store<HostState>, $module::$world), CallError> {
                let mut store = store(self.runtime);
                let instance = self.pre.instantiate(&mut store).map_err(trap)?;
                Ok((store, instance))
            }
        }
    };
}

core_engine!(
    /// The normalizer engine (`thumbflow:pipeline/normalize`).
    NormalizerCore, normalizer, NormalizerCore, NormalizerCorePre
);
core_engine!(
    /// The thumbnail engine (`thumbflow:pipeline/thumbnail`).
    ThumbnailerCore, thumbnailer, ThumbnailerCore, ThumbnailerCorePre
);
core_engine!(
    /// The notifier engine (`thumbflow:pipeline/notify`).
    NotifierCore, notifier, NotifierCore, NotifierCorePre
);

impl NormalizerCore<'_> {
    /// Normalize one raw event.
    pub fn normalize(
        &self,
        raw: &[u8],
        options: &NormalizeOptions,
    ) -> Result<Vec<Outcome>, CallError> {
        let (mut store, instance) = self.instantiate()?;
        let answer = instance
            .thumbflow_pipeline_normalize()
            .call_normalize(&mut store, raw, options)
            .map_err(trap)?;
        answer.map_err(CallError::from)
    }
}

impl ThumbnailerCore<'_> {
    /// Parse a recipe list in the engine's syntax.
    pub fn parse_recipes(&self, spec: &str) -> Result<Vec<Recipe>, CallError> {
        let (mut store, instance) = self.instantiate()?;
        let answer = instance
            .thumbflow_pipeline_thumbnail()
            .call_parse_recipes(&mut store, spec)
            .map_err(trap)?;
        answer.map_err(CallError::from)
    }

    /// Read an image's header.
    pub fn probe(&self, image: &[u8], limits: &ImageLimits) -> Result<SourceInfo, CallError> {
        let (mut store, instance) = self.instantiate()?;
        let answer = instance
            .thumbflow_pipeline_thumbnail()
            .call_probe(&mut store, image, *limits)
            .map_err(trap)?;
        answer.map_err(CallError::from)
    }

    /// Render every recipe for one image.
    pub fn render(
        &self,
        image: &[u8],
        recipes: &[Recipe],
        limits: &ImageLimits,
    ) -> Result<Vec<Rendered>, CallError> {
        self.render_measured(image, recipes, limits).0
    }

    /// [`Self::render`], also returning the peak linear memory of the
    /// instance in bytes (what the memory targets are measured with).
    pub fn render_measured(
        &self,
        image: &[u8],
        recipes: &[Recipe],
        limits: &ImageLimits,
    ) -> (Result<Vec<Rendered>, CallError>, usize) {
        let (mut store, instance) = match self.instantiate() {
            Ok(pair) => pair,
            Err(e) => return (Err(e), 0),
        };
        let answer = instance
            .thumbflow_pipeline_thumbnail()
            .call_render(&mut store, image, recipes, *limits)
            .map_err(trap)
            .and_then(|answer| answer.map_err(CallError::from));
        (answer, store.data().peak_memory())
    }
}

impl NotifierCore<'_> {
    /// Build the signed webhook request for a thumbnail-created event.
    pub fn prepare_webhook(
        &self,
        event: &[u8],
        options: &WebhookOptions,
    ) -> Result<HttpRequest, CallError> {
        let (mut store, instance) = self.instantiate()?;
        let answer = instance
            .thumbflow_pipeline_notify()
            .call_prepare_webhook(&mut store, event, options)
            .map_err(trap)?;
        answer.map_err(CallError::from)
    }
}
