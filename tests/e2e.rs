//! End to end: the real exporter binary against moto, scraped over HTTP and linted by promtool.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::{
    Exporter, Exposition, HttpResponse, Moto, http, promtool_check_metrics, run_check, shared_moto,
};

const MFA_OFF: &str = "100000000001";
const LEGACY_DEVICE: &str = "100000000002";
const NAMED_BEHIND_250: &str = "100000000003";
const DECOY_USER: &str = "100000000004";
const NO_ROOT_CREDENTIALS: &str = "100000000005";
const ACCESS_KEYS: &str = "100000000006";
const HARDWARE: &str = "100000000007";
const SECOND_PAGE: &str = "100000000008";
const DENIED: &str = "100000000009";
const TWO_VIRTUAL: &str = "100000000010";
const FLAPPING: &str = "100000000011";
const NO_PASSWORD_KEY: &str = "100000000012";
const SLOW: &str = "100000000013";

fn flapping_spec(fault: bool) -> Value {
    let mut spec = json!({"id": FLAPPING, "mfa_enabled": true, "root_virtual": ["phone"]});
    if fault {
        spec["fault"] =
            json!({"operation": "GetAccountSummary", "status": 403, "code": "AccessDenied"});
    }
    spec
}

fn scenario() -> Value {
    json!({"accounts": [
        {"id": MFA_OFF, "mfa_enabled": false},
        {"id": LEGACY_DEVICE, "mfa_enabled": true, "root_virtual": ["root-account-mfa-device"]},
        {"id": NAMED_BEHIND_250, "mfa_enabled": true, "user_devices": 250, "root_virtual": ["ops-team-phone"]},
        {"id": DECOY_USER, "mfa_enabled": true, "decoy": true},
        {"id": NO_ROOT_CREDENTIALS, "mfa_enabled": false, "password": 0, "access_keys": 0, "certificates": 0},
        {"id": ACCESS_KEYS, "mfa_enabled": true, "access_keys": 1},
        {"id": HARDWARE, "mfa_enabled": true, "unassigned": 3},
        {"id": SECOND_PAGE, "mfa_enabled": true, "user_devices": 1500, "root_virtual": ["zz-backup"]},
        {"id": DENIED, "mfa_enabled": true,
         "fault": {"operation": "GetAccountSummary", "status": 403, "code": "AccessDenied"}},
        {"id": TWO_VIRTUAL, "mfa_enabled": true, "root_virtual": ["a", "b"]},
        flapping_spec(false),
        {"id": NO_PASSWORD_KEY, "mfa_enabled": false, "password": null},
        {"id": SLOW, "mfa_enabled": true,
         "fault": {"operation": "GetAccountSummary", "delay": 4}},
    ]})
}

fn moto() -> &'static Moto {
    shared_moto(scenario)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Each row: account, then the expected mfa_enabled, mfa_hardware, mfa_virtual_devices,
/// access_keys_present, credentials_present.
const POSTURES: &[(&str, [f64; 5])] = &[
    (MFA_OFF, [0.0, 0.0, 0.0, 0.0, 1.0]),
    (LEGACY_DEVICE, [1.0, 0.0, 1.0, 0.0, 1.0]),
    (NAMED_BEHIND_250, [1.0, 0.0, 1.0, 0.0, 1.0]),
    (DECOY_USER, [1.0, 1.0, 0.0, 0.0, 1.0]),
    (NO_ROOT_CREDENTIALS, [0.0, 0.0, 0.0, 0.0, 0.0]),
    (ACCESS_KEYS, [1.0, 1.0, 0.0, 1.0, 1.0]),
    (HARDWARE, [1.0, 1.0, 0.0, 0.0, 1.0]),
    (SECOND_PAGE, [1.0, 0.0, 1.0, 0.0, 1.0]),
    (TWO_VIRTUAL, [1.0, 0.0, 2.0, 0.0, 1.0]),
    (NO_PASSWORD_KEY, [0.0, 0.0, 0.0, 0.0, 1.0]),
];

/// Each row: account, then the expected verdicts of IAM.4 (no root access keys), IAM.6
/// (hardware MFA) and IAM.9 (MFA), as the exporter must publish them in
/// `aws_root_control_status`: P passed, F failed, N not applicable.
const VERDICTS: &[(&str, [char; 3])] = &[
    (MFA_OFF, ['P', 'F', 'F']),
    (LEGACY_DEVICE, ['P', 'F', 'P']),
    (NAMED_BEHIND_250, ['P', 'F', 'P']),
    (DECOY_USER, ['P', 'P', 'P']),
    (NO_ROOT_CREDENTIALS, ['P', 'N', 'N']),
    (ACCESS_KEYS, ['F', 'P', 'P']),
    (HARDWARE, ['P', 'P', 'P']),
    (SECOND_PAGE, ['P', 'F', 'P']),
    (TWO_VIRTUAL, ['P', 'F', 'P']),
    (NO_PASSWORD_KEY, ['P', 'F', 'F']),
];

