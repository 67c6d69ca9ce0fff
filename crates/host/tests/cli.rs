//! The CLI a user drives a running pipeline with: the real `thumbflow`
//! binary (`upload`, `send`, `status`, `watch`) against the repo's
//! `spin.toml` on our host and a real `redis-server`, checking what a user
//! or a script relies on: the summary, the exit codes, the thumbnails in
//! the store, and `--json` output that parses; then the host's `/metrics`
//! against everything that ran. One pipeline for the file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::scenarios::s3_event;
use common::{root, Pipeline, Redis};

/// The committed photo fixtures, cycled to make `count` distinct files.
fn photo_folder(dir: &Path, count: usize) {
    let fixtures = root().join("tests/fixtures/images");
    let photos = [
        "upright.jpg",
        "orient3.jpg",
        "orient6.jpg",
        "orient8.jpg",
        "rocket.jpg",
        "rocket16.png",
        "rocket.webp",
    ];
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    for i in 0..count {
        let name = photos[i % photos.len()];
        let sub = if i % 2 == 0 { "" } else { "nested/" };
        let target = dir.join(format!("{sub}{i:02} {name}"));
        std::fs::copy(fixtures.join(name), target).unwrap();
    }
}

async fn thumbflow(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_thumbflow"))
        .args(args)
        .env_remove("THUMBFLOW_TOKEN")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_uploads_folders_reports_failures_and_speaks_json() {
    let redis = Redis::start();
    let pipeline = Pipeline::start(&redis, &[]).await;
    let url = pipeline.base.clone();
    let dir = tempfile::tempdir().unwrap();

    // 1. A folder of 50 photos: 50 successes, every thumbnail stored.
    let photos = dir.path().join("photos");
    photo_folder(&photos, 50);
    let photos_arg = photos.to_str().unwrap();
    let out = thumbflow(&[
        "upload",
        photos_arg,
        "--url",
        &url,
        "--prefix",
        "cli/",
        "--concurrency",
        "8",
        "--json",
    ])
    .await;
    let summary = json(&out);
    assert_eq!(out.status.code(), Some(0), "{summary:#}");
    assert_eq!(summary["files"], 50, "{summary:#}");
    assert_eq!(summary["done"], 50, "{summary:#}");
    assert_eq!(summary["failed"], 0, "{summary:#}");
    let blobs = pipeline.blobs();
    for item in summary["items"].as_array().unwrap() {
        let thumbs = item["thumbnails"].as_array().unwrap();
        assert_eq!(thumbs.len(), 1, "{item:#}");
        let key = thumbs[0].as_str().unwrap();
        assert!(
            key.starts_with("thumbnails/thumb/cli/"),
            "thumbnail key {key}"
        );
        let (_, bytes) = blobs.get("thumbflow", key).unwrap().unwrap();
        let image = image::load_from_memory(&bytes).unwrap();
        assert!(image.width() <= 300 && image.height() <= 300, "{key}");
    }
    assert!(summary["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["key"] == "cli/nested/01 orient3.jpg"));

    // 2. A folder with a corrupt JPEG and a text file: both named with
    // their reason, the good photo done, exit code 1.
    let mixed = dir.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(
        root().join("tests/fixtures/images/upright.jpg"),
        mixed.join("good.jpg"),
    )
    .unwrap();
    let mut corrupt = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    corrupt.extend(std::iter::repeat_n(0x5A, 4000));
    std::fs::write(mixed.join("corrupt.jpg"), corrupt).unwrap();
    std::fs::write(mixed.join("notes.txt"), "not an image").unwrap();
    let mixed_arg = mixed.to_str().unwrap();
    let out = thumbflow(&["upload", mixed_arg, "--url", &url, "--prefix", "mixed/"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("3 files: 1 done, 0 stored, 0 ignored, 2 failed"),
        "{text}"
    );
    let line = |name: &str| {
        text.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line about {name}:\n{text}"))
            .to_owned()
    };
    assert!(line("corrupt.jpg").starts_with("failed"), "{text}");
    assert!(line("corrupt.jpg").contains("thumbnailer: "), "{text}");
    assert!(
        line("notes.txt").contains("upload: refused (415)"),
        "{text}"
    );
    let out = thumbflow(&[
        "upload", mixed_arg, "--url", &url, "--prefix", "mixed/", "--json",
    ])
    .await;
    let summary = json(&out);
    assert_eq!(out.status.code(), Some(1));
    let corrupt = summary["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "mixed/corrupt.jpg")
        .unwrap()
        .clone();
    assert_eq!(corrupt["outcome"], "failed", "{corrupt:#}");
    assert_eq!(corrupt["stage"], "thumbnailer", "{corrupt:#}");
    assert!(!corrupt["reason"].as_str().unwrap().is_empty());

    // 3. watch sees one upload go through the stages, as JSON lines: from
    // the pipeline's Redis feeds, and through the gateway alone (as it
    // watches a remote deployment), each stage's outcome.
    let mut watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_thumbflow"))
        .args(["watch", "--redis", &redis.url(), "--count", "3", "--json"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut remote = tokio::process::Command::new(env!("CARGO_BIN_EXE_thumbflow"))
        .args(["watch", "--url", &url, "--count", "4", "--json"])
        .env_remove("THUMBFLOW_REDIS_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // It says so on stderr once it knows where the stages are.
    let mut remote_err = tokio::io::BufReader::new(remote.stderr.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncBufReadExt::read_line(&mut remote_err, &mut line),
    )
    .await
    .expect("watch --url started")
    .unwrap();
    assert!(line.contains("watching the stages of"), "{line}");
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for _ in 0..600 {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("thumbflow.thumbnails:feed")
            .query_async(&mut conn)
            .await
            .unwrap();
        if counts[0].1 >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bytes = std::fs::read(root().join("tests/fixtures/images/upright.jpg")).unwrap();
    let put = pipeline.put("cli/watched.jpg", bytes, "image/jpeg").await;
    assert_eq!(put.status(), 201);
    let watched = stdout_of(&mut watch, "watch printed three events").await;
    let events: Vec<serde_json::Value> = watched
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stages: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["received", "normalized", "thumbnailed"],
        "{watched}"
    );
    assert!(
        events.iter().all(|e| e["key"] == "cli/watched.jpg"),
        "{watched}"
    );
    assert_eq!(watch.wait().await.unwrap().code(), Some(0));
    let watched = stdout_of(&mut remote, "watch --url printed four events").await;
    let mut seen: Vec<(String, String)> = watched
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .inspect(|e| assert_eq!(e["key"], "cli/watched.jpg", "{watched}"))
        .map(|e| {
            let field = |name: &str| e[name].as_str().unwrap().to_owned();
            (field("stage"), field("outcome"))
        })
        .collect();
    seen.sort_by_key(|(stage, _)| {
        ["gateway", "normalizer", "thumbnailer", "notifier"]
            .iter()
            .position(|s| s == stage)
    });
    let expected = [
        ("gateway", "stored"),
        ("normalizer", "processed"),
        ("thumbnailer", "processed"),
        ("notifier", "processed"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(seen, expected, "{watched}");
    assert_eq!(remote.wait().await.unwrap().code(), Some(0));

    // 4. send: a raw S3 event for that object, from a file and from stdin.
    let event_file = dir.path().join("event.json");
    std::fs::write(&event_file, s3_event("thumbflow", "cli/watched.jpg")).unwrap();
    let out = thumbflow(&[
        "send",
        event_file.to_str().unwrap(),
        "--url",
        &url,
        "--json",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["accepted"], true);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_thumbflow"))
        .args(["send", "-", "--url", &url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stdin,
        s3_event("thumbflow", "cli/watched.jpg").as_bytes(),
    )
    .await
    .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("accepted"));

    // 5. status: done (0), failed (1), unknown (3), unreachable (2).
    let out = thumbflow(&[
        "status",
        "cli/watched.jpg",
        "--url",
        &url,
        "--wait",
        "--json",
    ])
    .await;
    let record = json(&out);
    assert_eq!(out.status.code(), Some(0), "{record:#}");
    assert_eq!(record["verdict"]["outcome"], "done", "{record:#}");
    assert_eq!(record["status"]["key"], "cli/watched.jpg");
    let out = thumbflow(&["status", "mixed/corrupt.jpg", "--url", &url]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("thumbflow/mixed/corrupt.jpg: failed at thumbnailer"),
        "{text}"
    );
    let out = thumbflow(&["status", "never/uploaded.jpg", "--url", &url, "--json"]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(json(&out)["verdict"].is_null());
    let out = thumbflow(&["status", "x.jpg", "--url", "http://127.0.0.1:1"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the gateway"));
    let out = thumbflow(&["upload", mixed_arg, "--url", "http://127.0.0.1:1"]).await;
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cannot reach the gateway"), "{text}");
    assert!(text.contains("Connection refused"), "{text}");

    // 6. /metrics counts exactly what ran: 57 raw events (50 photos, the
    // good and the corrupt file twice, the watched upload, two sends), each
    // normalized; the corrupt file failed in the thumbnailer both times.
    let listener = thumbflow::metrics::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(thumbflow::metrics::serve(
        pipeline.app.metrics.clone(),
        listener,
        std::future::pending::<()>(),
    ));
    let counter = |text: &str, component: &str, trigger: &str, outcome: &str| -> u64 {
        let series = format!(
            "thumbflow_invocations_total{{component=\"{component}\",trigger=\"{trigger}\",outcome=\"{outcome}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    // Per event, from the stages' durable queues (an invocation is a doorbell
    // and may settle many events).
    let events = |text: &str, stage: &str, outcome: &str| -> u64 {
        let series =
            format!("thumbflow_stage_events_total{{stage=\"{stage}\",outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    let mut text = String::new();
    for _ in 0..600 {
        let response = reqwest::get(&metrics_url).await.unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        text = response.text().await.unwrap();
        let settled = events(&text, "thumbnailer", "processed")
            + events(&text, "thumbnailer", "duplicate")
            + events(&text, "thumbnailer", "dead");
        if settled >= 57 && events(&text, "notifier", "processed") >= 54 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(events(&text, "normalizer", "processed"), 57, "{text}");
    // Rendered: the 50 photos, the good file of the mixed folder and the
    // watched upload. Settled as duplicates without rendering: the good
    // file uploaded again (its thumbnails already current for its bytes),
    // the first send of an event for the watched object (likewise), and
    // the second send of that same event (a redelivery).
    assert_eq!(events(&text, "thumbnailer", "processed"), 52, "{text}");
    assert_eq!(events(&text, "thumbnailer", "duplicate"), 3, "{text}");
    // The two corrupt files: rejected, so dead-lettered at the first attempt.
    assert_eq!(events(&text, "thumbnailer", "dead"), 2, "{text}");
    // Every upload and every new event ends notified, rendered or not.
    assert_eq!(events(&text, "notifier", "processed"), 54, "{text}");
    assert!(
        text.contains("thumbflow_stage_dead_letters{stage=\"thumbnailer\"} 2"),
        "{text}"
    );
    // Every settled event's latency is in the stage's histogram; the two
    // rejected ones failed once each.
    let settled = ["processed", "duplicate", "ignored", "superseded"]
        .iter()
        .map(|o| events(&text, "thumbnailer", o))
        .sum::<u64>();
    assert!(
        text.contains(&format!(
            "thumbflow_stage_latency_seconds_count{{stage=\"thumbnailer\"}} {settled}"
        )),
        "{text}"
    );
    assert_eq!(events(&text, "thumbnailer", "failed"), 2, "{text}");
    assert!(
        text.contains("thumbflow_stage_backlog{stage=\"notifier\"} 0"),
        "{text}"
    );
    assert!(counter(&text, "thumbnailer", "redis", "ok") >= 1, "{text}");
    assert!(counter(&text, "gateway", "http", "ok") >= 57, "{text}");
    assert!(
        text.contains("thumbflow_invocation_duration_seconds_count{component=\"thumbnailer\"}"),
        "{text}"
    );
    assert!(
        text.contains("thumbflow_queued_messages{component=\"thumbnailer\"}"),
        "{text}"
    );
}

/// Everything `child` prints on stdout until it exits (within a minute).
async fn stdout_of(child: &mut tokio::process::Child, what: &str) -> String {
    let mut stdout = child.stdout.take().unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
            .await
            .unwrap();
        text
    })
    .await
    .expect(what)
}
