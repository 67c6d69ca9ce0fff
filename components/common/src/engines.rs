//! The three engines' ports, as imports: the one place their bindings are
//! generated (world `stage-glue`). A component that calls none of them
//! imports none of them; the app satisfies each one it calls with a
//! component dependency (`spin.toml`, `deploy/http-only/spin.toml`).
// wit-bindgen's generated imports need `unsafe`; nothing else here does.
#![allow(unsafe_code)]

wit_bindgen::generate!({ world: "stage-glue", path: "../../wit" });

pub use thumbflow::pipeline::{normalize, notify, thumbnail};
