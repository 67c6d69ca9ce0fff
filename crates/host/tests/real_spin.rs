//! Conformance with real Spin: the repo's `spin.toml`, unchanged, run by
//! `spin up` (real Spin 4.x, see `common::spin::find`) against its own
//! `redis-server`, passes the same user-facing scenarios as our host
//! (`tests/pipeline.rs`): real photos uploaded through the gateway come back
//! upright, raw storage events find their objects, bad inputs get clear
//! errors, a signed webhook arrives, and `POST /render` (render_http.wasm on
//! its exact route beside the gateway's `/...`) answers upright thumbnails
//! and typed errors. Without a Spin binary the test says
//! it skipped. Spin is started once for the whole file (it compiles eight
//! components at start-up).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use common::scenarios;
use common::spin::{self, RealSpin};
use common::Redis;
use std::os::unix::process::CommandExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_spin_runs_the_manifest_unchanged_with_the_same_results() {
    let bin = match spin::find() {
        Ok(bin) => bin,
        Err(why) => {
            common::skip("spin", &why);
            return;
        }
    };
    let version = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .unwrap();
    println!(
        "real Spin: {} ({})",
        String::from_utf8_lossy(&version.stdout).trim(),
        bin.display()
    );
    let redis = Redis::start();
    let (origin, received) = scenarios::webhook_receiver().await;
    let vars = scenarios::webhook_variables(&origin);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let spin = RealSpin::start(&bin, &common::root().join("spin.toml"), &redis, &vars).await;

    // The webhook check first, while no other upload has produced one.
    scenarios::webhook_arrives_once_per_thumbnail_with_valid_signature(&spin, &received, "hook/")
        .await;
    scenarios::upload_real_photo_produces_upright_thumbnail_and_status(&spin).await;
    scenarios::reupload_of_earlier_bytes_gets_its_own_thumbnail(&spin).await;
    scenarios::render_answers_upright_thumbnails_and_typed_errors(&spin).await;
    scenarios::photo_set_comes_out_upright(&spin).await;
    scenarios::posted_events_find_objects_already_in_storage(&spin).await;
    scenarios::bad_inputs_leave_clear_errors_and_the_pipeline_goes_on(&spin).await;
    scenarios::upload_carries_the_callers_trace_through_every_stage(&spin, |component| {
        spin.component_log(component)
    })
    .await;

    // Spin logged each component's output under its own id.
    assert!(
        spin.component_log("thumbnailer")
            .contains("thumbnailed thumbflow/photos/x.jpg"),
        "thumbnailer log:\n{}",
        spin.component_log("thumbnailer")
    );
}

/// Issue 8, must-show 1: a new user's `spin up --from spin.toml`, with no
/// variable set at all, serves the gateway and subscribes every channel on
/// the default `redis_address` (127.0.0.1:6379).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_spin_serves_the_manifest_with_every_variable_at_its_default() {
    let bin = match spin::find() {
        Ok(bin) => bin,
        Err(why) => return common::skip("spin", &why),
    };
    let redis = Redis::on_default_port();
    let spin = RealSpin::start_with(&bin, &common::root().join("spin.toml"), &redis, &[]).await;
    let page = spin.http.get(spin.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200, "the gallery at /");
    assert!(page.text().await.unwrap().contains("thumbflow"));
    let output = spin.output();
    assert!(output.contains("Serving http://"), "{output}");
    assert!(output.contains("thumbflow.raw: [normalizer]"), "{output}");
}

/// Our host's loader refuses what real Spin refuses, in Spin's words: each
/// broken manifest is refused by `spin up` (before it serves) and by
/// `Manifest::parse`, and every layer of our error appears in Spin's.
#[test]
fn real_spin_and_our_loader_refuse_the_same_broken_manifests() {
    let bin = match spin::find() {
        Ok(bin) => bin,
        Err(why) => return common::skip("spin", &why),
    };
    let good = std::fs::read_to_string(common::root().join("spin.toml")).unwrap();
    let replace = |from: &str, to: &str| {
        assert!(good.contains(from), "spin.toml no longer has {from:?}");
        good.replacen(from, to, 1)
    };
    let broken = [
        // The manifest of issue 8: an allowed host whose default is empty.
        (
            "empty webhook_origin default",
            replace(
                "webhook_origin = { default = \"http://webhook.invalid\"",
                "webhook_origin = { default = \"\"",
            ),
        ),
        (
            "a path in allowed_outbound_hosts",
            replace(
                "webhook_origin = { default = \"http://webhook.invalid\"",
                "webhook_origin = { default = \"http://webhook.invalid/hooks\"",
            ),
        ),
        (
            "a key-value store other than default",
            replace(
                "key_value_stores = [\"default\"]",
                "key_value_stores = [\"cache\"]",
            ),
        ),
        (
            "a variable both required and with a default",
            replace(
                "bucket = { default = \"thumbflow\",",
                "bucket = { default = \"thumbflow\", required = true,",
            ),
        ),
    ];
    // Beside the real manifest's directory layout, so its sources resolve.
    let dir = common::root().join("target/conformance");
    std::fs::create_dir_all(&dir).unwrap();
    for (what, text) in broken {
        let text = text.replace("\"target/wasm32-wasip2/", "\"../wasm32-wasip2/");
        let manifest = dir.join("spin.toml");
        std::fs::write(&manifest, &text).unwrap();
        let ours = thumbflow::manifest::Manifest::parse(&text, &dir)
            .err()
            .unwrap_or_else(|| panic!("{what}: our loader accepted it"));
        let state = tempfile::tempdir().unwrap();
        let log = state.path().join("spin-up.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut child = std::process::Command::new(&bin)
            .arg("up")
            .arg("--from")
            .arg(&manifest)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", common::free_port()))
            .arg("--state-dir")
            .arg(state.path())
            .stdin(std::process::Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap();
        // Refused at load: Spin exits within seconds; one that serves accepted it.
        let start = std::time::Instant::now();
        let exit = loop {
            if let Some(exit) = child.try_wait().unwrap() {
                break Some(exit);
            }
            if start.elapsed() > std::time::Duration::from_secs(60) {
                spin::kill_group(&mut child);
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let spins = std::fs::read_to_string(&log).unwrap();
        assert!(
            exit.is_some_and(|e| !e.success()),
            "{what}: real Spin accepted it:\n{spins}"
        );
        for layer in ours.layers() {
            assert!(
                spins.contains(&layer),
                "{what}: our error layer {layer:?} is not in Spin's error:\n{spins}\nours: {ours}"
            );
        }
    }
}
