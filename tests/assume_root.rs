//! End to end in `--organization.assume-root` mode: the exporter lists the Organization's
//! accounts in the stand-in, opens a root session (`sts:AssumeRoot` with the audit task
//! policy) on each member, and reads root's own devices and last activity.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Exporter, Exposition, Moto, exporter_command, get_json, shared_moto};

const PASSWORD_USED: &str = "2026-01-02T03:04:05Z";
const PASSWORD_USED_UNIX: f64 = 1_767_323_045.0;
const KEY_USED: &str = "2026-03-04T05:06:07Z";
const KEY_USED_UNIX: f64 = 1_772_600_767.0;

fn dev(kind: &str, name: &str) -> Value {
    json!({"kind": kind, "name": name})
}

/// Each member: its spec, and the inventory (virtual, fido, hardware_totp) it must show.
fn members() -> Vec<(&'static str, Value, [f64; 3])> {
    let fido = |n: &str| dev("fido", n);
    let virt = |n: &str| dev("virtual", n);
    let totp = |n: &str| dev("hardware_totp", n);
    vec![
        (
            "fido-only",
            json!({"root_devices": [fido("key")], "password_last_used": PASSWORD_USED}),
            [0.0, 1.0, 0.0],
        ),
        (
            "totp-only",
            json!({"root_devices": [totp("token")], "password_last_used": null}),
            [0.0, 0.0, 1.0],
        ),
        (
            "virtual-only",
            json!({"root_devices": [virt("phone")]}),
            [1.0, 0.0, 0.0],
        ),
        (
            "virtual-and-fido",
            json!({"root_devices": [virt("phone"), fido("key")]}),
            [1.0, 1.0, 0.0],
        ),
        (
            "none",
            json!({"root_devices": [], "mfa_enabled": false}),
            [0.0, 0.0, 0.0],
        ),
        (
            "several",
            json!({"root_devices": [virt("a"), virt("b"), fido("c"), fido("d"), fido("e"),
                                    totp("f"), totp("g"), totp("h")]}),
            [2.0, 3.0, 3.0],
        ),
        (
            "second-page",
            json!({"root_devices": [totp("a"), virt("b"), fido("c")], "mfa_page_size": 1}),
            [1.0, 1.0, 1.0],
        ),
        (
            "keys-used",
            json!({"root_devices": [fido("key")], "root_access_keys": [
                {"id_suffix": "A1", "status": "Active", "last_used": KEY_USED,
                 "service": "s3", "region": "us-east-1", "created": "2024-01-01T00:00:00Z"},
                {"id_suffix": "B2", "status": "Active", "last_used": null,
                 "created": "2024-06-01T00:00:00Z"}]}),
            [0.0, 1.0, 0.0],
        ),
    ]
}

/// The member whose `AssumeRoot` is denied.
const DENIED: &str = "denied";

fn scenario() -> Value {
    let mut specs: Vec<Value> = members()
        .into_iter()
        .map(|(name, mut spec, _)| {
            spec["name"] = json!(name);
            spec
        })
        .collect();
    specs.push(json!({"name": DENIED, "root_devices": [dev("fido", "k")],
                      "assume_root_fault": {"status": 403, "code": "AccessDenied"}}));
    json!({"organization": {"management": {"mfa_enabled": true}, "members": specs}})
}

fn moto() -> &'static Moto {
    shared_moto(scenario)
}

fn device(m: &Exposition, account: &str, kind: &str) -> Option<f64> {
    m.value(
        "aws_root_mfa_devices",
        &[("account_id", account), ("type", kind)],
    )
}

