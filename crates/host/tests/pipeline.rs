//! The whole pipeline end to end on our host: the repo's spin.toml, the real
//! .wasm files, a real redis-server per test, real HTTP, real photos.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{photo, stage_is, Pipeline, Redis};

/// The CloudTrail-shaped EventBridge sample from the skeleton issue, as written.
const CLOUDTRAIL: &str = r#"{"version":"0.1","id":"abcd1234-ab12-cd34-ef56-1234567890ab","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","account":"123456789012","time":"2024-01-15T12:00:00Z","region":"us-east-1","resources":[],"detail":{"eventSource":"s3.amazonaws.com","eventName":"PutObject","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"my-ecommerce-bucket"},"object":{"key":"products/image123.jpg","size":1024,"eTag":"0123456789abcdef0123456789abcdef","sequencer":"0ABCDEFGHIJK"}}}}"#;

fn s3_event(bucket: &str, encoded_key: &str) -> String {
    format!(
        r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-27T10:00:00.000Z","eventName":"ObjectCreated:Put","s3":{{"s3SchemaVersion":"1.0","bucket":{{"name":"{bucket}","arn":"arn:aws:s3:::{bucket}"}},"object":{{"key":"{encoded_key}","size":1234,"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"0055AED6DCD90281E5"}}}}}}]}}"#
    )
}

fn thumbnail_done(status: &serde_json::Value) -> bool {
    stage_is(status, "thumbnailer", "done") || stage_is(status, "thumbnailer", "failed")
}

