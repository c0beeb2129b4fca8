//! The AWS edge at the SDK level, with `aws-smithy-mocks`: real SDK clients, real response
//! deserialization and retries, with the HTTP answers scripted. Covers what moto cannot do:
//! throttling, access denied, a timeout, and what the exporter keeps when a check fails.

use std::sync::Arc;
use std::time::Duration;

use aws_root_mfa_exporter::aws::account::AccountClients;
use aws_root_mfa_exporter::aws::clients::timeout_config;
use aws_root_mfa_exporter::aws::discovery::{Fleet, Target};
use aws_root_mfa_exporter::aws::interceptor::ApiCallInterceptor;
use aws_root_mfa_exporter::aws::role::{RoleArn, RoleCredentials};
use aws_root_mfa_exporter::metrics::ExporterMetrics;
use aws_root_mfa_exporter::poller::Poller;
use aws_root_mfa_exporter::posture::Identity;
use aws_root_mfa_exporter::snapshot::Snapshot;
use aws_sdk_iam::operation::get_account_summary::GetAccountSummaryOutput;
use aws_sdk_iam::types::{AssignmentStatusType, SummaryKeyType};
use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
use aws_sdk_sts::types::Credentials as StsCredentials;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;

const ACCOUNT: &str = "123456789012";

fn metrics() -> ExporterMetrics {
    ExporterMetrics::new(&aws_root_mfa_exporter::BUILD)
}

/// The standard retry mode with a short backoff, so retried tests stay fast.
fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

fn clients(metrics: &ExporterMetrics, sts_rules: &[&Rule], iam_rules: &[&Rule]) -> AccountClients {
    let api = metrics.api.clone();
    let sts = mock_client!(
        aws_sdk_sts,
        RuleMode::MatchAny,
        sts_rules.iter().copied(),
        |c| c
            .interceptor(ApiCallInterceptor::new(api.clone()))
            .retry_config(fast_retries())
    );
    let api = metrics.api.clone();
    let iam = mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        iam_rules.iter().copied(),
        |c| c
            .interceptor(ApiCallInterceptor::new(api.clone()))
            .retry_config(fast_retries())
    );
    AccountClients::from_clients(sts, iam)
}

fn caller() -> Rule {
    mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
        GetCallerIdentityOutput::builder()
            .account(ACCOUNT)
            .arn(format!(
                "arn:aws:sts::{ACCOUNT}:assumed-role/audit/exporter"
            ))
            .build()
    })
}

fn summary_output(mfa: i32) -> GetAccountSummaryOutput {
    GetAccountSummaryOutput::builder()
        .summary_map(SummaryKeyType::AccountMfaEnabled, mfa)
        .summary_map(SummaryKeyType::AccountAccessKeysPresent, 0)
        .summary_map(SummaryKeyType::AccountSigningCertificatesPresent, 0)
        .summary_map(SummaryKeyType::AccountPasswordPresent, 1)
        .build()
}

fn summary(mfa: i32) -> Rule {
    mock!(aws_sdk_iam::Client::get_account_summary).then_output(move || summary_output(mfa))
}

fn xml(status: u16, body: String) -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn aws_error(code: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>scripted</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
}

