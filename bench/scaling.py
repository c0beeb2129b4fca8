#!/usr/bin/env python3
"""The cost curve: the serving exporter over Organizations of 1, 100, 1000 and 10,000 accounts
in the stand-in, each measured in one run beside the stand-in's own limit. Prints a Markdown
report (the figures in docs/scaling.md).

Usage: scaling.py --exporter target/release/aws-root-mfa-exporter [--sizes 1,100,1000,10000]
                  [--duration 5] [--concurrency 16]
Needs: the moto virtualenv (make venv), wrk and nginx (apt-get install wrk nginx-light).

For each size (the management account and size - 1 members; 90% with MFA on):
1. The exporter serves with `--poll.interval 1s`, so that its second poll follows the first at
   once: the first is cold (every role assumed, the accounts listed), the second warm (cached
   credentials). Each poll's wall time is the exporter's own (its "poll finished" log line);
   the AWS calls of each are counted by the stand-in, the exporter paused (SIGSTOP) between
   polls so that none of the next poll's calls are counted. RSS: peak (VmHWM) over both
   polls, and after the warm one.
2. The stand-in is then paused and /metrics scraped with wrk (gzip and plain, 4 connections)
   beside nginx serving the very same bytes from a file.
3. The floor: the stand-in driven as fast as it goes (16 keep-alive connections, the most it
   takes) with only the calls a correct poller must make: for the cold poll the listing of the
   accounts, page after page, then per member AssumeRole, GetAccountSummary and, where MFA is
   on, ListVirtualMFADevices; for the warm one the same without AssumeRole and the listing.
   Its wall time is what moto needs to answer them, so the exporter's poll time over it is
   the exporter's own overhead: the target is at most 1.25.
"""

import argparse
import http.client
import json
import os
import queue
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from bench import exporter_env, machine, start_exporter, status_kib, wrk  # noqa: E402  (same folder)
from load import free_port, start_nginx  # noqa: E402
from organization import ROLE, start_moto, stats  # noqa: E402

POLLED = re.compile(r"poll finished.*duration_seconds=([\d.]+)")
WORKERS = 16


class StandIn:
    """Requests to the stand-in as the SDK sends them (moto reads the account from the
    credential's access key and does not check signatures), one keep-alive connection per
    thread."""

    def __init__(self, endpoint):
        self.host, self.port = urllib.parse.urlsplit(endpoint).netloc.split(":")
        self.local = threading.local()

    def call(self, service, creds, body, target=None):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
        key, token = creds
        headers = {
            "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=0",
        }
        if token:
            headers["X-Amz-Security-Token"] = token
        if target:
            headers["Content-Type"] = "application/x-amz-json-1.1"
            headers["X-Amz-Target"] = target
            payload = json.dumps(body)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            payload = urllib.parse.urlencode(body)
        conn.request("POST", "/", payload, headers)
        resp = conn.getresponse()
        data = resp.read().decode()
        if resp.status != 200:
            raise SystemExit(f"the stand-in answered {resp.status} to {body}: {data[:300]}")
        return data


def tag(xml, name):
    m = re.search(f"<{name}>([^<]*)</{name}>", xml)
    return m.group(1) if m else None


def floor(standin, management_creds, members, warm_creds=None):
    """Makes the calls a correct poller must make, as fast as the stand-in answers; returns
    (seconds, calls, credentials per member for a warm replay)."""
    calls = [0]
    lock = threading.Lock()
    started = time.perf_counter()
    if warm_creds is None:
        token = None
        while True:
            body = {"NextToken": token} if token else {}
            page = json.loads(standin.call("organizations", management_creds, body,
                                           "AWSOrganizationsV20161128.ListAccounts"))
            calls[0] += 1
            token = page.get("NextToken")
            if not token:
                break
    work = queue.Queue()
    for account in [None, *members]:
        work.put(account)
    creds_out = {}

    def check(account):
        n = 0
        creds = management_creds if account is None else (warm_creds or {}).get(account)
        if creds is None:
            xml = standin.call("sts", management_creds, {
                "Action": "AssumeRole", "Version": "2011-06-15", "RoleSessionName": "floor",
                "RoleArn": f"arn:aws:iam::{account}:role/{ROLE}"})
            creds = (tag(xml, "AccessKeyId"), tag(xml, "SessionToken"))
            n += 1
        summary = standin.call("iam", creds, {"Action": "GetAccountSummary", "Version": "2010-05-08"})
        n += 1
        if re.search(r"<key>AccountMFAEnabled</key>\s*<value>1</value>", summary):
            standin.call("iam", creds, {"Action": "ListVirtualMFADevices", "Version": "2010-05-08",
                                        "AssignmentStatus": "Assigned", "MaxItems": "1000"})
            n += 1
        return creds, n

    def worker():
        while True:
            try:
                account = work.get_nowait()
            except queue.Empty:
                return
            creds, n = check(account)
            with lock:
                calls[0] += n
                if account is not None:
                    creds_out[account] = creds

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, calls[0], creds_out


