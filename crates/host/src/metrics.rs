//! What the host's triggers did, in the Prometheus text format: served at
//! `/metrics` on a listener of its own (`thumbflow up --metrics-listen
//! ADDR`), so the app's routes stay exactly the app's.
//!
//! Per component (a pipeline stage): invocations by trigger and outcome,
//! their duration as a histogram, messages waiting for a free slot (the
//! queue backlog of a Redis subscription) and invocations running. Spin
//! itself has no scrape endpoint (it pushes OpenTelemetry to
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), so this one is thumbflow's own; the
//! registry and encoder are `prometheus-client`, the Prometheus project's
//! Rust client.
//!
//! Per stage, from its durable queue in Redis (read at each scrape, so the
//! figures are the pipeline's, shared by every replica): events processed,
//! ignored, skipped as duplicate or superseded, failed, retried,
//! dead-lettered, deferred, replayed and reclaimed (counters), each event's
//! latency from being queued to being settled (a histogram), and the
//! backlog, in-flight, retrying and dead-letter gauges.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// Which trigger ran an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A request of the HTTP trigger.
    Http,
    /// A message of a Redis subscription.
    Redis,
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The component handled it (for HTTP: answered, whatever the status).
    Ok,
    /// The component returned an error (a failed stage).
    Error,
    /// The component trapped or ran out of time or memory.
    Trap,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvocationLabels {
    component: String,
    trigger: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageOutcomeLabels {
    stage: String,
    outcome: String,
}

/// A stage whose durable queue the metrics read: its component, the Redis
/// address and its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageQueue {
    /// Component id (the stage).
    pub stage: String,
    /// Redis address.
    pub address: String,
    /// The stage's channel (its queue's keys derive from it).
    pub channel: String,
}

/// The queue counters exported, in this order.
const STAGE_OUTCOMES: [&str; 10] = [
    "processed",
    "ignored",
    "duplicate",
    "superseded",
    "failed",
    "retried",
    "dead",
    "deferred",
    "replayed",
    "reclaimed",
];

#[derive(Debug, Default)]
struct QueueMetrics {
    sources: Vec<StageQueue>,
    latency: Arc<StageLatency>,
    events: Family<StageOutcomeLabels, Counter>,
    backlog: Family<StageLabels, Gauge>,
    in_flight: Family<StageLabels, Gauge>,
    retrying: Family<StageLabels, Gauge>,
    dead_letters: Family<StageLabels, Gauge>,
}

type DurationFamily = Family<ComponentLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 1 ms to about 33 s, doubling: a stage's latency spans that range.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Each stage's event latency, from being queued to being settled, as the
/// stage's queue counts it in Redis for every replica together: a
/// histogram built from those counts at each scrape (prometheus-client's
/// own histograms only count what this process observes).
#[derive(Debug, Default)]
struct StageLatency {
    latest: Mutex<Vec<(String, thumbflow_queue::Latency)>>,
}

impl StageLatency {
    fn update(&self, stage: &str, latency: thumbflow_queue::Latency) {
        let Ok(mut latest) = self.latest.lock() else {
            return;
        };
        match latest.iter_mut().find(|(s, _)| s == stage) {
            Some(entry) => entry.1 = latency,
            None => latest.push((stage.to_owned(), latency)),
        }
    }
}

impl Collector for StageLatency {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(latest) = self.latest.lock() else {
            return Ok(());
        };
        if latest.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(
            "thumbflow_stage_latency_seconds",
            "Time from an event being queued for a stage to the stage settling it (waiting, retries and work), every replica together",
            None,
            prometheus_client::metrics::MetricType::Histogram,
        )?;
        for (stage, latency) in latest.iter() {
            let buckets: Vec<(f64, u64)> = latency
                .buckets
                .iter()
                .map(|(bound, n)| (bound.map_or(f64::INFINITY, |ms| ms as f64 / 1000.0), *n))
                .collect();
            let labels = StageLabels {
                stage: stage.clone(),
            };
            metric
                .encode_family(&labels)?
                .encode_histogram::<StageLabels>(
                    latency.sum_ms as f64 / 1000.0,
                    latency.count,
                    &buckets,
                    None,
                )?;
        }
        Ok(())
    }
}

