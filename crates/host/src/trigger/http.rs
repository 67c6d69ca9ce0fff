//! The HTTP trigger: serve the manifest's routes, each request on a fresh
//! instance of its component's `wasi:http/incoming-handler` export.
//!
//! # Concurrency
//!
//! At most [`TriggerLimits::concurrency`] requests run at once, each in a
//! slot of the instance pool ([`App::admit`]); a request beyond that waits,
//! in order, for up to [`TriggerLimits::http_queue_timeout`], then is
//! answered `503 Service Unavailable` with `Retry-After: 1`. Waiting rather
//! than refusing at once means a burst of uploads is absorbed (the client
//! only sees latency), and the time limit means a client never hangs on an
//! overloaded host: it gets an answer it can retry on. No request is ever
//! lost to an exhausted instance pool.
//!
//! # Shutdown
//!
//! When `shutdown` resolves the listener closes, idle keep-alive connections
//! are closed, and requests in flight finish (their response is sent) within
//! [`TriggerLimits::drain_timeout`]; whatever is still running then is cut off.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView as _;

use crate::app::{App, Entry};
use crate::limits::TriggerLimits;
use crate::metrics::{Outcome, Trigger};

/// Time a request's instance may run beyond its epoch deadline (host calls included).
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// [`serve_with`] with the default [`TriggerLimits`].
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    serve_with(app, listener, TriggerLimits::default(), shutdown).await;
}

/// Serve until `shutdown` resolves, at most `limits.concurrency` requests at
/// once; then let requests in flight finish, within `limits.drain_timeout`.
pub async fn serve_with(
    app: Arc<App>,
    listener: TcpListener,
    limits: TriggerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let gate = Arc::new(Gate {
        running: Arc::new(Semaphore::new(limits.concurrency.get())),
        queue_timeout: limits.http_queue_timeout,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => { tracing::warn!("accept failed: {e}"); continue; }
                };
                let (app, gate, mut stop) = (app.clone(), gate.clone(), stop_rx.clone());
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(app.clone(), gate.clone(), peer, req));
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    let stopping = stop.wait_for(|stop| *stop).map(|_| ());
                    let result = tokio::select! {
                        result = conn.as_mut() => result,
                        () = stopping => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!("connection from {peer}: {e}");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.drain_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            "shutdown: {} HTTP connection(s) still busy after {:?}; closed",
            connections.len(),
            limits.drain_timeout
        );
        connections.shutdown().await;
    }
}

/// Admission to the HTTP trigger: a bound on requests running at once, and
/// how long a request may wait for one.
struct Gate {
    running: Arc<Semaphore>,
    queue_timeout: Duration,
}

/// The component whose route matches `path`: exact routes first, then the
/// longest `/prefix/...` wildcard, as Spin does.
pub fn route<'a>(app: &'a App, path: &str) -> Option<&'a str> {
    route_in(&app.http_routes, path)
}

/// [`route`] over a list of routes: an exact route (`/render`) wins over
/// any wildcard (`/...`), whatever their order in the manifest.
fn route_in<'a>(routes: &'a [crate::app::HttpRoute], path: &str) -> Option<&'a str> {
    let mut best: Option<(&str, usize)> = None;
    for r in routes {
        if let Some(prefix) = r.route.strip_suffix("/...") {
            let matches =
                path == prefix || path.starts_with(&format!("{prefix}/")) || prefix.is_empty();
            if matches && best.is_none_or(|(_, len)| prefix.len() >= len) {
                best = Some((&r.component, prefix.len()));
            }
        } else if r.route == path {
            return Some(&r.component);
        }
    }
    best.map(|(c, _)| c)
}

fn plain(status: u16, text: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(text.to_owned()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

async fn handle(
    app: Arc<App>,
    gate: Arc<Gate>,
    _peer: SocketAddr,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    let Some(component) = route(&app, &path)
        .and_then(|id| app.components.get(id))
        .cloned()
    else {
        return Ok(plain(404, "no route"));
    };
    let Entry::Http(pre) = &component.entry else {
        return Ok(plain(500, "route component is not an HTTP component"));
    };
    let admitted = tokio::time::timeout(gate.queue_timeout, async {
        let running = gate.running.clone().acquire_owned().await.ok()?;
        let slot = app.admit().await?;
        Some((running, slot))
    })
    .await;
    let Ok(Some((running, slot))) = admitted else {
        tracing::warn!(
            event = path,
            "no free instance for {:?}: answered 503",
            gate.queue_timeout
        );
        let mut busy = plain(
            503,
            &format!(
                "every instance stayed busy for {:?}: retry the request",
                gate.queue_timeout
            ),
        );
        busy.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
        return Ok(busy);
    };
    let pre = pre.clone();
    let id = component.id.clone();
    let limit = app.runtime.limits().deadline + DEADLINE_GRACE;
    let mut store = app.store(&component);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let prepared = (|| -> wasmtime::Result<_> {
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        Ok((req, out))
    })();
    let (req, out) = match prepared {
        Ok(pair) => pair,
        Err(e) => {
            tracing::error!(component = id, "bad request: {e:#}");
            return Ok(plain(400, "bad request"));
        }
    };
    let metrics = app.metrics.clone();
    let task = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let started_at = std::time::SystemTime::now();
        metrics.running(&id, 1);
        let call = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        let result = match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(wasmtime::format_err!(
                "still running after {limit:?} (the deadline, waiting on a host call): stopped"
            )),
        };
        super::log_output(&id, store.data(), started_at);
        metrics.running(&id, -1);
        let outcome = if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Trap
        };
        metrics.finished(&id, Trigger::Http, outcome, started.elapsed());
        if let Err(trap) = &result {
            tracing::error!(component = id, event = path, "component trapped: {trap:#}");
        }
        // The instance leaves the pool with its store; only then is its slot free.
        drop(store);
        drop((running, slot));
    });
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Ok(plain(500, &format!("component error: {code:?}"))),
        Err(_) => {
            let _ = task.await;
            Ok(plain(500, "component trapped before responding"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::route_in;
    use crate::app::HttpRoute;

    fn routes(list: &[(&str, &str)]) -> Vec<HttpRoute> {
        list.iter()
            .map(|(route, component)| HttpRoute {
                route: (*route).to_owned(),
                component: (*component).to_owned(),
            })
            .collect()
    }

    /// spin.toml routes `/render` beside the gateway's `/...`: the exact
    /// route wins in either order, everything else goes to the wildcard.
    #[test]
    fn route_prefers_the_exact_route_over_the_wildcard() {
        for table in [
            routes(&[("/...", "gateway"), ("/render", "render-http")]),
            routes(&[("/render", "render-http"), ("/...", "gateway")]),
        ] {
            assert_eq!(route_in(&table, "/render"), Some("render-http"));
            assert_eq!(route_in(&table, "/render/x"), Some("gateway"));
            assert_eq!(route_in(&table, "/renderer"), Some("gateway"));
            assert_eq!(route_in(&table, "/objects/a.jpg"), Some("gateway"));
            assert_eq!(route_in(&table, "/"), Some("gateway"));
        }
    }

    #[test]
    fn route_takes_the_longest_wildcard() {
        let table = routes(&[("/...", "all"), ("/api/...", "api")]);
        assert_eq!(route_in(&table, "/api/x"), Some("api"));
        assert_eq!(route_in(&table, "/api"), Some("api"));
        assert_eq!(route_in(&table, "/apix"), Some("all"));
        assert_eq!(route_in(&routes(&[("/api/...", "api")]), "/x"), None);
    }
}
