//! A `spin.toml` application made ready to run: manifest read, variables
//! resolved, every component composed with its dependencies, linked against
//! exactly the interfaces the host provides, and pre-instantiated once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::bindings::spin::{SpinRedis, SpinRedisPre};
use crate::manifest::{AllowedHosts, Manifest, Variables};
use crate::spin::kv::KvDatabase;
use crate::spin::redis::RedisPool;
use crate::spin::{Grants, Services, SpinState};
use crate::state::HostState;
use crate::Runtime;

/// How to load an application.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The manifest file.
    pub manifest: PathBuf,
    /// Directory for host state (the key-value database), like Spin's `.spin`.
    pub state_dir: PathBuf,
    /// `--variable K=V` overrides, highest precedence.
    pub variables: Vec<(String, String)>,
    /// Run only these components and their triggers (`--component-id`, as
    /// in `spin up`); empty runs them all. Replicas of one stage on several
    /// hosts share its durable queue.
    pub components: Vec<String>,
}

/// What a component is triggered by, with its typed pre-instance.
pub enum Entry {
    /// Exports `wasi:http/incoming-handler`.
    Http(ProxyPre<HostState>),
    /// Exports `fermyon:spin/inbound-redis`.
    Redis(SpinRedisPre<HostState>),
}

/// One component, ready to instantiate per event.
pub struct AppComponent {
    /// Component id from the manifest.
    pub id: String,
    /// Its typed pre-instance.
    pub entry: Entry,
    /// What it may use.
    pub grants: Grants,
}

/// An HTTP route and the component serving it.
#[derive(Debug, Clone)]
pub struct HttpRoute {
    /// Route as written in the manifest (`/...` is a wildcard).
    pub route: String,
    /// Component id.
    pub component: String,
}

/// A Redis channel subscription and the component handling it.
#[derive(Debug, Clone)]
pub struct RedisSubscription {
    /// Resolved Redis address (`redis://host:port`).
    pub address: String,
    /// Resolved channel name.
    pub channel: String,
    /// Component id.
    pub component: String,
}

/// A loaded application.
pub struct App {
    /// The engine every component runs in.
    pub runtime: Arc<Runtime>,
    /// Components by id.
    pub components: BTreeMap<String, Arc<AppComponent>>,
    /// HTTP routes, in manifest order.
    pub http_routes: Vec<HttpRoute>,
    /// Redis subscriptions, in manifest order.
    pub redis: Vec<RedisSubscription>,
    /// The key-value database file.
    pub kv_path: PathBuf,
    /// What the triggers ran and how it ended (`thumbflow up --metrics-listen`).
    pub metrics: Arc<crate::metrics::Metrics>,
    services: Services,
    /// One permit per instance the engine's pool holds: every trigger takes
    /// one before it instantiates, so the pool is never exhausted.
    slots: Arc<Semaphore>,
}

/// A free place in the instance pool, held while one instance is alive.
pub struct InstanceSlot {
    _permit: OwnedSemaphorePermit,
}

