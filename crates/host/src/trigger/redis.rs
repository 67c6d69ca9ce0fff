//! The Redis trigger: subscribe to each channel and hand every message to
//! a fresh instance of its component's `fermyon:spin/inbound-redis` export.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::watch;

use crate::app::{App, AppComponent, Entry};

/// Subscribe to every channel of the app (one connection per Redis
/// address) and dispatch messages until `shutdown` resolves. Reconnects
/// with a short backoff if the Redis server goes away.
pub async fn run(app: Arc<App>, shutdown: impl Future<Output = ()> + Send + 'static) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut by_address: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for sub in &app.redis {
        by_address
            .entry(sub.address.clone())
            .or_default()
            .push((sub.channel.clone(), sub.component.clone()));
    }
    let mut tasks = Vec::new();
    for (address, subs) in by_address {
        tasks.push(tokio::spawn(subscribe_loop(
            app.clone(),
            address,
            subs,
            stop_rx.clone(),
        )));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
}

async fn subscribe_loop(
    app: Arc<App>,
    address: String,
    subs: Vec<(String, String)>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        match subscribe_once(&app, &address, &subs, &mut stop).await {
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
    app: &Arc<App>,
    address: &str,
    subs: &[(String, String)],
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client = redis::Client::open(address)?;
    let mut pubsub = client.get_async_pubsub().await?;
    for (channel, _) in subs {
        pubsub.subscribe(channel).await?;
    }
    tracing::debug!(address, "subscribed to {} channel(s)", subs.len());
    let mut messages = pubsub.on_message();
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    anyhow::bail!("connection to {address} closed");
                };
                let channel = message.get_channel_name().to_owned();
                let payload = message.get_payload_bytes().to_vec();
                for (_, id) in subs.iter().filter(|(c, _)| *c == channel) {
                    if let Some(component) = app.components.get(id) {
                        tokio::spawn(dispatch(app.clone(), component.clone(), channel.clone(), payload.clone()));
                    }
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Run one message through a fresh instance of `component`.
pub async fn dispatch(
    app: Arc<App>,
    component: Arc<AppComponent>,
    channel: String,
    payload: Vec<u8>,
) {
    let Entry::Redis(pre) = &component.entry else {
        return;
    };
    let event = event_id(&payload);
    let id = component.id.as_str();
    let mut store = app.store(&component);
    let result = match pre.instantiate_async(&mut store).await {
        Ok(instance) => instance
            .fermyon_spin_inbound_redis()
            .call_handle_message(&mut store, &payload)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    super::log_output(id, store.data());
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

/// A message's event id for logs: the CloudEvents / EventBridge `id`, else a short hash.
fn event_id(payload: &[u8]) -> String {
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
