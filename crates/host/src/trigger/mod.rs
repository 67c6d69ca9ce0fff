//! The triggers: HTTP ([`http`]) and Redis pub/sub ([`redis`]). Each event
//! gets a fresh instance from the component's pre-instance; a trap or a
//! guest error is logged with the component id and event id and never stops
//! the host.

pub mod http;
pub mod redis;

use crate::state::HostState;

/// Log what the guest wrote to stdout/stderr, line by line, under its component id.
pub(crate) fn log_output(component: &str, state: &HostState) {
    let (out, err) = state.output();
    for line in String::from_utf8_lossy(&out).lines() {
        tracing::info!(target: "guest", component, "{line}");
    }
    for line in String::from_utf8_lossy(&err).lines() {
        tracing::warn!(target: "guest", component, "{line}");
    }
}
