#!/usr/bin/env python3
"""Assume-root benchmark: an Organization of N members checked through centralized root access
(`--organization.assume-root`: one root session per member) beside role mode
(`--organization.role-name`), over the same stand-in Organization. Prints a Markdown report:
AWS calls per account on a cold one-shot `check`, in a steady-state server poll, and peak memory.

Usage: assume_root.py --exporter target/release/aws-root-mfa-exporter [--accounts 1000]

Members: 70% a FIDO key, 20% a virtual device, 10% no MFA, every root with a password used
once; role mode reads the same world through ListVirtualMFADevices. Calls are counted by the
stand-in itself (GET /_fixture/stats).
"""

import argparse
import json
import time

from bench import exporter_env, machine, start_exporter, status_kib  # noqa: E402  (same folder)
from organization import run, start_moto, stats, summaries  # noqa: E402

ROLE = "RootMfaReader"
MODES = {"role": ["--organization.role-name", ROLE], "assume-root": ["--organization.assume-root"]}


def scenario(n):
    members = []
    for i in range(n):
        kind = i % 10
        if kind < 7:
            devices = [{"kind": "fido", "name": "key"}]
        elif kind < 9:
            devices = [{"kind": "virtual", "name": "phone"}]
        else:
            devices = []
        members.append({"name": f"account-{i:04d}", "root_devices": devices,
                        "password_last_used": "2026-01-02T03:04:05Z"})
    return {"organization": {"management": {"mfa_enabled": True}, "members": members}}


def per_operation(calls, total):
    """Two-part keys ("service:Action") per account, by operation."""
    plain = {k: v for k, v in calls.items() if k.count(":") == 1}
    return ", ".join(f"{k} {v / total:.2f}" for k, v in sorted(plain.items()))


def total_calls(calls):
    return sum(v for k, v in calls.items() if k.count(":") == 1)


def measure(binary, env, endpoint, total, mode, concurrency):
    stats(endpoint, reset=True)
    wall, rss, out = run([binary, "check", "--output", "json", *MODES[mode],
                          "--poll.concurrency", str(concurrency)], env)
    report = json.loads(out)
    cold = stats(endpoint, reset=True)
    # The server: the second poll (spread over half of the 20 s interval) is the steady state:
    # role credentials and root sessions are both still cached.
    server, url = start_exporter(binary, env, "20s", MODES[mode])
    hwm_first = status_kib(server.pid, "VmHWM")
    stats(endpoint, reset=True)
    first = summaries(url)
    deadline = time.time() + 120
    while summaries(url) < 2 * first and time.time() < deadline:
        time.sleep(0.5)
    steady = stats(endpoint, reset=True)
    hwm = status_kib(server.pid, "VmHWM")
    server.terminate()
    server.wait()
    return {
        "wall": wall, "rss": rss, "checked": report["summary"]["accounts"] - report["summary"]["error"],
        "cold": cold, "steady": steady, "server_hwm": max(hwm, hwm_first),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--exporter", required=True)
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args()
    moto, ready, setup = start_moto(args.accounts, scenario(args.accounts))
    try:
        env = exporter_env(ready, ready["organization"]["management"])
        total = args.accounts + 1
        results = {m: measure(args.exporter, env, ready["endpoint"], total, m, args.concurrency)
                   for m in MODES}
    finally:
        moto.stdin.close()
        moto.wait(timeout=30)
    print(f"Machine: {machine()}. Stand-in: moto on loopback (one Python process), an Organization "
          f"of {total} accounts (management + {args.accounts} members: 70% FIDO, 20% virtual, "
          f"10% no MFA), set up in {setup:.0f} s. `check --poll.concurrency {args.concurrency}`; "
          "server at `--poll.interval 20s`.\n")
    print("| | role mode | assume-root mode |\n|---|---|---|")
    r, a = results["role"], results["assume-root"]
    print(f"| accounts checked by `check` | {r['checked']} of {total} | {a['checked']} of {total} |")
    print(f"| `check` wall time | {r['wall']:.1f} s | {a['wall']:.1f} s |")
    print(f"| AWS calls per account, cold `check` | {total_calls(r['cold']) / total:.2f} | "
          f"{total_calls(a['cold']) / total:.2f} |")
    print(f"| AWS calls per account, steady-state poll | {total_calls(r['steady']) / total:.2f} | "
          f"{total_calls(a['steady']) / total:.2f} |")
    print(f"| `check` peak RSS | {r['rss'] / 1024:.1f} MiB | {a['rss'] / 1024:.1f} MiB |")
    print(f"| server peak RSS (VmHWM) after two polls | {r['server_hwm'] / 1024:.1f} MiB | "
          f"{a['server_hwm'] / 1024:.1f} MiB |")
    for mode in MODES:
        print(f"\n{mode}, cold `check`, per account: {per_operation(results[mode]['cold'], total)}.")
        print(f"{mode}, steady-state poll, per account: {per_operation(results[mode]['steady'], total)}.")


if __name__ == "__main__":
    main()