/// The host's metrics; one per app, shared by its triggers.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    invocations: Family<InvocationLabels, Counter>,
    durations: DurationFamily,
    queued: Family<ComponentLabels, Gauge>,
    running: Family<ComponentLabels, Gauge>,
    queues: QueueMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics, every family registered.
    pub fn new() -> Self {
        Self::with_queues(Vec::new())
    }

    /// Empty metrics that also read the durable queues of `sources` at each scrape.
    pub fn with_queues(sources: Vec<StageQueue>) -> Self {
        let mut registry = Registry::default();
        let queues = QueueMetrics {
            sources,
            ..QueueMetrics::default()
        };
        registry.register(
            "thumbflow_stage_events",
            "Events each stage's queue settled or re-drove, by outcome (processed, ignored, duplicate, superseded, failed: every failed attempt, retried, dead, deferred, replayed, reclaimed), for every replica together",
            queues.events.clone(),
        );
        registry.register_collector(Box::new(queues.latency.clone()));
        registry.register(
            "thumbflow_stage_backlog",
            "Events in a stage's queue: waiting, in flight or waiting for a retry",
            queues.backlog.clone(),
        );
        registry.register(
            "thumbflow_stage_in_flight",
            "Events a worker of the stage has taken and not yet settled",
            queues.in_flight.clone(),
        );
        registry.register(
            "thumbflow_stage_retrying",
            "Events of the stage waiting for a retry",
            queues.retrying.clone(),
        );
        registry.register(
            "thumbflow_stage_dead_letters",
            "Events in the stage's dead-letter stream (thumbflow dlq list)",
            queues.dead_letters.clone(),
        );
        let invocations = Family::<InvocationLabels, Counter>::default();
        let durations = DurationFamily::new_with_constructor(duration_histogram);
        let queued = Family::<ComponentLabels, Gauge>::default();
        let running = Family::<ComponentLabels, Gauge>::default();
        registry.register(
            "thumbflow_invocations",
            "Component invocations by trigger and outcome (ok, error: the stage failed, trap)",
            invocations.clone(),
        );
        registry.register(
            "thumbflow_invocation_duration_seconds",
            "Time from instantiation to the end of one invocation",
            durations.clone(),
        );
        registry.register(
            "thumbflow_queued_messages",
            "Redis messages received and waiting for a free slot (the subscription's backlog)",
            queued.clone(),
        );
        registry.register(
            "thumbflow_running_invocations",
            "Invocations running now",
            running.clone(),
        );
        Self {
            registry,
            invocations,
            durations,
            queued,
            running,
            queues,
        }
    }

    /// Read every stage queue's counters from Redis into the metrics (a
    /// stage whose Redis cannot be reached keeps its last figures).
    pub async fn refresh_queues(&self) {
        let sources = self.queues.sources.clone();
        let read = tokio::task::spawn_blocking(move || {
            sources
                .into_iter()
                .filter_map(|source| {
                    let redis = thumbflow_queue::redis::NativeRedis::connect(&source.address)
                        .map_err(|e| tracing::debug!("metrics: {e}"))
                        .ok()?;
                    let queue = thumbflow_queue::Queue::new(
                        redis,
                        &source.stage,
                        &source.channel,
                        thumbflow_queue::QueueConfig::default(),
                    );
                    let stats = queue
                        .stats()
                        .map_err(|e| tracing::debug!("metrics: {e}"))
                        .ok()?;
                    Some((source.stage, stats))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (stage, stats) in read {
            self.queues.latency.update(&stage, stats.latency());
            let labels = StageLabels {
                stage: stage.clone(),
            };
            let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            self.queues
                .backlog
                .get_or_create(&labels)
                .set(gauge(stats.backlog));
            self.queues
                .in_flight
                .get_or_create(&labels)
                .set(gauge(stats.in_flight));
            self.queues
                .retrying
                .get_or_create(&labels)
                .set(gauge(stats.retrying));
            self.queues
                .dead_letters
                .get_or_create(&labels)
                .set(gauge(stats.dead_letters));
            for outcome in STAGE_OUTCOMES {
                let counter = self.queues.events.get_or_create(&StageOutcomeLabels {
                    stage: stage.clone(),
                    outcome: outcome.to_owned(),
                });
                // Counters only go up: add what Redis counted since the last scrape.
                let now = stats.counter(outcome);
                let seen = counter.get();
                if now > seen {
                    counter.inc_by(now - seen);
                }
            }
        }
    }

    fn component(component: &str) -> ComponentLabels {
        ComponentLabels {
            component: component.to_owned(),
        }
    }

    /// Count one finished invocation of `component` and its duration.
    pub fn finished(&self, component: &str, trigger: Trigger, outcome: Outcome, took: Duration) {
        let labels = InvocationLabels {
            component: component.to_owned(),
            trigger: match trigger {
                Trigger::Http => "http",
                Trigger::Redis => "redis",
            }
            .to_owned(),
            outcome: match outcome {
                Outcome::Ok => "ok",
                Outcome::Error => "error",
                Outcome::Trap => "trap",
            }
            .to_owned(),
        };
        self.invocations.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&Self::component(component))
            .observe(took.as_secs_f64());
    }

    /// A message for `component` was queued (`+1`) or left the queue to run (`-1`).
    pub fn queued(&self, component: &str, delta: i64) {
        self.queued
            .get_or_create(&Self::component(component))
            .inc_by(delta);
    }

    /// An invocation of `component` started (`+1`) or ended (`-1`).
    pub fn running(&self, component: &str, delta: i64) {
        self.running
            .get_or_create(&Self::component(component))
            .inc_by(delta);
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Serve `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    metrics: Arc<Metrics>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(metrics.clone(), req));
                    if let Err(e) = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!("metrics connection from {peer}: {e}");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
}

async fn answer(
    metrics: Arc<Metrics>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (status, content_type, body) = if req.uri().path() == "/metrics" {
        metrics.refresh_queues().await;
        (
            hyper::StatusCode::OK,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            metrics.encode(),
        )
    } else {
        (
            hyper::StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "metrics are at /metrics\n".to_owned(),
        )
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    Ok(response)
}

/// Bind `addr` for [`serve`], with the address in the error.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener on {addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_latency_is_a_cumulative_histogram_in_seconds() {
        let metrics = Metrics::new();
        let mut buckets: Vec<(Option<u64>, u64)> = thumbflow_queue::scripts::LATENCY_BOUNDS_MS
            .iter()
            .map(|&b| (Some(b), 0))
            .collect();
        buckets.push((None, 0));
        buckets[0].1 = 2; // <= 5 ms
        buckets[3].1 = 1; // <= 50 ms
        metrics.queues.latency.update(
            "thumbnailer",
            thumbflow_queue::Latency {
                count: 3,
                sum_ms: 48,
                buckets,
            },
        );
        let text = metrics.encode();
        for line in [
            "# TYPE thumbflow_stage_latency_seconds histogram",
            "thumbflow_stage_latency_seconds_bucket{stage=\"thumbnailer\",le=\"0.005\"} 2",
            "thumbflow_stage_latency_seconds_bucket{stage=\"thumbnailer\",le=\"0.05\"} 3",
            "thumbflow_stage_latency_seconds_bucket{stage=\"thumbnailer\",le=\"+Inf\"} 3",
            "thumbflow_stage_latency_seconds_count{stage=\"thumbnailer\"} 3",
            "thumbflow_stage_latency_seconds_sum{stage=\"thumbnailer\"} 0.048",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn metrics_count_outcomes_per_component_in_prometheus_text() {
        let metrics = Metrics::new();
        metrics.finished(
            "thumbnailer",
            Trigger::Redis,
            Outcome::Ok,
            Duration::from_millis(20),
        );
        metrics.finished(
            "thumbnailer",
            Trigger::Redis,
            Outcome::Ok,
            Duration::from_millis(30),
        );
        metrics.finished(
            "thumbnailer",
            Trigger::Redis,
            Outcome::Error,
            Duration::from_millis(5),
        );
        metrics.queued("thumbnailer", 1);
        metrics.queued("thumbnailer", 1);
        metrics.queued("thumbnailer", -1);
        let text = metrics.encode();
        assert!(
            text.contains(
                "thumbflow_invocations_total{component=\"thumbnailer\",trigger=\"redis\",outcome=\"ok\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "thumbflow_invocations_total{component=\"thumbnailer\",trigger=\"redis\",outcome=\"error\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "thumbflow_invocation_duration_seconds_count{component=\"thumbnailer\"} 3"
            ),
            "{text}"
        );
        assert!(
            text.contains("thumbflow_queued_messages{component=\"thumbnailer\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE thumbflow_invocation_duration_seconds histogram"),
            "{text}"
        );
    }
}
