//! Composing a component with its `dependencies` before it runs, as Spin
//! does: each dependency (a local component file) is instantiated and its
//! export of the same name is plugged into the importing component; what
//! neither satisfies (WASI, Spin interfaces) stays an import of the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

/// The composed component's bytes (the original bytes when there are no dependencies).
pub fn compose(source: &Path, dependencies: &BTreeMap<String, PathBuf>) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(source).with_context(|| format!("reading component {}", source.display()))?;
    if dependencies.is_empty() {
        return Ok(bytes);
    }
    let mut graph = CompositionGraph::new();
    let main = Package::from_bytes("thumbflow:main", None, bytes, graph.types_mut())
        .with_context(|| format!("parsing component {}", source.display()))?;
    let exports: Vec<String> = graph.types()[main.ty()].exports.keys().cloned().collect();
    let main = graph.register_package(main)?;
    let main_instance = graph.instantiate(main);
    for (index, (interface, path)) in dependencies.iter().enumerate() {
        let dep_bytes = std::fs::read(path)
            .with_context(|| format!("reading dependency {interface:?} from {}", path.display()))?;
        let dep = Package::from_bytes(
            &format!("thumbflow:dep{index}"),
            None,
            dep_bytes,
            graph.types_mut(),
        )
        .with_context(|| format!("parsing dependency {}", path.display()))?;
        let dep = graph.register_package(dep)?;
        let dep_instance = graph.instantiate(dep);
        let export = graph
            .alias_instance_export(dep_instance, interface)
            .with_context(|| {
                format!(
                    "dependency {} does not export {interface:?}",
                    path.display()
                )
            })?;
        graph
            .set_instantiation_argument(main_instance, interface, export)
            .with_context(|| format!("plugging {interface:?} into {}", source.display()))?;
    }
    for name in exports {
        let alias = graph.alias_instance_export(main_instance, &name)?;
        graph.export(alias, &name)?;
    }
    graph
        .encode(EncodeOptions::default())
        .with_context(|| format!("encoding the composition of {}", source.display()))
}
