#!/usr/bin/env python3
"""Load and endurance: /metrics with an Organization of N accounts exported, under concurrent
scrapers, side by side with nginx serving the very bytes the exporter sends from a file (the
practical limit for serving a static body on this machine): plain, gzip, and gzip over TLS
(the exporter with basic authentication too, nginx on the same certificate), at 4 and 32
connections; then RSS over a longer run while polls run every 10 s. Prints a Markdown report.

Usage: load.py --exporter target/release/aws-root-mfa-exporter [--accounts 1000]
               [--duration 10] [--soak 300]
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

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "web")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(body, port, work, gzipped=None, tls_port=None):
    """nginx serving `body` as a static file with the exposition's content type, and
    `gzipped` (default: `body` compressed here) as /metrics.gz; with `tls_port`, the same over
    HTTPS with the test server certificate of tests/fixtures/web."""
    root = os.path.join(work, "www")
    os.makedirs(root, exist_ok=True)
    # mkdtemp makes the folder private; nginx's workers run as an unprivileged user.
    os.chmod(work, 0o755)
    os.chmod(root, 0o755)
    with open(os.path.join(root, "metrics"), "wb") as f:
        f.write(body)
    # The same bytes compressed ahead of time: what the exporter's gzip path can at best match.
    with open(os.path.join(root, "metrics.gz"), "wb") as f:
        f.write(gzipped if gzipped is not None else gzip.compress(body, 6))
    for name in ("metrics", "metrics.gz"):
        os.chmod(os.path.join(root, name), 0o644)
    locations = f"""
    location = /metrics {{ root {root}; default_type "text/plain; version=0.0.4; charset=utf-8"; }}
    location = /metrics.gz {{ root {root}; default_type "text/plain; version=0.0.4; charset=utf-8";
                              add_header Content-Encoding gzip; }}"""
    tls = ""
    if tls_port is not None:
        tls = f"""
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {FIXTURES}/server.crt;
    ssl_certificate_key {FIXTURES}/server.key;{locations}
  }}"""
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
    listen 127.0.0.1:{port};{locations}
  }}{tls}
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


def start_tls_exporter(binary, env, web_config, interval, extra):
    """Starts the exporter with TLS and basic auth on, and waits until it is ready over HTTPS."""
    return start_exporter(binary, env, interval, ["--web.config.file", web_config, *extra],
                          tls=insecure(), ready_within=3600)


def insecure():
    """A client context for the test certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def fetch(url, gzip_wanted=False, headers=None, context=None):
    """The response body as sent (urllib does not decompress)."""
    h = dict(headers or {})
    if gzip_wanted:
        h["Accept-Encoding"] = "gzip"
    return urllib.request.urlopen(urllib.request.Request(url, headers=h), context=context).read()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--exporter", required=True)
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    p.add_argument("--soak", type=int, default=300, help="seconds of the endurance run (0: none)")
    args = p.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} is not installed: apt-get install {'nginx-light' if tool == 'nginx' else tool}")

    moto, ready, _ = start_moto(args.accounts)
    work = tempfile.mkdtemp(prefix="bench-load-")
    token = base64.b64encode(b"prometheus:scrape-me").decode()
    auth = [f"Authorization: Basic {token}"]
    gzip_header = ["Accept-Encoding: gzip"]
    results = {}
    try:
        env = exporter_env(ready, ready["organization"]["management"])
        # Two exporters over the same Organization, one plain and one with TLS and basic auth,
        # each polling once (an hour's interval) so that the runs measure serving alone.
        for name in ("server.crt", "server.key"):
            shutil.copy(os.path.join(FIXTURES, name), os.path.join(work, name))
        tls_config = os.path.join(work, "web-tls.yml")
        with open(tls_config, "w") as f:
            f.write(TLS_CONFIG)
        extra = ["--organization.role-name", ROLE]
        proc, url = start_exporter(args.exporter, env, "1h", extra, ready_within=3600)
        tls_proc, tls_url = start_tls_exporter(args.exporter, env, tls_config, "1h", extra)
        body, gz = fetch(url + "/metrics"), fetch(url + "/metrics", gzip_wanted=True)
        tls_gz = fetch(tls_url + "/metrics", gzip_wanted=True, headers={"Authorization": f"Basic {token}"},
                       context=insecure())
        # nginx serves the very bytes the exporter sends, so both put the same on the wire.
        port, tls_port = free_port(), free_port()
        nginx = start_nginx(body, port, work, gzipped=gz, tls_port=tls_port)
        nginx_url, nginx_tls = f"http://127.0.0.1:{port}", f"https://127.0.0.1:{tls_port}"

        # One run after another, the exporter's next to nginx's, so that both see the same
        # machine (the stand-in is idle: both exporters have polled).
        for connections in (4, 32):
            for name, target, path, headers in (
                    ("exporter", url, "/metrics", []),
                    ("nginx", nginx_url, "/metrics", []),
                    ("exporter, gzip", url, "/metrics", gzip_header),
                    ("nginx, gzip", nginx_url, "/metrics.gz", []),
                    ("exporter, TLS + basic auth, gzip", tls_url, "/metrics", auth + gzip_header),
                    ("nginx, TLS, gzip", nginx_tls, "/metrics.gz", [])):
                results[(name, connections)] = wrk(target, path, args.duration, connections, headers)
        idle_rss = status_kib(proc.pid, "VmRSS")
        nginx.terminate()
        nginx.wait()
        for p_ in (proc, tls_proc):
            p_.terminate()
            p_.wait()

        samples, scraped, polls = [], [0, 0], []
        if args.soak:
            # Endurance: scrapers every 250 ms while polls run every 10 s; RSS every 10 s.
            proc, url = start_exporter(args.exporter, env, "10s", extra, ready_within=3600)
            stop = time.time() + args.soak

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
            polls = [line for line in metrics.splitlines()
                     if line.startswith("aws_root_mfa_exporter_api_requests_total")]
            proc.terminate()
            proc.wait()
    finally:
        moto.stdin.close()
        moto.wait(timeout=120)
        shutil.rmtree(work, ignore_errors=True)

    print(f"Machine: {machine()}, {time.strftime('%Y-%m-%d')}. {args.accounts + 1} accounts exported: "
          f"{len(body) / 1024:.0f} KiB plain, {len(gz) / 1024:.0f} KiB gzip ({len(tls_gz) / 1024:.0f} KiB "
          f"over TLS), served by the exporter (RSS {idle_rss / 1024:.1f} MiB) and by nginx from files holding "
          f"the same bytes; `wrk -t2 -d{args.duration}s`, one run after another.\n")
    print("| server | connections | requests/s | ratio | p50 | p90 | p99 | errors |\n|---|---|---|---|---|---|---|---|")
    pairs = [("exporter", "nginx"), ("exporter, gzip", "nginx, gzip"),
             ("exporter, TLS + basic auth, gzip", "nginx, TLS, gzip")]
    for connections in (4, 32):
        for server, base in pairs:
            for name in (server, base):
                r, b = results[(name, connections)], results[(base, connections)]
                ratio = "1" if name == base else f"**{r['rps'] / b['rps']:.2f}** of nginx"
                print(f"| {name} | {connections} | {r['rps']:.0f} | {ratio} | "
                      f"{r['p50']} | {r['p90']} | {r['p99']} | {r['errors']} |")
    if samples:
        first, last = samples[0] / 1024, samples[-1] / 1024
        print(f"\nEndurance, {args.soak} s with 4 scrapers every 250 ms while polls ran every 10 s: "
              f"{scraped[0]} scrapes, {scraped[1]} failed; RSS {first:.1f} MiB at the start, {last:.1f} MiB at "
              f"the end, min {min(samples) / 1024:.1f}, max {max(samples) / 1024:.1f} MiB over {len(samples)} samples.")
        print("API calls by the end: " + "; ".join(polls))


if __name__ == "__main__":
    main()
