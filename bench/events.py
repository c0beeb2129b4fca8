#!/usr/bin/env python3
"""Events benchmark: how long from a CloudTrail event on the SQS queue to the changed posture in
/metrics (--events.sqs-queue-url), over 1000 events across the 100 members of an Organization,
beside the poll-only latency of the same exporter without events. Prints a Markdown report.

Usage: events.py --exporter target/release/aws-root-mfa-exporter [--accounts 100] [--events 1000]
                 [--batch 10] [--poll-interval 10s]

Each round flips the root MFA of --batch accounts in the stand-in (moto), puts one
DeactivateMFADevice or EnableMFADevice event for each on the queue in one SendMessageBatch, then
scrapes /metrics every 20 ms until every one of them shows the new state. The clock starts before
the stand-in is asked to change the state and send: the latency is what an operator would see,
event to metric, including the exporter's one-second coalescing of a burst.

The poll-only figure flips --batch accounts at once in an exporter without events and a short
--poll-interval, and times the same thing; its latency scales with the interval (checks are
spread over half of it), so the report gives it for the interval measured and the expected
average for the default 5 minutes.
"""

import argparse
import json
import statistics
import time
import urllib.request

from bench import exporter_env, machine, start_exporter  # noqa: E402  (same folder)
from organization import ROLE, start_moto  # noqa: E402

QUEUE = "bench-events"


def scenario(n):
    members = [{"name": f"account-{i:04d}", "mfa_enabled": True, "unassigned": 1} for i in range(n)]
    return {"organization": {"management": {"mfa_enabled": True}, "members": members}}


def fixture(endpoint, body):
    req = urllib.request.Request(endpoint + "/_fixture/sqs", data=json.dumps(body).encode(), method="POST")
    return json.loads(urllib.request.urlopen(req).read())


def mfa_states(url):
    """aws_root_mfa_enabled by account id, from one scrape."""
    states = {}
    for line in urllib.request.urlopen(url + "/metrics").read().decode().splitlines():
        if line.startswith("aws_root_mfa_enabled{"):
            account = line.split('account_id="', 1)[1].split('"', 1)[0]
            states[account] = float(line.rsplit(" ", 1)[1])
    return states


def flip_and_time(url, change, accounts, want, limit):
    """Runs `change` (which flips `accounts` to `want`), then scrapes until each shows it;
    returns each account's latency in seconds."""
    start = time.perf_counter()
    change()
    left = set(accounts)
    took = {}
    while left and time.perf_counter() - start < limit:
        states = mfa_states(url)
        now = time.perf_counter() - start
        for a in [a for a in left if states.get(a) == want]:
            took[a] = now
            left.discard(a)
        time.sleep(0.02)
    if left:
        raise SystemExit(f"{len(left)} accounts never flipped within {limit}s")
    return [took[a] for a in accounts]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--exporter", required=True)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--poll-interval", default="10s")
    parser.add_argument("--poll-rounds", type=int, default=3)
    args = parser.parse_args()

    moto, ready, _ = start_moto(args.accounts, scenario(args.accounts))
    endpoint = ready["endpoint"]
    org = ready["organization"]
    management = org["management"]
    members = sorted(org["members"].values())
    state = {a: True for a in members}
    env = exporter_env(ready, management)

    url_q = fixture(endpoint, {"account": management, "queue": QUEUE, "op": "create"})["url"]
    exporter, url = start_exporter(args.exporter, env, "1h",
                                   ["--organization.role-name", ROLE, "--events.sqs-queue-url", url_q],
                                   ready_within=120)
    latencies = []
    rounds = args.events // args.batch
    t0 = time.perf_counter()
    try:
        for r in range(rounds):
            accounts = [members[(r * args.batch + i) % len(members)] for i in range(args.batch)]
            want = not state[accounts[0]]
            for a in accounts:
                state[a] = want
            specs = [{"id": a, "mfa_enabled": want, "unassigned": 1} for a in accounts]
            name = "EnableMFADevice" if want else "DeactivateMFADevice"
            events = [{"account": a, "name": name} for a in accounts]
            change = lambda: fixture(endpoint, {"account": management, "queue": QUEUE, "op": "send",  # noqa: E731
                                                "apply": specs, "events": events})
            latencies += flip_and_time(url, change, accounts, 1.0 if want else 0.0, 30)
        events_wall = time.perf_counter() - t0
        metrics = urllib.request.urlopen(url + "/metrics").read().decode()
        rechecks = next((float(l.rsplit(" ", 1)[1]) for l in metrics.splitlines()
                         if l.startswith("aws_root_mfa_exporter_events_rechecks_total ")), 0.0)
    finally:
        exporter.terminate()
        exporter.wait()

    # Poll only: the same exporter, no queue, a short interval.
    exporter, url = start_exporter(args.exporter, env, args.poll_interval, ["--organization.role-name", ROLE],
                                   ready_within=120)
    poll = []
    try:
        for r in range(args.poll_rounds):
            accounts = [members[(r * args.batch + i) % len(members)] for i in range(args.batch)]
            want = not state[accounts[0]]
            for a in accounts:
                state[a] = want
            specs = [{"id": a, "mfa_enabled": want, "unassigned": 1} for a in accounts]
            req = lambda: urllib.request.urlopen(urllib.request.Request(  # noqa: E731
                endpoint + "/_fixture/accounts", data=json.dumps(specs).encode(), method="POST")).read()
            poll += flip_and_time(url, req, accounts, 1.0 if want else 0.0, 120)
    finally:
        exporter.terminate()
        exporter.wait()
        moto.stdin.close()
        moto.wait()

    interval = float(args.poll_interval.rstrip("s"))
    print(f"## Events: event-to-metric latency ({time.strftime('%Y-%m-%d', time.gmtime())})\n")
    print(f"Machine: {machine()}. {args.accounts} member accounts in the stand-in (moto), Organization mode "
          f"with a role per member; {len(latencies)} events in rounds of {args.batch} accounts, each round "
          f"one SendMessageBatch.\n")
    print("| | events | p50 | p90 | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| poll + events (--poll.interval 1h) | {len(latencies)} | {percentile(latencies, 50):.2f} s | "
          f"{percentile(latencies, 90):.2f} s | {percentile(latencies, 99):.2f} s | {max(latencies):.2f} s |")
    print(f"| poll only (--poll.interval {args.poll_interval}) | {len(poll)} | {percentile(poll, 50):.2f} s | "
          f"{percentile(poll, 90):.2f} s | {percentile(poll, 99):.2f} s | {max(poll):.2f} s |")
    print()
    print(f"Events: {rechecks:.0f} re-checks for {len(latencies)} events ({events_wall:.0f} s in all); the "
          f"latency includes the {1.0:.0f} s coalescing window. Poll only: mean {statistics.mean(poll):.2f} s "
          f"at a {interval:.0f} s interval, i.e. {statistics.mean(poll) / interval:.2f} of the interval; at "
          f"the default 5 minutes that is about {statistics.mean(poll) / interval * 300:.0f} s on average.")


if __name__ == "__main__":
    main()
