#!/usr/bin/env python3
"""Organization benchmark: one full poll of an Organization of N accounts by the exporter,
side by side with the CIS audit procedure done as documented with the AWS CLI, in one run.
Also measures how many calls per second the stand-in AWS (moto) sustains when driven as fast as
it can go, to show how close the exporter comes to that limit. Prints a Markdown report.

Usage: organization.py --exporter target/release/aws-root-mfa-exporter --aws .venv-cli/bin/aws
                       [--accounts 1000] [--cli-sample 100]

The CLI audit takes about a second per account here (three Python processes), so it is run on
the first --cli-sample accounts and its time per account is multiplied out to the Organization;
the report says so. AWS calls are counted by the stand-in itself (GET /_fixture/stats).
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from bench import exporter_env, machine, start_exporter, status_kib  # noqa: E402  (same folder)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ROLE = "RootMfaReader"


def scenario(n):
    members = []
    for i in range(n):
        kind = i % 10
        if kind < 7:
            spec = {"mfa_enabled": True, "unassigned": 1}
        elif kind < 9:
            spec = {"mfa_enabled": True, "root_virtual": ["phone"]}
        else:
            spec = {"mfa_enabled": False}
        spec["name"] = f"account-{i:04d}"
        members.append(spec)
    return {"organization": {"management": {"mfa_enabled": True}, "members": members}}


def start_moto(n, spec=None):
    """Starts the stand-in with an Organization of `n` members (`spec`, or this benchmark's)."""
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(spec if spec is not None else scenario(n), f)
    f.close()
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "moto_launcher.py"), "--scenario", f.name,
         "--exit-on-stdin-close"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(proc.stdout.readline())
    return proc, ready, time.perf_counter() - t


def stats(endpoint, reset=False):
    req = urllib.request.Request(endpoint + "/_fixture/stats", method="DELETE" if reset else "GET")
    return json.loads(urllib.request.urlopen(req).read())


