#!/usr/bin/env python3
"""Load and endurance: /metrics with an Organization of N accounts exported, under concurrent
scrapers, while polls run; side by side with nginx serving the same bytes from a file (the
practical limit for serving a static body on this machine); and RSS over a longer run.
Prints a Markdown report.

Usage: load.py --exporter target/release/aws-root-mfa-exporter [--accounts 1000]
               [--duration 15] [--soak 300]
Needs: the moto virtualenv, wrk and nginx (apt-get install wrk nginx-light).
"""

import argparse
import os
import socket
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

from bench import exporter_env, machine, start_exporter, status_kib, wrk  # noqa: E402
from organization import ROLE, start_moto  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(body, port, work):
    """nginx serving `body` as a static file with the exposition's content type."""
    root = os.path.join(work, "www")
    os.makedirs(root, exist_ok=True)
    # mkdtemp makes the folder private; nginx's workers run as an unprivileged user.
    os.chmod(work, 0o755)
    os.chmod(root, 0o755)
    with open(os.path.join(root, "metrics"), "wb") as f:
        f.write(body)
    os.chmod(os.path.join(root, "metrics"), 0o644)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 2;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fcgi;
  uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /metrics {{ root {root}; default_type "text/plain; version=0.0.4; charset=utf-8"; }}
  }}
}}
""")
    proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read()
            return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("nginx did not start")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--exporter", required=True)
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    p.add_argument("--soak", type=int, default=300, help="seconds of the endurance run")
    args = p.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} is not installed: apt-get install {'nginx-light' if tool == 'nginx' else tool}")

    moto, ready, _ = start_moto(args.accounts)
    work = tempfile.mkdtemp(prefix="bench-load-")
    try:
        env = exporter_env(ready, ready["organization"]["management"])
        # Polls every 10 s, so that scrapes race snapshot swaps throughout the runs.
        proc, url = start_exporter(args.exporter, env, "10s", ["--organization.role-name", ROLE])
        body = urllib.request.urlopen(url + "/metrics").read()
        port = free_port()
        nginx = start_nginx(body, port, work)
        nginx_url = f"http://127.0.0.1:{port}"

        results = {}
        for connections in (4, 32):
            results[("exporter", connections)] = wrk(url, "/metrics", args.duration, connections)
            results[("nginx", connections)] = wrk(nginx_url, "/metrics", args.duration, connections)
        gz = wrk(url, "/metrics", args.duration, 4, ["Accept-Encoding: gzip"])
        nginx.terminate()
        nginx.wait()

        # Endurance: scrapers every second while polls run; RSS sampled every 10 s.
        samples, stop = [], time.time() + args.soak
        scraped = [0, 0]

        def scraper():
            while time.time() < stop:
                try:
                    urllib.request.urlopen(url + "/metrics").read()
                    scraped[0] += 1
                except OSError:
                    scraped[1] += 1
                time.sleep(0.25)

        threads = [threading.Thread(target=scraper) for _ in range(4)]
        for t in threads:
            t.start()
        while time.time() < stop:
            samples.append(status_kib(proc.pid, "VmRSS"))
            time.sleep(10)
        for t in threads:
            t.join()
        metrics = urllib.request.urlopen(url + "/metrics").read().decode()
        polls = [line for line in metrics.splitlines() if line.startswith("aws_root_mfa_exporter_api_requests_total")]
        proc.terminate()
        proc.wait()
    finally:
        moto.stdin.close()
        moto.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"Machine: {machine()}. {args.accounts + 1} accounts exported "
          f"({len(body) / 1024:.0f} KiB exposition), polls every 10 s against moto on loopback, "
          f"`wrk -t2 -d{args.duration}s` one run after another.\n")
    print("| server | connections | requests/s | ratio to nginx | p50 | p90 | p99 | errors |\n|---|---|---|---|---|---|---|---|")
    for connections in (4, 32):
        n = results[("nginx", connections)]
        for server in ("exporter", "nginx"):
            r = results[(server, connections)]
            print(f"| {server} | {connections} | {r['rps']:.0f} | {r['rps'] / n['rps']:.2f} | {r['p50']} | "
                  f"{r['p90']} | {r['p99']} | {r['errors']} |")
    print(f"| exporter, gzip | 4 | {gz['rps']:.0f} | | {gz['p50']} | {gz['p90']} | {gz['p99']} | {gz['errors']} |")
    first, last = samples[0] / 1024, samples[-1] / 1024
    print(f"\nEndurance, {args.soak} s with 4 scrapers every 250 ms while polls ran: {scraped[0]} scrapes, "
          f"{scraped[1]} failed; RSS {first:.1f} MiB at the start, {last:.1f} MiB at the end, "
          f"min {min(samples) / 1024:.1f}, max {max(samples) / 1024:.1f} MiB over {len(samples)} samples.")
    print("API calls by the end: " + "; ".join(polls))


if __name__ == "__main__":
    main()
