//! What a user does with a running pipeline, written once against an
//! [`Endpoint`] so the same checks run on our host (`tests/pipeline.rs`) and
//! on real Spin (`tests/real_spin.rs`): upload real photos, post raw storage
//! events, read status records and thumbnails, receive signed webhooks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{photo, root, stage_is, Endpoint};

/// The CloudTrail-shaped EventBridge sample from the skeleton issue, as written.
pub const CLOUDTRAIL: &str = r#"{"version":"0.1","id":"abcd1234-ab12-cd34-ef56-1234567890ab","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","account":"123456789012","time":"2024-01-15T12:00:00Z","region":"us-east-1","resources":[],"detail":{"eventSource":"s3.amazonaws.com","eventName":"PutObject","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"my-ecommerce-bucket"},"object":{"key":"products/image123.jpg","size":1024,"eTag":"0123456789abcdef0123456789abcdef","sequencer":"0ABCDEFGHIJK"}}}}"#;

/// An S3 `Records[]` notification for `bucket`/`encoded_key` (form-encoded, as S3 sends it).
pub fn s3_event(bucket: &str, encoded_key: &str) -> String {
    format!(
        r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-27T10:00:00.000Z","eventName":"ObjectCreated:Put","s3":{{"s3SchemaVersion":"1.0","bucket":{{"name":"{bucket}","arn":"arn:aws:s3:::{bucket}"}},"object":{{"key":"{encoded_key}","size":1234,"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"0055AED6DCD90281E5"}}}}}}]}}"#
    )
}

/// The thumbnailer has finished with the object, one way or the other.
pub fn thumbnail_done(status: &serde_json::Value) -> bool {
    ["done", "failed", "dead"]
        .iter()
        .any(|state| stage_is(status, "thumbnailer", state))
}

/// Every stage has finished, or the thumbnailer failed (so the notifier never runs).
pub fn pipeline_done(status: &serde_json::Value) -> bool {
    ["done", "failed", "dead"]
        .iter()
        .any(|state| stage_is(status, "notifier", state))
        || ["failed", "dead"]
            .iter()
            .any(|state| stage_is(status, "thumbnailer", state))
}

/// GET an image through the gateway and decode it (it must be a JPEG).
pub async fn get_image(ep: &Endpoint, path: &str) -> image::DynamicImage {
    let response = ep.http.get(ep.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let bytes = response.bytes().await.unwrap();
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap()
}

/// Uploading A, then B, then A again under one key leaves A's thumbnail:
/// the third upload carries bytes the first already had (the same ETag), yet
/// it is a new upload, not a redelivery to be skipped.
pub async fn reupload_of_earlier_bytes_gets_its_own_thumbnail(ep: &Endpoint) {
    let image =
        |name: &str| std::fs::read(root().join("tests/fixtures/images").join(name)).unwrap();
    // upright.jpg (480x270) gives a 300x169 thumbnail, rocket.jpg (320x214) a taller one.
    let (a, b) = (image("upright.jpg"), image("rocket.jpg"));
    let key = "again/same-key.jpg";
    let steps: [(&str, &Vec<u8>, bool); 3] =
        [("A", &a, true), ("B", &b, false), ("A again", &a, true)];
    for (step, bytes, is_a) in steps {
        assert_eq!(
            ep.put(key, bytes.clone(), "image/jpeg").await.status(),
            201,
            "{step}"
        );
        let status = ep
            .wait_status(key, &format!("the thumbnail of upload {step}"), |s| {
                let height = s["thumbnails"][0]["height"].as_u64();
                pipeline_done(s) && (height == Some(169)) == is_a && height.is_some()
            })
            .await;
        assert!(stage_is(&status, "notifier", "done"), "{step}: {status:#}");
        let thumb = get_image(ep, "/objects/thumbnails/thumb/again/same-key.jpg.jpg").await;
        assert_eq!(
            thumb.height() == 169,
            is_a,
            "{step}: stored thumbnail is the wrong upload's"
        );
    }
}

/// One real photo stored rotated comes back as an upright thumbnail, and
/// every stage says done.
pub async fn upload_real_photo_produces_upright_thumbnail_and_status(ep: &Endpoint) {
    let (source, bytes, expected) = photo();
    let response = ep.put("photos/x.jpg", bytes, "image/jpeg").await;
    assert_eq!(response.status(), 201, "uploading {source}");
    let status = ep
        .wait_status("photos/x.jpg", "every stage done", pipeline_done)
        .await;
    for stage in ["gateway", "normalizer", "thumbnailer", "notifier"] {
        assert!(
            stage_is(&status, stage, "done"),
            "{stage} not done: {status:#}"
        );
    }
    assert_eq!(
        status["thumbnails"][0]["key"],
        "thumbnails/thumb/photos/x.jpg.jpg"
    );
    let thumb = get_image(ep, "/objects/thumbnails/thumb/photos/x.jpg.jpg").await;
    assert_eq!(
        (thumb.width(), thumb.height()),
        expected,
        "displayed orientation of {source}"
    );
}

/// The photo corpus (`THUMBFLOW_CORPUS`, else `../shared/corpus`), if present.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var("THUMBFLOW_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("../shared/corpus"));
    dir.join("MANIFEST.tsv").is_file().then_some(dir)
}

