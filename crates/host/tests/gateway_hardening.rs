//! The gateway's defences against hostile clients, through the real
//! gateway component on our host: uploads are typed by their bytes and
//! non-images refused, nothing is served so a browser would run it, the
//! thumbnail prefix is read-only, bad keys are refused, and previews of
//! rejected events stay behind the API token.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::time::{Duration, Instant};

use common::{photo, Pipeline, Redis};

const TOKEN: &str = "gateway-hardening-token";

async fn put_raw(p: &Pipeline, path: &str, body: &[u8], content_type: &str) -> reqwest::Response {
    p.http
        .put(p.url(path))
        .bearer_auth(TOKEN)
        .header("content-type", content_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// Status code of a `PUT` of `path` sent byte for byte: HTTP clients remove
/// `.`/`..` segments (also `%2E%2E`) from URLs before sending them.
async fn put_verbatim(p: &Pipeline, path: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = p.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: image/jpeg\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"))
}

async fn error_of(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_refuses_html_and_serves_images_by_their_bytes() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[("api_token", TOKEN)]).await;

    // HTML declared as an image, and as itself: refused, never stored.
    let html = b"<!doctype html><script>alert(document.cookie)</script>";
    for declared in ["image/jpeg", "text/html"] {
        let r = put_raw(&p, "/objects/page.jpg", html, declared).await;
        assert_eq!(r.status(), 415, "HTML declared as {declared}");
        assert!(error_of(r).await.contains("not an image"));
    }
    let r = p.http.get(p.url("/objects/page.jpg")).send().await.unwrap();
    assert_eq!(r.status(), 404, "the refused upload was not stored");

    // A JPEG declared as HTML is stored and served as a JPEG, inert.
    let (_, jpeg, _) = photo();
    let r = put_raw(&p, "/objects/photos/real.jpg", &jpeg, "text/html").await;
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["content_type"], "image/jpeg");
    let r = p
        .http
        .get(p.url("/objects/photos/real.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), jpeg.as_slice());

    // HTML already in storage (written around the gateway) is served inert.
    p.blobs()
        .put(
            "thumbflow",
            "legacy.html",
            html,
            "text/html",
            Default::default(),
        )
        .unwrap();
    let r = p
        .http
        .get(p.url("/objects/legacy.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_refuses_thumbnail_prefix_and_bad_keys() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[("api_token", TOKEN)]).await;
    let (_, jpeg, _) = photo();

    let r = put_raw(&p, "/objects/thumbnails/x.jpg", &jpeg, "image/jpeg").await;
    assert_eq!(r.status(), 403);
    assert!(error_of(r).await.contains("thumbnail prefix"));
    let r = put_raw(
        &p,
        "/objects/thumbnails/thumb/photos/real.jpg.jpg",
        &jpeg,
        "image/jpeg",
    )
    .await;
    assert_eq!(
        r.status(),
        403,
        "an existing thumbnail's key is not writable"
    );

    for path in [
        "/objects/a/../b.jpg",
        "/objects/a/%2E%2E/b.jpg",
        "/objects/./b.jpg",
    ] {
        assert_eq!(put_verbatim(&p, path, &jpeg).await, 400, "PUT {path}");
    }
    let long = format!("/objects/{}", "k".repeat(1025));
    for (path, reason) in [
        ("/objects/a%2F..%2Fb.jpg", ".."),
        ("/objects/bad%0Aline.jpg", "control character"),
        ("/objects/nul%00.jpg", "control character"),
        ("/objects/%FF%FE.jpg", "UTF-8"),
        (long.as_str(), "1024 bytes"),
    ] {
        let r = put_raw(&p, path, &jpeg, "image/jpeg").await;
        assert_eq!(r.status(), 400, "PUT {path}");
        let error = error_of(r).await;
        assert!(error.contains(reason), "PUT {path}: {error}");
        let r = p.http.get(p.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 400, "GET {path}");
    }
    let ok = put_raw(&p, "/objects/a..b/c.jpg", &jpeg, "image/jpeg").await;
    assert_eq!(
        ok.status(),
        201,
        "'..' inside a segment is an ordinary name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_shows_rejected_event_previews_only_with_the_token() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[("api_token", TOKEN)]).await;
    let secret = r#"{"Records": [{"s3": "private-preview-text"}]}"#;
    let r = p
        .http
        .post(p.url("/events"))
        .bearer_auth(TOKEN)
        .body(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let list = |token: Option<&'static str>| {
        let mut request = p.http.get(p.url("/status"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    // With the token: the reject and its preview, once the normalizer has run.
    let start = Instant::now();
    loop {
        let body = list(Some(TOKEN)).await;
        let previews: Vec<&str> = body["rejected_events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["preview"].as_str())
            .collect();
        if previews.iter().any(|p| p.contains("private-preview-text")) {
            assert_eq!(body["previews_hidden"], false);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "malformed event never listed: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Without it, or with a wrong one: the list, but no preview.
    for token in [None, Some("wrong")] {
        let body = list(token).await;
        assert_eq!(body["previews_hidden"], true);
        let events = body["rejected_events"].as_array().unwrap();
        assert!(!events.is_empty(), "{body:#}");
        assert!(events.iter().all(|e| e["preview"].is_null()), "{body:#}");
        assert!(events.iter().all(|e| e["error"].is_string()), "{body:#}");
        assert!(!body.to_string().contains("private-preview-text"));
    }
}

/// With `api_token` set, every write and admin route answers 401 without it
/// (or with a wrong one), and `POST /events` also takes it as `?token=`, the
/// only way a storage webhook can send it; the token never reaches a log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_and_admin_routes_need_the_token_and_it_is_never_logged() {
    common::capture_guest_logs();
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[("api_token", TOKEN)]).await;
    let event = common::scenarios::s3_event("thumbflow", "token/a.jpg");
    let routes: [(reqwest::Method, &str); 6] = [
        (reqwest::Method::GET, "/admin/queues"),
        (reqwest::Method::GET, "/admin/dlq"),
        (reqwest::Method::POST, "/admin/dlq/replay?all=true"),
        (reqwest::Method::POST, "/admin/drain"),
        (reqwest::Method::POST, "/events"),
        (reqwest::Method::PUT, "/objects/token/b.jpg"),
    ];
    for (method, path) in &routes {
        let send = |auth: Option<&str>| {
            let mut request = p
                .http
                .request(method.clone(), p.url(path))
                .body(event.clone());
            if let Some(token) = auth {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        assert_eq!(
            send(None).await.unwrap().status(),
            401,
            "{method} {path} without a token"
        );
        assert_eq!(
            send(Some("wrong")).await.unwrap().status(),
            401,
            "{method} {path} wrong token"
        );
        let with = send(Some(TOKEN)).await.unwrap().status();
        assert_ne!(with, 401, "{method} {path} with the token");
    }
    // Storage webhooks: the token in the query string, checked the same way.
    let post = |query: &str| {
        p.http
            .post(p.url(&format!("/events{query}")))
            .body(event.clone())
            .send()
    };
    assert_eq!(post("?token=wrong").await.unwrap().status(), 401);
    assert_eq!(
        post(&format!("?token={TOKEN}")).await.unwrap().status(),
        202
    );
    // Only POST /events reads it from the query.
    let admin = p
        .http
        .get(p.url(&format!("/admin/dlq?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 401, "admin routes take the header only");
    p.wait_status("token/a.jpg", "the event sent with ?token=", |s| {
        s["stages"]["normalizer"].is_object()
    })
    .await;
    for component in ["gateway", "normalizer", "thumbnailer", "notifier"] {
        let log = common::guest_log(component);
        assert!(!log.contains(TOKEN), "{component} logged the token:\n{log}");
    }
}