/// Asserts that each control of `account` has its three status series, exactly one of them 1,
/// and that it is the expected one.
fn assert_verdicts(m: &Exposition, account: &str, want: [char; 3]) {
    for (control, want) in ["IAM.4", "IAM.6", "IAM.9"].into_iter().zip(want) {
        let want = match want {
            'P' => "passed",
            'F' => "failed",
            _ => "not_applicable",
        };
        let series: Vec<(&str, Option<f64>)> = ["passed", "failed", "not_applicable"]
            .into_iter()
            .map(|status| {
                let labels = [
                    ("account_id", account),
                    ("control", control),
                    ("status", status),
                ];
                (status, m.value("aws_root_control_status", &labels))
            })
            .collect();
        let ones: Vec<&str> = series
            .iter()
            .filter(|(_, v)| *v == Some(1.0))
            .map(|(s, _)| *s)
            .collect();
        assert!(
            series.iter().all(|(_, v)| v.is_some()),
            "{account} {control}: every status is exported: {series:?}"
        );
        assert_eq!(ones, [want], "{account} {control}: {series:?}");
    }
}

const POSTURE_GAUGES: [&str; 5] = [
    "aws_root_mfa_enabled",
    "aws_root_mfa_hardware",
    "aws_root_mfa_virtual_devices",
    "aws_root_access_keys_present",
    "aws_root_credentials_present",
];

