//! `thumbflow up`: load the app, print what Spin prints, run the triggers
//! until the shutdown signal, then let them drain (see [`TriggerLimits`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::App;
use crate::limits::TriggerLimits;

/// What `up` is serving, for callers (tests) that bound port 0.
#[derive(Debug, Clone)]
pub struct Serving {
    /// The HTTP address actually bound.
    pub http: SocketAddr,
}

/// Print the start-up summary the way `spin up` does.
pub fn print_banner(app: &App, http: SocketAddr) {
    println!(
        "Storing default key-value data to {:?}.",
        app.kv_path.display().to_string()
    );
    if !app.http_routes.is_empty() {
        println!("\nServing http://{http}");
        println!("Available Routes:");
        for route in &app.http_routes {
            let shown = route
                .route
                .strip_suffix("/...")
                .map_or(route.route.clone(), |p| format!("{p}/..."));
            let wildcard = if route.route.ends_with("/...") {
                " (wildcard)"
            } else {
                ""
            };
            let path = shown.trim_end_matches("/...");
            println!("  {}: http://{http}{path}{wildcard}", route.component);
        }
    }
    let mut addresses: Vec<&str> = app.redis.iter().map(|s| s.address.as_str()).collect();
    addresses.dedup();
    for address in addresses {
        let hostport = address
            .trim_start_matches("redis://")
            .trim_start_matches("rediss://");
        println!("Active Channels on {hostport}:");
        for sub in app.redis.iter().filter(|s| s.address == address) {
            println!("\t{hostport}/{}: [{}]", sub.channel, sub.component);
        }
    }
}

/// Run the app's triggers on `listener` until `shutdown` resolves, with
/// the default [`TriggerLimits`].
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with(app, listener, TriggerLimits::default(), shutdown).await
}

/// Run the app's triggers on `listener` until `shutdown` resolves, each
/// running at most `limits.concurrency` events at once; then drain them.
pub async fn run_with(
    app: Arc<App>,
    listener: TcpListener,
    limits: TriggerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let http = listener.local_addr()?;
    print_banner(&app, http);
    let triggers = app.redis.len() + usize::from(!app.http_routes.is_empty());
    let wanted = triggers.saturating_mul(limits.concurrency.get());
    if wanted > app.instance_slots() {
        tracing::warn!(
            "{triggers} trigger(s) at a concurrency of {} may want {wanted} instances at once; \
             the instance pool holds {}: the excess waits for a free instance",
            limits.concurrency,
            app.instance_slots()
        );
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let redis = {
        let mut rx = rx.clone();
        tokio::spawn(crate::trigger::redis::run_with(
            app.clone(),
            limits,
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        ))
    };
    let server = {
        let mut rx = rx.clone();
        tokio::spawn(crate::trigger::http::serve_with(
            app.clone(),
            listener,
            limits,
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        ))
    };
    shutdown.await;
    let _ = tx.send(true);
    let _ = redis.await;
    let _ = server.await;
    Ok(())
}