def summaries(url):
    """GetAccountSummary calls the exporter has made, from its own counter."""
    for line in urllib.request.urlopen(url + "/metrics").read().decode().splitlines():
        if line.startswith("aws_root_mfa_exporter_api_requests_total{") and "GetAccountSummary" in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def run(cmd, env):
    """Runs a command; returns (wall seconds, peak RSS in KiB, stdout)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t, usage.ru_maxrss, out


def cli_audit(aws, env, account_ids):
    """The CIS procedure per account: assume the role, get-account-summary, list-virtual-mfa-devices."""
    peak, t = 0, time.perf_counter()
    for account in account_ids:
        _, rss, out = run([aws, "sts", "assume-role", "--role-arn", f"arn:aws:iam::{account}:role/{ROLE}",
                           "--role-session-name", "cis-audit", "--output", "json"], env)
        peak = max(peak, rss)
        c = json.loads(out)["Credentials"]
        member = dict(env, AWS_ACCESS_KEY_ID=c["AccessKeyId"], AWS_SECRET_ACCESS_KEY=c["SecretAccessKey"],
                      AWS_SESSION_TOKEN=c["SessionToken"])
        for args in (["iam", "get-account-summary"],
                     ["iam", "list-virtual-mfa-devices", "--assignment-status", "Assigned"]):
            _, rss, _ = run([aws, *args, "--output", "json"], member)
            peak = max(peak, rss)
    return time.perf_counter() - t, peak


def drive_standin(endpoint, access_key, seconds=10, threads=8):
    """GetAccountSummary as fast as the stand-in answers, from `threads` keep-alive connections."""
    host, port = endpoint.replace("http://", "").split(":")
    body = "Action=GetAccountSummary&Version=2010-05-08"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        # moto does not verify signatures; the credential scope names the service and account.
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/20260101/us-east-1/iam/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    }
    counts, stop = [0] * threads, time.perf_counter() + seconds

    def worker(i):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        while time.perf_counter() < stop:
            try:
                conn.request("POST", "/", body, headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    counts[i] += 1
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=10)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--exporter", required=True)
    p.add_argument("--aws", required=True, help="the AWS CLI executable")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--cli-sample", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args()

    moto, ready, setup = start_moto(args.accounts)
    try:
        org = ready["organization"]
        management = org["management"]
        env = exporter_env(ready, management)
        total = args.accounts + 1

        stats(ready["endpoint"], reset=True)
        wall, rss, out = run([args.exporter, "check", "--output", "json", "--organization.role-name", ROLE,
                              "--poll.concurrency", str(args.concurrency)], env)
        report = json.loads(out)
        exporter_calls = stats(ready["endpoint"], reset=True)
        checked = report["summary"]["accounts"] - report["summary"]["error"]

        # The server: memory with every account exported, and the calls of a steady-state poll
        # (the second one, whose checks are spread over half of the 20 s interval).
        server, url = start_exporter(args.exporter, env, "20s", ["--organization.role-name", ROLE])
        server_rss, server_hwm = status_kib(server.pid, "VmRSS"), status_kib(server.pid, "VmHWM")
        exposition = urllib.request.urlopen(url + "/metrics").read()
        stats(ready["endpoint"], reset=True)
        first_summaries = summaries(url)
        deadline = time.time() + 120
        while summaries(url) < 2 * first_summaries and time.time() < deadline:
            time.sleep(0.5)
        steady_calls = stats(ready["endpoint"], reset=True)
        server.terminate()
        server.wait()

        sample = sorted(org["members"].values())[: args.cli_sample]
        cli_wall, cli_rss = cli_audit(args.aws, env, sample)
        cli_calls = stats(ready["endpoint"], reset=True)

        access_key = ready["credentials"][management]["access_key_id"]
        limit = drive_standin(ready["endpoint"], access_key)
    finally:
        moto.stdin.close()
        moto.wait(timeout=30)

    n_exp = sum(exporter_calls.values())
    n_cli = sum(cli_calls.values())
    cli_per_account = cli_wall / len(sample)
    cli_est = cli_per_account * total
    print(f"Machine: {machine()}. Stand-in: moto on loopback (one Python process), an Organization of")
    print(f"{total} accounts (management + {args.accounts} members: 70% hardware MFA, 20% virtual, 10% none),")
    print(f"set up in {setup:.0f} s. Exporter: `check --poll.concurrency {args.concurrency}`.\n")
    print("| | exporter `check` | AWS CLI, CIS procedure |\n|---|---|---|")
    print(f"| accounts | {total} ({checked} checked) | {len(sample)} measured, {total} extrapolated |")
    print(f"| wall time | {wall:.1f} s | {cli_wall:.1f} s for {len(sample)} "
          f"({cli_per_account:.2f} s/account), about {cli_est / 60:.0f} min for {total} |")
    print(f"| ratio (CLI / exporter) | 1 | {cli_est / wall:.0f}x |")
    print(f"| AWS calls per account | {n_exp / total:.2f} | {n_cli / len(sample):.2f} |")
    print(f"| peak RSS | {rss / 1024:.1f} MiB | {cli_rss / 1024:.1f} MiB per CLI process |")
    print()
    print(f"Serving the same Organization: RSS {server_rss / 1024:.1f} MiB after the first poll "
          f"(peak {server_hwm / 1024:.1f} MiB), exposition {len(exposition) / 1024:.0f} KiB.\n")
    print("AWS calls the stand-in saw during the one-shot `check` (cold: every role assumed): "
          + ", ".join(f"{k} {v}" for k, v in sorted(exporter_calls.items())) + ".")
    print(f"\nAWS calls of the server's second poll (steady state, {sum(steady_calls.values()) / total:.2f} "
          "per account): " + ", ".join(f"{k} {v}" for k, v in sorted(steady_calls.items())) + ".")
    rate = n_exp / wall
    print(f"\nThe stand-in sustains {limit:.0f} calls/s when driven as fast as it goes (8 keep-alive "
          f"connections, GetAccountSummary); the exporter's poll ran at {rate:.0f} calls/s, "
          f"{rate / limit:.0%} of that limit.")


if __name__ == "__main__":
    main()