/// A `ListVirtualMFADevices` page as IAM sends it. Root's device carries a `User` with no
/// `UserName`, which the API model calls required.
fn page(devices: &[(&str, &str)], marker: Option<&str>) -> String {
    let members: String = devices
        .iter()
        .map(|(serial, owner)| {
            let user = if *owner == "root" {
                format!(
                    "<User><Path>/</Path><UserId>{ACCOUNT}</UserId><Arn>arn:aws:iam::{ACCOUNT}:root</Arn>\
                     <CreateDate>2020-01-01T00:00:00Z</CreateDate></User>"
                )
            } else {
                format!(
                    "<User><Path>/</Path><UserName>{owner}</UserName><UserId>AIDA{owner}</UserId>\
                     <Arn>arn:aws:iam::{ACCOUNT}:user/{owner}</Arn><CreateDate>2020-01-01T00:00:00Z</CreateDate></User>"
                )
            };
            format!(
                "<member><SerialNumber>arn:aws:iam::{ACCOUNT}:mfa/{serial}</SerialNumber>{user}\
                 <EnableDate>2024-01-01T00:00:00Z</EnableDate></member>"
            )
        })
        .collect();
    let (truncated, marker) = match marker {
        Some(m) => ("true", format!("<Marker>{m}</Marker>")),
        None => ("false", String::new()),
    };
    format!(
        "<ListVirtualMFADevicesResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
         <ListVirtualMFADevicesResult><VirtualMFADevices>{members}</VirtualMFADevices>\
         <IsTruncated>{truncated}</IsTruncated>{marker}</ListVirtualMFADevicesResult>\
         <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListVirtualMFADevicesResponse>"
    )
}

/// A page answered only to a request that asks for assigned devices, 1000 a page (the API's
/// maximum), from `marker_in`: a request without them matches no rule, and the check fails.
fn list_page(marker_in: Option<&'static str>, body: String) -> Rule {
    mock!(aws_sdk_iam::Client::list_virtual_mfa_devices)
        .match_requests(move |req| {
            req.marker() == marker_in
                && req.assignment_status() == Some(&AssignmentStatusType::Assigned)
                && req.max_items() == Some(1000)
        })
        .then_http_response(move || xml(200, body.clone()))
}

#[tokio::test]
async fn root_device_on_the_last_page_is_found_and_every_page_is_fetched() {
    let m = metrics();
    let p1 = list_page(
        None,
        page(&[("alice", "alice"), ("bob", "bob")], Some("m1")),
    );
    let p2 = list_page(
        Some("m1"),
        page(&[("root-account-mfa-device", "rootadmin")], Some("m2")),
    );
    let p3 = list_page(Some("m2"), page(&[("my-phone", "root")], None));
    let (c, s) = (caller(), summary(1));
    let obs = clients(&m, &[&c], &[&s, &p1, &p2, &p3])
        .check(None)
        .await
        .result
        .unwrap();

    assert!(obs.mfa_enabled);
    assert!(!obs.hardware, "root's virtual device is on page 3");
    assert_eq!(obs.virtual_devices, 1);
    assert_eq!((p1.num_calls(), p2.num_calls(), p3.num_calls()), (1, 1, 1));
    assert_eq!(m.api.requests_for("iam", "ListVirtualMFADevices"), 3);
    assert_eq!(m.api.requests_for("iam", "GetAccountSummary"), 1);
    assert_eq!(m.api.requests_for("sts", "GetCallerIdentity"), 1);
}

#[tokio::test]
async fn a_page_cut_short_is_an_error_not_an_empty_list() {
    let m = metrics();
    // Cut before root's device and before IsTruncated: read naively, "no virtual device".
    let full = page(&[("alice", "alice"), ("phone", "root")], None);
    let cut = full[..full.find("phone").unwrap()].to_owned();
    let p1 = mock!(aws_sdk_iam::Client::list_virtual_mfa_devices).then_http_response(move || {
        let mut resp = xml(200, cut.clone());
        resp.headers_mut().insert("content-type", "text/xml");
        resp
    });
    let (c, s) = (caller(), summary(1));
    let err = clients(&m, &[&c], &[&s, &p1])
        .check(None)
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "response", "{err}");
    assert_eq!(
        m.api.errors_for("iam", "ListVirtualMFADevices", "response"),
        1
    );
}

#[tokio::test]
async fn decoy_user_device_is_not_root_and_hardware_is_reported() {
    let m = metrics();
    let p1 = list_page(
        None,
        page(&[("root-account-mfa-device", "rootadmin")], None),
    );
    let (c, s) = (caller(), summary(1));
    let obs = clients(&m, &[&c], &[&s, &p1])
        .check(None)
        .await
        .result
        .unwrap();
    assert!(obs.hardware);
    assert_eq!(obs.virtual_devices, 0);
}