impl App {
    /// Read, resolve, compose, link and pre-instantiate everything; fails
    /// before any listener starts if anything is wrong.
    pub fn load(runtime: Arc<Runtime>, options: &AppOptions) -> anyhow::Result<Self> {
        let manifest = Manifest::from_file(&options.manifest)
            .with_context(|| format!("reading manifest {}", options.manifest.display()))?;
        let env = |name: &str| std::env::var(name).ok();
        let variables = Variables::resolve(&manifest, &options.variables, &env)?;
        let slots = usize::try_from(runtime.instance_pool().instances).unwrap_or(usize::MAX);
        let kv_path = options.state_dir.join("sqlite_key_value.db");
        let services = Services {
            kv: Arc::new(KvDatabase::open(&kv_path)?),
            redis: Arc::new(RedisPool::default()),
        };
        let linker = linker(&runtime)?;
        for id in &options.components {
            anyhow::ensure!(
                manifest.components.contains_key(id),
                "--component-id {id:?}: the manifest has no such component (it has {})",
                manifest
                    .components
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let selected =
            |id: &str| options.components.is_empty() || options.components.iter().any(|c| c == id);
        let mut components = BTreeMap::new();
        for (id, component) in manifest.components.iter().filter(|(id, _)| selected(id)) {
            let grants = Grants {
                component: id.clone(),
                key_value_stores: component.key_value_stores.clone(),
                allowed_hosts: Arc::new(
                    AllowedHosts::parse(
                        &component
                            .allowed_outbound_hosts
                            .iter()
                            .map(|h| variables.expand(h))
                            .collect::<Result<Vec<_>, _>>()?,
                    )
                    .with_context(|| format!("allowed_outbound_hosts of component {id:?}"))?,
                ),
                variables: Arc::new(variables.component_variables(component)?),
            };
            let entry = prepare(
                &runtime,
                &linker,
                id,
                &component.source,
                &component.dependencies,
            )?;
            components.insert(
                id.clone(),
                Arc::new(AppComponent {
                    id: id.clone(),
                    entry,
                    grants,
                }),
            );
        }
        let http_routes: Vec<HttpRoute> = manifest
            .http_triggers
            .iter()
            .filter(|t| selected(&t.component))
            .map(|t| HttpRoute {
                route: t.route.clone(),
                component: t.component.clone(),
            })
            .collect();
        let default_address = manifest
            .redis_address
            .as_deref()
            .map(|a| variables.expand(a))
            .transpose()?;
        let mut redis = Vec::new();
        for trigger in manifest
            .redis_triggers
            .iter()
            .filter(|t| selected(&t.component))
        {
            let address = match &trigger.address {
                Some(a) => variables.expand(a)?,
                None => default_address.clone().with_context(|| {
                    format!(
                        "[[trigger.redis]] for {:?} has no address and [application.trigger.redis] sets none",
                        trigger.component
                    )
                })?,
            };
            redis.push(RedisSubscription {
                address,
                channel: variables.expand(&trigger.channel)?,
                component: trigger.component.clone(),
            });
        }
        for sub in &redis {
            check_entry(&components, &sub.component, "redis")?;
        }
        for route in http_routes.iter() {
            let route: &HttpRoute = route;
            check_entry(&components, &route.component, "http")?;
        }
        let metrics = Arc::new(crate::metrics::Metrics::with_queues(
            redis
                .iter()
                .map(|sub| crate::metrics::StageQueue {
                    stage: sub.component.clone(),
                    address: sub.address.clone(),
                    channel: sub.channel.clone(),
                })
                .collect(),
        ));
        Ok(Self {
            runtime,
            components,
            http_routes,
            redis,
            kv_path,
            metrics,
            services,
            slots: Arc::new(Semaphore::new(slots)),
        })
    }

    /// How many instances may be alive at once (the engine's pool).
    pub fn instance_slots(&self) -> usize {
        usize::try_from(self.runtime.instance_pool().instances).unwrap_or(usize::MAX)
    }

    /// Wait for a free place in the instance pool; waiters are served in
    /// order. Hold the slot until the instance's store is dropped. `None`
    /// only if the slots were closed, which the app never does.
    pub async fn admit(&self) -> Option<InstanceSlot> {
        let permit = self.slots.clone().acquire_owned().await.ok()?;
        Some(InstanceSlot { _permit: permit })
    }

    /// A store for one invocation of `component`, with its grants and the limits.
    pub fn store(&self, component: &AppComponent) -> Store<HostState> {
        let limits = *self.runtime.limits();
        let spin = SpinState {
            grants: component.grants.clone(),
            services: self.services.clone(),
        };
        let mut store = Store::new(
            self.runtime.engine(),
            HostState::for_component(&limits, spin),
        );
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(limits.deadline_ticks());
        store
    }
}

fn check_entry(
    components: &BTreeMap<String, Arc<AppComponent>>,
    id: &str,
    trigger: &str,
) -> anyhow::Result<()> {
    let component = components.get(id).with_context(|| {
        format!("[[trigger.{trigger}]] names component {id:?}, which is not defined")
    })?;
    match (&component.entry, trigger) {
        (Entry::Http(_), "http") | (Entry::Redis(_), "redis") => Ok(()),
        _ => anyhow::bail!("component {id:?} is used by a {trigger} trigger but does not export that trigger's interface"),
    }
}

/// The linker with exactly the host's interfaces: WASI 0.2, outgoing HTTP, Spin key-value, Redis, variables.
fn linker(runtime: &Runtime) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(runtime.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)
        .context("adding WASI 0.2")?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)
        .context("adding wasi:http")?;
    SpinRedis::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
        .map_err(anyhow::Error::from)
        .context("adding the Spin interfaces")?;
    Ok(linker)
}

/// Compose, compile, link and type-check one component.
fn prepare(
    runtime: &Runtime,
    linker: &Linker<HostState>,
    id: &str,
    source: &Path,
    dependencies: &BTreeMap<String, PathBuf>,
) -> anyhow::Result<Entry> {
    let bytes = crate::compose::compose(source, dependencies)
        .with_context(|| format!("composing component {id:?}"))?;
    let component = Component::new(runtime.engine(), &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling component {id:?} ({})", source.display()))?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!("component {id:?} imports an interface thumbflow's host does not provide")
        })?;
    if let Ok(proxy) = ProxyPre::new(pre.clone()) {
        return Ok(Entry::Http(proxy));
    }
    let redis = SpinRedisPre::new(pre)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!("component {id:?} exports neither wasi:http/incoming-handler nor fermyon:spin/inbound-redis")
        })?;
    Ok(Entry::Redis(redis))
}
