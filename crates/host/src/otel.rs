//! Traces to an OpenTelemetry collector, switched on by the same settings
//! as Spin's (`spin-telemetry`): tracing is on when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
//! set and not empty, unless `OTEL_SDK_DISABLED` is; the protocol is
//! `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`,
//! else `http/protobuf` (the one this host speaks: `grpc` and `http/json`
//! are refused at start-up, naming the fix); headers, timeouts and batching
//! come from the standard `OTEL_EXPORTER_OTLP_*` and `OTEL_BSP_*`
//! variables, read by the exporter itself; `service.name` is
//! `OTEL_SERVICE_NAME` (or `OTEL_RESOURCE_ATTRIBUTES`), else `thumbflow`.
//!
//! What is exported: one span per stage per upload, in the upload's own
//! trace. A stage invocation drains any number of events from its durable
//! queue, so the host cannot know an upload's trace before the guest runs;
//! each stage ends its log lines with `event=<id> trace=<id>`, and every such
//! line becomes a span of that trace (named after the component and the
//! line's first word, e.g. `thumbnailer thumbnailed`), spanning the
//! invocation that wrote it, with the line, the component and the event id
//! as attributes and an error status for lines on stderr. So a trace
//! backend shows, for one upload, gateway → normalizer → thumbnailer →
//! notifier, whichever replicas ran them.

use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::Context as _;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

/// The tracer and its provider, once [`init_from_env`] switched export on.
static EXPORT: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

/// Whether `name` is set in the environment and not empty.
fn set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// Whether Spin's settings switch trace export on.
pub fn enabled_by_env() -> bool {
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !set("OTEL_SDK_DISABLED")
}

/// Start exporting when the environment asks for it (see the module doc);
/// `Ok(false)` when it does not. Call once, before any trigger runs.
pub fn init_from_env() -> anyhow::Result<bool> {
    if !enabled_by_env() {
        return Ok(false);
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|_| "http/protobuf".to_owned());
    if protocol != "http/protobuf" {
        anyhow::bail!(
            "OTLP protocol {protocol:?} (OTEL_EXPORTER_OTLP_PROTOCOL) is not supported by \
             thumbflow's host: use http/protobuf, Spin's default (a collector's port 4318)"
        );
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .context("setting up the OTLP trace exporter (OTEL_EXPORTER_OTLP_* variables)")?;
    let named_in_env = set("OTEL_SERVICE_NAME")
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
    let mut resource = Resource::builder();
    if !named_in_env {
        resource = resource.with_service_name("thumbflow");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("thumbflow");
    // A second call keeps the first exporter.
    let _ = EXPORT.set((provider, tracer));
    Ok(true)
}

/// Export what is still buffered (call before the process exits).
pub fn shutdown() {
    if let Some((provider, _)) = EXPORT.get() {
        if let Err(e) = provider.shutdown() {
            tracing::warn!("flushing traces to the OTLP collector: {e}");
        }
    }
}

/// One stage log line as a span of the upload's trace (a no-op unless
/// export is on, or when the line names no trace).
pub fn stage_line(
    component: &str,
    line: &str,
    trace_id: Option<&str>,
    failed: bool,
    started: SystemTime,
    ended: SystemTime,
) {
    let (Some((_, tracer)), Some(trace_id)) = (EXPORT.get(), trace_id) else {
        return;
    };
    let Ok(trace_id) = TraceId::from_hex(trace_id) else {
        return;
    };
    let verb = line.split_whitespace().next().unwrap_or("ran");
    let mut attributes = vec![
        KeyValue::new("thumbflow.component", component.to_owned()),
        KeyValue::new("thumbflow.line", line.to_owned()),
    ];
    if let Some(event) = event_of(line) {
        attributes.push(KeyValue::new("thumbflow.event_id", event.to_owned()));
    }
    let mut span = tracer
        .span_builder(format!("{component} {verb}"))
        .with_kind(SpanKind::Internal)
        .with_trace_id(trace_id)
        .with_start_time(started)
        .with_attributes(attributes)
        .start(tracer);
    if failed {
        span.set_status(Status::error(line.to_owned()));
    }
    span.end_with_timestamp(ended);
}

/// The canonical event id (32 hex digits) after the last `event=` of `line`.
pub(crate) fn event_of(line: &str) -> Option<&str> {
    crate::trigger::id_after(line, "event=")
}

#[cfg(test)]
mod tests {
    use super::event_of;

    #[test]
    fn event_of_reads_the_id_a_stage_appends() {
        assert_eq!(
            event_of("thumbnailed b/k: 1 event=da001558edf8611229ce14fd589ab16d trace=-"),
            Some("da001558edf8611229ce14fd589ab16d")
        );
        assert_eq!(event_of("no event here"), None);
        assert_eq!(event_of("event=short"), None);
    }
}