def measure(args, size, work):
    moto, ready, setup = start_moto(size - 1)
    row = {"size": size, "setup": setup}
    try:
        org = ready["organization"]
        management = org["management"]
        endpoint = ready["endpoint"]
        env = exporter_env(ready, management)
        members = sorted(org["members"].values())

        polls = queue.Queue()
        stats(endpoint, reset=True)
        proc, url = start_exporter(
            args.exporter, env, "1s",
            ["--organization.role-name", ROLE, "--poll.concurrency", str(args.concurrency)],
            ready_within=3600,
            on_line=lambda line: (m := POLLED.search(line)) and polls.put(float(m.group(1))))
        row["cold"] = polls.get(timeout=3600)
        row["warm"] = polls.get(timeout=3600)
        row["calls"] = stats(endpoint, reset=True)
        row["hwm"] = status_kib(proc.pid, "VmHWM")
        row["rss"] = status_kib(proc.pid, "VmRSS")

        # Scrapes with the stand-in paused, so that the next poll waits and costs nothing.
        os.kill(moto.pid, signal.SIGSTOP)
        try:
            plain = urllib.request.urlopen(url + "/metrics").read()
            gz = urllib.request.urlopen(urllib.request.Request(
                url + "/metrics", headers={"Accept-Encoding": "gzip"})).read()
            row["plain_bytes"], row["gzip_bytes"] = len(plain), len(gz)
            port = free_port()
            nginx = start_nginx(plain, port, work)
            with open(os.path.join(work, "www", "metrics.gz"), "wb") as f:
                f.write(gz)
            nginx_url = f"http://127.0.0.1:{port}"
            gzip_header = ["Accept-Encoding: gzip"]
            row["scrape"] = {
                "gzip": wrk(url, "/metrics", args.duration, 4, gzip_header),
                "nginx gzip": wrk(nginx_url, "/metrics.gz", args.duration, 4),
                "plain": wrk(url, "/metrics", args.duration, 4),
                "nginx plain": wrk(nginx_url, "/metrics", args.duration, 4),
            }
            row["serving_rss"] = status_kib(proc.pid, "VmRSS")
            nginx.terminate()
            nginx.wait()
        finally:
            proc.kill()
            proc.wait()
            os.kill(moto.pid, signal.SIGCONT)

        access_key = ready["credentials"][management]["access_key_id"]
        standin = StandIn(endpoint)
        mgmt = (access_key, None)
        cold_s, cold_calls, creds = floor(standin, mgmt, members)
        warm_s, warm_calls, _ = floor(standin, mgmt, members, warm_creds=creds)
        row["floor_cold"], row["floor_warm"] = (cold_s, cold_calls), (warm_s, warm_calls)
    finally:
        moto.stdin.close()
        moto.wait(timeout=120)
    return row


ONCE = ("sts:AssumeRole", "organizations:ListAccounts", "sts:GetCallerIdentity", "iam:ListOrganizationsFeatures")


def per_account(calls, size):
    """AWS calls per account of a warm poll and of a cold one, from the calls of the first two
    polls (and the first few of the third, which started at once): every check calls
    GetAccountSummary once, so the other per-check calls are counted relative to it, and the
    calls made once (the roles, the listing) are added to the cold poll."""
    summaries = calls.get("iam:GetAccountSummary", 0)
    per_check = sum(v for k, v in calls.items() if k not in ONCE) / summaries
    return per_check + sum(calls.get(k, 0) for k in ONCE) / size, per_check


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--exporter", required=True)
    p.add_argument("--sizes", default="1,100,1000,10000")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    p.add_argument("--concurrency", type=int, default=WORKERS)
    args = p.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} is not installed: apt-get install {'nginx-light' if tool == 'nginx' else tool}")

    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        work = tempfile.mkdtemp(prefix="bench-scaling-")
        try:
            rows.append(measure(args, size, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"measured {size} accounts", file=sys.stderr, flush=True)

    print(f"Machine: {machine()}, {time.strftime('%Y-%m-%d')}. Stand-in: moto on loopback (one Python "
          f"process); 90% of the accounts with MFA on. Exporter: `--poll.concurrency {args.concurrency}`; "
          f"wrk: 4 connections, {args.duration} s a run, nginx serving the same bytes from a file.\n")
    print("| accounts | cold poll | floor | ratio | warm poll | floor | ratio | calls/account cold, warm "
          "| peak RSS | RSS after | KiB/account | exposition plain, gzip | gzip scrapes/s (of nginx) "
          "| plain scrapes/s (of nginx) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    base = rows[0]["hwm"] if rows and rows[0]["size"] == 1 else None
    for r in rows:
        n = r["size"]
        cold, warm = r["cold"], r["warm"]
        cold_calls, warm_calls = per_account(r["calls"], n)
        fc, fw = r["floor_cold"][0], r["floor_warm"][0]
        s = r["scrape"]
        growth = f"{(r['hwm'] - base) / (n - 1):.1f}" if base is not None and n > 1 else "-"
        print(f"| {n} | {cold:.2f} s | {fc:.2f} s | {cold / fc:.2f} | {warm:.2f} s | {fw:.2f} s | {warm / fw:.2f} "
              f"| {cold_calls:.2f}, {warm_calls:.2f} "
              f"| {r['hwm'] / 1024:.1f} MiB | {r['rss'] / 1024:.1f} MiB | {growth} "
              f"| {r['plain_bytes'] / 1024:.0f} KiB, {r['gzip_bytes'] / 1024:.0f} KiB "
              f"| {s['gzip']['rps']:.0f} ({s['gzip']['rps'] / s['nginx gzip']['rps']:.2f}) "
              f"| {s['plain']['rps']:.0f} ({s['plain']['rps'] / s['nginx plain']['rps']:.2f}) |")
    print()
    for r in rows:
        print(f"- {r['size']} accounts (stand-in set up in {r['setup']:.0f} s): the calls of the first two "
              "polls (and the start of the third) " + ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
              + f"; the floor replays made {r['floor_cold'][1]} and {r['floor_warm'][1]} calls. "
              f"p99 of gzip scrapes {r['scrape']['gzip']['p99']} (nginx {r['scrape']['nginx gzip']['p99']}).")


if __name__ == "__main__":
    main()