#[test]
fn every_member_shows_its_exact_devices_and_last_activity() {
    let moto = moto();
    let org = moto.org();
    let env = moto.env_for(&org.management);
    let exporter = Exporter::start(&env, &["--organization.assume-root"]);
    exporter.wait_ready();
    let m = exporter.scrape();

    for (name, _, want) in members() {
        let id = org.id(name);
        assert_eq!(
            m.account("aws_root_check_success", id),
            Some(1.0),
            "{name}: {}",
            exporter.log()
        );
        let got = ["virtual", "fido", "hardware_totp"].map(|k| device(&m, id, k));
        assert_eq!(got, want.map(Some), "{name}");
        // IAM.6 strict: any virtual device fails it, whatever else root has.
        let hardware = want[0] == 0.0 && want[1] + want[2] > 0.0;
        assert_eq!(
            m.account("aws_root_mfa_hardware", id),
            Some(if hardware { 1.0 } else { 0.0 }),
            "{name}"
        );
        assert_eq!(
            m.account("aws_root_activity_check_success", id),
            Some(1.0),
            "{name}"
        );
    }

    // A virtual device beside a FIDO key shows as both, and fails IAM.6.
    let both = org.id("virtual-and-fido");
    assert_eq!(device(&m, both, "virtual"), Some(1.0));
    assert_eq!(device(&m, both, "fido"), Some(1.0));
    assert_eq!(
        m.value(
            "aws_root_control_status",
            &[
                ("account_id", both),
                ("control", "IAM.6"),
                ("status", "failed")
            ]
        ),
        Some(1.0)
    );

    // The password's last use as the world has it; absent where never used.
    let pw = "aws_root_password_last_used_timestamp_seconds";
    assert_eq!(m.account(pw, org.id("fido-only")), Some(PASSWORD_USED_UNIX));
    assert_eq!(m.account(pw, org.id("totp-only")), None);
    // Keys by ordinal, never by id: the older key was used, the newer never.
    let key = "aws_root_access_key_last_used_timestamp_seconds";
    let keys = org.id("keys-used");
    assert_eq!(
        m.value(key, &[("account_id", keys), ("key", "1")]),
        Some(KEY_USED_UNIX)
    );
    assert_eq!(m.value(key, &[("account_id", keys), ("key", "2")]), None);
    let text = exporter.get("/metrics").text();
    assert!(
        !text.contains("AKIA"),
        "a key id leaked into the exposition"
    );

    // AssumeRoot denied for one member fails that member only.
    let denied = org.id(DENIED);
    assert_eq!(m.account("aws_root_check_success", denied), Some(0.0));
    assert_eq!(device(&m, denied, "fido"), None);

    // The management account cannot be a root session's target: checked directly, with no
    // exact inventory.
    let mgmt = &org.management;
    assert_eq!(m.account("aws_root_check_success", mgmt), Some(1.0));
    assert_eq!(m.account("aws_root_mfa_enabled", mgmt), Some(1.0));
    assert_eq!(device(&m, mgmt, "fido"), None);

    // The Organization's feature state, with the account list.
    for name in [
        "aws_organization_root_credentials_management_enabled",
        "aws_organization_root_sessions_enabled",
    ] {
        assert_eq!(m.value(name, &[]), Some(1.0), "{name}");
    }

    // The landing page shows the inventory.
    let landing = exporter.get("/").text();
    assert!(landing.contains("virtual 1, fido 1"), "{landing}");
    exporter.terminate();
}

