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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_spin_runs_the_manifest_unchanged_with_the_same_results() {
    let bin = match spin::find() {
        Ok(bin) => bin,
        Err(why) => {
            println!("SKIPPED real-Spin conformance: {why}");
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
