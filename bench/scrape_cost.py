#!/usr/bin/env python3
"""Scrape cost of one exporter build beside another: both serve the same stand-in Organization,
and wrk scrapes them in alternation, round after round, so that both see the same machine. Prints
a Markdown table of requests/s per build and the candidate's ratio to the baseline (the median
over the rounds of each round's ratio: noise common to a round cancels out).

Usage: scrape_cost.py --baseline OLD_BINARY --candidate NEW_BINARY [--accounts 1000]
                      [--rounds 5] [--duration 5]
Needs: the moto virtualenv and wrk (apt-get install wrk).
"""

import argparse
import shutil
import statistics
import urllib.request

from bench import exporter_env, machine, start_exporter, wrk  # noqa: E402
from organization import ROLE, start_moto  # noqa: E402

CASES = [("plain", 4, ()), ("gzip", 4, ("Accept-Encoding: gzip",)), ("gzip", 32, ("Accept-Encoding: gzip",))]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--baseline", required=True, help="the exporter binary to compare against")
    p.add_argument("--candidate", required=True, help="the exporter binary under test")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")

    moto, ready, _ = start_moto(args.accounts)
    procs = []
    try:
        env = exporter_env(ready, ready["organization"]["management"])
        urls = {}
        for name, binary in (("baseline", args.baseline), ("candidate", args.candidate)):
            # A long interval: the cost measured is the scrape's, not a poll's.
            proc, url = start_exporter(binary, env, "1h", ["--organization.role-name", ROLE])
            procs.append(proc)
            urls[name] = url
        sizes = {name: len(urllib.request.urlopen(url + "/metrics").read()) for name, url in urls.items()}
        results = {(name, case): [] for name in urls for case in range(len(CASES))}
        for _ in range(args.rounds):
            for case, (_, connections, headers) in enumerate(CASES):
                for name, url in urls.items():
                    results[(name, case)].append(wrk(url, "/metrics", args.duration, connections, headers))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        moto.stdin.close()
        moto.wait(timeout=30)

    print(f"Machine: {machine()}. {args.accounts + 1} accounts exported (baseline "
          f"{sizes['baseline'] / 1024:.0f} KiB, candidate {sizes['candidate'] / 1024:.0f} KiB plain), "
          f"{args.rounds} rounds of `wrk -t2 -d{args.duration}s`, the two builds alternating.\n")
    print("| body | connections | baseline req/s | candidate req/s | candidate / baseline | "
          "baseline p99 | candidate p99 |\n|---|---|---|---|---|---|---|")
    for case, (body, connections, _) in enumerate(CASES):
        base, cand = results[("baseline", case)], results[("candidate", case)]
        ratios = [c["rps"] / b["rps"] for b, c in zip(base, cand)]
        median = lambda runs: statistics.median(r["rps"] for r in runs)  # noqa: E731
        print(f"| {body} | {connections} | {median(base):.0f} | {median(cand):.0f} | "
              f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}) | "
              f"{base[-1]['p99']} | {cand[-1]['p99']} |")


if __name__ == "__main__":
    main()
