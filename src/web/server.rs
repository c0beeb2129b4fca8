//! The HTTP side: `/metrics` (or `--web.telemetry-path`), a landing page, `/healthz` and
//! `/readyz`. Handlers only read the latest snapshot; nothing here calls AWS.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use super::auth;
use super::landing;
use super::listen::Listeners;
use super::reload::{ConfigWatcher, InForce};
use crate::metrics::{CONTENT_TYPE, ExporterMetrics};
use crate::snapshot::Snapshot;

/// A slow client gets this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests to this server are tiny; a bigger read buffer only helps an abusive client.
const MAX_BUF_SIZE: usize = 16 * 1024;
/// Prometheus sends a handful of headers; browsers a few dozen.
const MAX_HEADERS: usize = 64;
/// How long in-flight requests may take to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the handlers need: the latest snapshot and how the server was configured.
#[derive(Debug, Clone)]
pub struct Web {
    /// The latest published snapshot.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The exporter's own metrics, for the per-scrape `process_*` series.
    pub metrics: ExporterMetrics,
    /// Where the metrics are served (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// The poll interval, shown on the landing page.
    pub poll_interval: Duration,
    /// TLS, authentication and headers from `--web.config.file`, when given.
    pub guard: Option<Arc<ConfigWatcher>>,
}

type Body = Full<Bytes>;

/// Serves HTTP (or HTTPS, as the web configuration says) on `listeners` until `shutdown`
/// completes, then lets open requests finish.
pub async fn serve(listeners: Listeners, web: Web, shutdown: impl Future<Output = ()>) {
    let web = Arc::new(web);
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_BUF_SIZE)
        .max_headers(MAX_HEADERS);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listeners.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Running out of file descriptors must not end the server; back off briefly.
                    debug!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let web = web.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = {
                let web = web.clone();
                hyper::service::service_fn(move |req| {
                    let web = web.clone();
                    async move { Ok::<_, Infallible>(respond(&web, req).await) }
                })
            };
            // The TLS decision is taken per connection, so that turning TLS on or off in the
            // web configuration, or renewing the certificate, needs no restart.
            let tls = web
                .guard
                .as_ref()
                .and_then(|g| g.for_connection().tls.clone());
            let result = match tls {
                None => {
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn).await
                }
                Some(tls) => {
                    let handshake = TlsAcceptor::from(tls).accept(stream);
                    let stream = match tokio::time::timeout(HEADER_READ_TIMEOUT, handshake).await {
                        Ok(Ok(stream)) => stream,
                        outcome => {
                            if let Some(guard) = &web.guard {
                                guard.reject("tls_handshake");
                            }
                            let reason = match outcome {
                                Ok(Err(err)) => err.to_string(),
                                _ => "timed out".to_owned(),
                            };
                            debug!(%peer, error = %reason, "TLS handshake failed");
                            return;
                        }
                    };
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn).await
                }
            };
            if let Err(err) = result {
                debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listeners);
    info!("HTTP server stopping");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        info!("open connections did not finish in time");
    }
}

/// Applies the web configuration (rate limit, basic authentication, extra headers), then
/// routes the request.
async fn respond(web: &Web, req: Request<Incoming>) -> Response<Body> {
    let Some(guard) = &web.guard else {
        return handle(web, &req);
    };
    let active = guard.for_request();
    let mut resp = if !active.admit() {
        guard.reject("rate_limited");
        text(StatusCode::TOO_MANY_REQUESTS, "429 too many requests\n")
    } else if !active.config.users.is_empty()
        && !is_probe(req.uri().path())
        && !authorized(guard, &active, &req).await
    {
        guard.reject("unauthorized");
        let mut resp = text(StatusCode::UNAUTHORIZED, "401 unauthorized\n");
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"aws-root-mfa-exporter\", charset=\"UTF-8\""),
        );
        resp
    } else {
        handle(web, &req)
    };
    for (name, value) in &active.config.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// The health endpoints answer without credentials, so that Kubernetes probes and load
/// balancers need none: they tell only whether the process is up and has polled once.
fn is_probe(path: &str) -> bool {
    path == "/healthz" || path == "/readyz"
}

async fn authorized(guard: &ConfigWatcher, active: &InForce, req: &Request<Incoming>) -> bool {
    let Some(credentials) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| auth::parse_basic(v.as_bytes()))
    else {
        return false;
    };
    guard
        .auth
        .check(&active.config.users, &active.fake_hash, credentials)
        .await
}

/// Routes one request.
pub fn handle(web: &Web, req: &Request<Incoming>) -> Response<Body> {
    route(web, req.method(), req.uri().path(), accepts_gzip(req))
}

fn route(web: &Web, method: &Method, path: &str, gzip: bool) -> Response<Body> {
    let known =
        path == "/" || path == web.telemetry_path || path == "/healthz" || path == "/readyz";
    if !known {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let snapshot = web.snapshots.borrow().clone();
    if path == web.telemetry_path {
        return metrics(web, &snapshot, gzip);
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if snapshot.ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" if snapshot.completed_polls > 0 => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the accounts to watch could not be listed\n",
        ),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first poll has not finished\n",
        ),
        _ => html(landing::page(
            &crate::BUILD,
            &web.telemetry_path,
            web.poll_interval,
            &snapshot,
            crate::unix_now(),
        )),
    }
}

