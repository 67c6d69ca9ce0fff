//! The triggers: HTTP ([`http`]) and Redis pub/sub ([`redis`]). Each event
//! gets a fresh instance from the component's pre-instance; a trap or a
//! guest error is logged with the component id and event id and never stops
//! the host.

pub mod http;
pub mod redis;

use crate::state::HostState;

/// Log what the guest wrote to stdout/stderr during an invocation that
/// started at `started`, line by line, under its component id, with the
/// line's trace and event ids as fields of their own when the line carries
/// them (thumbflow's stages end their lines with `event=<id> trace=<id>`),
/// and each traced line as a span of its trace when export is on
/// ([`crate::otel`]).
pub(crate) fn log_output(component: &str, state: &HostState, started: std::time::SystemTime) {
    let (out, err) = state.output();
    let ended = std::time::SystemTime::now();
    for line in String::from_utf8_lossy(&out).lines() {
        let (trace_id, event_id) = (trace_of(line), crate::otel::event_of(line));
        tracing::info!(target: "guest", component, trace_id, event_id, "{line}");
        crate::otel::stage_line(component, line, trace_id, false, started, ended);
    }
    for line in String::from_utf8_lossy(&err).lines() {
        let (trace_id, event_id) = (trace_of(line), crate::otel::event_of(line));
        tracing::warn!(target: "guest", component, trace_id, event_id, "{line}");
        crate::otel::stage_line(component, line, trace_id, true, started, ended);
    }
}

/// The W3C trace id (32 hex digits) after the last `trace=` of `line`.
fn trace_of(line: &str) -> Option<&str> {
    id_after(line, "trace=")
}

/// The 32 hex digits after the last `tag` of `line` (a stage's
/// `trace=<id>` or `event=<id>`).
pub(crate) fn id_after<'l>(line: &'l str, tag: &str) -> Option<&'l str> {
    let start = line.rfind(tag)? + tag.len();
    let id = line.get(start..start + 32)?;
    id.bytes().all(|b| b.is_ascii_hexdigit()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::trace_of;

    #[test]
    fn trace_of_reads_the_id_a_stage_appends() {
        assert_eq!(
            trace_of("stored b/k: 3 bytes trace=0af7651916cd43dd8448eb211c80319c"),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(trace_of("no trace here"), None);
        assert_eq!(trace_of("trace=-"), None);
        assert_eq!(trace_of("trace=0af7651916cd43dd8448eb211c80319z"), None);
    }
}
