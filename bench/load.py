#!/usr/bin/env python3
"""Load and endurance: /metrics with an Organization of N accounts exported, under concurrent
scrapers, while polls run; side by side with nginx serving the same bytes from a file (the
practical limit for serving a static body on this machine), plain and gzip-compressed; RSS
over a longer run; then over TLS with basic authentication (the exporter restarted with a web
configuration that turns them on: TLS on or off is decided at start-up). Prints a Markdown
report.

Usage: load.py --exporter target/release/aws-root-mfa-exporter [--accounts 1000]
               [--duration 15] [--soak 300]
Needs: the moto virtualenv, wrk and nginx (apt-get install wrk nginx-light).
"""

import argparse
import base64
import gzip
import os
import socket
import shutil
import ssl
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
    # The same bytes compressed ahead of time: what the exporter's gzip path can at best match.
    with open(os.path.join(root, "metrics.gz"), "wb") as f:
        f.write(gzip.compress(body, 6))
    for name in ("metrics", "metrics.gz"):
        os.chmod(os.path.join(root, name), 0o644)
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
    location = /metrics.gz {{ root {root}; default_type "text/plain; version=0.0.4; charset=utf-8";
                              add_header Content-Encoding gzip; }}
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


TLS_CONFIG = """tls_server_config:
  cert_file: server.crt
  key_file: server.key
basic_auth_users:
  prometheus: $2b$10$uiT5XwCBZpHk7l4biRuw0e6mXvQtraamW.FBJCJfogqAO.e.0X9hO
"""


def start_tls_exporter(binary, env, web_config, extra):
    """Starts the exporter with TLS and basic auth on, and waits until it is ready over HTTPS."""
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    return start_exporter(binary, env, "10s", ["--web.config.file", web_config, *extra],
                          tls=insecure, ready_within=60)


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
        # An empty web configuration: plain HTTP, but the file is still looked at (its stamp)
        # before every request, so the plain figures include that cost.
        web_config = os.path.join(work, "web.yml")
        with open(web_config, "w") as f:
            f.write("")
        # Polls every 10 s, so that scrapes race snapshot swaps throughout the runs.
        proc, url = start_exporter(args.exporter, env, "10s",
                                   ["--organization.role-name", ROLE, "--web.config.file", web_config])
        body = urllib.request.urlopen(url + "/metrics").read()
        port = free_port()
        nginx = start_nginx(body, port, work)
        nginx_url = f"http://127.0.0.1:{port}"

        results = {}
        for connections in (4, 32):
            results[("exporter", connections)] = wrk(url, "/metrics", args.duration, connections)
            results[("nginx", connections)] = wrk(nginx_url, "/metrics", args.duration, connections)
        gzip_header = ["Accept-Encoding: gzip"]
        for connections in (4, 32):
            results[("exporter, gzip", connections)] = wrk(url, "/metrics", args.duration, connections,
                                                           gzip_header)
            results[("nginx, gzip", connections)] = wrk(nginx_url, "/metrics.gz", args.duration,
                                                        connections)
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

        # TLS and basic authentication: a restart with a web configuration that turns them on.
        fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "web")
        for name in ("server.crt", "server.key"):
            shutil.copy(os.path.join(fixtures, name), os.path.join(work, name))
        tls_config = os.path.join(work, "web-tls.yml")
        with open(tls_config, "w") as f:
            f.write(TLS_CONFIG)
        proc, tls_url = start_tls_exporter(args.exporter, env, tls_config, ["--organization.role-name", ROLE])
        token = base64.b64encode(b"prometheus:scrape-me").decode()
        auth = [f"Authorization: Basic {token}"]
        for connections in (4, 32):
            results[("exporter, TLS + basic auth", connections)] = wrk(tls_url, "/metrics", args.duration,
                                                                       connections, auth)
        results[("exporter, TLS + basic auth, gzip", 4)] = wrk(tls_url, "/metrics", args.duration, 4,
                                                              auth + gzip_header)
        proc.terminate()
        proc.wait()
    finally:
        moto.stdin.close()
        moto.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"Machine: {machine()}. {args.accounts + 1} accounts exported "
          f"({len(body) / 1024:.0f} KiB exposition), polls every 10 s against moto on loopback, "
          f"`wrk -t2 -d{args.duration}s` one run after another.\n")
    print("| server | connections | requests/s | ratio | p50 | p90 | p99 | errors |\n|---|---|---|---|---|---|---|---|")
    rows = [("exporter", "nginx"), ("nginx", "nginx"), ("exporter, gzip", "nginx, gzip"),
            ("nginx, gzip", "nginx, gzip"), ("exporter, TLS + basic auth", "exporter")]
    for connections in (4, 32):
        for server, base in rows:
            r, b = results[(server, connections)], results[(base, connections)]
            print(f"| {server} | {connections} | {r['rps']:.0f} | {r['rps'] / b['rps']:.2f} of {base} | "
                  f"{r['p50']} | {r['p90']} | {r['p99']} | {r['errors']} |")
    r, b = results[("exporter, TLS + basic auth, gzip", 4)], results[("exporter, gzip", 4)]
    print(f"| exporter, TLS + basic auth, gzip | 4 | {r['rps']:.0f} | {r['rps'] / b['rps']:.2f} of exporter, gzip | "
          f"{r['p50']} | {r['p90']} | {r['p99']} | {r['errors']} |")
    first, last = samples[0] / 1024, samples[-1] / 1024
    print(f"\nEndurance, {args.soak} s with 4 scrapers every 250 ms while polls ran: {scraped[0]} scrapes, "
          f"{scraped[1]} failed; RSS {first:.1f} MiB at the start, {last:.1f} MiB at the end, "
          f"min {min(samples) / 1024:.1f}, max {max(samples) / 1024:.1f} MiB over {len(samples)} samples.")
    print("API calls by the end: " + "; ".join(polls))


if __name__ == "__main__":
    main()
