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
    assert!(said.contains("SUCCESS: 15 rules found"), "{said}");
    let said = run_in_repo(
        &require_program("amtool", "prometheus-alertmanager"),
        &["check-config", "deploy/alertmanager/alertmanager.yml"],
    );
    assert!(said.contains("SUCCESS"), "{said}");
}

#[test]
fn the_systemd_units_verify() {
    // systemd-analyze wants the binary to exist: point the unit at the one just built.
    let dir = tempdir("systemd");
    let unit = repo_file("deploy/systemd/aws-root-mfa-exporter.service")
        .replace("/usr/local/bin/aws-root-mfa-exporter", support::EXPORTER);
    let service = dir.join("aws-root-mfa-exporter.service");
    std::fs::write(&service, unit).unwrap();
    let socket = dir.join("aws-root-mfa-exporter.socket");
    std::fs::write(
        &socket,
        repo_file("deploy/systemd/aws-root-mfa-exporter.socket"),
    )
    .unwrap();
    let out = Command::new(require_program("systemd-analyze", "systemd"))
        .args([
            "verify",
            service.to_str().unwrap(),
            socket.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !said.contains("aws-root-mfa-exporter."),
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
fn the_demo_starts_the_stack_and_its_addresses_answer() {
    use std::io::{BufRead, BufReader, Read};
    let mut demo = Command::new(python())
        .args([
            "scripts/demo.py",
            "--exporter",
            support::EXPORTER,
            "--duration",
            "10",
            "--ephemeral-ports",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner
        .lines()
        .any(|l| l.trim_start().starts_with("Alertmanager") && l.contains("http://"))
    {
        assert!(
            lines.read_line(&mut banner).unwrap() > 0,
            "the demo ended early: {banner}"
        );
    }
    let url = |name: &str| -> String {
        let line = banner
            .lines()
            .find(|l| l.trim_start().starts_with(name) && l.contains("http://"))
            .unwrap_or_else(|| panic!("{name}: {banner}"));
        line.split_whitespace().nth(1).unwrap().to_owned()
    };
    // Every address the demo prints answers, with the packages the README installs.
    let mut addrs = Vec::new();
    for name in ["Exporter", "Prometheus", "Alertmanager"] {
        let url = url(name);
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr: std::net::SocketAddr = host.parse().unwrap();
        let path = if path.is_empty() { "/" } else { path };
        let answer = support::http(addr, "GET", path, &[], b"");
        assert_eq!(answer.status, 200, "{name}: {url}");
        addrs.push(addr);
    }
    let mut rest = String::new();
    lines.read_to_string(&mut rest).unwrap();
    let status = demo.wait().unwrap();
    assert!(status.success(), "{banner}{rest}");
    assert!(rest.trim_end().ends_with("Stopped."), "{rest}");
    assert!(
        std::net::TcpStream::connect(addrs[0]).is_err(),
        "the exporter was stopped"
    );
}

#[test]
fn the_event_rules_match_what_the_exporter_acts_on() {
    use aws_root_mfa_exporter::events::parse::POSTURE_EVENTS;
    for template in [
        "deploy/cloudformation/events-account.yaml",
        "deploy/cloudformation/events-organization.yaml",
    ] {
        let text = repo_file(template);
        for name in POSTURE_EVENTS {
            assert!(text.contains(name), "{template} does not match {name}");
        }
        for needed in [
            "ConsoleLogin",
            "SqsManagedSseEnabled",
            "deadLetterTargetArn",
        ] {
            assert!(text.contains(needed), "{template} lacks {needed}");
        }
    }
    // The StackSet's member template writes the names on one line; every one is there.
    let org = repo_file("deploy/cloudformation/events-organization.yaml");
    let member = org.split("TemplateBody:").nth(1).unwrap();
    for name in POSTURE_EVENTS {
        assert!(
            member.contains(name),
            "the member rule does not match {name}"
        );
    }
    let policy: Value = serde_json::from_str(&repo_file("deploy/iam/events-policy.json")).unwrap();
    let actions: Vec<&str> = policy["Statement"][0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions, ["sqs:ReceiveMessage", "sqs:DeleteMessage"]);
}
