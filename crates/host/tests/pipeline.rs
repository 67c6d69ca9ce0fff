//! The whole pipeline end to end on our host: the repo's spin.toml, the real
//! .wasm files, a real redis-server per test, real HTTP, real photos. The
//! user-facing checks live in `common::scenarios` so `tests/real_spin.rs`
//! runs exactly the same ones on real Spin.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use common::scenarios::{self, thumbnail_done, CLOUDTRAIL};
use common::{photo, stage_is, Pipeline, Redis};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_real_photo_produces_upright_thumbnail_and_status() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    scenarios::upload_real_photo_produces_upright_thumbnail_and_status(&p).await;
}

/// spin.toml routes `/render` to render_http.wasm beside the gateway's
/// `/...`: the exact route wins, and the gateway still serves the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_route_beside_the_gateway_answers_thumbnails_and_typed_errors() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    scenarios::render_answers_upright_thumbnails_and_typed_errors(&p).await;
    let health = p.http.get(p.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the gateway keeps /...");
    let other = p.http.post(p.url("/render/x")).send().await.unwrap();
    assert_eq!(
        other.status(),
        404,
        "/render/x is the gateway's: no such route"
    );
    assert!(other.text().await.unwrap().contains("no such route"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reupload_of_earlier_bytes_gets_its_own_thumbnail() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    scenarios::reupload_of_earlier_bytes_gets_its_own_thumbnail(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upload_keeps_one_trace_id_through_every_stage_log() {
    common::capture_guest_logs();
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    scenarios::upload_carries_the_callers_trace_through_every_stage(&p, common::guest_log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photo_set_every_orientation_and_format_comes_out_upright() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    scenarios::photo_set_comes_out_upright(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_events_find_objects_already_in_storage() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    scenarios::posted_events_find_objects_already_in_storage(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_arrives_once_per_thumbnail_with_valid_signature() {
    let redis = Redis::start();
    let (origin, received) = scenarios::webhook_receiver().await;
    let vars = scenarios::webhook_variables(&origin);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = Pipeline::start(&redis, &vars).await;
    scenarios::webhook_arrives_once_per_thumbnail_with_valid_signature(&p, &received, "").await;
    assert_eq!(
        received.lock().unwrap().len(),
        2,
        "no other webhook was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_outside_the_granted_origin_fails_naming_the_variable_to_set() {
    let redis = Redis::start();
    let (origin, received) = scenarios::webhook_receiver().await;
    let url = format!("{origin}/hooks/thumbflow");
    // webhook_origin left at its default: the notifier is granted nothing useful.
    let p = Pipeline::start(
        &redis,
        &[
            ("webhook_url", &url),
            ("webhook_secret", scenarios::WEBHOOK_SECRET),
        ],
    )
    .await;
    let (_, bytes, _) = photo();
    assert_eq!(p.put("o.jpg", bytes, "image/jpeg").await.status(), 201);
    let status = p
        .wait_status("o.jpg", "notifier", |s| s["stages"]["notifier"].is_object())
        .await;
    assert!(stage_is(&status, "notifier", "failed"), "{status:#}");
    let detail = status["stages"]["notifier"]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("set webhook_origin={origin}")),
        "names the fix: {detail}"
    );
    assert_eq!(status["stages"]["notifier"]["retryable"], false);
    assert!(received.lock().unwrap().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_leave_clear_errors_and_the_pipeline_goes_on() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    scenarios::bad_inputs_leave_clear_errors_and_the_pipeline_goes_on(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_guards_deny_ungranted_stores_and_hosts() {
    let redis = Redis::start();
    let root = common::root();
    let manifest = std::fs::read_to_string(root.join("spin.toml")).unwrap();
    // The gateway loses its key-value store; the normalizer may only reach another Redis.
    let guarded = manifest
        .replacen(
            "[component.gateway]\ndescription = \"HTTP gateway: uploads, raw events, objects and status\"\nsource = \"target/wasm32-wasip2/release/gateway.wasm\"\nkey_value_stores = [\"default\"]",
            "[component.gateway]\ndescription = \"HTTP gateway: uploads, raw events, objects and status\"\nsource = \"target/wasm32-wasip2/release/gateway.wasm\"\nkey_value_stores = []",
            1,
        )
        .replace("target/wasm32-wasip2", &format!("{}/target/wasm32-wasip2", root.display()));
    assert_ne!(guarded, manifest, "the manifest edit applied");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, guarded).unwrap();
    let p = Pipeline::start_with(&path, &redis, &[]).await.unwrap();
    let (_, bytes, _) = photo();
    let r = p.put("x.jpg", bytes, "image/jpeg").await;
    assert_eq!(r.status(), 500);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("AccessDenied") || body.contains("access"),
        "Spin's access-denied error, got {body}"
    );

    drop(p);

    // The gateway may only reach another Redis: publishing gets Spin's invalid-address error.
    let guarded = manifest
        .replacen(
            r#"allowed_outbound_hosts = ["{{ redis_address }}", "{{ s3_endpoint }}"]"#,
            r#"allowed_outbound_hosts = ["redis://127.0.0.1:1"]"#,
            1,
        )
        .replace(
            "target/wasm32-wasip2",
            &format!("{}/target/wasm32-wasip2", root.display()),
        );
    std::fs::write(&path, guarded).unwrap();
    let p = Pipeline::start_with(&path, &redis, &[]).await.unwrap();
    let (_, bytes, _) = photo();
    let r = p.put("y.jpg", bytes, "image/jpeg").await;
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("InvalidAddress"),
        "Spin's invalid-address error, got {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_routes_require_the_bearer_token_when_set() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[("api_token", "s3cret-token")]).await;
    let (_, bytes, _) = photo();
    assert_eq!(
        p.put("t.jpg", bytes.clone(), "image/jpeg").await.status(),
        401
    );
    let r = p
        .http
        .post(p.url("/events"))
        .body(CLOUDTRAIL)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = p
        .http
        .put(p.url("/objects/t.jpg"))
        .bearer_auth("wrong")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = p
        .http
        .put(p.url("/objects/t.jpg"))
        .bearer_auth("s3cret-token")
        .header("content-type", "image/jpeg")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Reads stay open.
    let status = p.wait_status("t.jpg", "thumbnail", thumbnail_done).await;
    assert!(stage_is(&status, "thumbnailer", "done"), "{status:#}");
}

/// docs/swap-a-component.md: spin.toml with one line changed runs the
/// thumbnailer glue on another engine, `thumbnailer_core_simple.wasm`, with
/// the same user-facing result; and that engine is really the one running
/// (it refuses the WebP recipe the default engine renders).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thumbnail_engine_swaps_with_one_line_of_spin_toml() {
    let root = common::root();
    let manifest = std::fs::read_to_string(root.join("spin.toml")).unwrap();
    let line = r#""thumbflow:pipeline/thumbnail@0.1.0" = { path = "target/wasm32-wasip2/release/thumbnailer_core.wasm" }"#;
    assert_eq!(
        manifest.matches(line).count(),
        1,
        "the line the doc changes"
    );
    let swapped = manifest.replace(
        line,
        &line.replace("thumbnailer_core.wasm", "thumbnailer_core_simple.wasm"),
    );
    // A copy outside the repo: its relative paths made absolute.
    let swapped = swapped.replace(
        "\"target/wasm32-wasip2/release/",
        &format!("\"{}/target/wasm32-wasip2/release/", root.display()),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, swapped).unwrap();

    let redis = Redis::start();
    let p = Pipeline::start_with(&path, &redis, &[]).await.unwrap();
    scenarios::upload_real_photo_produces_upright_thumbnail_and_status(&p).await;
    drop(p);

    let redis = Redis::start();
    let p = Pipeline::start_with(&path, &redis, &[("recipes", "thumb=300x300,webp")])
        .await
        .unwrap();
    let (_, bytes, _) = photo();
    assert_eq!(
        p.put("photos/w.jpg", bytes, "image/jpeg").await.status(),
        201
    );
    let status = p
        .wait_status("photos/w.jpg", "the thumbnailer's answer", |s| {
            s["stages"]["thumbnailer"]["state"].is_string()
        })
        .await;
    assert!(stage_is(&status, "thumbnailer", "failed"), "{status:#}");
    assert!(
        status["stages"]["thumbnailer"]["detail"]
            .as_str()
            .unwrap()
            .contains("option \"webp\" is not supported by the simple engine"),
        "{status:#}"
    );
}
