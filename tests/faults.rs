//! Fault tolerance end to end: a fault-injecting layer in front of the stand-in AWS (in
//! `tests/moto_launcher.py`) makes one account's calls fail in each way AWS can fail. In every
//! case the exporter keeps serving, never reports a posture it did not observe, counts the
//! error by code, and recovers by itself once the fault is lifted.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Exporter, Exposition, Moto, shared_moto};

const POSTURE: [&str; 5] = [
    "aws_root_mfa_enabled",
    "aws_root_mfa_hardware",
    "aws_root_mfa_virtual_devices",
    "aws_root_access_keys_present",
    "aws_root_credentials_present",
];

/// One account per fault, so that the cases run in parallel; all have MFA on with a virtual
/// device on root, so that every call of a check is made.
struct Case {
    account: &'static str,
    fault: fn() -> Value,
    code: &'static str,
    operation: &'static str,
    /// `--poll.timeout`: long enough for the SDK's retries with backoff, except where the
    /// timeout is the fault.
    timeout: &'static str,
}

const CASES: &[Case] = &[
    Case {
        account: "300000000001",
        fault: || json!({"operation": "GetAccountSummary", "status": 500, "code": "InternalFailure"}),
        code: "InternalFailure",
        operation: "GetAccountSummary",
        timeout: "20s",
    },
    Case {
        account: "300000000002",
        fault: || json!({"operation": "GetAccountSummary", "delay": 3}),
        code: "timeout",
        operation: "GetAccountSummary",
        timeout: "1s",
    },
    Case {
        account: "300000000003",
        fault: || json!({"operation": "ListVirtualMFADevices", "truncate": true}),
        code: "response",
        operation: "ListVirtualMFADevices",
        timeout: "20s",
    },
    Case {
        account: "300000000004",
        fault: || json!({"operation": "GetCallerIdentity", "status": 403, "code": "ExpiredToken"}),
        code: "ExpiredToken",
        operation: "GetCallerIdentity",
        timeout: "20s",
    },
    Case {
        account: "300000000005",
        fault: || json!({"operation": "ListVirtualMFADevices", "status": 403, "code": "AccessDenied"}),
        code: "AccessDenied",
        operation: "ListVirtualMFADevices",
        timeout: "20s",
    },
];

const THROTTLED: &str = "300000000006";
/// The caller, and the member whose role it assumes, of the `SignatureDoesNotMatch` case.
const CALLER: &str = "300000000007";
const MEMBER: &str = "300000000008";
const EXTERNAL_ID: &str = "ext-7c1e9a42-never-logged";

fn spec(account: &str, fault: Option<Value>) -> Value {
    let mut spec = json!({"id": account, "mfa_enabled": true, "root_virtual": ["phone"]});
    if let Some(fault) = fault {
        spec["fault"] = fault;
    }
    spec
}

fn scenario() -> Value {
    let mut accounts: Vec<Value> = CASES.iter().map(|c| spec(c.account, None)).collect();
    accounts.push(spec(THROTTLED, None));
    accounts.push(spec(CALLER, None));
    accounts.push(spec(
        MEMBER,
        Some(json!({"operation": "GetAccountSummary", "status": 403,
                    "code": "SignatureDoesNotMatch", "quote_request": true})),
    ));
    json!({ "accounts": accounts })
}

fn moto() -> &'static Moto {
    shared_moto(scenario)
}

fn posture(m: &Exposition, account: &str) -> Vec<Option<f64>> {
    POSTURE.iter().map(|g| m.account(g, account)).collect()
}

fn errors(m: &Exposition, operation: &str, code: &str) -> f64 {
    m.value(
        "aws_root_mfa_exporter_api_errors_total",
        &[("operation", operation), ("code", code)],
    )
    .unwrap_or(0.0)
}

/// Fails if `text` holds any of `secrets`, as given or percent-encoded.
fn assert_none_of(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let encoded: String = secret
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        let head = &secret[..secret.len().min(24)];
        assert!(
            !text.contains(secret.as_str()) && !text.contains(&encoded) && !text.contains(head),
            "{what} holds a credential ({head}…):\n{text}"
        );
    }
}

