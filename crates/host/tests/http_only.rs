//! The HTTP-only app (`deploy/http-only/spin.toml`), for hosts without a
//! Redis trigger: with no Redis anywhere, an upload through the gateway runs
//! the normalizer, thumbnailer and notifier inside the request, so it
//! returns with the thumbnail already stored and every stage done; the
//! gallery, status, objects, raw-event and render routes answer as in the
//! pipeline app. On thumbflow's host always, on real Spin when there is one
//! (otherwise that test says it skipped). The manifest itself is checked
//! against spin.toml: the same variables with the same defaults.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use common::scenarios::{self, get_image, s3_event};
use common::spin::{self, RealSpin};
use common::{photo, root, stage_is, Endpoint, Pipeline};

fn manifest_path() -> std::path::PathBuf {
    root().join("deploy/http-only/spin.toml")
}

fn table(path: &std::path::Path) -> toml::Table {
    std::fs::read_to_string(path).unwrap().parse().unwrap()
}

/// Every variable of the HTTP-only app is one of spin.toml's, with the same
/// default (so docs/configuration.md documents it), and there is no Redis:
/// no Redis trigger, no Redis variable, no Redis host granted.
#[test]
fn http_only_manifest_has_spin_toml_variables_and_no_redis() {
    let http_only = table(&manifest_path());
    let main = table(&root().join("spin.toml"));
    for (name, declared) in http_only["variables"].as_table().unwrap() {
        let in_main = main["variables"]
            .get(name)
            .unwrap_or_else(|| panic!("variable {name} is not declared in spin.toml"));
        assert_eq!(
            declared, in_main,
            "variable {name} differs from spin.toml's"
        );
    }
    let text = std::fs::read_to_string(manifest_path()).unwrap();
    let redis_lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("redis"))
        .collect();
    assert!(
        redis_lines.is_empty(),
        "Redis in the HTTP-only app: {redis_lines:?}"
    );
    assert!(http_only["trigger"].get("redis").is_none());
}

/// Must-show 3: the upload's own response says every stage ran, and the
/// thumbnail and the complete status are there at once, with no waiting.
async fn upload_returns_with_thumbnail_stored_and_status_complete(ep: &Endpoint) {
    let (source, bytes, expected) = photo();
    let response = ep
        .put("inline/storm.jpg", bytes.clone(), "image/jpeg")
        .await;
    assert_eq!(response.status(), 201, "uploading {source}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["pipeline"], "inline", "{body:#}");
    assert_eq!(body["objects"][0]["key"], "inline/storm.jpg", "{body:#}");
    assert_eq!(body["objects"][0]["complete"], true, "{body:#}");

    // Read once, right after the response: no polling.
    let status = ep
        .status("inline/storm.jpg")
        .await
        .expect("a status record");
    for stage in ["gateway", "normalizer", "thumbnailer", "notifier"] {
        assert!(stage_is(&status, stage, "done"), "{stage}: {status:#}");
    }
    let thumb_key = status["thumbnails"][0]["key"].as_str().unwrap();
    assert_eq!(thumb_key, "thumbnails/thumb/inline/storm.jpg.jpg");
    assert_eq!(
        body["thumbnail_url"],
        format!("/objects/{thumb_key}?bucket=thumbflow")
    );
    let thumb = get_image(ep, &format!("/objects/{thumb_key}")).await;
    assert_eq!(
        (thumb.width(), thumb.height()),
        expected,
        "upright {source}"
    );

    // A corrupt photo is stored, and its status says why it has no thumbnail.
    let corrupt = bytes[..bytes.len() / 3].to_vec();
    let response = ep.put("inline/broken.jpg", corrupt, "image/jpeg").await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["objects"][0]["complete"], false, "{body:#}");
    assert_eq!(
        body["objects"][0]["failed_stage"], "thumbnailer",
        "{body:#}"
    );
    let status = ep.status("inline/broken.jpg").await.unwrap();
    assert!(stage_is(&status, "thumbnailer", "failed"), "{status:#}");
    assert_eq!(status["stages"]["thumbnailer"]["retryable"], false);
    assert!(status["stages"]["notifier"].is_null(), "{status:#}");

    // A raw storage event for an object already stored runs inline too (200, done).
    let response = ep
        .http
        .post(ep.url("/events"))
        .body(s3_event("thumbflow", "inline/storm.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["objects"][0]["complete"], true, "{body:#}");

    // The gallery is served, and the queue admin routes say there are no queues.
    let page = ep.http.get(ep.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    let admin = ep.http.get(ep.url("/admin/queues")).send().await.unwrap();
    assert_eq!(admin.status(), 404);
    assert!(admin.text().await.unwrap().contains("no queues"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_only_upload_returns_with_thumbnail_stored_and_status_complete() {
    let p = Pipeline::start_without_redis(&manifest_path(), &[])
        .await
        .unwrap();
    assert!(p.app.redis.is_empty(), "no Redis subscription");
    upload_returns_with_thumbnail_stored_and_status_complete(&p).await;
    scenarios::render_answers_upright_thumbnails_and_typed_errors(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_only_app_sends_the_signed_webhook_inside_the_upload() {
    let (origin, received) = scenarios::webhook_receiver().await;
    let vars = scenarios::webhook_variables(&origin);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = Pipeline::start_without_redis(&manifest_path(), &vars)
        .await
        .unwrap();
    let (_, bytes, _) = photo();
    assert_eq!(p.put("hook/a.jpg", bytes, "image/jpeg").await.status(), 201);
    // Sent before the upload answered.
    let hooks = received.lock().unwrap().clone();
    assert_eq!(hooks.len(), 1, "one webhook per upload");
    let status = p.status("hook/a.jpg").await.unwrap();
    let detail = status["stages"]["notifier"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("webhook delivered"), "{status:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_only_app_on_real_spin_serves_an_upload_end_to_end() {
    let bin = match spin::find() {
        Ok(bin) => bin,
        Err(why) => {
            println!("SKIPPED HTTP-only app on real Spin: {why}");
            return;
        }
    };
    let spin = RealSpin::start_http(&bin, &manifest_path(), &[]).await;
    upload_returns_with_thumbnail_stored_and_status_complete(&spin).await;
    scenarios::render_answers_upright_thumbnails_and_typed_errors(&spin).await;
    assert!(
        spin.component_log("gateway")
            .contains("thumbnailed thumbflow/inline/storm.jpg"),
        "gateway log:\n{}",
        spin.component_log("gateway")
    );
}
