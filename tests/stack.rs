//! The end-to-end proof of operation: moto with an Organization in mixed states, the exporter,
//! a real Prometheus scraping it with the shipped alert rules, and a real Alertmanager. Checks
//! through their HTTP APIs that the right alerts fire for the right accounts and reach
//! Alertmanager, that compliant and not-applicable accounts fire nothing, that every panel of
//! the Grafana dashboard returns data, and that fixing an account resolves its alert.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::{
    Daemon, Exporter, Moto, get_json, repo_file, require_program, start_daemon,
    start_prometheus_with, tempdir, wait_until,
};

const JOB: &str = "aws-root-mfa-exporter";

fn start_alertmanager(dir: &Path) -> (Daemon, SocketAddr) {
    let binary = require_program("prometheus-alertmanager", "prometheus-alertmanager");
    let config = dir.join("alertmanager.yml");
    // Tight timings so the test sees alerts within seconds; the shipped example route is linted
    // separately.
    std::fs::write(
        &config,
        "route:\n  receiver: quiet\n  group_by: [alertname, account_id]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: quiet\n",
    )
    .unwrap();
    start_daemon(&binary, |addr| {
        vec![
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address={addr}"),
            "--cluster.listen-address=".into(),
        ]
    })
}

fn start_prometheus(
    dir: &Path,
    exporter: SocketAddr,
    alertmanager: SocketAddr,
) -> (Daemon, SocketAddr) {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yml");
    start_prometheus_with(
        dir,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{rules}]\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n\
             scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{exporter}']\n",
            rules = rules.display()
        ),
    )
}

/// Firing alerts in Prometheus, as alertname -> account ids.
fn prometheus_alerts(prometheus: SocketAddr) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in get_json(prometheus, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
    {
        if a["state"] == "firing" {
            by_name
                .entry(a["labels"]["alertname"].as_str().unwrap().into())
                .or_default()
                .insert(a["labels"]["account_id"].as_str().unwrap_or("").into());
        }
    }
    by_name
}

/// Active alerts in Alertmanager, as alertname -> account ids.
fn alertmanager_alerts(alertmanager: SocketAddr) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in get_json(
        alertmanager,
        "/api/v2/alerts?active=true&silenced=false&inhibited=false",
    )
    .as_array()
    .unwrap()
    {
        by_name
            .entry(a["labels"]["alertname"].as_str().unwrap().into())
            .or_default()
            .insert(a["labels"]["account_id"].as_str().unwrap_or("").into());
    }
    by_name
}

fn query(prometheus: SocketAddr, expr: &str) -> Vec<Value> {
    let path = format!("/api/v1/query?query={}", urlencode(expr));
    let answer = get_json(prometheus, &path);
    assert_eq!(answer["status"], "success", "{expr}: {answer}");
    answer["data"]["result"].as_array().unwrap().clone()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The dashboard's queries with its variables set as Grafana would for "All".
fn dashboard_queries() -> Vec<(String, String)> {
    let dashboard: Value =
        serde_json::from_str(&repo_file("grafana/dashboards/aws-root-mfa.json")).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap().to_owned();
            p["targets"].as_array().unwrap().iter().map(move |t| {
                let expr = t["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$job", JOB)
                    .replace("$account", ".*")
                    .replace("$__rate_interval", "1m");
                (title.clone(), expr)
            })
        })
        .collect()
}

/// Metrics only `--organization.assume-root` exports: the role-mode run cannot show them.
const ASSUME_ROOT_ONLY: [&str; 3] = [
    "aws_root_mfa_devices",
    "aws_root_password_last_used_timestamp_seconds",
    "aws_root_access_key_last_used_timestamp_seconds",
];

/// Metrics only `--events.sqs-queue-url` exports: the other runs cannot show them.
const EVENTS_ONLY: &str = "aws_root_mfa_exporter_events_";

fn assume_root_only(expr: &str) -> bool {
    ASSUME_ROOT_ONLY.iter().any(|m| expr.contains(m))
}