#[tokio::test]
async fn mfa_disabled_needs_no_device_listing() {
    let m = metrics();
    let list = list_page(None, page(&[], None));
    let (c, s) = (caller(), summary(0));
    let obs = clients(&m, &[&c], &[&s, &list])
        .check(None)
        .await
        .result
        .unwrap();
    assert!(!obs.mfa_enabled && !obs.hardware);
    assert_eq!(list.num_calls(), 0);
}

#[tokio::test]
async fn a_failed_later_page_fails_the_whole_check() {
    let m = metrics();
    let p1 = list_page(None, page(&[("alice", "alice")], Some("m1")));
    let p2 = mock!(aws_sdk_iam::Client::list_virtual_mfa_devices)
        .match_requests(|req| req.marker() == Some("m1"))
        .then_http_response(|| xml(403, aws_error("AccessDenied")));
    let (c, s) = (caller(), summary(1));
    let err = clients(&m, &[&c], &[&s, &p1, &p2])
        .check(None)
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "AccessDenied");
    assert_eq!(
        m.api
            .errors_for("iam", "ListVirtualMFADevices", "AccessDenied"),
        1
    );
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds_and_is_counted() {
    let m = metrics();
    let throttled = mock!(aws_sdk_iam::Client::get_account_summary)
        .sequence()
        .http_status(400, Some(aws_error("Throttling")))
        .times(2)
        .output(|| summary_output(0))
        .build();
    let c = caller();
    let obs = clients(&m, &[&c], &[&throttled])
        .check(None)
        .await
        .result
        .unwrap();
    assert!(!obs.mfa_enabled);
    assert_eq!(throttled.num_calls(), 3);
    assert_eq!(m.api.requests_for("iam", "GetAccountSummary"), 3);
    assert_eq!(
        m.api.errors_for("iam", "GetAccountSummary", "Throttling"),
        2
    );
}

#[tokio::test]
async fn access_denied_is_not_retried_and_is_counted_by_code() {
    let m = metrics();
    let denied = mock!(aws_sdk_iam::Client::get_account_summary)
        .then_http_response(|| xml(403, aws_error("AccessDenied")));
    let c = caller();
    let err = clients(&m, &[&c], &[&denied])
        .check(None)
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "AccessDenied");
    assert!(err.to_string().contains("iam:GetAccountSummary"), "{err}");
    assert_eq!(denied.num_calls(), 1);
    assert_eq!(
        m.api.errors_for("iam", "GetAccountSummary", "AccessDenied"),
        1
    );
}

#[tokio::test]
async fn unknown_error_codes_are_bounded() {
    let m = metrics();
    let odd = mock!(aws_sdk_iam::Client::get_account_summary)
        .then_http_response(|| xml(400, aws_error("SomeBrandNewErrorCode")));
    let c = caller();
    let err = clients(&m, &[&c], &[&odd])
        .check(None)
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "other");
    assert_eq!(m.api.errors_for("iam", "GetAccountSummary", "other"), 1);
}

#[tokio::test]
async fn a_malformed_body_is_a_response_error() {
    let m = metrics();
    let garbage = mock!(aws_sdk_iam::Client::get_account_summary)
        .then_http_response(|| xml(200, "<GetAccountSummaryResponse><trunc".into()));
    let c = caller();
    let err = clients(&m, &[&c], &[&garbage])
        .check(None)
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "response");
    assert_eq!(m.api.errors_for("iam", "GetAccountSummary", "response"), 1);
}

