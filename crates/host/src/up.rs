//! `thumbflow up`: load the app, print what Spin prints, run the triggers
//! until the shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::app::App;

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

/// Run the app's triggers on `listener` until `shutdown` resolves.
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let http = listener.local_addr()?;
    print_banner(&app, http);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let redis = {
        let mut rx = rx.clone();
        tokio::spawn(crate::trigger::redis::run(app.clone(), async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }))
    };
    let server = {
        let mut rx = rx.clone();
        tokio::spawn(crate::trigger::http::serve(
            app.clone(),
            listener,
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
