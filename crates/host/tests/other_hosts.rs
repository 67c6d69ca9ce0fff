//! The components on hosts this project did not write, installed from a
//! package registry (npm's `@bytecodealliance/jco`, pinned in
//! `tests/node/package-lock.json`, installed into `.tools/npm` by
//! `make jco` or by these tests when missing):
//! - `jco serve` runs `render_http.wasm` (the render glue composed with the
//!   thumbnail engine) as a Node HTTP server: a real photo stored with EXIF
//!   orientation 6 comes back upright at the recipe's size, and a corrupt
//!   file, a non-image and an over-limit image get their typed errors;
//! - `jco transpile` turns `thumbnailer_core.wasm` into JavaScript that
//!   Node calls directly (`tests/node/render.mjs`): the corpus photo (or the
//!   committed fixture, as the output says) renders upright, byte for byte
//!   what the same engine renders in thumbflow's wasmtime host.
//!
//! Without Node and npm on the machine the tests say they skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::process::Command;

use common::jco::{self, JcoServe};
use common::{photo, root, scenarios};
use thumbflow::cores::ImageLimits;
use thumbflow::{InvocationLimits, Runtime, ThumbnailerCore};

fn wasm(name: &str) -> std::path::PathBuf {
    let path = root().join("target/wasm32-wasip2/release").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make build` first",
        path.display()
    );
    path
}

fn jco_or_skip(what: &str) -> Option<std::path::PathBuf> {
    match jco::find() {
        Ok(jco) => {
            println!("jco {} ({})", jco::version(&jco), jco.display());
            Some(jco)
        }
        Err(why) => {
            println!("SKIPPED {what}: {why}");
            None
        }
    }
}

/// Must-show 1: render_http.wasm served by `jco serve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_http_on_jco_serve_renders_upright_and_types_errors() {
    let Some(jco) = jco_or_skip("render-http on jco serve") else {
        return;
    };
    let serve = JcoServe::start(&jco, &wasm("render_http.wasm"));
    scenarios::render_answers_upright_thumbnails_and_typed_errors(&serve).await;
    // It is render_http.wasm's own routing answering, not jco's.
    let other = serve
        .http
        .get(serve.url("/elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "{}", serve.output());
    let body: serde_json::Value = other.json().await.unwrap();
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("POST the image to /render"));
}

/// Must-show 4: the thumbnail engine called from Node through `jco transpile`.
#[test]
fn thumbnailer_engine_in_node_via_jco_transpile_renders_a_corpus_photo() {
    let Some(jco) = jco_or_skip("the engine in Node") else {
        return;
    };
    let dir = tempfile::tempdir_in(jco::npm_dir()).unwrap();
    let engine_dir = dir.path().join("engine");
    let transpiled = Command::new(&jco)
        .arg("transpile")
        .arg(wasm("thumbnailer_core.wasm"))
        .args([
            "--name",
            "thumbnailer_core",
            "--no-typescript",
            "--quiet",
            "-o",
        ])
        .arg(&engine_dir)
        .output()
        .unwrap();
    assert!(
        transpiled.status.success(),
        "jco transpile: {}",
        String::from_utf8_lossy(&transpiled.stderr)
    );
    let engine = engine_dir.join("thumbnailer_core.js");

    let (source, bytes, expected) = photo();
    println!("photo: {source}");
    let input = dir.path().join("input");
    std::fs::write(&input, &bytes).unwrap();
    let run = |input: &std::path::Path, output: &std::path::Path| {
        let out = Command::new("node")
            .arg(root().join("tests/node/render.mjs"))
            .arg(&engine)
            .arg(input)
            .arg(output)
            .arg("thumb=300x300,jpeg,q90")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "render.mjs printed no JSON ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code(), report)
    };

    let output = dir.path().join("thumb.jpg");
    let (code, report) = run(&input, &output);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["source"]["orientation"], 6, "{source}: {report}");
    let thumb = std::fs::read(&output).unwrap();
    let image = image::load_from_memory_with_format(&thumb, image::ImageFormat::Jpeg).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        expected,
        "upright {source}: {report}"
    );
    assert_eq!(report["width"], expected.0);
    // Stored landscape or portrait, displayed the other way round: turned.
    let stored = (
        report["source"]["width"].as_u64().unwrap(),
        report["source"]["height"].as_u64().unwrap(),
    );
    assert_ne!(stored.0 > stored.1, expected.0 > expected.1, "{report}");

    // The same engine in thumbflow's own wasmtime host makes the same bytes.
    let runtime = Runtime::new(InvocationLimits::default()).unwrap();
    let core = ThumbnailerCore::load(&runtime, &wasm("thumbnailer_core.wasm")).unwrap();
    let recipes = core.parse_recipes("thumb=300x300,jpeg,q90").unwrap();
    let limits = ImageLimits {
        max_pixels: 100_000_000,
        max_side: 16_384,
        max_input_bytes: 67_108_864,
        max_frames: 10_000,
        memory_budget: 402_653_184,
    };
    let ours = core.render(&bytes, &recipes, &limits).unwrap();
    assert_eq!(
        ours[0].bytes, thumb,
        "Node and wasmtime render the same thumbnail"
    );

    // A corrupt file is the engine's typed reject, as a JavaScript exception.
    let truncated = dir.path().join("truncated.jpg");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let (code, report) = run(&truncated, &dir.path().join("none.jpg"));
    assert_eq!(code, Some(2), "{report}");
    assert_eq!(report["error"]["tag"], "reject", "{report}");
    assert!(
        report["error"]["val"]
            .as_str()
            .unwrap()
            .starts_with("cannot decode image"),
        "{report}"
    );
}
