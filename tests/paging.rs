//! Organization listings that would never end, against a scripted AWS on loopback: the real
//! SDK clients, over HTTP, with `ListAccounts` answering tokens that loop or never stop.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_root_mfa_exporter::aws::clients::ClientFactory;
use aws_root_mfa_exporter::aws::discovery::{Discovery, Fleet, Members};
use aws_root_mfa_exporter::metrics::ExporterMetrics;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const MANAGEMENT: &str = "111111111111";

/// How the scripted `ListAccounts` pages its answer: the token it hands out after page `n`.
type NextToken = fn(usize) -> Option<String>;

/// Serves `GetCallerIdentity` and `ListAccounts` until the test ends; returns the endpoint and
/// the number of `ListAccounts` calls seen.
async fn scripted_aws(next_token: NextToken) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let pages = Arc::new(AtomicUsize::new(0));
    let seen = pages.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let pages = pages.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let pages = pages.clone();
                        async move { Ok::<_, Infallible>(answer(req, &pages, next_token).await) }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (endpoint, seen)
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    pages: &AtomicUsize,
    next_token: NextToken,
) -> Response<Full<Bytes>> {
    let organizations = req.headers().contains_key("x-amz-target");
    let _ = req.into_body().collect().await;
    if organizations {
        let n = pages.fetch_add(1, Ordering::SeqCst);
        let id = format!("{:012}", 200_000_000_000u64 + n as u64);
        let token = next_token(n)
            .map(|t| format!(",\"NextToken\":\"{t}\""))
            .unwrap_or_default();
        let body = format!(
            "{{\"Accounts\":[{{\"Id\":\"{id}\",\"Name\":\"member-{n}\",\"Status\":\"ACTIVE\",\"State\":\"ACTIVE\"}}]{token}}}"
        );
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        resp.headers_mut().insert(
            "content-type",
            "application/x-amz-json-1.1".parse().unwrap(),
        );
        return resp;
    }
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <GetCallerIdentityResult><Arn>arn:aws:iam::{MANAGEMENT}:user/exporter</Arn>\
         <UserId>AIDAEXAMPLE</UserId><Account>{MANAGEMENT}</Account></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    );
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut()
        .insert("content-type", "text/xml".parse().unwrap());
    resp
}

async fn organization_fleet(endpoint: &str, metrics: &ExporterMetrics) -> Fleet {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region("us-east-1")
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    Fleet::new(
        &ClientFactory::new(&sdk, &metrics.api),
        Discovery::Organization {
            members: Members::Role("RootMfaReader".into()),
            refresh: Duration::from_secs(3600),
        },
        None,
        None,
    )
}

#[tokio::test]
async fn a_listing_whose_token_comes_back_fails_the_discovery() {
    // t0 -> t1 -> t2 -> t1: a token seen two pages before.
    let (endpoint, pages) =
        scripted_aws(|n| Some(format!("t{}", if n == 3 { 1 } else { n }))).await;
    let m = ExporterMetrics::new(&aws_root_mfa_exporter::BUILD);
    let mut fleet = organization_fleet(&endpoint, &m).await;
    let err = fleet.refresh_if_due().await.unwrap_err();
    assert_eq!(err.code(), "pagination_loop", "{err}");
    assert_eq!(pages.load(Ordering::SeqCst), 4);
    assert!(fleet.targets().is_empty(), "no partial list is watched");
    assert!(!fleet.discovered());
    assert_eq!(fleet.discovery_ok(), Some(false));
}

#[tokio::test]
async fn a_listing_that_never_ends_stops_at_the_page_cap() {
    let (endpoint, pages) = scripted_aws(|n| Some(format!("t{n}"))).await;
    let m = ExporterMetrics::new(&aws_root_mfa_exporter::BUILD);
    let mut fleet = organization_fleet(&endpoint, &m).await;
    let err = fleet.refresh_if_due().await.unwrap_err();
    assert_eq!(err.code(), "page_limit", "{err}");
    assert_eq!(pages.load(Ordering::SeqCst), 2_500);
    assert!(fleet.targets().is_empty());
}

#[tokio::test]
async fn a_listing_that_ends_is_watched_whole() {
    let (endpoint, pages) = scripted_aws(|n| (n < 4).then(|| format!("t{n}"))).await;
    let m = ExporterMetrics::new(&aws_root_mfa_exporter::BUILD);
    let mut fleet = organization_fleet(&endpoint, &m).await;
    fleet.refresh_if_due().await.unwrap();
    assert_eq!(pages.load(Ordering::SeqCst), 5);
    assert_eq!(fleet.targets().len(), 5);
    assert!(fleet.discovered());
}
