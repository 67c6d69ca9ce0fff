//! The Lambda recipe on a real bucket: Ceph RADOS Gateway (started by
//! `scripts/s3/rgw.sh`) with a topic whose push endpoint is the gateway's
//! `POST /events?token=…`, and the repo's `spin.toml` on our host with
//! `store=s3`. Photos are uploaded with a plain S3 client, never through the
//! gateway, under keys with spaces, `+`, `&`, `%` and non-ASCII; RGW's own
//! notifications (raw keys, `ceph:s3` records) drive the pipeline, and the
//! thumbnails land back in the bucket, marked as generated, while their own
//! notifications cause no work. Then the failure paths a bucket user meets:
//! deleted before processed, superseded by a newer upload, wrong
//! credentials. RGW and the pipeline start once for the file (about 4 s and
//! one compile of the components); skipped with a printed message when
//! radosgw is not installed (`scripts/s3/rgw.sh install`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::s3::{encode_key, Rgw, S3};
use common::{scenarios, stage_is, Pipeline, Redis};

/// The API token the topic's push endpoint carries as `?token=`.
const TOKEN: &str = "bucket-hook-token";

/// Thumbnail-created events seen on Redis, per source key: one per render.
type Renders = Arc<Mutex<BTreeMap<String, u32>>>;

/// Count the thumbnailer's renders from its thumbnail-created events (`thumbflow.thumbnails:feed`).
async fn count_renders(redis: &Redis) -> Renders {
    let renders: Renders = Arc::default();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    // Every event queued for the notifier is also published on its :feed.
    pubsub.subscribe("thumbflow.thumbnails:feed").await.unwrap();
    let counter = renders.clone();
    tokio::spawn(async move {
        let mut messages = pubsub.on_message();
        while let Some(message) = futures::StreamExt::next(&mut messages).await {
            let payload: Vec<u8> = message.get_payload().unwrap();
            if let Ok((_, created)) = thumbflow_events::parse_thumbnail_created(&payload) {
                *counter.lock().unwrap().entry(created.key).or_default() += 1;
            }
        }
    });
    renders
}

/// Twenty real photos (corpus when present, else the committed fixtures,
/// reused), each under a key a real user could pick, with the content type a
/// plain client would send. The first is the EXIF-rotated photo of
/// [`common::photo`], whose displayed size is known.
fn twenty_photos() -> Vec<(String, Vec<u8>, &'static str)> {
    let (_, rotated, _) = common::photo();
    let mut files: Vec<std::path::PathBuf> = match scenarios::corpus() {
        Some(dir) => std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("jpg" | "png" | "webp")
                ) && std::fs::metadata(p).unwrap().len() < 8 << 20
            })
            .collect(),
        None => [
            "rocket.jpg",
            "rocket.webp",
            "rocket16.png",
            "chelsea_rgba.png",
        ]
        .iter()
        .map(|f| common::root().join("tests/fixtures/images").join(f))
        .collect(),
    };
    files.sort();
    let names = [
        "summer 2026/beach day {i}",
        "a+b/plus+sign {i}",
        "rock & roll/{i}&more",
        "été/写真 {i} ü",
        "100% real/{i}%20not-a-space",
    ];
    let mut photos = vec![("rotated/IMG 0001 é+&.jpg".to_owned(), rotated, "image/jpeg")];
    for i in 1..20 {
        let path = &files[i % files.len()];
        let ext = path.extension().unwrap().to_str().unwrap();
        let content_type = match ext {
            "png" => "image/png",
            "webp" => "image/webp",
            _ => "image/jpeg",
        };
        let name = names[i % names.len()].replace("{i}", &i.to_string());
        photos.push((
            format!("uploads/{name}.{ext}"),
            std::fs::read(path).unwrap(),
            content_type,
        ));
    }
    photos
}

/// A PNG over 10 MB: a photo scaled to 2400x1600 with per-pixel noise (which
/// PNG cannot compress), so its multipart upload has three parts.
fn large_png() -> Vec<u8> {
    let (_, bytes, _) = common::photo();
    let base = image::load_from_memory(&bytes)
        .unwrap()
        .resize_exact(2700, 1800, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut seed: u32 = 0x9e37_79b9;
    let noisy = image::RgbImage::from_fn(2700, 1800, |x, y| {
        let p = base.get_pixel(x, y);
        image::Rgb(p.0.map(|c| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            c.saturating_add((seed % 48) as u8)
        }))
    });
    let mut out = std::io::Cursor::new(Vec::new());
    noisy.write_to(&mut out, image::ImageFormat::Png).unwrap();
    let bytes = out.into_inner();
    assert!(bytes.len() >= 10_000_000, "{} bytes", bytes.len());
    bytes
}