/// A server that accepts connections and never answers: the call must end at `--poll.timeout`.
#[tokio::test]
async fn a_call_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let m = metrics();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "AKID", "SECRET", None, None, "test",
        ))
        .endpoint_url(format!("http://{addr}"))
        .timeout_config(timeout_config(Duration::from_millis(300)))
        .interceptor(ApiCallInterceptor::new(m.api.clone()))
        .build();
    let sts = aws_sdk_sts::Client::from_conf(config);
    let iam = mock_client!(aws_sdk_iam, []);
    let started = std::time::Instant::now();
    let err = AccountClients::from_clients(sts, iam)
        .check(None)
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "timeout", "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(m.api.errors_for("sts", "GetCallerIdentity", "timeout"), 1);
    hold.abort();
}

fn gauge(snapshot: &Snapshot, name: &str) -> Option<f64> {
    let text = std::str::from_utf8(&snapshot.exposition).unwrap();
    let prefix = format!("{name}{{account_id=\"{ACCOUNT}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn a_failed_check_keeps_the_last_observed_posture() {
    let m = metrics();
    let summary = mock!(aws_sdk_iam::Client::get_account_summary)
        .sequence()
        .output(|| summary_output(1))
        .http_status(403, Some(aws_error("AccessDenied")))
        .repeatedly()
        .build();
    let list = list_page(None, page(&[("phone", "root")], None));
    let c = mock!(aws_sdk_sts::Client::get_caller_identity)
        .sequence()
        .output(|| {
            GetCallerIdentityOutput::builder()
                .account(ACCOUNT)
                .arn(format!("arn:aws:sts::{ACCOUNT}:user/x"))
                .build()
        })
        .repeatedly()
        .build();
    let target = Target {
        key: ACCOUNT.into(),
        identity: None,
        account_name: String::new(),
        clients: clients(&m, &[&c], &[&summary, &list]).into(),
    };
    let (mut poller, snapshots) = Poller::new(Fleet::from_targets(vec![target]), 4, m.clone());
    assert_eq!(snapshots.borrow().completed_polls, 0);

    let first: Arc<Snapshot> = poller.poll_once().await;
    assert_eq!(gauge(&first, "aws_root_check_success"), Some(1.0));
    assert_eq!(gauge(&first, "aws_root_mfa_enabled"), Some(1.0));
    assert_eq!(gauge(&first, "aws_root_mfa_hardware"), Some(0.0));
    assert_eq!(gauge(&first, "aws_root_mfa_virtual_devices"), Some(1.0));
    let checked_at = gauge(&first, "aws_root_last_successful_check_timestamp_seconds").unwrap();

    let second = poller.poll_once().await;
    assert_eq!(snapshots.borrow().completed_polls, 2, "published");
    assert_eq!(gauge(&second, "aws_root_check_success"), Some(0.0));
    assert_eq!(gauge(&second, "aws_root_mfa_enabled"), Some(1.0), "kept");
    assert_eq!(gauge(&second, "aws_root_mfa_hardware"), Some(0.0), "kept");
    assert_eq!(
        gauge(&second, "aws_root_mfa_virtual_devices"),
        Some(1.0),
        "kept"
    );
    assert_eq!(
        gauge(&second, "aws_root_last_successful_check_timestamp_seconds"),
        Some(checked_at)
    );
    assert_eq!(
        m.api.errors_for("iam", "GetAccountSummary", "AccessDenied"),
        1
    );
    // The exporter's own counters are encoded per scrape, not with the poll's snapshot.
    let per_scrape = m.encode_per_scrape();
    let text = std::str::from_utf8(&per_scrape).unwrap();
    assert!(text.contains(
        "aws_root_mfa_exporter_api_errors_total{code=\"AccessDenied\",operation=\"GetAccountSummary\",service=\"iam\"} 1"
    ), "{text}");
}

#[tokio::test]
async fn an_account_never_observed_exports_no_posture() {
    let m = metrics();
    let denied = mock!(aws_sdk_iam::Client::get_account_summary)
        .then_http_response(|| xml(403, aws_error("AccessDenied")));
    let target = Target {
        key: ACCOUNT.into(),
        identity: Some(Identity {
            account_id: ACCOUNT.into(),
            partition: "aws".into(),
        }),
        account_name: "prod".into(),
        clients: clients(&m, &[], &[&denied]).into(),
    };
    let (mut poller, _) = Poller::new(Fleet::from_targets(vec![target]), 4, m.clone());
    let snap = poller.poll_once().await;
    assert_eq!(gauge(&snap, "aws_root_check_success"), Some(0.0));
    for name in [
        "aws_root_mfa_enabled",
        "aws_root_mfa_hardware",
        "aws_root_mfa_virtual_devices",
        "aws_root_credentials_present",
        "aws_root_access_keys_present",
        "aws_root_last_successful_check_timestamp_seconds",
    ] {
        assert_eq!(gauge(&snap, name), None, "{name} must not be reported");
    }
    let text = std::str::from_utf8(&snap.exposition).unwrap();
    assert!(text.contains(&format!(
        "aws_root_account_info{{account_id=\"{ACCOUNT}\",account_name=\"prod\",partition=\"aws\"}} 1"
    )));
    assert_eq!(
        m.api.requests_for("sts", "GetCallerIdentity"),
        0,
        "a known account is not asked for"
    );
}

/// Session credentials under `key` that expire `valid_for` from now.
fn session_credentials(key: &str, valid_for: Duration) -> StsCredentials {
    let expiry = std::time::SystemTime::now() + valid_for;
    StsCredentials::builder()
        .access_key_id(key)
        .secret_access_key("secret")
        .session_token("token")
        .expiration(aws_smithy_types::DateTime::from(expiry))
        .build()
        .unwrap()
}

fn assume_role_answer(valid_for: Duration) -> AssumeRoleOutput {
    AssumeRoleOutput::builder()
        .credentials(session_credentials("ASIAEXAMPLE", valid_for))
        .build()
}

#[tokio::test]
async fn assumed_role_credentials_are_cached_until_shortly_before_expiry() {
    let m = metrics();
    let role: RoleArn = format!("arn:aws:iam::{ACCOUNT}:role/RootMfaReader")
        .parse()
        .unwrap();
    let assume = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(|req| {
            req.role_session_name() == Some("aws-root-mfa-exporter")
                && req.external_id() == Some("ext-123")
                && req.role_arn() == Some("arn:aws:iam::123456789012:role/RootMfaReader")
        })
        .sequence()
        .output(|| assume_role_answer(Duration::from_secs(60)))
        .output(|| assume_role_answer(Duration::from_secs(3600)))
        .build();
    let api = m.api.clone();
    let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&assume], |c| c
        .interceptor(ApiCallInterceptor::new(api.clone())));
    let creds = RoleCredentials::new(sts, role, Some("ext-123".into()));

    let short = creds.credentials().await.unwrap();
    assert_eq!(assume.num_calls(), 1);
    // One minute left is inside the refresh margin: renewed before use.
    let renewed = creds.credentials().await.unwrap();
    assert_eq!(assume.num_calls(), 2);
    assert!(renewed.expiry() > short.expiry());
    for _ in 0..5 {
        assert_eq!(
            creds.credentials().await.unwrap(),
            renewed,
            "served from the cache"
        );
    }
    assert_eq!(assume.num_calls(), 2);
    assert_eq!(m.api.requests_for("sts", "AssumeRole"), 2);
}