fn metrics(web: &Web, snapshot: &Snapshot, gzip: bool) -> Response<Body> {
    // The exporter's own metrics are encoded now, so that they are live between polls and
    // there before the first poll ends; the accounts' series were encoded once by the poll.
    let process = web.metrics.encode_per_scrape();
    let mut resp = if gzip {
        let body = snapshot.compressed.gzip_with(&process);
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        resp
    } else {
        let mut body = Vec::with_capacity(snapshot.exposition.len() + process.len());
        body.extend_from_slice(&snapshot.exposition);
        body.extend_from_slice(&process);
        Response::new(Full::new(Bytes::from(body)))
    };
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    resp
}

fn accepts_gzip<B>(req: &Request<B>) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next() == Some("gzip") && !parts.any(|p| p.replace(' ', "") == "q=0")
        })
}

fn html(page: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(page)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::AccountView;
    use http_body_util::BodyExt;

    fn web(snapshot: Snapshot) -> Web {
        let (_tx, rx) = watch::channel(Arc::new(snapshot));
        Web {
            snapshots: rx,
            metrics: ExporterMetrics::new(&crate::BUILD),
            telemetry_path: "/metrics".into(),
            poll_interval: Duration::from_secs(300),
            guard: None,
        }
    }

    async fn body(resp: Response<Body>) -> Vec<u8> {
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    #[tokio::test]
    async fn routes_answer_with_the_right_status() {
        let w = web(Snapshot::default());
        let cases = [
            (Method::GET, "/healthz", StatusCode::OK),
            (Method::GET, "/readyz", StatusCode::SERVICE_UNAVAILABLE),
            (Method::GET, "/", StatusCode::OK),
            (Method::HEAD, "/", StatusCode::OK),
            (Method::GET, "/metrics", StatusCode::OK),
            (Method::GET, "/nope", StatusCode::NOT_FOUND),
            (Method::POST, "/metrics", StatusCode::METHOD_NOT_ALLOWED),
            (Method::DELETE, "/", StatusCode::METHOD_NOT_ALLOWED),
        ];
        for (method, path, want) in cases {
            let resp = route(&w, &method, path, false);
            assert_eq!(resp.status(), want, "{method} {path}");
            if want == StatusCode::METHOD_NOT_ALLOWED {
                assert_eq!(resp.headers()[header::ALLOW], "GET, HEAD");
            }
        }
        let ready = web(Snapshot {
            completed_polls: 1,
            discovered: true,
            ..Snapshot::default()
        });
        assert_eq!(
            route(&ready, &Method::GET, "/readyz", false).status(),
            StatusCode::OK
        );
        // Polled, but the accounts were never listed: blind, so not ready.
        let blind = web(Snapshot {
            completed_polls: 3,
            discovered: false,
            ..Snapshot::default()
        });
        assert_eq!(
            route(&blind, &Method::GET, "/readyz", false).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn metrics_are_served_plain_or_gzipped() {
        let exposition = Bytes::from_static(b"# HELP x y\n# TYPE x gauge\nx 1\n");
        let w = web(Snapshot {
            compressed: crate::web::compression::Precompressed::deflate(&exposition),
            exposition,
            completed_polls: 1,
            ..Snapshot::default()
        });
        let plain = route(&w, &Method::GET, "/metrics", false);
        assert_eq!(plain.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let plain = String::from_utf8(body(plain).await).unwrap();
        assert!(
            plain.starts_with("# HELP x y\n# TYPE x gauge\nx 1\n"),
            "{plain}"
        );
        assert!(plain.contains("\nprocess_start_time_seconds "), "{plain}");

        let zipped = route(&w, &Method::GET, "/metrics", true);
        assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
        let zipped = body(zipped).await;
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&zipped[..]),
            &mut unzipped,
        )
        .unwrap();
        // The process_* series are read per scrape, so only the snapshot part is identical.
        assert!(
            unzipped.starts_with("# HELP x y\n# TYPE x gauge\nx 1\n"),
            "{unzipped}"
        );
        assert!(
            unzipped.contains("\nprocess_start_time_seconds "),
            "{unzipped}"
        );
    }

    #[test]
    fn gzip_is_negotiated_from_accept_encoding() {
        let cases = [
            ("gzip", true),
            ("deflate, gzip;q=1.0, *;q=0.5", true),
            ("gzip;q=0", false),
            ("gzip; q=0", false),
            ("identity", false),
            ("", false),
        ];
        for (value, want) in cases {
            let req = Request::builder()
                .header(header::ACCEPT_ENCODING, value)
                .body(())
                .unwrap();
            assert_eq!(accepts_gzip(&req), want, "{value:?}");
        }
    }

    #[tokio::test]
    async fn landing_page_escapes_account_names() {
        let w = web(Snapshot {
            completed_polls: 1,
            discovered: true,
            accounts: vec![AccountView {
                account_id: Some("123456789012".into()),
                account_name: "<script>alert(1)</script>".into(),
                ..AccountView::default()
            }],
            ..Snapshot::default()
        });
        let html = String::from_utf8(body(route(&w, &Method::GET, "/", false)).await).unwrap();
        assert!(html.contains("123456789012"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("href=\"/metrics\""));
    }
}