/// The size `bytes` display at: stored size with its EXIF orientation applied.
fn displayed_size(bytes: &[u8]) -> (u32, u32) {
    use image::ImageDecoder as _;
    let mut decoder = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .unwrap()
        .into_decoder()
        .unwrap();
    let (w, h) = decoder.dimensions();
    let turned = matches!(
        decoder.orientation().unwrap(),
        image::metadata::Orientation::Rotate90
            | image::metadata::Orientation::Rotate270
            | image::metadata::Orientation::Rotate90FlipH
            | image::metadata::Orientation::Rotate270FlipH
    );
    if turned {
        (h, w)
    } else {
        (w, h)
    }
}

/// Status record of `bucket`/`key`, once `done` holds (or panic at the deadline).
async fn wait_status(
    pipeline: &Pipeline,
    bucket: &str,
    key: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let url = pipeline.url(&format!("/status/{}?bucket={bucket}", encode_key(key)));
    let start = Instant::now();
    loop {
        let response = pipeline.http.get(&url).send().await.unwrap();
        if response.status() == 200 {
            let status: serde_json::Value = response.json().await.unwrap();
            if done(&status) {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "{bucket}/{key} not done after 180 s: {status:#}"
            );
        } else {
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "{bucket}/{key} has no status after 180 s"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GET an object straight from the bucket.
async fn get_object(s3: &S3, bucket: &str, key: &str) -> Vec<u8> {
    let (status, _, body) = s3
        .send(s3.client.get_object(bucket, key, None).unwrap())
        .await;
    assert_eq!(status, 200, "GET {bucket}/{key}");
    body
}

/// The thumbnail the status record names is in the bucket: a JPEG inside
/// 300x300 carrying the generated marker, the source's ETag and
/// `Cache-Control`. Returns its key and displayed size.
async fn check_thumbnail(
    s3: &S3,
    bucket: &str,
    status: &serde_json::Value,
    source_etag: &str,
) -> (String, (u32, u32)) {
    assert!(
        stage_is(status, "thumbnailer", "done"),
        "thumbnailer not done: {status:#}"
    );
    let tkey = status["thumbnails"][0]["key"].as_str().unwrap().to_owned();
    assert!(tkey.starts_with("thumbnails/"), "{tkey}");
    let head = s3
        .head(bucket, &tkey)
        .await
        .unwrap_or_else(|| panic!("{tkey} not in the bucket"));
    assert_eq!(head.content_type.as_deref(), Some("image/jpeg"), "{tkey}");
    assert!(head.cache_control.is_some(), "{tkey} has no Cache-Control");
    assert!(
        head.metadata.contains_key("thumbflow-generated"),
        "{tkey} lacks the generated marker: {:?}",
        head.metadata
    );
    assert_eq!(
        head.metadata
            .get("thumbflow-source-etag")
            .map(String::as_str),
        Some(source_etag),
        "{tkey}: {:?}",
        head.metadata
    );
    let thumb = image::load_from_memory_with_format(
        &get_object(s3, bucket, &tkey).await,
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let size = (thumb.width(), thumb.height());
    assert!(
        size.0.max(size.1) == 300 && size.0.min(size.1) > 0,
        "{tkey}: {size:?} does not fit the 300x300 box"
    );
    (tkey, size)
}

/// An AWS-shaped `Records[]` event for an object, as a user's own tooling
/// (or a replay) would post it: key form-encoded, ETag given.
fn aws_event(bucket: &str, key: &str, etag: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    scenarios::s3_event(bucket, &encoded).replace("d41d8cd98f00b204e9800998ecf8427e", etag)
}

async fn post_event(pipeline: &Pipeline, body: String) {
    let response = pipeline
        .http
        .post(pipeline.url(&format!("/events?token={TOKEN}")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_uploads_come_back_as_thumbnails_in_the_bucket() {
    let Some(rgw) = Rgw::start() else {
        return;
    };
    let s3 = rgw.client();
    let redis = Redis::start();
    let variables = rgw.pipeline_variables();
    let mut vars: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.push(("api_token", TOKEN));
    let pipeline = Pipeline::start(&redis, &vars).await;
    let renders = count_renders(&redis).await;

    let bucket = "photos";
    s3.create_bucket(bucket).await;
    let topic = rgw
        .create_topic(
            "thumbflow",
            &pipeline.url(&format!("/events?token={TOKEN}")),
        )
        .await;
    rgw.notify_bucket(bucket, &topic).await;

    // 1. Twenty photos, uploaded with a plain S3 client.
    let started = Instant::now();
    let photos = twenty_photos();
    let mut etags = BTreeMap::new();
    for (key, bytes, content_type) in &photos {
        let etag = s3.put(bucket, key, bytes.clone(), content_type, &[]).await;
        etags.insert(key.clone(), etag);
    }
    // 2. A multipart upload over 10 MB and a server-side copy.
    let big = large_png();
    rgw.multipart_upload(bucket, "big/multi part 12MB.png", &big, 5 << 20)
        .await;
    rgw.copy_object(bucket, &photos[0].0, "copies/copied & renamed é.jpg")
        .await;
    etags.insert(
        "big/multi part 12MB.png".to_owned(),
        s3.head(bucket, "big/multi part 12MB.png")
            .await
            .unwrap()
            .etag,
    );
    etags.insert(
        "copies/copied & renamed é.jpg".to_owned(),
        s3.head(bucket, "copies/copied & renamed é.jpg")
            .await
            .unwrap()
            .etag,
    );

    let sources: BTreeMap<&str, &[u8]> = photos
        .iter()
        .map(|(k, b, _)| (k.as_str(), b.as_slice()))
        .chain([("big/multi part 12MB.png", big.as_slice())])
        .chain([("copies/copied & renamed é.jpg", photos[0].1.as_slice())])
        .collect();
    let mut thumbnails = Vec::new();
    for (key, etag) in &etags {
        let status = wait_status(&pipeline, bucket, key, scenarios::thumbnail_done).await;
        let (tkey, size) = check_thumbnail(&s3, bucket, &status, etag).await;
        // Upright and in proportion: the source as displayed (EXIF orientation
        // applied), scaled to fit the 300 px box.
        let (w, h) = displayed_size(sources[key.as_str()]);
        let (long, short) = (w.max(h), w.min(h));
        let expected_short = (300.0 * f64::from(short) / f64::from(long)).round() as u32;
        assert_eq!(
            size.0 >= size.1,
            w >= h,
            "{key}: {size:?} from a {w}x{h} source"
        );
        assert!(
            size.0.min(size.1).abs_diff(expected_short) <= 1,
            "{key}: {size:?} from a {w}x{h} source"
        );
        if key.starts_with("rotated/") || key.starts_with("copies/") {
            let (_, _, displayed) = common::photo();
            assert_eq!(size, displayed, "{key} must come out upright");
        }
        if key.starts_with("big/") {
            assert_eq!(size, (300, 200), "{key}");
        }
        thumbnails.push(tkey);
    }
    println!(
        "{} bucket objects thumbnailed in {:.1} s",
        etags.len(),
        started.elapsed().as_secs_f64()
    );

    // The thumbnails' own notifications reached the gateway too (no filter
    // on the topic): the normalizer received and ignored each of them, and
    // they caused no work: one render per source, nothing thumbnailed
    // twice, no thumbnail of a thumbnail.
    let start = Instant::now();
    while common::stage_stats(&redis, "thumbflow.raw").counter("ignored") < etags.len() as u64 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the thumbnails' notifications never reached the normalizer: {:?}",
            common::stage_stats(&redis, "thumbflow.raw")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed: Vec<String> = s3
        .list(bucket, "thumbnails/")
        .await
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        listed.len(),
        etags.len(),
        "thumbnails in the bucket: {listed:#?}"
    );
    let renders_now = renders.lock().unwrap().clone();
    assert_eq!(
        renders_now.keys().cloned().collect::<Vec<_>>(),
        etags.keys().cloned().collect::<Vec<_>>(),
        "rendered"
    );
    assert!(renders_now.values().all(|n| *n == 1), "{renders_now:?}");
    for tkey in &thumbnails {
        let url = pipeline.url(&format!("/status/{}?bucket={bucket}", encode_key(tkey)));
        let response = pipeline.http.get(&url).send().await.unwrap();
        if response.status() == 200 {
            let status: serde_json::Value = response.json().await.unwrap();
            assert!(
                status["stages"].get("thumbnailer").is_none(),
                "{tkey} went to the thumbnailer: {status:#}"
            );
        }
    }

    // 3. The gateway's own routes on the bucket: an upload through
    // `PUT /objects/…` lands in the bucket (and is thumbnailed once, though
    // both the gateway and the bucket's notification announce it), and
    // `GET /objects/…` reads originals and thumbnails back from it.
    let via = "gateway/through the gateway é+&.jpg";
    let (_, photo, displayed) = common::photo();
    let before = common::stage_stats(&redis, "thumbflow.images");
    let response = pipeline
        .http
        .put(pipeline.url(&format!("/objects/{}?bucket={bucket}", encode_key(via))))
        .bearer_auth(TOKEN)
        .body(photo.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let head = s3
        .head(bucket, via)
        .await
        .expect("the upload is in the bucket");
    assert_eq!(head.content_type.as_deref(), Some("image/jpeg"));
    let status = wait_status(&pipeline, bucket, via, |s| {
        common::stage_is(s, "notifier", "done")
    })
    .await;
    let (tkey, size) = check_thumbnail(&s3, bucket, &status, &head.etag).await;
    assert_eq!(size, displayed, "{via} must come out upright");
    let served = pipeline
        .http
        .get(pipeline.url(&format!("/objects/{}?bucket={bucket}", encode_key(&tkey))))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        served.bytes().await.unwrap(),
        get_object(&s3, bucket, &tkey).await
    );
    let original = pipeline
        .http
        .get(pipeline.url(&format!("/objects/{}?bucket={bucket}", encode_key(via))))
        .send()
        .await
        .unwrap();
    assert_eq!(original.bytes().await.unwrap(), photo);
    // Announced twice (the gateway's event, the bucket's notification):
    // rendered once, the other settled as a duplicate (its thumbnails current).
    let start = Instant::now();
    let after = loop {
        let after = common::stage_stats(&redis, "thumbflow.images");
        if after.counter("duplicate") > before.counter("duplicate") {
            break after;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the second announcement of {via} never settled: {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        after.counter("processed"),
        before.counter("processed") + 1,
        "{via}: rendered once: {after:?}"
    );

    // 4. Failure paths, in a bucket without notifications so only the
    // events posted here arrive.
    let quiet = "quiet";
    s3.create_bucket(quiet).await;

    // Deleted before processed: ignored, not retried.
    let etag = s3
        .put(
            quiet,
            "gone/deleted photo.jpg",
            photo.clone(),
            "image/jpeg",
            &[],
        )
        .await;
    let (status, headers, body) = s3
        .send(
            s3.client
                .delete_object(quiet, "gone/deleted photo.jpg")
                .unwrap(),
        )
        .await;
    thumbflow_s3::check_status(status, &headers, &body).unwrap();
    post_event(&pipeline, aws_event(quiet, "gone/deleted photo.jpg", &etag)).await;
    let status = wait_status(&pipeline, quiet, "gone/deleted photo.jpg", |s| {
        s["stages"].get("thumbnailer").is_some()
    })
    .await;
    assert!(
        stage_is(&status, "thumbnailer", "ignored"),
        "deleted object: {status:#}"
    );

    // Superseded: the event names the first upload; the bucket holds a newer one.
    let old = s3
        .put(quiet, "edited.jpg", photo.clone(), "image/jpeg", &[])
        .await;
    let newer = std::fs::read(common::root().join("tests/fixtures/images/rocket.jpg")).unwrap();
    let new = s3.put(quiet, "edited.jpg", newer, "image/jpeg", &[]).await;
    assert_ne!(old, new);
    post_event(&pipeline, aws_event(quiet, "edited.jpg", &old)).await;
    let status = wait_status(&pipeline, quiet, "edited.jpg", |s| {
        s["stages"].get("thumbnailer").is_some()
    })
    .await;
    assert!(
        stage_is(&status, "thumbnailer", "ignored")
            && status["stages"]["thumbnailer"]["detail"]
                .as_str()
                .unwrap()
                .contains("superseded"),
        "older ETag: {status:#}"
    );
    assert!(
        s3.list(quiet, "thumbnails/").await.is_empty(),
        "nothing is written for deleted or superseded objects"
    );
    drop(pipeline);

    // Wrong credentials: a clear, non-retryable error in the status record
    // and nothing written.
    let wrong_redis = Redis::start();
    let mut wrong_vars = vars.clone();
    wrong_vars.retain(|(k, _)| *k != "s3_secret_access_key");
    wrong_vars.push(("s3_secret_access_key", "not-the-secret"));
    let wrong = Pipeline::start(&wrong_redis, &wrong_vars).await;
    let etag = s3
        .put(quiet, "wrong creds.jpg", photo, "image/jpeg", &[])
        .await;
    post_event(&wrong, aws_event(quiet, "wrong creds.jpg", &etag)).await;
    let status = wait_status(&wrong, quiet, "wrong creds.jpg", |s| {
        s["stages"].get("thumbnailer").is_some()
    })
    .await;
    let thumbnailer = &status["stages"]["thumbnailer"];
    let detail = thumbnailer["detail"].as_str().unwrap_or_default();
    assert!(
        thumbnailer["state"] == "failed"
            && thumbnailer["retryable"] == false
            && detail.contains("s3_secret_access_key"),
        "wrong credentials must fail clearly, naming the variable: {status:#}"
    );
    assert!(s3.list(quiet, "thumbnails/").await.is_empty());
}