#[tokio::test]
async fn a_denied_assume_role_fails_with_its_code() {
    let m = metrics();
    let denied = mock!(aws_sdk_sts::Client::assume_role)
        .then_http_response(|| xml(403, aws_error("AccessDenied")));
    let api = m.api.clone();
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&denied], |c| c
        .interceptor(ApiCallInterceptor::new(api.clone())));
    let role: RoleArn = format!("arn:aws:iam::{ACCOUNT}:role/Missing")
        .parse()
        .unwrap();
    let err = RoleCredentials::new(sts, role, None)
        .credentials()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AccessDenied");
    assert!(err.to_string().contains("sts:AssumeRole"), "{err}");
    assert_eq!(m.api.errors_for("sts", "AssumeRole", "AccessDenied"), 1);
}

fn known(account: &str) -> Option<Identity> {
    Some(Identity {
        account_id: account.into(),
        partition: "aws".into(),
    })
}

/// A target whose `GetAccountSummary` records when it was called, on tokio's clock.
fn timed_target(
    m: &ExporterMetrics,
    account: &str,
    calls: Arc<std::sync::Mutex<Vec<tokio::time::Instant>>>,
) -> (Target, Rule) {
    let summary = mock!(aws_sdk_iam::Client::get_account_summary).then_compute_output(move |_| {
        calls.lock().unwrap().push(tokio::time::Instant::now());
        summary_output(0)
    });
    let target = Target {
        key: account.into(),
        identity: known(account),
        account_name: String::new(),
        clients: clients(m, &[], &[&summary]).into(),
    };
    (target, summary)
}

