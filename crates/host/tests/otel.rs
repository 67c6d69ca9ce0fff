//! One trace per upload, as a user sees it: `thumbflow up` run as the
//! binary (a child process, `--log-format json`) with Spin's OpenTelemetry
//! settings (`OTEL_EXPORTER_OTLP_ENDPOINT`) pointing at a real OTLP/HTTP
//! receiver in this test, which decodes what arrives with the OpenTelemetry
//! protocol's own types. One upload carrying a caller's `traceparent` shows
//! up in the JSON log of all four stages with that trace id (and the event
//! id after the normalizer), and as spans of that trace from all four.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, root, Redis};
use http_body_util::BodyExt as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// Spans received: (trace id as hex, span name, component attribute).
type Spans = Arc<Mutex<Vec<(String, String, String)>>>;

/// An OTLP/HTTP receiver on a free port: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`, answered 200 as a collector does.
async fn otlp_receiver() -> (String, Spans) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let spans: Spans = Arc::default();
    let sink = spans.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let sink = sink.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let sink = sink.clone();
                        async move {
                            assert_eq!(req.uri().path(), "/v1/traces");
                            assert_eq!(req.headers()["content-type"], "application/x-protobuf");
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let export = ExportTraceServiceRequest::decode(body).unwrap();
                            let mut sink = sink.lock().unwrap();
                            for resource in export.resource_spans {
                                for scope in resource.scope_spans {
                                    for span in scope.spans {
                                        let component = span
                                            .attributes
                                            .iter()
                                            .find(|kv| kv.key == "thumbflow.component")
                                            .and_then(|kv| kv.value.as_ref())
                                            .map(|v| format!("{:?}", v.value))
                                            .unwrap_or_default();
                                        let trace: String = span
                                            .trace_id
                                            .iter()
                                            .map(|b| format!("{b:02x}"))
                                            .collect();
                                        sink.push((trace, span.name, component));
                                    }
                                }
                            }
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::new()),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (endpoint, spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upload_is_one_trace_in_the_json_log_and_the_otlp_export_of_every_stage() {
    let redis = Redis::start();
    let (endpoint, spans) = otlp_receiver().await;
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = state.path().join("host.log");
    let child = Command::new(env!("CARGO_BIN_EXE_thumbflow"))
        .arg("up")
        .arg("--manifest")
        .arg(root().join("spin.toml"))
        .arg("--state-dir")
        .arg(state.path())
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--log-format", "json"])
        .arg("--variable")
        .arg(format!("redis_address={}", redis.url()))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_SDK_DISABLED")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    // Killed with its process group however the test ends.
    struct Host(std::process::Child);
    impl Drop for Host {
        fn drop(&mut self) {
            common::spin::kill_group(&mut self.0);
        }
    }
    let mut host = Host(child);
    let ep = common::Endpoint {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        kv_path: state.path().join("sqlite_key_value.db"),
        channels: ["thumbflow.raw", "thumbflow.images", "thumbflow.thumbnails"]
            .map(str::to_owned)
            .to_vec(),
    };
    let start = Instant::now();
    while !ep
        .http
        .get(ep.url("/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(host.0.try_wait().unwrap().is_none(), "thumbflow up exited");
        assert!(start.elapsed() < Duration::from_secs(120), "never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ep.wait_subscribed(&redis).await;

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (_, bytes, _) = common::photo();
    let response = ep
        .http
        .put(ep.url("/objects/otel/photo.jpg"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let status = ep
        .wait_status("otel/photo.jpg", "every stage done", |s| {
            common::stage_is(s, "notifier", "done")
        })
        .await;
    let detail = status["stages"]["normalizer"]["detail"].as_str().unwrap();
    let event_id = detail.rsplit(' ').next().unwrap().to_owned();

    // The JSON log: one object per line, the stage's line with its ids as fields.
    let stages = ["gateway", "normalizer", "thumbnailer", "notifier"];
    let logged = |component: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            // The log lines; `thumbflow up` also prints what it serves, as text.
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["fields"]["component"] == component
                    && v["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("otel/photo.jpg"))
            })
            .collect()
    };
    let start = Instant::now();
    while stages.iter().any(|c| logged(c).is_empty()) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not every stage logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for component in stages {
        for line in logged(component) {
            assert_eq!(line["fields"]["trace_id"], trace, "{component}: {line}");
            if component == "thumbnailer" || component == "notifier" {
                assert_eq!(
                    line["fields"]["event_id"],
                    event_id.as_str(),
                    "{component}: {line}"
                );
            }
        }
    }

    // The OTLP export: a span of the caller's trace from every stage.
    let start = Instant::now();
    let traced = || -> BTreeSet<String> {
        spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t == trace)
            .map(|(_, name, _)| name.split(' ').next().unwrap_or_default().to_owned())
            .collect()
    };
    while traced().len() < stages.len() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "spans of trace {trace} came from {:?} only; all spans: {:?}",
            traced(),
            spans.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(traced(), stages.iter().map(|s| (*s).to_owned()).collect());
}