/// How a rotated copy relates to the reference photo of [`photo_set`].
#[derive(Clone, Copy)]
enum Rotated {
    /// Pixels stored turned so that, with its tag applied, the copy displays
    /// exactly like the reference (the committed fixtures).
    DisplaysLikeReference,
    /// The reference's own pixels with only the EXIF tag changed (the
    /// corpus): it must display as the reference with the tag's transform.
    SamePixelsOtherTag,
}

/// What a viewer shows for the stored pixels `img` under EXIF orientation
/// `tag` (the table of the EXIF specification, as `exif_transpose` does).
fn displayed(img: &image::DynamicImage, tag: u32) -> image::DynamicImage {
    match tag {
        2 => img.fliph(),
        3 => img.rotate180(),
        4 => img.flipv(),
        5 => img.rotate90().fliph(),
        6 => img.rotate90(),
        7 => img.rotate270().fliph(),
        8 => img.rotate270(),
        _ => img.clone(),
    }
}

/// The EXIF orientation in a `..._orientN.jpg` / `orientN.jpg` file name.
fn tag_of(path: &std::path::Path) -> u32 {
    let stem = path.file_stem().unwrap().to_string_lossy();
    let digit = stem.chars().last().and_then(|c| c.to_digit(10));
    digit.unwrap_or_else(|| panic!("{} has no orientation digit", path.display()))
}

/// A set of real photos: one upright reference, the same photo stored under
/// other EXIF orientations, and other formats. From the corpus when present,
/// else the committed fixtures (the same kinds of file, downscaled).
fn photo_set() -> (String, PathBuf, Rotated, Vec<PathBuf>, Vec<PathBuf>) {
    if let Some(dir) = corpus() {
        let rotated = ["2", "3", "5", "6", "8"]
            .map(|n| dir.join(format!("mate_Storm_orient{n}.jpg")))
            .to_vec();
        let others = [
            "lomiri_Wine.webp",
            "plasma_OneStandsOut.png",
            "skimage_rocket_palette_trns.png",
            "mate_Blinds.bmp",
            "lomiri_aitzgorri_cmyk.jpg",
            "lomiri_Kleiber_progressive.jpg",
        ]
        .map(|f| dir.join(f))
        .to_vec();
        return (
            format!("corpus at {}", dir.display()),
            dir.join("mate_Storm.jpg"),
            Rotated::SamePixelsOtherTag,
            rotated,
            others,
        );
    }
    let dir = root().join("tests/fixtures/images");
    let rotated = (2..=8)
        .map(|n| dir.join(format!("orient{n}.jpg")))
        .collect();
    let others = [
        "rocket.webp",
        "rocket16.png",
        "rocket_palette_trns.png",
        "rocket.bmp",
        "rocket.tiff",
        "rocket_cmyk.jpg",
    ]
    .map(|f| dir.join(f))
    .to_vec();
    (
        "committed fixtures (no corpus)".to_owned(),
        dir.join("orient1.jpg"),
        Rotated::DisplaysLikeReference,
        rotated,
        others,
    )
}

