#!/usr/bin/env python3
"""Measures the exporter against the stand-in AWS: idle memory, the cost of a poll, and /metrics
latency under concurrent load. Prints a Markdown report (the figures in docs/performance.md).

Usage: bench.py --exporter target/release/aws-root-mfa-exporter [--duration 10]
Needs: the moto virtualenv (make venv) and wrk (apt-get install wrk).

Every comparison is measured side by side in the same run, because this kind of machine is
noisy: /metrics is compared with /healthz (same server, no exposition) and gzip with plain.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ACCOUNT = "200000000001"
# A realistic account: 250 IAM users with virtual MFA, root on a hardware key.
SCENARIO = {"accounts": [{"id": ACCOUNT, "mfa_enabled": True, "user_devices": 250}]}


def start_moto():
    scenario = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(SCENARIO, scenario)
    scenario.close()
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "moto_launcher.py"), "--scenario", scenario.name,
         "--exit-on-stdin-close"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(proc.stdout.readline())
    return proc, ready


def exporter_env(ready, account=ACCOUNT):
    """A clean environment whose AWS credentials are those of `account` in the stand-in."""
    creds = ready["credentials"][account]
    home = tempfile.mkdtemp(prefix="bench-home-")
    for name in ("config", "credentials"):
        open(os.path.join(home, name), "w").close()
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": home,
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": ready["endpoint"],
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": creds["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": creds["secret_access_key"],
    }


def start_exporter(binary, env, interval, extra=(), tls=None, ready_within=30, on_line=None):
    """Starts the exporter and waits until /readyz answers; `tls`, an ssl context, means the
    exporter serves HTTPS (its web configuration is among `extra`); `on_line`, if given, is
    called with every later line the exporter logs."""
    proc = subprocess.Popen(
        [binary, "--web.listen-address", "127.0.0.1:0", "--poll.interval", interval, "--log.level", "info",
         *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"msg=serving .*address=(\S+)", line)
        if m:
            addr = m.group(1)
            break
    else:
        raise SystemExit("the exporter did not start")
    # Keep draining stderr so the pipe never fills.
    threading.Thread(target=lambda: [on_line and on_line(line) for line in proc.stderr], daemon=True).start()
    url = f"{'https' if tls else 'http'}://{addr}"
    deadline = time.time() + ready_within
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/readyz", context=tls).status == 200:
                return proc, url
        except Exception:
            time.sleep(0.1)
    raise SystemExit("the exporter never became ready")


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def scrape(url):
    text = urllib.request.urlopen(url + "/metrics").read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
    return text, values


def wrk(url, path, duration, connections, headers=()):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url + path], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    return {"rps": rps, "p50": lat.get("50"), "p90": lat.get("90"), "p99": lat.get("99"),
            "errors": errors.group(0) if errors else "none"}


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB, Linux {platform.release()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--exporter", required=True)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not on PATH: apt-get install wrk")

    moto, ready = start_moto()
    env = exporter_env(ready)
    try:
        # 1. Idle memory after the first poll.
        proc, url = start_exporter(args.exporter, env, "1h")
        time.sleep(5)
        rss, hwm = status_kib(proc.pid, "VmRSS"), status_kib(proc.pid, "VmHWM")
        text, _ = scrape(url)
        exposition_bytes = len(text.encode())

        # 2. /metrics under load, side by side with /healthz and with gzip.
        load = {
            "/healthz": wrk(url, "/healthz", args.duration, args.connections),
            "/metrics": wrk(url, "/metrics", args.duration, args.connections),
            "/metrics (gzip)": wrk(url, "/metrics", args.duration, args.connections,
                                   ["Accept-Encoding: gzip"]),
        }
        rss_after_load = status_kib(proc.pid, "VmRSS")
        proc.terminate()
        proc.wait()

        # 3. Polls: wall time and AWS calls per poll, from the exporter's own metrics.
        proc, url = start_exporter(args.exporter, env, "1s")
        durations, calls = [], []
        _, prev = scrape(url)
        prev_calls = sum(v for k, v in prev.items() if k.startswith("aws_root_mfa_exporter_api_requests_total"))
        while len(durations) < 10:
            time.sleep(1.0)
            _, cur = scrape(url)
            cur_calls = sum(v for k, v in cur.items() if k.startswith("aws_root_mfa_exporter_api_requests_total"))
            if cur_calls > prev_calls:
                calls.append(cur_calls - prev_calls)
                durations.append(cur["aws_root_mfa_exporter_poll_duration_seconds"])
                prev_calls = cur_calls
        proc.terminate()
        proc.wait()

        # 4. `check` end to end, process start included.
        walls = []
        for _ in range(10):
            t = time.perf_counter()
            subprocess.run([args.exporter, "check", "--output", "json"], env=env, capture_output=True)
            walls.append(time.perf_counter() - t)
    finally:
        moto.stdin.close()
        moto.wait(timeout=10)

    h = load["/healthz"]["rps"]
    print(f"Machine: {machine()}. Stand-in AWS: moto on loopback; one account with 250 IAM users")
    print("holding virtual MFA devices, root on hardware MFA.\n")
    print("| measure | value |\n|---|---|")
    print(f"| idle RSS after the first poll | {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB) |")
    print(f"| RSS after the load runs | {rss_after_load / 1024:.1f} MiB |")
    print(f"| exposition size | {exposition_bytes} bytes |")
    print(f"| poll wall time (median of {len(durations)}) | {statistics.median(durations) * 1000:.1f} ms |")
    print(f"| AWS calls per poll | {statistics.median(calls):.0f} |")
    print(f"| `check` wall time, process start included (median of {len(walls)}) | {statistics.median(walls) * 1000:.0f} ms |")
    print(f"\n`wrk -t2 -c{args.connections} -d{args.duration}s`, one after the other on the same server:\n")
    print("| path | requests/s | ratio to /healthz | p50 | p90 | p99 | errors |\n|---|---|---|---|---|---|---|")
    for path, r in load.items():
        print(f"| {path} | {r['rps']:.0f} | {r['rps'] / h:.2f} | {r['p50']} | {r['p90']} | {r['p99']} | {r['errors']} |")


if __name__ == "__main__":
    main()