/// A Unix time as ISO 8601 in UTC (`2026-01-02T03:04:05Z`), for the stand-in's scenarios.
fn iso8601(unix: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

fn scenario() -> Value {
    json!({"organization": {"management": {"mfa_enabled": true}, "members": [
        {"name": "hardware", "mfa_enabled": true, "unassigned": 1},
        {"name": "virtual", "mfa_enabled": true, "root_virtual": ["phone"]},
        {"name": "no-mfa", "mfa_enabled": false},
        {"name": "to-fix", "mfa_enabled": false},
        {"name": "centralized-root", "mfa_enabled": false, "password": 0},
        {"name": "root-keys", "mfa_enabled": true, "access_keys": 1},
        {"name": "denied", "mfa_enabled": true, "assume_role_fault": {"status": 403, "code": "AccessDenied"}},
    ]}})
}

#[test]
fn alerts_fire_for_the_right_accounts_reach_alertmanager_and_resolve_when_fixed() {
    let moto = Moto::start(&scenario());
    let org = moto.org();
    let id = |name: &str| org.id(name).to_owned();
    let exporter = Exporter::start(
        &moto.env_for(&org.management),
        &[
            "--organization.role-name",
            "RootMfaReader",
            "--poll.interval",
            "2s",
        ],
    );
    exporter.wait_ready();
    let dir = tempdir("stack");
    let (_am, alertmanager) = start_alertmanager(&dir);
    let (_prom, prometheus) = start_prometheus(&dir, exporter.addr, alertmanager);

    let want: BTreeMap<String, BTreeSet<String>> = [
        ("AwsRootMfaDisabled", vec![id("no-mfa"), id("to-fix")]),
        ("AwsRootMfaNotHardware", vec![id("virtual")]),
        ("AwsRootAccessKeysPresent", vec![id("root-keys")]),
    ]
    .into_iter()
    .map(|(name, ids)| (name.to_owned(), ids.into_iter().collect()))
    .collect();
    let mut seen = BTreeMap::new();
    wait_until(
        "the posture alerts to fire in Prometheus",
        Duration::from_secs(60),
        || {
            seen = prometheus_alerts(prometheus);
            seen == want
        },
    );
    wait_until(
        "the alerts to reach Alertmanager",
        Duration::from_secs(60),
        || alertmanager_alerts(alertmanager) == want,
    );
    // Every posture alert names the account, from aws_root_account_info, in its labels and
    // its summary.
    for a in get_json(prometheus, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
    {
        let account = a["labels"]["account_id"].as_str().unwrap_or("");
        let Some(name) = org
            .members
            .iter()
            .find_map(|(name, id)| (id == account).then_some(name))
        else {
            continue;
        };
        assert_eq!(a["labels"]["account_name"], name.as_str(), "{a}");
        assert!(
            a["annotations"]["summary"]
                .as_str()
                .unwrap()
                .contains(&format!("{name} ({account})")),
            "{a}"
        );
    }
    let quiet = [
        org.management.clone(),
        id("hardware"),
        id("centralized-root"),
    ];
    for alerts in seen.values() {
        assert!(
            alerts.iter().all(|a| !quiet.contains(a)),
            "compliant or not-applicable accounts fire nothing: {seen:?}"
        );
    }

    // Every panel of the dashboard has data, and the fleet counts are right.
    // (Rates need two scrapes in their window, hence the wait.)
    for (title, expr) in dashboard_queries() {
        if assume_root_only(&expr) || expr.contains(EVENTS_ONLY) {
            continue;
        }
        wait_until(
            &format!("panel {title:?} to return data: {expr}"),
            Duration::from_secs(30),
            || !query(prometheus, &expr).is_empty(),
        );
    }
    let count = |expr_title: &str| -> f64 {
        let (_, expr) = dashboard_queries()
            .into_iter()
            .find(|(t, _)| t == expr_title)
            .unwrap();
        query(prometheus, &expr)[0]["value"][1]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        count("Hardware MFA"),
        3.0,
        "management, hardware, root-keys"
    );
    assert_eq!(count("Virtual MFA"), 1.0);
    assert_eq!(count("No MFA"), 2.0);
    assert_eq!(count("Not applicable"), 1.0);
    assert_eq!(count("Root access keys"), 1.0, "root-keys");
    assert_eq!(count("Checks failing"), 1.0, "the denied account");
    assert_eq!(
        count("IAM.6 compliant"),
        50.0,
        "3 of the 6 accounts with root credentials"
    );

    // Fix one account in the stand-in: its alert resolves after the next poll.
    moto.apply(&json!([{"id": id("to-fix"), "mfa_enabled": true}]));
    wait_until(
        "the fixed account's alert to resolve",
        Duration::from_secs(60),
        || {
            let p = prometheus_alerts(prometheus);
            p.get("AwsRootMfaDisabled") == Some(&[id("no-mfa")].into_iter().collect())
        },
    );
    wait_until(
        "Alertmanager to see it resolved",
        Duration::from_secs(60),
        || {
            alertmanager_alerts(alertmanager).get("AwsRootMfaDisabled")
                == Some(&[id("no-mfa")].into_iter().collect())
        },
    );
}

#[test]
fn iso8601_is_utc() {
    assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
    assert_eq!(iso8601(1_767_323_045), "2026-01-02T03:04:05Z");
    assert_eq!(iso8601(1_709_210_096), "2024-02-29T12:34:56Z");
}

#[test]
fn root_activity_alerts_fire_and_the_assume_root_panels_have_data() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hour_ago = iso8601(now - 3600);
    let two_days_ago = iso8601(now - 2 * 86_400);
    let fido = json!({"kind": "fido", "name": "key"});
    let moto = Moto::start(
        &json!({"organization": {"management": {"mfa_enabled": true}, "members": [
            {"name": "signed-in", "root_devices": [fido], "password_last_used": hour_ago},
            {"name": "old-sign-in", "root_devices": [fido], "password_last_used": two_days_ago},
            {"name": "key-used", "root_devices": [{"kind": "virtual", "name": "phone"}, fido],
             "root_access_keys": [{"id_suffix": "A1", "status": "Active", "last_used": hour_ago}]},
        ]}}),
    );
    let org = moto.org();
    let id = |name: &str| org.id(name).to_owned();
    let exporter = Exporter::start(
        &moto.env_for(&org.management),
        &[
            "--organization.assume-root",
            "--poll.interval",
            "2s",
            "--organization.refresh-interval",
            "2s",
        ],
    );
    exporter.wait_ready();
    let dir = tempdir("stack-root");
    let (_am, alertmanager) = start_alertmanager(&dir);
    let (_prom, prometheus) = start_prometheus(&dir, exporter.addr, alertmanager);

    let activity = |alerts: &BTreeMap<String, BTreeSet<String>>| {
        (
            alerts.get("AwsRootUserSignedIn").cloned(),
            alerts.get("AwsRootAccessKeyUsed").cloned(),
        )
    };
    let want = (
        Some([id("signed-in")].into_iter().collect()),
        Some([id("key-used")].into_iter().collect()),
    );
    wait_until(
        "the root activity alerts to fire for the right accounts",
        Duration::from_secs(60),
        || activity(&prometheus_alerts(prometheus)) == want,
    );
    wait_until(
        "the root activity alerts to reach Alertmanager",
        Duration::from_secs(60),
        || activity(&alertmanager_alerts(alertmanager)) == want,
    );

    // The panels that only this mode feeds have data, and say the right thing.
    for (title, expr) in dashboard_queries() {
        if assume_root_only(&expr) || expr.contains("aws_organization_") {
            wait_until(
                &format!("panel {title:?} to return data: {expr}"),
                Duration::from_secs(30),
                || !query(prometheus, &expr).is_empty(),
            );
        }
    }
    let (_, beside) = dashboard_queries()
        .into_iter()
        .find(|(t, _)| t == "Virtual beside hardware")
        .unwrap();
    assert_eq!(query(prometheus, &beside)[0]["value"][1], "1", "key-used");

    // Centralized root access switched off: the alert fires for the Organization.
    assert!(!prometheus_alerts(prometheus).contains_key("AwsOrganizationRootAccessDisabled"));
    moto.change_organization(&json!({"features": []}));
    wait_until(
        "AwsOrganizationRootAccessDisabled to fire",
        Duration::from_secs(60),
        || prometheus_alerts(prometheus).contains_key("AwsOrganizationRootAccessDisabled"),
    );
}

/// Alerts in Prometheus in `state` (`pending` or `firing`), by name.
fn alerts_in_state(prometheus: SocketAddr, state: &str) -> BTreeSet<String> {
    get_json(prometheus, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == state)
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_cloudtrail_event_fires_the_alert_within_an_evaluation_while_the_poll_is_hourly() {
    const ACCOUNT: &str = "300000000001";
    const QUEUE: &str = "stack-events";
    let moto = Moto::start(&json!({"accounts": [
        {"id": ACCOUNT, "mfa_enabled": true, "unassigned": 1},
    ]}));
    let url = moto.sqs(&json!({"account": ACCOUNT, "queue": QUEUE, "op": "create"}))["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let exporter = Exporter::start(
        &moto.env_for(ACCOUNT),
        &["--poll.interval", "1h", "--events.sqs-queue-url", &url],
    );
    exporter.wait_ready();
    let dir = tempdir("stack-events");
    let (_am, alertmanager) = start_alertmanager(&dir);
    let (_prom, prometheus) = start_prometheus(&dir, exporter.addr, alertmanager);
    wait_until(
        "Prometheus to see the account with MFA",
        Duration::from_secs(30),
        || !query(prometheus, "aws_root_mfa_enabled == 1").is_empty(),
    );
    assert!(prometheus_alerts(prometheus).is_empty());

    // Root's MFA removed, and CloudTrail's event on the queue: with a 1 s scrape and
    // evaluation interval, the alert fires within seconds, not at the next poll an hour on.
    let sent = std::time::Instant::now();
    moto.sqs(&json!({"account": ACCOUNT, "queue": QUEUE, "op": "send",
        "apply": [{"id": ACCOUNT, "mfa_enabled": false}],
        "events": [{"account": ACCOUNT, "name": "DeactivateMFADevice"}]}));
    wait_until(
        "AwsRootMfaDisabled to fire after the event",
        Duration::from_secs(10),
        || prometheus_alerts(prometheus).contains_key("AwsRootMfaDisabled"),
    );
    eprintln!("event to firing alert: {:?}", sent.elapsed());
    // The panels that only events feed have data.
    for (title, expr) in dashboard_queries() {
        if expr.contains(EVENTS_ONLY) {
            wait_until(
                &format!("panel {title:?} to return data: {expr}"),
                Duration::from_secs(30),
                || !query(prometheus, &expr).is_empty(),
            );
        }
    }
    wait_until(
        "the alert to reach Alertmanager",
        Duration::from_secs(30),
        || alertmanager_alerts(alertmanager).contains_key("AwsRootMfaDisabled"),
    );

    // The queue disappears: the queue alert goes pending at once (it fires after 15 minutes).
    moto.sqs(&json!({"account": ACCOUNT, "queue": QUEUE, "op": "delete"}));
    wait_until(
        "AwsRootMfaExporterEventQueueFailing to be pending",
        // The receive under way when the queue went may wait its 20 s out first.
        Duration::from_secs(45),
        || alerts_in_state(prometheus, "pending").contains("AwsRootMfaExporterEventQueueFailing"),
    );
    // And resolves once the queue can be read again.
    moto.sqs(&json!({"account": ACCOUNT, "queue": QUEUE, "op": "create"}));
    wait_until(
        "AwsRootMfaExporterEventQueueFailing to clear",
        Duration::from_secs(45),
        || !alerts_in_state(prometheus, "pending").contains("AwsRootMfaExporterEventQueueFailing"),
    );
}