/// Mean absolute difference per channel sample of two same-sized images.
fn mean_abs_diff(a: &image::DynamicImage, b: &image::DynamicImage) -> f64 {
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// Every photo of [`photo_set`] uploaded at once: each rotated copy's
/// thumbnail displays as a viewer shows that file (same size, same pixels
/// within JPEG noise as the reference's thumbnail, turned as the tag says
/// where only the tag differs), and every other format gets a thumbnail
/// within the box.
pub async fn photo_set_comes_out_upright(ep: &Endpoint) {
    let (origin, reference, kind, rotated, others) = photo_set();
    println!("photo set: {origin}");
    let all: Vec<PathBuf> = std::iter::once(reference.clone())
        .chain(rotated.iter().cloned())
        .chain(others.iter().cloned())
        .collect();
    for path in &all {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        let r = ep
            .put(&format!("set/{name}"), bytes, "application/octet-stream")
            .await;
        assert_eq!(r.status(), 201, "uploading {}", path.display());
    }
    let mut thumbs = BTreeMap::new();
    for path in &all {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let key = format!("set/{name}");
        let status = ep.wait_status(&key, "thumbnail", thumbnail_done).await;
        assert!(
            stage_is(&status, "thumbnailer", "done"),
            "{}: {status:#}",
            path.display()
        );
        let tkey = status["thumbnails"][0]["key"].as_str().unwrap().to_owned();
        let thumb = get_image(ep, &format!("/objects/{tkey}")).await;
        assert!(
            thumb.width() <= 300 && thumb.height() <= 300 && thumb.width() * thumb.height() > 0,
            "{name}: {}x{} is not inside 300x300",
            thumb.width(),
            thumb.height()
        );
        thumbs.insert(path.clone(), thumb);
    }
    let upright = &thumbs[&reference];
    for path in &rotated {
        let thumb = &thumbs[path];
        let expected = match kind {
            Rotated::DisplaysLikeReference => upright.clone(),
            Rotated::SamePixelsOtherTag => displayed(upright, tag_of(path)),
        };
        assert_eq!(
            (thumb.width(), thumb.height()),
            (expected.width(), expected.height()),
            "{} must display as {} turned by its tag",
            path.display(),
            reference.display()
        );
        let diff = mean_abs_diff(thumb, &expected);
        assert!(
            diff < 6.0,
            "{} differs from the upright reference by {diff:.1} per sample: wrong orientation",
            path.display()
        );
    }
}

/// Objects land in storage first (as in S3), then their raw events arrive
/// at `POST /events`: an EventBridge CloudTrail event and an S3 event whose
/// key is form-encoded (`red+flower.jpg` names `red flower.jpg`).
pub async fn posted_events_find_objects_already_in_storage(ep: &Endpoint) {
    let (_, bytes, _) = photo();
    let blobs = ep.blobs();
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

    ep.post_event(CLOUDTRAIL).await;
    ep.post_event(s3_event("photos", "red+flower.jpg")).await;

    let status = ep
        .wait_status(
            "products/image123.jpg?bucket=my-ecommerce-bucket",
            "CloudTrail event thumbnailed",
            thumbnail_done,
        )
        .await;
    assert!(stage_is(&status, "thumbnailer", "done"), "{status:#}");
    let (_, thumb) = blobs
        .get(
            "my-ecommerce-bucket",
            "thumbnails/thumb/products/image123.jpg.jpg",
        )
        .unwrap()
        .unwrap();
    assert!(image::load_from_memory(&thumb).is_ok());

    let status = ep
        .wait_status(
            "red%20flower.jpg?bucket=photos",
            "S3 event thumbnailed",
            thumbnail_done,
        )
        .await;
    assert!(stage_is(&status, "thumbnailer", "done"), "{status:#}");
    assert!(blobs
        .head("photos", "thumbnails/thumb/red flower.jpg.jpg")
        .unwrap()
        .is_some());
}

/// Requests a [`webhook_receiver`] got: headers (lower-case names) and body.
pub type Received = Arc<Mutex<Vec<(BTreeMap<String, String>, Vec<u8>)>>>;

/// A webhook receiver on a free port that records every request; returns
/// its origin (`http://127.0.0.1:PORT`).
pub async fn webhook_receiver() -> (String, Received) {
    webhook_receiver_failing(Arc::new(Mutex::new(None))).await
}

/// [`webhook_receiver`] that answers `500` (and records nothing) to every
/// request whose body contains the text in `fail`, while it holds one.
pub async fn webhook_receiver_failing(fail: Arc<Mutex<Option<String>>>) -> (String, Received) {
    use hyper::service::service_fn;
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let sink = sink.clone();
            let fail = fail.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    let fail = fail.clone();
                    async move {
                        use http_body_util::BodyExt;
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect();
                        let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                        let failing =
                            fail.lock().unwrap().clone().is_some_and(|marker| {
                                String::from_utf8_lossy(&body).contains(&marker)
                            });
                        if failing {
                            let mut refused = hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from_static(b"receiver down"),
                            ));
                            *refused.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                            return Ok::<_, std::convert::Infallible>(refused);
                        }
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

/// The Standard Webhooks secret the webhook scenario signs with.
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The variables that point the notifier at a [`webhook_receiver`].
pub fn webhook_variables(origin: &str) -> Vec<(&'static str, String)> {
    vec![
        ("webhook_url", format!("{origin}/hooks/thumbflow")),
        ("webhook_origin", origin.to_owned()),
        ("webhook_secret", WEBHOOK_SECRET.to_owned()),
    ]
}

/// Two uploads give exactly two webhooks (for these keys), each signed with
/// [`WEBHOOK_SECRET`] and carrying the thumbnail-created event.
pub async fn webhook_arrives_once_per_thumbnail_with_valid_signature(
    ep: &Endpoint,
    received: &Received,
    prefix: &str,
) {
    let (_, bytes, _) = photo();
    let keys = [format!("{prefix}a.jpg"), format!("{prefix}b.jpg")];
    for key in &keys {
        assert_eq!(ep.put(key, bytes.clone(), "image/jpeg").await.status(), 201);
    }
    for key in &keys {
        let status = ep
            .wait_status(key, "notifier", |s| s["stages"]["notifier"].is_object())
            .await;
        assert!(stage_is(&status, "notifier", "done"), "{status:#}");
    }
    let received = received.lock().unwrap().clone();
    let mut seen = Vec::new();
    for (headers, body) in &received {
        let id = &headers["webhook-id"];
        let ts: i64 = headers["webhook-timestamp"].parse().unwrap();
        assert!(
            thumbflow_notify::verify(WEBHOOK_SECRET, id, ts, body, &headers["webhook-signature"]),
            "signature verifies"
        );
        assert!(!thumbflow_notify::verify(
            "wrong",
            id,
            ts,
            body,
            &headers["webhook-signature"]
        ));
        assert_eq!(
            headers.get("content-length"),
            Some(&body.len().to_string()),
            "sent with its length, not chunked: {headers:?}"
        );
        assert!(!headers.contains_key("transfer-encoding"), "{headers:?}");
        let (_, created) = thumbflow_events::parse_thumbnail_created(body).unwrap();
        if keys.contains(&created.key) {
            seen.push(created.key);
        }
    }
    seen.sort();
    assert_eq!(seen, keys, "one webhook per thumbnail");
}

/// A thumbnail's own event, a non-image, a truncated JPEG and a malformed
/// event each end with a clear outcome, and a good upload still works after.
pub async fn bad_inputs_leave_clear_errors_and_the_pipeline_goes_on(ep: &Endpoint) {
    let (_, bytes, _) = photo();

    // A thumbnail's own ObjectCreated event produces nothing.
    ep.blobs()
        .put(
            "thumbflow",
            "thumbnails/own.jpg",
            &bytes,
            "image/jpeg",
            BTreeMap::new(),
        )
        .unwrap();
    ep.post_event(s3_event("thumbflow", "thumbnails/own.jpg"))
        .await;
    let status = ep
        .wait_status("thumbnails/own.jpg", "recursion guard", |s| {
            s["stages"]["normalizer"].is_object()
        })
        .await;
    assert!(stage_is(&status, "normalizer", "ignored"), "{status:#}");
    assert!(status["stages"]["thumbnailer"].is_null(), "{status:#}");

    // A non-image upload is refused by the gateway; one already in storage
    // is ignored by the normalizer with its reason.
    assert_eq!(
        ep.put("notes.txt", b"hello".to_vec(), "text/plain")
            .await
            .status(),
        415
    );
    ep.blobs()
        .put(
            "thumbflow",
            "notes.txt",
            b"hello",
            "text/plain",
            BTreeMap::new(),
        )
        .unwrap();
    ep.post_event(s3_event("thumbflow", "notes.txt")).await;
    let status = ep
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
        ep.put("broken.jpg", truncated, "image/jpeg").await.status(),
        201
    );
    let status = ep
        .wait_status("broken.jpg", "truncated JPEG", thumbnail_done)
        .await;
    assert!(stage_is(&status, "thumbnailer", "failed"), "{status:#}");
    assert_eq!(
        status["stages"]["thumbnailer"]["retryable"], false,
        "{status:#}"
    );

    // A malformed event is rejected by the normalizer, logged and listed at GET /status.
    ep.post_event(r#"{"Records": [{"s3": 5}]}"#).await;
    let start = Instant::now();
    let rejected = loop {
        let list: serde_json::Value = ep
            .http
            .get(ep.url("/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let found = list["rejected_events"].as_array().and_then(|events| {
            events
                .iter()
                .find(|e| {
                    e["preview"]
                        .as_str()
                        .is_some_and(|p| p.contains("\"s3\": 5"))
                })
                .cloned()
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "malformed event never listed"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(
        rejected["error"].as_str().unwrap().contains("s3"),
        "names what is wrong: {rejected:#}"
    );
    // The next good upload still succeeds.
    assert_eq!(ep.put("after.jpg", bytes, "image/jpeg").await.status(), 201);
    let status = ep
        .wait_status("after.jpg", "good upload after bad ones", thumbnail_done)
        .await;
    assert!(stage_is(&status, "thumbnailer", "done"), "{status:#}");
}

/// One upload sent with the caller's W3C `traceparent` stays in that trace:
/// the gateway's answer and the status record name its trace id, and every
/// stage logs a line about the object carrying `trace=<id>` (`logs` returns
/// one component's log text, however the host keeps it).
pub async fn upload_carries_the_callers_trace_through_every_stage(
    ep: &Endpoint,
    logs: impl Fn(&str) -> String,
) {
    let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let (_, bytes, _) = photo();
    let key = "traced/photo.jpg";
    let response = ep
        .http
        .put(ep.url(&format!("/objects/{key}")))
        .header("traceparent", caller)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["trace_id"], trace, "{answer:#}");
    let status = ep.wait_status(key, "every stage done", pipeline_done).await;
    assert_eq!(status["trace_id"], trace, "{status:#}");
    let marker = format!("trace={trace}");
    // The canonical event id, as the normalizer recorded it.
    let detail = status["stages"]["normalizer"]["detail"].as_str().unwrap();
    let event_id = detail.rsplit(' ').next().unwrap();
    assert_eq!(event_id.len(), 32, "{detail}");
    let event_tag = format!("event={event_id}");
    for component in ["gateway", "normalizer", "thumbnailer", "notifier"] {
        // A host logs a component's output once its invocation has returned,
        // which can be just after the status record was written.
        let start = Instant::now();
        let traced = |log: &str| log.lines().any(|l| l.contains(key) && l.contains(&marker));
        while !traced(&logs(component)) && start.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let log = logs(component);
        assert!(
            traced(&log),
            "{component} logged no line about {key} with {marker}:\n{log}"
        );
        // Every line about the upload carries its trace; after the
        // normalizer, its event id too.
        for line in log.lines().filter(|l| l.contains(key)) {
            assert!(line.contains(&marker), "{component}: {line}");
            if component == "thumbnailer" || component == "notifier" {
                assert!(line.contains(&event_tag), "{component}: {line}");
            }
        }
    }
}

/// A structurally valid PNG whose header claims `width` x `height` RGB
/// pixels and whose image data is empty: the engine's probe refuses it by
/// its header, before decoding anything.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = u32::MAX;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[]);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// `POST /render` with `body` (and `query`), answered within the deadline.
pub async fn post_render(ep: &Endpoint, query: &str, body: Vec<u8>) -> reqwest::Response {
    ep.http
        .post(ep.url(&format!("/render{query}")))
        .body(body)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /render{query} to {}: {e}", ep.base))
}

/// A render error: its status and the `kind` of its JSON body.
async fn render_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "HTTP {status}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    (status, body["kind"].as_str().unwrap_or_default().to_owned())
}

/// `POST /render` (render_http.wasm, wherever it runs): a real photo stored
/// rotated (EXIF orientation 6) comes back upright at the recipe's size,
/// with its size headers; two recipes come back as two parts; a corrupt
/// file, a non-image and an image over the pixel limit get their typed
/// errors (422, 415, 413) as JSON.
pub async fn render_answers_upright_thumbnails_and_typed_errors(ep: &Endpoint) {
    let (source, bytes, expected) = photo();

    // The default recipe: the pipeline's own thumbnail size.
    let response = post_render(ep, "", bytes.clone()).await;
    assert_eq!(response.status(), 200, "rendering {source}");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    let thumb = response.bytes().await.unwrap();
    assert_eq!(headers["content-length"], thumb.len().to_string().as_str());
    let image = image::load_from_memory_with_format(&thumb, image::ImageFormat::Jpeg).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        expected,
        "displayed orientation of {source}"
    );
    assert_eq!(
        headers["x-thumbnail-width"],
        expected.0.to_string().as_str()
    );
    assert_eq!(
        headers["x-thumbnail-height"],
        expected.1.to_string().as_str()
    );

    // A recipe of the request's own: a 120 px box, PNG, same orientation.
    let response = post_render(ep, "?recipe=small%3D120x120%2Cpng", bytes.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["x-thumbnail-recipe"], "small");
    let image = image::load_from_memory_with_format(
        &response.bytes().await.unwrap(),
        image::ImageFormat::Png,
    )
    .unwrap();
    assert_eq!(image.width().max(image.height()), 120, "{source}");
    assert_eq!(
        image.width() > image.height(),
        expected.0 > expected.1,
        "orientation of {source}: {}x{}",
        image.width(),
        image.height()
    );

    // Two recipes: one multipart/mixed body, a part each, in order.
    let response = post_render(
        ep,
        "?recipe=a=64x64,cover&recipe=b=32x32,webp",
        bytes.clone(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-thumbnail-count"], "2");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("multipart/mixed; boundary="),
        "{content_type}"
    );
    let body = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&body);
    let a = text.find("x-thumbnail-recipe: a").expect("part a");
    let b = text.find("x-thumbnail-recipe: b").expect("part b");
    assert!(a < b, "parts in recipe order");
    assert!(text.contains("content-type: image/webp"), "part b is WebP");

    // Typed errors.
    let truncated = bytes[..bytes.len() / 3].to_vec();
    let (status, kind) = render_error(post_render(ep, "", truncated).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (422, "corrupt"),
        "truncated {source}"
    );
    let (status, kind) = render_error(post_render(ep, "", b"just some text".to_vec()).await).await;
    assert_eq!((status, kind.as_str()), (415, "not-an-image"));
    let (status, kind) =
        render_error(post_render(ep, "", png_claiming(12_000, 12_000)).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (413, "too-large"),
        "144 megapixels"
    );
    let (status, kind) = render_error(post_render(ep, "?recipe=thumb=0x0", bytes).await).await;
    assert_eq!((status, kind.as_str()), (400, "bad-recipe"));
}
