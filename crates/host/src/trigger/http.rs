//! The HTTP trigger: serve the manifest's routes, each request on a fresh
//! instance of its component's `wasi:http/incoming-handler` export.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView as _;

use crate::app::{App, Entry};

/// Serve until `shutdown` resolves; connections in flight finish their request.
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => { tracing::warn!("accept failed: {e}"); continue; }
                };
                let app = app.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(app.clone(), peer, req));
                    if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                        tracing::debug!("connection from {peer}: {e}");
                    }
                });
            }
            _ = &mut shutdown => return,
        }
    }
}

/// The component whose route matches `path`: exact routes first, then the
/// longest `/prefix/...` wildcard, as Spin does.
pub fn route<'a>(app: &'a App, path: &str) -> Option<&'a str> {
    let mut best: Option<(&str, usize)> = None;
    for r in &app.http_routes {
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
    let pre = pre.clone();
    let id = component.id.clone();
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
    let task = tokio::spawn(async move {
        let result = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        }
        .await;
        super::log_output(&id, store.data());
        if let Err(trap) = &result {
            tracing::error!(component = id, event = path, "component trapped: {trap:#}");
        }
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
