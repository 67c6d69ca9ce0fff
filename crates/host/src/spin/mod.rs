//! The Spin interfaces thumbflow's host provides to components:
//! key-value on SQLite ([`kv`]), outbound Redis ([`redis`]) and variables
//! ([`variables`]), each limited by what the manifest grants the component.

pub mod kv;
pub mod redis;
pub mod variables;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::manifest::AllowedHosts;

/// What one component may use, resolved from the manifest once at start-up
/// and shared by all its invocations.
#[derive(Clone)]
pub struct Grants {
    /// Component id, for log lines and errors.
    pub component: String,
    /// Key-value store labels from `key_value_stores`.
    pub key_value_stores: Vec<String>,
    /// Parsed `allowed_outbound_hosts` (Redis and HTTP alike).
    pub allowed_hosts: Arc<AllowedHosts>,
    /// The component's resolved `variables`.
    pub variables: Arc<BTreeMap<String, String>>,
}

/// Host-wide resources shared by every component (SQLite key-value, Redis connection pool).
#[derive(Clone)]
pub struct Services {
    /// The key-value database (Spin's default store).
    pub kv: Arc<kv::KvDatabase>,
    /// Outbound Redis connections, one multiplexed connection per address.
    pub redis: Arc<redis::RedisPool>,
}

/// The per-invocation Spin state: the component's grants plus the shared services.
#[derive(Clone)]
pub struct SpinState {
    /// What this component may use.
    pub grants: Grants,
    /// Shared host services.
    pub services: Services,
}