#[tokio::test(start_paused = true)]
async fn later_polls_spread_their_checks_over_the_given_time() {
    let m = metrics();
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (targets, _rules): (Vec<Target>, Vec<Rule>) = [
        "111111111111",
        "222222222222",
        "333333333333",
        "444444444444",
    ]
    .iter()
    .map(|a| timed_target(&m, a, calls.clone()))
    .unzip();
    let (mut poller, _) = Poller::new(Fleet::from_targets(targets), 16, m.clone());

    poller.poll_once().await;
    let burst = std::mem::take(&mut *calls.lock().unwrap());
    assert_eq!(burst.len(), 4);
    assert!(
        burst
            .iter()
            .all(|t| t.duration_since(burst[0]) < Duration::from_millis(100)),
        "first poll: no pacing"
    );

    let snapshot = poller.poll(Duration::from_secs(120)).await;
    let paced = calls.lock().unwrap().clone();
    assert_eq!(paced.len(), 4);
    for pair in paced.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            (Duration::from_secs(29)..Duration::from_secs(31)).contains(&gap),
            "gap {gap:?}"
        );
    }
    assert_eq!(
        snapshot.accounts.iter().filter(|a| a.last_check_ok).count(),
        4
    );
}

#[tokio::test]
async fn a_panic_in_one_check_fails_only_that_account() {
    let m = metrics();
    let calm = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (fine, _rule) = timed_target(&m, "111111111111", calm);
    let boom = mock!(aws_sdk_iam::Client::get_account_summary).then_compute_output(
        |_| -> GetAccountSummaryOutput { panic!("a bug in one account's check") },
    );
    let broken = Target {
        key: "222222222222".into(),
        identity: known("222222222222"),
        account_name: String::new(),
        clients: clients(&m, &[], &[&boom]).into(),
    };
    let (mut poller, _) = Poller::new(Fleet::from_targets(vec![fine, broken]), 2, m.clone());
    let snapshot = poller.poll_once().await;
    let by_id = |id: &str| {
        snapshot
            .accounts
            .iter()
            .find(|a| a.account_id.as_deref() == Some(id))
            .unwrap()
    };
    assert!(by_id("111111111111").last_check_ok);
    let failed = by_id("222222222222");
    assert!(!failed.last_check_ok);
    assert_eq!(failed.last_error_code, Some("panic"));
    assert!(failed.posture.is_none());
}

#[tokio::test]
async fn a_device_listing_that_repeats_a_marker_fails_instead_of_looping() {
    let m = metrics();
    // a -> b -> a: not the marker just followed, but one seen two pages before.
    let first = list_page(None, page(&[("u1", "alice")], Some("a")));
    let second = list_page(Some("a"), page(&[("u2", "bob")], Some("b")));
    let third = list_page(Some("b"), page(&[("u3", "carol")], Some("a")));
    let c = clients(&m, &[&caller()], &[&summary(1), &first, &second, &third]);
    let outcome = c.check(None).await;
    let err = outcome.result.unwrap_err();
    assert_eq!(err.code(), "pagination_loop", "{err}");
    assert!(err.to_string().contains("ListVirtualMFADevices"), "{err}");
    assert_eq!(third.num_calls(), 1, "stopped at the repeat");
}

