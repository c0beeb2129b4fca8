#!/usr/bin/env python3
"""Start-up with a long role list: how soon the exporter serves, and in how much memory, when
--assume-role.arns-file names N roles (100,000 by default). Prints a Markdown report (the
figures in docs/scaling.md).

Usage: roles.py --exporter target/release/aws-root-mfa-exporter [--roles 100000] [--poll-limit 600]

AWS is a closed port on loopback: every check fails at once with `connection`, so what is
measured is the exporter's own work (reading and parsing the list, preparing the accounts,
serving while the first poll runs), not AWS's answers. The exporter logs at info, so the
progress line and one `check failed` line per account go through the log formatter too.
"""

import argparse
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

from bench import machine, status_kib  # noqa: E402  (same folder)


def closed_endpoint():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--exporter", required=True)
    parser.add_argument("--roles", type=int, default=100_000)
    parser.add_argument("--poll-limit", type=int, default=600,
                        help="seconds to wait for the first poll to finish")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="bench-roles-")
    roles = os.path.join(work, "roles.txt")
    with open(roles, "w") as f:
        for i in range(args.roles):
            f.write(f"arn:aws:iam::{100_000_000_000 + i:012d}:role/RootMfaReader\n")
    size = os.path.getsize(roles)
    for name in ("config", "credentials"):
        open(os.path.join(work, name), "w").close()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": work,
        "AWS_CONFIG_FILE": os.path.join(work, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(work, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": closed_endpoint(),
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "not-a-secret",
    }

    started = time.monotonic()
    proc = subprocess.Popen(
        [args.exporter, "--web.listen-address", "127.0.0.1:0", "--assume-role.arns-file", roles,
         "--poll.interval", "1h", "--poll.timeout", "2s", "--log.level", "info"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marks = {}
    failures = [0]
    addr_ready = threading.Event()
    polled = threading.Event()

    def read_log():
        for line in proc.stderr:
            now = time.monotonic() - started
            if "accounts to check are ready" in line and "ready" not in marks:
                marks["ready"] = now
                marks["ready_line"] = line.strip()
            elif "msg=serving" in line:
                marks["serving"] = now
                marks["address"] = re.search(r"address=(\S+)", line).group(1)
                addr_ready.set()
            elif "check failed" in line:
                failures[0] += 1
            elif "poll finished" in line:
                marks["polled"] = now
                polled.set()

    threading.Thread(target=read_log, daemon=True).start()
    if not addr_ready.wait(120):
        proc.kill()
        raise SystemExit("the exporter did not start within 120 s")
    url = f"http://{marks['address']}"
    urllib.request.urlopen(url + "/healthz", timeout=60).read()
    healthz = time.monotonic() - started
    rss_serving = status_kib(proc.pid, "VmRSS")
    landing_started = time.monotonic()
    urllib.request.urlopen(url + "/", timeout=60).read()
    landing = time.monotonic() - landing_started
    rss_during = []

    def sample():
        while not polled.wait(1):
            rss_during.append(status_kib(proc.pid, "VmRSS"))

    threading.Thread(target=sample, daemon=True).start()
    finished = polled.wait(args.poll_limit)
    urllib.request.urlopen(url + "/healthz", timeout=60).read()
    rss_after = status_kib(proc.pid, "VmRSS")
    peak = status_kib(proc.pid, "VmHWM")
    checked = failures[0]
    proc.kill()
    proc.wait()

    print(f"Machine: {machine()}. Exporter: release build, `--assume-role.arns-file` of "
          f"{args.roles:,} role ARNs ({size / 2**20:.1f} MiB), AWS a closed port on loopback.\n")
    print("| | measured |\n|---|---|")
    print(f"| accounts prepared (progress line) | {marks['ready']:.2f} s after start |")
    print(f"| `msg=serving` logged | {marks['serving']:.2f} s |")
    print(f"| `/healthz` answers 200 | {healthz:.2f} s |")
    print(f"| landing page (`/`), once serving | {landing * 1000:.0f} ms |")
    print(f"| RSS when serving | {rss_serving / 1024:.0f} MiB |")
    if finished:
        print(f"| first poll finished ({checked:,} checks, all failing) | {marks['polled']:.0f} s |")
    else:
        print(f"| first poll | not finished after {args.poll_limit} s ({checked:,} checks logged) |")
    print(f"| RSS during the first poll, median | {sorted(rss_during)[len(rss_during) // 2] / 1024:.0f} MiB |"
          if rss_during else "| RSS during the first poll | (not sampled) |")
    print(f"| RSS after it, and peak | {rss_after / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB |")
    print(f"\nProgress line: `{marks['ready_line']}`")


if __name__ == "__main__":
    main()
