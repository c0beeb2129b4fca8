//! Deployment artifacts that the tools of this machine can check: the example Prometheus and
//! Alertmanager configurations, the systemd unit, the IAM policy, and the PrometheusRule's
//! copy of the alert rules. (hadolint, checkov, kubernetes-validate and cfn-lint, which come
//! from PyPI, run in `.ci/run`; see `make lint-deploy`.)

mod support;

use std::process::Command;

use serde_json::Value;
use support::{python, repo_file, require_program, run_in_repo, tempdir};

#[test]
fn example_prometheus_and_alertmanager_configurations_are_valid() {
    let said = run_in_repo(
        &require_program("promtool", "prometheus"),
        &["check", "config", "deploy/prometheus/prometheus.yml"],
    );
    assert!(said.contains("SUCCESS: 14 rules found"), "{said}");
    let said = run_in_repo(
        &require_program("amtool", "prometheus-alertmanager"),
        &["check-config", "deploy/alertmanager/alertmanager.yml"],
    );
    assert!(said.contains("SUCCESS"), "{said}");
}

#[test]
fn the_systemd_unit_verifies() {
    // systemd-analyze wants the binary to exist: point the unit at the one just built.
    let unit = repo_file("deploy/systemd/aws-root-mfa-exporter.service")
        .replace("/usr/local/bin/aws-root-mfa-exporter", support::EXPORTER);
    let path = tempdir("systemd").join("aws-root-mfa-exporter.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(require_program("systemd-analyze", "systemd"))
        .args(["verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !said.contains("aws-root-mfa-exporter.service:"),
        "{said}"
    );
}

#[test]
fn the_iam_policy_grants_exactly_the_read_calls() {
    let policy: Value = serde_json::from_str(&repo_file("deploy/iam/policy.json")).unwrap();
    let actions: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["iam:GetAccountSummary", "iam:ListVirtualMFADevices"]
    );
    let stackset = repo_file("deploy/iam/stackset-role.yaml");
    assert!(stackset.contains("sts:ExternalId") && stackset.contains("iam:ListVirtualMFADevices"));
}

#[test]
fn the_prometheus_rule_carries_the_same_alerts() {
    // PyYAML comes with moto; compare the parsed documents, not the text.
    let script = "import sys, yaml\n\
        a = yaml.safe_load(open('deploy/prometheus/alerts.yml'))['groups']\n\
        b = yaml.safe_load(open('deploy/kubernetes/common/prometheusrule.yaml'))['spec']['groups']\n\
        sys.exit(0 if a == b else 'deploy/kubernetes/common/prometheusrule.yaml differs from deploy/prometheus/alerts.yml')\n";
    let out = Command::new(python())
        .args(["-c", script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_demo_starts_the_stack_and_stops_it_cleanly() {
    let out = Command::new(python())
        .args([
            "scripts/demo.py",
            "--exporter",
            support::EXPORTER,
            "--duration",
            "3",
            "--ephemeral-ports",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = |name: &str| -> String {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name) && l.contains("http://"))
            .unwrap_or_else(|| panic!("{name}: {stdout}"));
        line.split_whitespace().nth(1).unwrap().to_owned()
    };
    let exporter = url("Exporter");
    assert!(exporter.starts_with("http://127.0.0.1:"), "{stdout}");
    assert!(
        url("Prometheus").ends_with("/alerts")
            && url("Alertmanager").starts_with("http://127.0.0.1:")
    );
    assert!(stdout.trim_end().ends_with("Stopped."), "{stdout}");
    let addr: std::net::SocketAddr = exporter
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the exporter was stopped"
    );
}