#[test]
fn root_credentials_management_disabled_exits_2_with_one_line() {
    let moto = Moto::start(&json!({"organization": {
        "management": {"mfa_enabled": true},
        "members": [{"name": "m", "root_devices": [dev("fido", "k")]}],
        "features": ["RootSessions"],
    }}));
    let env = moto.env_for(&moto.org().management);
    let out = exporter_command(
        &env,
        &[
            "--organization.assume-root",
            "--web.listen-address",
            "127.0.0.1:0",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains(" level=")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("RootCredentialsManagement is not enabled")
            && lines[0].contains("enable-organizations-root-credentials-management"),
        "{stderr}"
    );

    // Trusted access for IAM switched off altogether: the same single line, with the cause.
    moto.change_organization(&json!({"features": null}));
    let out = exporter_command(&env, &["--organization.assume-root", "check"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| !l.contains(" level=")).count(),
        1,
        "{stderr}"
    );
}

#[test]
fn root_sessions_are_reused_across_polls() {
    // Sessions of 70 s with a one-minute margin are fresh for 10 s; polls every 2 s.
    let moto = Moto::start(&json!({"organization": {
        "management": {"mfa_enabled": true},
        "members": [{"name": "a", "root_devices": [dev("fido", "k")]},
                    {"name": "b", "root_devices": [dev("virtual", "p")]}],
        "root_session_seconds": 70,
    }}));
    let org = moto.org();
    let exporter = Exporter::start(
        &moto.env_for(&org.management),
        &["--organization.assume-root", "--poll.interval", "2s"],
    );
    exporter.wait_ready();
    let addr = moto.endpoint.trim_start_matches("http://").parse().unwrap();
    let started = Instant::now();
    let stats = || get_json(addr, "/_fixture/stats");
    let count = |s: &Value, key: &str| s[key].as_f64().unwrap_or(0.0);
    let first = stats();
    std::thread::sleep(Duration::from_secs(25));
    let last = stats();
    let elapsed = started.elapsed().as_secs_f64();
    for name in ["a", "b"] {
        let id = org.id(name);
        let checks = count(&last, &format!("iam:ListMFADevices:{id}"))
            - count(&first, &format!("iam:ListMFADevices:{id}"));
        let assumed = count(&last, &format!("sts:AssumeRoot:{id}"))
            - count(&first, &format!("sts:AssumeRoot:{id}"));
        assert!(
            checks >= 8.0,
            "{name}: only {checks} checks in {elapsed:.0} s"
        );
        // One session per 10 s of use, at most: 25 s need three at the very most.
        assert!(
            assumed <= (elapsed / 10.0).ceil() + 1.0 && assumed < checks / 2.0,
            "{name}: {assumed} AssumeRoot for {checks} checks in {elapsed:.0} s"
        );
    }
    exporter.terminate();
}

#[test]
fn the_credential_report_gives_root_activity_in_role_mode() {
    // One account, checked with its own credentials (no root session), and a role-mode
    // Organization member: both read root's activity from the credential report, at most once
    // per --root-activity.interval however often they are polled.
    let moto = Moto::start(&json!({"organization": {
        "management": {"mfa_enabled": true, "password_last_used": PASSWORD_USED,
                       "root_access_keys": [
                           {"id_suffix": "A1", "status": "Active", "last_used": null,
                            "created": "2024-01-01T00:00:00Z"},
                           {"id_suffix": "B2", "status": "Active", "last_used": KEY_USED,
                            "service": "s3", "region": "us-east-1",
                            "created": "2024-06-01T00:00:00Z"}]},
        "members": [{"name": "never", "mfa_enabled": true, "password_last_used": null}],
    }}));
    let org = moto.org();
    let exporter = Exporter::start(
        &moto.env_for(&org.management),
        &[
            "--organization.role-name",
            "RootMfaReader",
            "--collector.root-activity",
            "--poll.interval",
            "1s",
        ],
    );
    exporter.wait_ready();
    let mgmt = org.management.as_str();
    let member = org.id("never");
    let mut m = exporter.scrape();
    exporter.wait_for("both activity reads", Duration::from_secs(20), || {
        m = exporter.scrape();
        m.account("aws_root_activity_check_success", mgmt) == Some(1.0)
            && m.account("aws_root_activity_check_success", member) == Some(1.0)
    });
    let pw = "aws_root_password_last_used_timestamp_seconds";
    assert_eq!(m.account(pw, mgmt), Some(PASSWORD_USED_UNIX));
    assert_eq!(m.account(pw, member), None, "never used: absent");
    let key = "aws_root_access_key_last_used_timestamp_seconds";
    assert_eq!(m.value(key, &[("account_id", mgmt), ("key", "1")]), None);
    assert_eq!(
        m.value(key, &[("account_id", mgmt), ("key", "2")]),
        Some(KEY_USED_UNIX)
    );
    // Role mode infers; it never claims an exact inventory.
    assert_eq!(m.account("aws_root_mfa_enabled", mgmt), Some(1.0));
    assert!(
        !exporter
            .get("/metrics")
            .text()
            .contains("aws_root_mfa_devices{")
    );

    // Several more polls: still one report read per account (the default interval is 4h).
    let polls = |m: &Exposition| {
        m.value(
            "aws_root_mfa_exporter_api_requests_total",
            &[("operation", "GetAccountSummary")],
        )
        .unwrap_or(0.0)
    };
    let before = polls(&m);
    exporter.wait_for("three more polls", Duration::from_secs(20), || {
        polls(&exporter.scrape()) >= before + 6.0
    });
    let m = exporter.scrape();
    assert_eq!(
        m.value(
            "aws_root_mfa_exporter_api_requests_total",
            &[("operation", "GetCredentialReport")]
        ),
        Some(2.0),
        "one read per account"
    );
    exporter.terminate();
}
