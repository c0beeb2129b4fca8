//! The HTTP side: `/metrics` (or `--web.telemetry-path`), a landing page, `/healthz` and
//! `/readyz`. Handlers only read the latest snapshot; nothing here calls AWS.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1::Builder;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use super::auth;
use super::body::Chunks;
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

type Body = Chunks;

/// Serves HTTP (or HTTPS, as the web configuration says) on `listeners` until `shutdown`
/// completes, then lets open requests finish.
pub async fn serve(listeners: Listeners, web: Web, shutdown: impl Future<Output = ()>) {
    let web = Arc::new(web);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_BUF_SIZE)
        .max_headers(MAX_HEADERS);
    let (close_all, closing) = watch::channel(false);
    if let Some(guard) = &web.guard {
        let mut closing = closing.clone();
        let stopped = async move {
            let _ = closing.wait_for(|c| *c).await;
        };
        tokio::spawn(guard.clone().watch_in_background(stopped));
    }
    let mut connections = JoinSet::new();
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
        // Reap the connections that ended, so that the set holds only open ones.
        while connections.try_join_next().is_some() {}
        connections.spawn(connection(
            web.clone(),
            http.clone(),
            stream,
            peer,
            closing.clone(),
        ));
    }
    drop(listeners);
    info!("HTTP server stopping");
    let _ = close_all.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        info!("open connections did not finish in time");
    }
}

/// Serves one connection, over TLS when the server speaks TLS, until it ends, the server
/// stops, or the web configuration that admitted it is replaced.
async fn connection(
    web: Arc<Web>,
    http: Builder,
    stream: TcpStream,
    peer: SocketAddr,
    closing: watch::Receiver<bool>,
) {
    // Subscribed before the configuration is read, so that no later replacement is missed.
    let admitted = match &web.guard {
        None => None,
        Some(guard) => {
            let replaced = guard.subscribe();
            Some((guard.current().await, replaced))
        }
    };
    let conn_config = admitted.as_ref().map(|(config, _)| config.clone());
    let service = {
        let web = web.clone();
        hyper::service::service_fn(move |req| {
            let web = web.clone();
            let admitted = conn_config.clone();
            async move { Ok::<_, Infallible>(respond(&web, admitted.as_deref(), req).await) }
        })
    };
    let result = match admitted {
        None => {
            let conn = http.serve_connection(TokioIo::new(stream), service);
            drive(conn, None, closing).await
        }
        Some((config, replaced)) => {
            let Some(guard) = web.guard.as_ref() else {
                return;
            };
            // TLS or not was decided at start-up; a configuration that would change it is
            // never put in force, so `config.tls` is there exactly when TLS is on.
            if !guard.tls_on() {
                let conn = http.serve_connection(TokioIo::new(stream), service);
                drive(conn, Some((config.generation, replaced)), closing).await
            } else {
                let Some(tls) = config.tls.clone() else {
                    guard.reject("tls_handshake");
                    return;
                };
                let handshake = TlsAcceptor::from(tls).accept(stream);
                let stream = match tokio::time::timeout(HEADER_READ_TIMEOUT, handshake).await {
                    Ok(Ok(stream)) => stream,
                    outcome => {
                        guard.reject("tls_handshake");
                        let reason = match outcome {
                            Ok(Err(err)) => err.to_string(),
                            _ => "timed out".to_owned(),
                        };
                        debug!(%peer, error = %reason, "TLS handshake failed");
                        return;
                    }
                };
                let conn = http.serve_connection(TokioIo::new(stream), service);
                drive(conn, Some((config.generation, replaced)), closing).await
            }
        }
    };
    if let Err(err) = result {
        debug!(%peer, error = %err, "connection ended with an error");
    }
}

/// Runs a connection to its end; when the server stops, or the configuration of generation
/// `admitted` is replaced, lets the request in flight finish and then closes it.
async fn drive<I, S, B>(
    conn: hyper::server::conn::http1::Connection<I, S>,
    admitted: Option<(u64, watch::Receiver<Arc<InForce>>)>,
    mut closing: watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    let (generation, mut replaced) = match admitted {
        Some((generation, replaced)) => (generation, Some(replaced)),
        None => (0, None),
    };
    let replacement = async |replaced: &mut Option<watch::Receiver<Arc<InForce>>>| match replaced {
        Some(rx) => {
            let _ = rx.wait_for(|config| config.generation != generation).await;
        }
        None => std::future::pending().await,
    };
    tokio::select! {
        result = conn.as_mut() => return result,
        _ = closing.wait_for(|c| *c) => {}
        () = replacement(&mut replaced) => {}
    }
    conn.as_mut().graceful_shutdown();
    conn.await
}

/// Applies the web configuration (rate limit, basic authentication, extra headers), then
/// routes the request. `admitted` is the configuration the connection was opened under.
async fn respond(web: &Web, admitted: Option<&InForce>, req: Request<Incoming>) -> Response<Body> {
    let Some(guard) = &web.guard else {
        return handle(web, &req);
    };
    let active = guard.current().await;
    let mut resp = if admitted.is_some_and(|a| a.tls_generation != active.tls_generation) {
        // The handshake of this connection was checked against a certificate, CA or client
        // rule that is no longer in force: the client must connect again.
        guard.reject("config_replaced");
        let mut resp = text(
            StatusCode::MISDIRECTED_REQUEST,
            "421 the TLS configuration changed; connect again\n",
        );
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        resp
    } else if is_probe(req.uri().path()) {
        // Before the rate limit: anyone can empty the bucket, and a liveness probe answered
        // 429 gets a healthy exporter restarted.
        handle(web, &req)
    } else if !active.admit() {
        guard.reject("rate_limited");
        text(StatusCode::TOO_MANY_REQUESTS, "429 too many requests\n")
    } else if !active.config.users.is_empty() && !authorized(guard, &active, &req).await {
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

/// The health endpoints answer without credentials and outside the rate limit, so that
/// Kubernetes probes and load balancers need none and are never refused: they tell only
/// whether the process is up and has polled once.
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
    // The poll's part of either body is shared with every other scrape, never copied.
    let mut resp = if gzip {
        let body = Chunks::new(snapshot.compressed.gzip_with(&process));
        let mut resp = Response::new(body);
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        resp
    } else {
        Response::new(Chunks::new([snapshot.exposition.clone(), process]))
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
    let mut resp = Response::new(Chunks::from(page));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Chunks::from(body));
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
    use bytes::Bytes;
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

        // Before the first poll there are only the exporter's own series, in gzip too.
        let early = web(Snapshot::default());
        let zipped = body(route(&early, &Method::GET, "/metrics", true)).await;
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&zipped[..]),
            &mut unzipped,
        )
        .expect("valid gzip before the first poll");
        assert!(
            unzipped.starts_with("# HELP aws_root_mfa_exporter_"),
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