/// Every access key id and session token that signed a request to the stand-in so far.
fn seen_credentials(moto: &Moto) -> Vec<String> {
    let addr = moto.endpoint.trim_start_matches("http://").parse().unwrap();
    let seen: Value =
        serde_json::from_slice(&support::http(addr, "GET", "/_fixture/seen", &[], b"").body)
            .unwrap();
    ["access_key_ids", "session_tokens"]
        .iter()
        .flat_map(|k| seen[k].as_array().unwrap().clone())
        .map(|v| v.as_str().unwrap().to_owned())
        // The launcher's own set-up calls sign with a dummy key.
        .filter(|v| v != "fixture")
        .collect()
}

fn run_case(case: &Case) {
    let moto = moto();
    // At debug, the SDK's own output is logged too; it must hold no credential either.
    let exporter = Exporter::start(
        &moto.env_for(case.account),
        &[
            "--poll.interval",
            "1s",
            "--poll.timeout",
            case.timeout,
            "--log.level",
            "debug",
        ],
    );
    exporter.wait_ready();
    let before = exporter.scrape();
    assert_eq!(
        before.account("aws_root_check_success", case.account),
        Some(1.0),
        "{}",
        case.code
    );
    let observed = posture(&before, case.account);
    assert_eq!(
        observed,
        [Some(1.0), Some(0.0), Some(1.0), Some(0.0), Some(1.0)]
    );

    moto.apply(&json!([spec(case.account, Some((case.fault)()))]));
    let mut during = before.clone();
    exporter.wait_for(
        &format!("{} to fail the check", case.code),
        Duration::from_secs(30),
        || {
            during = exporter.scrape();
            during.account("aws_root_check_success", case.account) == Some(0.0)
        },
    );
    assert_eq!(
        exporter.get("/healthz").status,
        200,
        "{}: still serving",
        case.code
    );
    assert_eq!(
        posture(&during, case.account),
        observed,
        "{}: the last observed posture is kept",
        case.code
    );
    assert!(
        errors(&during, case.operation, case.code) >= 1.0,
        "{}: counted by code\n{}",
        case.code,
        during.text
    );
    let log = exporter.log();
    assert!(
        log.contains(&format!("code={}", case.code)),
        "{}: logged\n{log}",
        case.code
    );

    let creds = &moto.credentials[case.account];
    assert_none_of(
        case.code,
        &log,
        &[creds.access_key_id.clone(), creds.secret_access_key.clone()],
    );

    moto.apply(&json!([spec(case.account, None)]));
    exporter.wait_for(
        &format!("recovery from {}", case.code),
        Duration::from_secs(30),
        || {
            exporter
                .scrape()
                .account("aws_root_check_success", case.account)
                == Some(1.0)
        },
    );
}

#[test]
fn a_server_error_is_retried_then_fails_the_check_alone() {
    run_case(&CASES[0]);
}

#[test]
fn an_answer_slower_than_the_timeout_is_a_timeout() {
    run_case(&CASES[1]);
}

#[test]
fn a_truncated_body_is_a_response_error() {
    run_case(&CASES[2]);
}

#[test]
fn expired_credentials_are_reported_by_their_code() {
    run_case(&CASES[3]);
}

#[test]
fn access_denied_on_one_operation_keeps_the_posture() {
    run_case(&CASES[4]);
}

#[test]
fn heavy_throttling_is_absorbed_by_retries_and_counted() {
    let moto = moto();
    let exporter = Exporter::start(&moto.env_for(THROTTLED), &["--poll.interval", "1s"]);
    exporter.wait_ready();
    moto.apply(&json!([spec(
        THROTTLED,
        Some(json!({"operation": "*", "status": 400, "code": "Throttling", "rate": 0.5}))
    )]));
    let mut m = exporter.scrape();
    exporter.wait_for("throttling to be counted", Duration::from_secs(30), || {
        m = exporter.scrape();
        [
            "GetCallerIdentity",
            "GetAccountSummary",
            "ListVirtualMFADevices",
        ]
        .iter()
        .map(|op| errors(&m, op, "Throttling"))
        .sum::<f64>()
            >= 5.0
    });
    // Whatever the share of failed checks, every posture value is one that was observed.
    assert_eq!(
        posture(&m, THROTTLED),
        [Some(1.0), Some(0.0), Some(1.0), Some(0.0), Some(1.0)]
    );
    moto.apply(&json!([spec(THROTTLED, None)]));
    exporter.wait_for("a clean poll", Duration::from_secs(30), || {
        exporter
            .scrape()
            .account("aws_root_check_success", THROTTLED)
            == Some(1.0)
    });
}