#[test]
fn every_root_posture_is_served_over_http_and_passes_promtool() {
    let moto = moto();
    let exporters: Vec<(&str, Exporter)> = POSTURES
        .iter()
        .map(|(account, _)| (*account, Exporter::start(&moto.env_for(account), &[])))
        .collect();
    for ((account, want), (_, exporter)) in POSTURES.iter().zip(&exporters) {
        exporter.wait_ready();
        let m = exporter.scrape();
        let got: Vec<Option<f64>> = POSTURE_GAUGES
            .iter()
            .map(|g| m.account(g, account))
            .collect();
        let want: Vec<Option<f64>> = want.iter().map(|v| Some(*v)).collect();
        assert_eq!(
            got, want,
            "account {account}: {POSTURE_GAUGES:?}\n{}",
            m.text
        );
        assert_eq!(m.account("aws_root_check_success", account), Some(1.0));
        let verdicts = VERDICTS.iter().find(|(a, _)| a == account).unwrap().1;
        assert_verdicts(&m, account, verdicts);
        let checked = m
            .account("aws_root_last_successful_check_timestamp_seconds", account)
            .unwrap();
        assert!((unix_now() - checked).abs() < 120.0, "timestamp {checked}");
        assert_eq!(
            m.value(
                "aws_root_account_info",
                &[
                    ("account_id", account),
                    ("account_name", ""),
                    ("partition", "aws")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            m.value(
                "aws_root_mfa_exporter_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))]
            ),
            Some(1.0)
        );
        assert!(
            m.value("aws_root_mfa_exporter_poll_duration_seconds", &[])
                .unwrap()
                > 0.0
        );
        assert_eq!(
            m.value("aws_root_mfa_exporter_poll_interval_seconds", &[]),
            Some(300.0)
        );
        assert!(m.value("process_resident_memory_bytes", &[]).unwrap() > 0.0);
        assert!(
            !m.text.contains("UserName") && !m.text.contains("@"),
            "no user data in labels"
        );
        promtool_check_metrics(&m.text);
    }
}

#[test]
fn root_device_on_the_second_page_costs_one_call_per_page() {
    let exporter = Exporter::start(&moto().env_for(SECOND_PAGE), &[]);
    exporter.wait_ready();
    let m = exporter.scrape();
    assert_eq!(
        m.account("aws_root_mfa_virtual_devices", SECOND_PAGE),
        Some(1.0)
    );
    let calls = |op: &str| {
        m.value(
            "aws_root_mfa_exporter_api_requests_total",
            &[("operation", op)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(
        calls("ListVirtualMFADevices"),
        2.0,
        "1501 devices at 1000 a page"
    );
    assert_eq!(calls("GetAccountSummary"), 1.0);
    assert_eq!(calls("GetCallerIdentity"), 1.0);
}

#[test]
fn check_exits_by_the_worst_account_and_prints_json() {
    let moto = moto();
    // (account, exit code, status in the JSON output)
    let cases = [
        (HARDWARE, 0, "compliant"),
        (DECOY_USER, 0, "compliant"),
        (NO_ROOT_CREDENTIALS, 0, "not_applicable"),
        (ACCESS_KEYS, 1, "non_compliant"),
        (MFA_OFF, 1, "non_compliant"),
        (LEGACY_DEVICE, 1, "non_compliant"),
        (NAMED_BEHIND_250, 1, "non_compliant"),
        (DENIED, 2, "error"),
    ];
    for (account, code, status) in cases {
        let out = run_check(&moto.env_for(account), &["--output", "json"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{account}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        assert_eq!(report["summary"]["accounts"], 1);
        let row = &report["accounts"][0];
        assert_eq!(row["account_id"], account);
        assert_eq!(row["status"], status, "{stdout}");
        if status == "error" {
            assert_eq!(row["error_code"], "AccessDenied");
            assert!(
                row["hardware_mfa"].is_null(),
                "nothing unobserved is reported"
            );
        } else {
            assert_eq!(row["partition"], "aws");
            let verdicts = VERDICTS.iter().find(|(a, _)| *a == account).unwrap().1;
            let word = |c: char| match c {
                'P' => "passed",
                'F' => "failed",
                _ => "not_applicable",
            };
            assert_eq!(
                row["controls"],
                json!({"IAM.4": word(verdicts[0]), "IAM.6": word(verdicts[1]), "IAM.9": word(verdicts[2])}),
                "{account}: every verdict in the JSON"
            );
        }
    }
}

#[test]
fn check_names_the_failed_control_and_narrows_to_the_selected_ones() {
    // Hardware MFA, but root access keys: IAM.4 fails, so the account is not compliant.
    let out = run_check(&moto().env_for(ACCESS_KEYS), &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(
        table.contains(&format!("failed: {ACCESS_KEYS}: IAM.4")),
        "{table}"
    );
    // Only the MFA controls selected: it passes them.
    let out = run_check(
        &moto().env_for(ACCESS_KEYS),
        &["--controls", "IAM.6,IAM.9", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["controls"], json!(["IAM.6", "IAM.9"]));
    assert_eq!(report["accounts"][0]["status"], "compliant");
    assert_eq!(
        report["accounts"][0]["controls"]["IAM.4"], "failed",
        "the JSON carries every verdict, selected or not"
    );
}

#[test]
fn check_prints_a_table_by_default() {
    let out = run_check(&moto().env_for(LEGACY_DEVICE), &[]);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ACCOUNT"), "{table}");
    assert!(
        lines[1].starts_with(LEGACY_DEVICE)
            && lines[1].contains("non_compliant")
            && lines[1].contains("virtual"),
        "{table}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        "1 account: 0 compliant, 1 non-compliant, 0 not applicable, 0 could not be checked"
    );
}

#[test]
fn missing_credentials_do_not_crash_the_server() {
    let exporter = Exporter::start(
        &moto().env_without_credentials(),
        &["--poll.interval", "1s"],
    );
    exporter.wait_ready();
    assert_eq!(exporter.get("/healthz").status, 200);
    let m = exporter.scrape();
    assert_eq!(
        m.account("aws_root_check_success", ""),
        Some(0.0),
        "{}",
        m.text
    );
    for gauge in POSTURE_GAUGES {
        assert!(
            !m.text.contains(&format!("\n{gauge}{{")),
            "{gauge} reported without an observation"
        );
    }
    assert!(
        m.value(
            "aws_root_mfa_exporter_api_errors_total",
            &[("code", "credentials"), ("operation", "GetCallerIdentity")]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{}",
        m.text
    );
    promtool_check_metrics(&m.text);
    // Once per poll, with the chain's own words.
    exporter.wait_for("a second poll", Duration::from_secs(10), || {
        exporter.log().matches("msg=\"check failed\"").count() >= 2
    });
    let log = exporter.log();
    let failure = log
        .lines()
        .find(|l| l.contains("msg=\"check failed\""))
        .unwrap();
    assert!(
        failure.contains("code=credentials") && failure.contains("credentials"),
        "{failure}"
    );
}

#[test]
fn a_failing_account_keeps_its_last_values_and_recovers_by_itself() {
    let moto = moto();
    moto.apply(&json!([flapping_spec(false)]));
    let exporter = Exporter::start(&moto.env_for(FLAPPING), &["--poll.interval", "1s"]);
    exporter.wait_ready();
    let before = exporter.scrape();
    assert_eq!(
        before.account("aws_root_check_success", FLAPPING),
        Some(1.0)
    );
    let posture = |m: &Exposition| POSTURE_GAUGES.map(|g| m.account(g, FLAPPING));
    assert_eq!(
        posture(&before),
        [Some(1.0), Some(0.0), Some(1.0), Some(0.0), Some(1.0)]
    );

    let fault_applied = unix_now();
    moto.apply(&json!([flapping_spec(true)]));
    let mut failing = before.clone();
    exporter.wait_for("the check to fail", Duration::from_secs(15), || {
        failing = exporter.scrape();
        failing.account("aws_root_check_success", FLAPPING) == Some(0.0)
    });
    assert_eq!(
        posture(&failing),
        posture(&before),
        "posture kept while failing"
    );
    // The timestamp is the last success's: from before the fault (a check already under way
    // when it was applied may still have succeeded just after), and it stays put while the
    // checks keep failing.
    let last_success = exporter_last_success(&failing).unwrap();
    assert!(
        last_success < fault_applied + 1.0,
        "last success {last_success} is from before the fault at {fault_applied}"
    );
    let polls = |m: &Exposition| {
        m.value(
            "aws_root_mfa_exporter_api_requests_total",
            &[("operation", "GetAccountSummary")],
        )
        .unwrap_or(0.0)
    };
    let failing_calls = polls(&failing);
    let mut still_failing = failing.clone();
    exporter.wait_for("two more failed checks", Duration::from_secs(15), || {
        still_failing = exporter.scrape();
        polls(&still_failing) >= failing_calls + 2.0
    });
    assert_eq!(
        still_failing.account("aws_root_check_success", FLAPPING),
        Some(0.0)
    );
    assert_eq!(
        exporter_last_success(&still_failing),
        Some(last_success),
        "the timestamp does not advance while the checks fail"
    );
    assert_verdicts(&still_failing, FLAPPING, ['P', 'F', 'P']);
    let denied = failing
        .value(
            "aws_root_mfa_exporter_api_errors_total",
            &[("code", "AccessDenied"), ("operation", "GetAccountSummary")],
        )
        .unwrap();
    assert!(denied >= 1.0);

    moto.apply(&json!([flapping_spec(false)]));
    exporter.wait_for("the check to recover", Duration::from_secs(15), || {
        exporter
            .scrape()
            .account("aws_root_check_success", FLAPPING)
            == Some(1.0)
    });
    let after = exporter.scrape();
    assert!(
        exporter_last_success(&after) > Some(last_success),
        "the timestamp advances again on recovery"
    );
}

fn exporter_last_success(m: &Exposition) -> Option<f64> {
    m.account("aws_root_last_successful_check_timestamp_seconds", FLAPPING)
}

#[test]
fn self_metrics_are_served_before_the_first_poll_ends() {
    // The stand-in answers this account's GetAccountSummary 4 s late: the first poll is slow.
    let exporter = Exporter::start(&moto().env_for(SLOW), &[]);
    support::wait_http(exporter.addr, "/healthz");
    let early = exporter.scrape();
    assert_eq!(
        exporter.get("/readyz").status,
        503,
        "not ready before the first poll ends"
    );
    assert_eq!(
        early.value(
            "aws_root_mfa_exporter_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0),
        "{}",
        early.text
    );
    assert_eq!(
        early.value("aws_root_mfa_exporter_poll_interval_seconds", &[]),
        Some(300.0)
    );
    // The poll starts just after the server: on a loaded machine the first scrape can come
    // before its first request, so wait for the counter, within the 4 s the poll takes.
    let mut live = early.clone();
    exporter.wait_for(
        "GetCallerIdentity to be counted",
        Duration::from_secs(3),
        || {
            live = exporter.scrape();
            live.value(
                "aws_root_mfa_exporter_api_requests_total",
                &[("operation", "GetCallerIdentity")],
            ) >= Some(1.0)
        },
    );
    assert_eq!(
        exporter.get("/readyz").status,
        503,
        "API counters are live, not frozen at the last poll: {}",
        live.text
    );
    assert_eq!(early.account("aws_root_check_success", SLOW), None);
    assert!(!early.text.contains("aws_root_control_status"));
    promtool_check_metrics(&early.text);
    exporter.wait_ready();
    assert_verdicts(&exporter.scrape(), SLOW, ['P', 'P', 'P']);
}

#[test]
fn http_endpoints_behave() {
    let exporter = Exporter::start(
        &moto().env_for(HARDWARE),
        &["--web.telemetry-path", "/probe/metrics"],
    );
    exporter.wait_ready();
    let get = |path: &str, headers: &[(&str, &str)]| http(exporter.addr, "GET", path, headers, b"");

    let landing = get("/", &[]);
    assert_eq!(landing.status, 200);
    let html = landing.text();
    assert!(
        html.contains(HARDWARE)
            && html.contains("compliant")
            && html.contains("href=\"/probe/metrics\""),
        "{html}"
    );

    let plain = get("/probe/metrics", &[]);
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(plain.text().contains(&format!(
        "aws_root_mfa_hardware{{account_id=\"{HARDWARE}\"}} 1"
    )));

    let zipped: HttpResponse = get("/probe/metrics", &[("Accept-Encoding", "gzip")]);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&zipped.body[..]),
        &mut text,
    )
    .unwrap();
    assert!(text.contains(&format!(
        "aws_root_mfa_hardware{{account_id=\"{HARDWARE}\"}} 1"
    )));
    assert!(zipped.body.len() < plain.body.len());

    assert_eq!(get("/metrics", &[]).status, 404, "the telemetry path moved");
    assert_eq!(get("/healthz", &[]).status, 200);
    assert_eq!(get("/readyz", &[]).status, 200);
    // Bounded requests: a flood of headers is refused before it reaches a handler.
    let flood: Vec<(String, String)> = (0..100)
        .map(|i| (format!("x-flood-{i}"), "y".repeat(10)))
        .collect();
    let flood: Vec<(&str, &str)> = flood
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        http(exporter.addr, "GET", "/probe/metrics", &flood, b"").status,
        431
    );
    let huge = "z".repeat(64 * 1024);
    assert_eq!(
        http(
            exporter.addr,
            "GET",
            "/probe/metrics",
            &[("x-huge", huge.as_str())],
            b""
        )
        .status,
        431
    );

    let post = http(exporter.addr, "POST", "/probe/metrics", &[], b"x=1");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let exporter = Exporter::start(&moto().env_for(HARDWARE), &[]);
    exporter.wait_ready();
    let (status, took) = exporter.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn bad_flags_get_one_line_and_exit_2() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let bad_roles = support::tempdir("roles").join("roles.txt");
    std::fs::write(
        &bad_roles,
        "arn:aws:iam::111111111111:role/r\narn:aws:iam::1:role/short\n",
    )
    .unwrap();
    let bad_roles = bad_roles.to_str().unwrap();
    let cases: [(&[&str], &str); 10] = [
        (
            &["--assume-role-arns.file", "/nonexistent/roles.txt"],
            "--assume-role-arns.file",
        ),
        (&["--assume-role-arns.file", bad_roles, "check"], "line 2"),
        (
            &[
                "--organization.role-name",
                "r",
                "--assume-role-arn",
                "arn:aws:iam::111111111111:role/r",
            ],
            "cannot be used with",
        ),
        (&["--shard", "3/3"], "--shard"),
        (&["--poll.interval", "0s"], "--poll.interval"),
        (&["--poll.timeout", "soon"], "--poll.timeout"),
        (
            &["--web.listen-address", "not-an-address"],
            "--web.listen-address",
        ),
        (&["--web.listen-address", &busy_addr], "cannot listen on"),
        (&["--log.level", "loud"], "--log.level"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (args, mentions) in cases {
        let out = support::exporter_command(&[], args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {stderr:?}"
        );
        assert!(stderr.contains(mentions), "{args:?}: {stderr}");
    }
    drop(busy);
}

#[test]
fn golden_exposition_passes_promtool() {
    promtool_check_metrics(&support::repo_file("tests/golden/exposition.prom"));
}

#[test]
fn logs_are_one_json_object_per_line_with_the_usual_keys() {
    let out = run_check(&moto().env_without_credentials(), &["--log.format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let failure = lines
        .iter()
        .find(|l| l["msg"] == "check failed")
        .expect("a failure line");
    assert_eq!(failure["level"], "warn");
    assert_eq!(failure["code"], "credentials");
    assert!(failure["ts"].as_str().unwrap().ends_with('Z'));
    let summary = lines
        .iter()
        .find(|l| l["msg"] == "poll finished")
        .expect("a poll line");
    assert_eq!(summary["failed"], 1);
}
