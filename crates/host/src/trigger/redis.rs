//! The Redis trigger: subscribe to each channel and hand every message to
//! a fresh instance of its component's `fermyon:spin/inbound-redis` export.
//!
//! # Concurrency and backpressure
//!
//! One subscriber per Redis address reads messages as fast as Redis sends
//! them (so Redis never disconnects a slow subscriber for overflowing its
//! output buffer) and queues each on its subscription's in-process queue.
//! One worker per subscription runs up to [`TriggerLimits::concurrency`]
//! invocations at once; a message beyond that waits in the queue, in order,
//! and a running invocation also waits for a slot of the instance pool
//! ([`App::admit`]), so a burst is delayed, never dropped. Subscriptions do
//! not wait for each other: a busy thumbnailer does not hold up the
//! normalizer's messages.
//!
//! One invocation may take at most the invocation deadline plus a second:
//! the epoch deadline stops guest code, this bound also stops a guest that
//! waits on a host call (a blocking Redis command) so it cannot hold its
//! slot for ever.
//!
//! # Doorbells
//!
//! The stages keep their work in durable queues (`thumbflow_queue`): a
//! message is only the doorbell that makes a stage drain its queue. With
//! [`TriggerLimits::drain_interval`] set, each subscription's component is
//! also rung at start and then periodically whenever no message is waiting,
//! so work queued while no replica ran, retries coming due and the leases
//! of crashed workers are picked up without a new publish.
//!
//! # Shutdown
//!
//! When `shutdown` resolves, each subscriber unsubscribes (Redis sends every
//! message published before that first), queues what it has received, and
//! stops. The workers then finish every queued and running invocation;
//! whatever is not done within [`TriggerLimits::drain_timeout`] is abandoned
//! and counted in the log.
//!
//! Every finished invocation is reported as one `tracing` event of this
//! module carrying a `component` field (the pipeline benchmark times stages
//! by it); no other event here has that field.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::app::{App, AppComponent, Entry, InstanceSlot};
use crate::limits::TriggerLimits;
use crate::metrics::{Metrics, Outcome, Trigger};

/// Time an invocation may run beyond its epoch deadline (host calls included).
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// How long a subscriber waits for Redis to confirm `UNSUBSCRIBE` at shutdown.
const UNSUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

/// [`run_with`] with the default [`TriggerLimits`].
pub async fn run(app: Arc<App>, shutdown: impl Future<Output = ()> + Send + 'static) {
    run_with(app, TriggerLimits::default(), shutdown).await;
}

/// Subscribe to every channel of the app (one connection per Redis
/// address) and run messages, at most `limits.concurrency` at once per
/// subscription, until `shutdown` resolves; then drain. Reconnects with a
/// short backoff if the Redis server goes away.
pub async fn run_with(
    app: Arc<App>,
    limits: TriggerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let backlog = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    let mut by_address: BTreeMap<String, Vec<Route>> = BTreeMap::new();
    let mut subscribers = JoinSet::new();
    for sub in &app.redis {
        let Some(component) = app.components.get(&sub.component).cloned() else {
            continue;
        };
        let (queue, received) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        workers.spawn(worker(
            app.clone(),
            component,
            sub.channel.clone(),
            received,
            limits.concurrency.get(),
            backlog.clone(),
            waiting.clone(),
        ));
        if let Some(every) = limits.drain_interval {
            subscribers.spawn(doorbell(
                Route {
                    channel: sub.channel.clone(),
                    component: sub.component.clone(),
                    queue: queue.clone(),
                    waiting: waiting.clone(),
                },
                every,
                backlog.clone(),
                app.metrics.clone(),
                stop_rx.clone(),
            ));
        }
        by_address
            .entry(sub.address.clone())
            .or_default()
            .push(Route {
                channel: sub.channel.clone(),
                component: sub.component.clone(),
                queue,
                waiting,
            });
    }
    for (address, routes) in by_address {
        subscribers.spawn(subscribe_loop(
            address,
            routes,
            backlog.clone(),
            app.metrics.clone(),
            stop_rx.clone(),
        ));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    let drain = async {
        // The subscribers own the queues' senders: once they stop, each
        // worker runs out of messages, finishes its invocations and ends.
        while subscribers.join_next().await.is_some() {}
        while workers.join_next().await.is_some() {}
    };
    if tokio::time::timeout(limits.drain_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            "shutdown: {} Redis message(s) still queued or running after {:?}; abandoned",
            backlog.load(Ordering::Relaxed),
            limits.drain_timeout
        );
        subscribers.shutdown().await;
        workers.shutdown().await;
    }
}

/// A subscribed channel, its component, and the queue of the subscription's worker.
struct Route {
    channel: String,
    component: String,
    queue: mpsc::UnboundedSender<Vec<u8>>,
    /// Messages in `queue` not yet started.
    waiting: Arc<AtomicUsize>,
}

impl Route {
    fn send(&self, payload: Vec<u8>, backlog: &AtomicUsize, metrics: &Metrics) {
        if self.queue.send(payload).is_ok() {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            backlog.fetch_add(1, Ordering::Relaxed);
            metrics.queued(&self.component, 1);
        }
    }
}