#[tokio::test]
async fn a_device_listing_past_the_page_cap_fails() {
    let m = metrics();
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    // Every page says there is another, each with a new marker: a listing with no end.
    let endless =
        mock!(aws_sdk_iam::Client::list_virtual_mfa_devices).then_http_response(move || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            xml(200, page(&[], Some(&format!("m{n}"))))
        });
    let c = clients(&m, &[&caller()], &[&summary(1), &endless]);
    let err = c.check(None).await.result.unwrap_err();
    assert_eq!(err.code(), "page_limit", "{err}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 100);
}

#[tokio::test]
async fn an_expired_session_drops_the_cached_role_credentials() {
    let m = metrics();
    let role: RoleArn = format!("arn:aws:iam::{ACCOUNT}:role/RootMfaReader")
        .parse()
        .unwrap();
    let assume = mock!(aws_sdk_sts::Client::assume_role)
        .then_output(|| assume_role_answer(Duration::from_secs(3600)));
    let api = m.api.clone();
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&assume], |c| c
        .interceptor(ApiCallInterceptor::new(api.clone())));
    let creds = Arc::new(RoleCredentials::new(sts, role, None));
    // The session is revoked on the AWS side: IAM answers ExpiredToken to the cached one.
    let expired = mock!(aws_sdk_iam::Client::get_account_summary)
        .then_http_response(|| xml(403, aws_error("ExpiredToken")));
    let c = clients(&m, &[], &[&expired]).with_role(creds.clone());
    let identity = known(ACCOUNT);

    assert_eq!(
        c.check(identity.as_ref()).await.result.unwrap_err().code(),
        "ExpiredToken"
    );
    assert_eq!(assume.num_calls(), 1);
    // The next check assumes the role afresh instead of reusing the rejected session.
    let _ = c.check(identity.as_ref()).await;
    assert_eq!(assume.num_calls(), 2, "cached credentials were dropped");
    // Any other failure keeps them.
    let denied = mock!(aws_sdk_iam::Client::get_account_summary)
        .then_http_response(|| xml(403, aws_error("AccessDenied")));
    let c = clients(&m, &[], &[&denied]).with_role(creds.clone());
    let _ = c.check(identity.as_ref()).await;
    let _ = c.check(identity.as_ref()).await;
    assert_eq!(
        assume.num_calls(),
        3,
        "one renewal after the expiry, then cached"
    );
}

#[tokio::test]
async fn a_device_listing_failure_is_reported_as_the_listing() {
    let m = metrics();
    // MFA enabled, then the device listing is refused: the error names ListVirtualMFADevices,
    // not GetAccountSummary.
    let denied = mock!(aws_sdk_iam::Client::list_virtual_mfa_devices)
        .then_http_response(|| xml(403, aws_error("AccessDenied")));
    let c = clients(&m, &[&caller()], &[&summary(1), &denied]);
    let err = c.check(None).await.result.unwrap_err();
    assert!(
        err.to_string().starts_with("iam:ListVirtualMFADevices"),
        "{err}"
    );
    assert_eq!(
        m.api
            .errors_for("iam", "ListVirtualMFADevices", "AccessDenied"),
        1
    );
    assert_eq!(
        m.api.errors_for("iam", "GetAccountSummary", "AccessDenied"),
        0
    );
}

fn assume_root_answer(
    valid_for: Duration,
) -> aws_sdk_sts::operation::assume_root::AssumeRootOutput {
    aws_sdk_sts::operation::assume_root::AssumeRootOutput::builder()
        .credentials(session_credentials("ASIAROOTSESSION", valid_for))
        .build()
}

