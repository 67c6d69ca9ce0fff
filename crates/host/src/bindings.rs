//! Host bindings for the pipeline's WIT worlds, generated here and only here.
//!
//! One module per world, because each world generates its own copy of the
//! shared `types` interface.

/// Bindings for the normalizer engine's world.
pub mod normalizer {
    wasmtime::component::bindgen!({ path: "../../wit", world: "normalizer-core" });
}

/// Bindings for the thumbnail engine's world.
pub mod thumbnailer {
    wasmtime::component::bindgen!({ path: "../../wit", world: "thumbnailer-core" });
}

/// Bindings for the notifier engine's world.
pub mod notifier {
    wasmtime::component::bindgen!({ path: "../../wit", world: "notifier-core" });
}