/// Wake `route`'s component with the doorbell at start and every `every`
/// while it has no message waiting, until `stop`: the stage drains its
/// durable queue (work queued while it was down, retries come due, leases
/// of crashed workers expired) even when nothing is published.
async fn doorbell(
    route: Route,
    every: Duration,
    backlog: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        if route.waiting.load(Ordering::Relaxed) == 0 {
            route.send(thumbflow_queue::DOORBELL.to_vec(), &backlog, &metrics);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Hand one message to every subscription of its channel.
fn route(
    routes: &[Route],
    channel: &str,
    payload: &[u8],
    backlog: &AtomicUsize,
    metrics: &Metrics,
) {
    for r in routes.iter().filter(|r| r.channel == channel) {
        r.send(payload.to_vec(), backlog, metrics);
    }
}

/// Run a subscription's messages in order of arrival, at most `concurrency`
/// at once, each once an instance slot is free; return when the queue is
/// closed and every invocation has finished.
async fn worker(
    app: Arc<App>,
    component: Arc<AppComponent>,
    channel: String,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
    concurrency: usize,
    backlog: Arc<AtomicUsize>,
    waiting: Arc<AtomicUsize>,
) {
    let mut running = JoinSet::new();
    while let Some(payload) = queue.recv().await {
        waiting.fetch_sub(1, Ordering::Relaxed);
        while running.len() >= concurrency.max(1) {
            let _ = running.join_next().await;
        }
        let Some(slot) = app.admit().await else {
            break;
        };
        app.metrics.queued(&component.id, -1);
        let (app, component, channel, backlog) = (
            app.clone(),
            component.clone(),
            channel.clone(),
            backlog.clone(),
        );
        running.spawn(async move {
            dispatch_in(&app, &component, &channel, &payload, slot).await;
            backlog.fetch_sub(1, Ordering::Relaxed);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

async fn subscribe_loop(
    address: String,
    routes: Vec<Route>,
    backlog: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        match subscribe_once(&address, &routes, &backlog, &metrics, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(
                    address,
                    "Redis subscription failed: {e:#}; reconnecting in {backoff:?}"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// One subscription session; `Ok` on shutdown, `Err` when the connection fails.
async fn subscribe_once(
    address: &str,
    routes: &[Route],
    backlog: &AtomicUsize,
    metrics: &Metrics,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client = redis::Client::open(address)?;
    let (mut sink, mut messages) = client.get_async_pubsub().await?.split();
    let mut channels: Vec<&str> = routes.iter().map(|r| r.channel.as_str()).collect();
    channels.sort_unstable();
    channels.dedup();
    for channel in &channels {
        sink.subscribe(*channel).await?;
    }
    tracing::debug!(address, "subscribed to {} channel(s)", channels.len());
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    anyhow::bail!("connection to {address} closed");
                };
                route(routes, message.get_channel_name(), message.get_payload_bytes(), backlog, metrics);
            }
            _ = stop.changed() => break,
        }
    }
    // Redis answers UNSUBSCRIBE after every message it sent before, so once
    // it has answered, everything published to us is in `messages`.
    for channel in &channels {
        match tokio::time::timeout(UNSUBSCRIBE_TIMEOUT, sink.unsubscribe(*channel)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(address, channel, "unsubscribing at shutdown: {e}"),
            Err(_) => tracing::warn!(address, channel, "Redis did not confirm UNSUBSCRIBE"),
        }
    }
    while let Some(Some(message)) = messages.next().now_or_never() {
        route(
            routes,
            message.get_channel_name(),
            message.get_payload_bytes(),
            backlog,
            metrics,
        );
    }
    Ok(())
}

/// Run one message through a fresh instance of `component`, once a slot of
/// the instance pool is free (waiting for it, in order).
pub async fn dispatch(
    app: Arc<App>,
    component: Arc<AppComponent>,
    channel: String,
    payload: Vec<u8>,
) {
    let Some(slot) = app.admit().await else {
        return;
    };
    dispatch_in(&app, &component, &channel, &payload, slot).await;
}

/// Run one message in the instance slot `_slot`, freed when this returns.
async fn dispatch_in(
    app: &App,
    component: &AppComponent,
    channel: &str,
    payload: &[u8],
    _slot: InstanceSlot,
) {
    let Entry::Redis(pre) = &component.entry else {
        return;
    };
    let event = event_id(payload);
    let id = component.id.as_str();
    let started = std::time::Instant::now();
    let started_at = std::time::SystemTime::now();
    app.metrics.running(id, 1);
    let mut store = app.store(component);
    let limit = app.runtime.limits().deadline + DEADLINE_GRACE;
    let call = async {
        match pre.instantiate_async(&mut store).await {
            Ok(instance) => instance
                .fermyon_spin_inbound_redis()
                .call_handle_message(&mut store, &payload.to_vec())
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::Error::from(e)),
        }
    };
    let result = match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(anyhow::anyhow!(
            "still running after {limit:?} (the deadline, waiting on a host call): stopped"
        )),
    };
    super::log_output(id, store.data(), started_at);
    app.metrics.running(id, -1);
    let outcome = match &result {
        Ok(Ok(())) => Outcome::Ok,
        Ok(Err(_)) => Outcome::Error,
        Err(_) => Outcome::Trap,
    };
    app.metrics
        .finished(id, Trigger::Redis, outcome, started.elapsed());
    match result {
        Ok(Ok(())) => tracing::debug!(component = id, event, channel, "handled"),
        Ok(Err(e)) => tracing::error!(
            component = id,
            event,
            channel,
            "component returned an error: {e:?}"
        ),
        Err(trap) => tracing::error!(
            component = id,
            event,
            channel,
            "component trapped: {trap:#}"
        ),
    }
}

/// A message's event id for logs: `doorbell`, the CloudEvents / EventBridge
/// `id`, else a short hash.
fn event_id(payload: &[u8]) -> String {
    if payload == thumbflow_queue::DOORBELL {
        return "doorbell".to_owned();
    }
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
        .unwrap_or_else(|| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            payload.hash(&mut h);
            format!("msg-{:016x}", h.finish())
        })
}
