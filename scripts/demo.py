#!/usr/bin/env python3
"""Try it: the whole stack on loopback, for a newcomer. Starts the stand-in AWS (moto) with an
Organization in mixed states, the exporter watching it, Prometheus with the shipped alert rules,
and Alertmanager; prints where to look; stops everything cleanly on Ctrl-C (or after
--duration seconds). Run it with `make demo`.

Usage: demo.py --exporter target/release/aws-root-mfa-exporter [--duration SECONDS] [--ephemeral-ports]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = {"organization": {"management": {"mfa_enabled": True}, "members": [
    {"name": "payments-prod", "mfa_enabled": True, "unassigned": 1},
    {"name": "payments-dev", "mfa_enabled": True, "root_virtual": ["phone"]},
    {"name": "data-lake", "mfa_enabled": False},
    {"name": "sandbox-42", "mfa_enabled": False, "password": 0},
    {"name": "legacy-ci", "mfa_enabled": True, "access_keys": 1},
    {"name": "acquired-co", "mfa_enabled": True,
     "assume_role_fault": {"status": 403, "code": "AccessDenied"}},
    {"name": "old-project", "mfa_enabled": False, "status": "SUSPENDED"},
]}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(program, package):
    path = shutil.which(program)
    if not path:
        sys.exit(f"{program} is not installed: apt-get install {package} (or run `make deps`)")
    return path


def wait_ready(url, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"{what} did not come up at {url}")


def answers(url):
    """Whether `url` answers 200."""
    try:
        return urllib.request.urlopen(url, timeout=5).status == 200
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--exporter", required=True)
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: on Ctrl-C)")
    p.add_argument("--ephemeral-ports", action="store_true", help="pick free ports instead of the usual ones")
    args = p.parse_args()
    prometheus_bin = need("prometheus", "prometheus")
    alertmanager_bin = need("prometheus-alertmanager", "prometheus-alertmanager")

    if args.ephemeral_ports:
        ports = {k: free_port() for k in ("exporter", "prometheus", "alertmanager")}
    else:
        ports = {"exporter": 10466, "prometheus": 19090, "alertmanager": 19093}
    work = tempfile.mkdtemp(prefix="aws-root-mfa-demo-")
    procs = []

    def start(cmd, **kw):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        procs.append(proc)
        return proc

    def stop(*_):
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        scenario = os.path.join(work, "scenario.json")
        with open(scenario, "w") as f:
            json.dump(SCENARIO, f)
        moto = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "moto_launcher.py"),
                                 "--scenario", scenario, "--exit-on-stdin-close"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(moto)
        ready = json.loads(moto.stdout.readline())
        management = ready["organization"]["management"]
        creds = ready["credentials"][management]
        env = {
            "PATH": os.environ.get("PATH", ""), "HOME": work,
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": ready["endpoint"], "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": creds["access_key_id"], "AWS_SECRET_ACCESS_KEY": creds["secret_access_key"],
        }
        exporter = f"127.0.0.1:{ports['exporter']}"
        start([args.exporter, "--web.listen-address", exporter, "--poll.interval", "15s",
               "--organization.role-name", "RootMfaReader"], env=env)
        wait_ready(f"http://{exporter}/readyz", "the exporter")

        am = f"127.0.0.1:{ports['alertmanager']}"
        with open(os.path.join(work, "alertmanager.yml"), "w") as f:
            f.write("route:\n  receiver: demo\n  group_by: [alertname, account_id]\n  group_wait: 5s\n"
                    "receivers:\n  - name: demo\n")
        start([alertmanager_bin, f"--config.file={work}/alertmanager.yml", f"--storage.path={work}/am",
               f"--web.listen-address={am}", "--cluster.listen-address="])
        prom = f"127.0.0.1:{ports['prometheus']}"
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(f"global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n"
                    f"rule_files: [{ROOT}/deploy/prometheus/alerts.yml]\n"
                    f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
                    f"scrape_configs:\n  - job_name: aws-root-mfa-exporter\n    static_configs:\n"
                    f"      - targets: ['{exporter}']\n")
        start([prometheus_bin, f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/prom",
               f"--web.listen-address={prom}"])
        wait_ready(f"http://{am}/-/ready", "Alertmanager")
        wait_ready(f"http://{prom}/-/ready", "Prometheus")
        # Debian's Prometheus (2.42) serves its alerts page under /classic; upstream builds at /alerts.
        alerts_page = next((path for path in ("/alerts", "/classic/alerts") if answers(f"http://{prom}{path}")),
                           "/alerts")

        print(f"""
The demo runs on loopback: a stand-in AWS Organization of 8 accounts, the exporter, Prometheus and
Alertmanager.

  Exporter      http://{exporter}/
                every account and each control's verdict; /metrics for the raw series
  Prometheus    http://{prom}{alerts_page}
                the alert rules: within half a minute AwsRootMfaDisabled (data-lake),
                AwsRootMfaNotHardware (payments-dev) and AwsRootAccessKeysPresent (legacy-ci) fire
  Alertmanager  http://{am}/api/v2/alerts
                the same alerts, delivered, one per account (Debian's Alertmanager has no web
                page); or: amtool --alertmanager.url=http://{am} alert query

payments-prod and the management account are compliant; sandbox-42 has no root credentials
(not applicable); acquired-co's role cannot be assumed, so its check fails (AwsRootMfaCheckFailing
after 15 minutes); old-project is suspended and not watched. The Grafana dashboard in
grafana/dashboards/ can be imported against this Prometheus as its data source.
""", flush=True)
        if args.duration:
            time.sleep(args.duration)
        else:
            print("Press Ctrl-C to stop.", flush=True)
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