async fn get_image(p: &Pipeline, path: &str) -> image::DynamicImage {
    let response = p.http.get(p.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let bytes = response.bytes().await.unwrap();
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_real_photo_produces_upright_thumbnail_and_status() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    let (source, bytes, expected) = photo();
    let response = p.put("photos/x.jpg", bytes, "image/jpeg").await;
    assert_eq!(response.status(), 201, "uploading {source}");
    let status = p
        .wait_status("photos/x.jpg", "every stage done", |s| {
            stage_is(s, "notifier", "done") || stage_is(s, "thumbnailer", "failed")
        })
        .await;
    for stage in ["gateway", "normalizer", "thumbnailer", "notifier"] {
        assert!(
            stage_is(&status, stage, "done"),
            "{stage} not done: {status:#}"
        );
    }
    assert_eq!(status["thumbnails"][0]["key"], "thumbnails/photos/x.jpg");
    let thumb = get_image(&p, "/objects/thumbnails/photos/x.jpg").await;
    assert_eq!(
        (thumb.width(), thumb.height()),
        expected,
        "displayed orientation of {source}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_events_find_objects_already_in_storage() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    let (_, bytes, _) = photo();
    // Objects land in storage first (as in S3), then their events arrive.
    let blobs = p.blobs();
    blobs
        .put(
            "my-ecommerce-bucket",
            "products/image123.jpg",
            &bytes,
            "image/jpeg",
            BTreeMap::new(),
        )
        .unwrap();
    blobs
        .put(
            "photos",
            "red flower.jpg",
            &bytes,
            "image/jpeg",
            BTreeMap::new(),
        )
        .unwrap();

    let r = p
        .http
        .post(p.url("/events"))
        .body(CLOUDTRAIL)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = p
        .http
        .post(p.url("/events"))
        .body(s3_event("photos", "red+flower.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let status = p
        .wait_status(
            "products/image123.jpg?bucket=my-ecommerce-bucket",
            "CloudTrail event thumbnailed",
            thumbnail_done,
        )
        .await;
    assert!(stage_is(&status, "thumbnailer", "done"), "{status:#}");
    let (_, thumb) = blobs
        .get("my-ecommerce-bucket", "thumbnails/products/image123.jpg")
        .unwrap()
        .unwrap();
    assert!(image::load_from_memory(&thumb).is_ok());

    let status = p
        .wait_status(
            "red%20flower.jpg?bucket=photos",
            "S3 event thumbnailed",
            thumbnail_done,
        )
        .await;
    assert!(stage_is(&status, "thumbnailer", "done"), "{status:#}");
    assert!(blobs
        .head("photos", "thumbnails/red flower.jpg")
        .unwrap()
        .is_some());
}

/// A webhook receiver on a free port that records every request.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<(BTreeMap<String, String>, Vec<u8>)>>>) {
    use hyper::service::service_fn;
    let received = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let sink = sink.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    async move {
                        use http_body_util::BodyExt;
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect();
                        let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                        sink.lock().unwrap().push((headers, body));
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                        ))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_arrives_once_per_thumbnail_with_valid_signature() {
    let redis = Redis::start();
    let (origin, received) = webhook_receiver().await;
    let url = format!("{origin}/hooks/thumbflow");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let p = Pipeline::start(
        &redis,
        &[
            ("webhook_url", &url),
            ("webhook_origin", &origin),
            ("webhook_secret", secret),
        ],
    )
    .await;
    let (_, bytes, _) = photo();
    for key in ["a.jpg", "b.jpg"] {
        assert_eq!(p.put(key, bytes.clone(), "image/jpeg").await.status(), 201);
    }
    for key in ["a.jpg", "b.jpg"] {
        let status = p
            .wait_status(key, "notifier", |s| s["stages"]["notifier"].is_object())
            .await;
        assert!(stage_is(&status, "notifier", "done"), "{status:#}");
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "one webhook per thumbnail");
    let mut keys = Vec::new();
    for (headers, body) in &received {
        let id = &headers["webhook-id"];
        let ts: i64 = headers["webhook-timestamp"].parse().unwrap();
        assert!(
            thumbflow_notify::verify(secret, id, ts, body, &headers["webhook-signature"]),
            "signature verifies"
        );
        assert!(!thumbflow_notify::verify(
            "wrong",
            id,
            ts,
            body,
            &headers["webhook-signature"]
        ));
        let (_, created) = thumbflow_events::parse_thumbnail_created(body).unwrap();
        keys.push(created.key);
    }
    keys.sort();
    assert_eq!(keys, ["a.jpg", "b.jpg"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_leave_clear_errors_and_the_pipeline_goes_on() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    let (_, bytes, _) = photo();

    // A thumbnail's own ObjectCreated event produces nothing.
    p.blobs()
        .put(
            "thumbflow",
            "thumbnails/own.jpg",
            &bytes,
            "image/jpeg",
            BTreeMap::new(),
        )
        .unwrap();
    let r = p
        .http
        .post(p.url("/events"))
        .body(s3_event("thumbflow", "thumbnails/own.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let status = p
        .wait_status("thumbnails/own.jpg", "recursion guard", |s| {
            s["stages"]["normalizer"].is_object()
        })
        .await;
    assert!(stage_is(&status, "normalizer", "ignored"), "{status:#}");
    assert!(status["stages"]["thumbnailer"].is_null(), "{status:#}");

    // A non-image upload is ignored with its reason.
    assert_eq!(
        p.put("notes.txt", b"hello".to_vec(), "text/plain")
            .await
            .status(),
        201
    );
    let status = p
        .wait_status("notes.txt", "non-image ignored", |s| {
            s["stages"]["normalizer"].is_object()
        })
        .await;
    assert!(stage_is(&status, "normalizer", "ignored"), "{status:#}");
    assert!(
        status["stages"]["normalizer"]["detail"]
            .as_str()
            .unwrap()
            .contains("image"),
        "{status:#}"
    );

    // A truncated JPEG fails the thumbnailer with a reject, recorded in the status.
    let truncated = bytes[..bytes.len() / 2].to_vec();
    assert_eq!(
        p.put("broken.jpg", truncated, "image/jpeg").await.status(),
        201
    );
    let status = p
        .wait_status("broken.jpg", "truncated JPEG", thumbnail_done)
        .await;
    assert!(stage_is(&status, "thumbnailer", "failed"), "{status:#}");
    assert_eq!(
        status["stages"]["thumbnailer"]["retryable"], false,
        "{status:#}"
    );

    // A malformed event is rejected by the normalizer, logged and listed at GET /status.
    let r = p
        .http
        .post(p.url("/events"))
        .body(r#"{"Records": [{"s3": 5}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let start = std::time::Instant::now();
    let rejected = loop {
        let list: serde_json::Value = p
            .http
            .get(p.url("/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(first) = list["rejected_events"].get(0) {
            break first.clone();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "malformed event never listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert!(
        rejected["error"].as_str().unwrap().contains("s3"),
        "names what is wrong: {rejected:#}"
    );
    // The next good upload still succeeds.
    assert_eq!(p.put("after.jpg", bytes, "image/jpeg").await.status(), 201);
    let status = p
        .wait_status("after.jpg", "good upload after bad ones", thumbnail_done)
        .await;
    assert!(stage_is(&status, "thumbnailer", "done"), "{status:#}");
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
