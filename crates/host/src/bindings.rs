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

/// Bindings for the Spin interfaces the host provides (`wit/host.wit`,
/// Spin's own WIT vendored under `wit/deps` by `wit/vendor.sh`).
pub mod spin {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "thumbflow:host/spin-redis",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "fermyon:spin/key-value@2.0.0.store": crate::spin::kv::StoreHandle,
            "fermyon:spin/redis@2.0.0.connection": crate::spin::redis::ConnectionHandle,
        },
    });
}