#[test]
fn connection_refused_is_counted_and_nothing_is_reported() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = vec![
        ("AWS_ENDPOINT_URL".to_owned(), endpoint),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "AKIAEXAMPLE".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "secret".to_owned()),
    ];
    let exporter = Exporter::start(&env, &["--poll.interval", "1s", "--poll.timeout", "2s"]);
    exporter.wait_ready();
    let m = exporter.scrape();
    assert_eq!(m.account("aws_root_check_success", ""), Some(0.0));
    assert!(
        errors(&m, "GetCallerIdentity", "connection") >= 1.0,
        "{}",
        m.text
    );
    for gauge in POSTURE {
        assert!(
            !m.text.contains(&format!("\n{gauge}{{")),
            "{gauge} reported without an observation"
        );
    }
    assert_eq!(exporter.get("/healthz").status, 200);
}

#[test]
fn signature_does_not_match_with_a_session_token_leaks_no_credential() {
    let moto = moto();
    let role = format!("arn:aws:iam::{MEMBER}:role/RootMfaReader");
    let flags = [
        "--assume-role.arn",
        role.as_str(),
        "--assume-role.external-id",
        EXTERNAL_ID,
    ];
    let mut said = Vec::new();

    // `check`, at debug, as JSON.
    let mut args = vec!["--output", "json", "--log.level", "debug"];
    args.extend(flags);
    let out = support::run_check(&moto.env_for(CALLER), &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let account = &report["accounts"][0];
    assert_eq!(account["error_code"], "SignatureDoesNotMatch", "{stdout}");
    let error = account["error"].as_str().unwrap();
    // The message is kept, for what it tells an operator; only the credentials are masked.
    assert!(
        error.contains("x-amz-security-token:[REDACTED]")
            && error.contains("X-Amz-Security-Token=[REDACTED]")
            && error.contains("X-Amz-Credential=ASIA****************"),
        "{error}"
    );
    said.push(("check --output json, stdout", stdout));
    said.push((
        "check --log.level debug, stderr",
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ));

    // `check` with the SDK's raw traces, request and response bodies included.
    let mut env = moto.env_for(CALLER);
    for (k, v) in [
        ("RUST_LOG", "trace"),
        ("LOG_SIGNABLE_BODY", "true"),
        ("LOG_SENSITIVE_BODIES", "true"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    let out = support::run_check(&env, &flags);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("level=trace"), "RUST_LOG applies");
    said.push((
        "check, stdout",
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ));
    said.push(("check with RUST_LOG=trace, stderr", stderr));

    // The server, at debug.
    let mut args = vec!["--poll.interval", "1s", "--log.level", "debug"];
    args.extend(flags);
    let exporter = Exporter::start(&moto.env_for(CALLER), &args);
    exporter.wait_for("the check to fail", Duration::from_secs(30), || {
        exporter.log().contains("code=SignatureDoesNotMatch")
    });
    said.push(("the server's log", exporter.log()));

    let mut secrets = seen_credentials(moto);
    assert!(
        secrets.iter().any(|s| s.starts_with("ASIA")) && secrets.len() >= 3,
        "an assumed role's key and token signed requests: {secrets:?}"
    );
    let caller = &moto.credentials[CALLER];
    secrets.push(caller.secret_access_key.clone());
    secrets.push(EXTERNAL_ID.to_owned());
    for (what, text) in &said {
        assert_none_of(what, text, &secrets);
    }
}