#[tokio::test]
async fn root_sessions_ask_for_the_audit_policy_and_are_reused_until_a_minute_before_expiry() {
    let m = metrics();
    let cn = Identity {
        account_id: ACCOUNT.into(),
        partition: "aws-cn".into(),
    };
    let assume = mock!(aws_sdk_sts::Client::assume_root)
        .match_requests(|req| {
            req.target_principal() == Some(ACCOUNT)
                && req.duration_seconds() == Some(900)
                && req.task_policy_arn().and_then(|p| p.arn())
                    == Some("arn:aws-cn:iam::aws:policy/root-task/IAMAuditRootUserCredentials")
        })
        .sequence()
        .output(|| assume_root_answer(Duration::from_secs(60)))
        .output(|| assume_root_answer(Duration::from_secs(900)))
        .build();
    let api = m.api.clone();
    let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&assume], |c| c
        .interceptor(ApiCallInterceptor::new(api.clone())));
    let session = RoleCredentials::root(sts, cn);
    assert_eq!(session.operation(), "AssumeRoot");
    let short = session.credentials().await.unwrap();
    // 60 s left is inside the one-minute margin: a new session before use.
    let renewed = session.credentials().await.unwrap();
    assert!(renewed.expiry() > short.expiry());
    for _ in 0..5 {
        assert_eq!(session.credentials().await.unwrap(), renewed);
    }
    assert_eq!(assume.num_calls(), 2);
    assert_eq!(m.api.requests_for("sts", "AssumeRoot"), 2);
    assert!(!format!("{session:?}").contains("ASIA"), "no key in Debug");
}

#[tokio::test]
async fn an_expired_root_session_is_dropped_and_an_activity_failure_keeps_the_posture() {
    let m = metrics();
    let assume = mock!(aws_sdk_sts::Client::assume_root)
        .then_output(|| assume_root_answer(Duration::from_secs(900)));
    let api = m.api.clone();
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&assume], |c| c
        .interceptor(ApiCallInterceptor::new(api.clone())));
    let session = Arc::new(RoleCredentials::root(sts, known(ACCOUNT).unwrap()));
    let identity = known(ACCOUNT);

    // The session expires under the check: dropped, so the next check opens a new one.
    let expired = mock!(aws_sdk_iam::Client::get_account_summary)
        .then_http_response(|| xml(403, aws_error("ExpiredToken")));
    let c = clients(&m, &[], &[&expired])
        .with_role(session.clone())
        .as_root_session();
    let out = c.check(identity.as_ref()).await;
    assert_eq!(out.result.unwrap_err().code(), "ExpiredToken");
    assert!(out.activity.is_none());
    let _ = c.check(identity.as_ref()).await;
    assert_eq!(assume.num_calls(), 2, "the rejected session was dropped");

    // Root's devices read, but GetUser denied: the posture stands, the activity fails alone.
    let summary = mock!(aws_sdk_iam::Client::get_account_summary).then_output(|| summary_output(1));
    let devices = mock!(aws_sdk_iam::Client::list_mfa_devices).then_output(|| {
        aws_sdk_iam::operation::list_mfa_devices::ListMfaDevicesOutput::builder()
            .mfa_devices(
                aws_sdk_iam::types::MfaDevice::builder()
                    .user_name("")
                    .serial_number(format!(
                        "arn:aws:iam::{ACCOUNT}:u2f/root-account-mfa-device/KEY"
                    ))
                    .enable_date(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .unwrap(),
            )
            .is_truncated(false)
            .build()
            .unwrap()
    });
    let denied = mock!(aws_sdk_iam::Client::get_user)
        .then_http_response(|| xml(403, aws_error("AccessDenied")));
    let c = clients(&m, &[], &[&summary, &devices, &denied])
        .with_role(session.clone())
        .as_root_session();
    let out = c.check(identity.as_ref()).await;
    let posture = out.result.unwrap();
    assert!(posture.hardware);
    assert_eq!(posture.inventory.map(|i| i.fido), Some(1));
    assert_eq!(out.activity.unwrap().unwrap_err().code(), "AccessDenied");
}
