#!/usr/bin/env python3
"""Starts moto as the stand-in AWS for the end-to-end tests, with root-user state it cannot set.

moto implements the IAM, STS and Organizations wire protocols, but it has no API to give the
root user MFA, access keys or a password: `AccountMFAEnabled` is hard-coded to 0,
`AccountPasswordPresent` is never returned, and a virtual MFA device can only be enabled for an
IAM user. This launcher runs moto's WSGI app in-process and patches its backend to set that
state, and wraps the app in a small middleware that

- answers `POST /_fixture/accounts` (a JSON list of account specs) to (re)apply account state
  while the server runs, so a test can "fix" an account and watch the exporter notice; and
- injects AWS-style errors for chosen operations of chosen accounts (moto never fails).

Usage: moto_launcher.py --scenario FILE.json [--host 127.0.0.1] [--port 0]
When ready it prints one JSON line to stdout: {"endpoint": URL, "credentials": {account: {...}}}
and then serves until SIGTERM or SIGINT (or, with --exit-on-stdin-close, until stdin closes).

An account spec (every key but "id" optional):
  id                 12-digit account id
  mfa_enabled        bool: AccountMFAEnabled
  root_virtual       list of virtual MFA device names assigned to the root user
  user_devices       int: IAM users, each with an assigned virtual device (created before root's)
  decoy              bool: IAM user "rootadmin" owning a device named "root-account-mfa-device"
  unassigned         int: virtual devices assigned to nobody
  access_keys        0|1: AccountAccessKeysPresent
  certificates       0|1: AccountSigningCertificatesPresent
  password           0|1|null: AccountPasswordPresent (null: left out, as older IAM does)
  omit               list of SummaryMap keys to leave out of GetAccountSummary
  fault              {"operation": "GetAccountSummary", "status": 403, "code": "AccessDenied"}
                     makes every call of that operation by that account fail (Organizations
                     operations too, such as "ListAccounts", answered in their JSON protocol). "operation": "*"
                     matches every call; "rate": 0.6 fails only that share of calls, at random;
                     "delay": 3 answers 3 seconds late (then fails, or answers normally when no
                     "code" is given); "truncate": true answers moto's reply cut in half;
                     "quote_request": true makes the error message quote the request as AWS's
                     SignatureDoesNotMatch does: the canonical string, with the caller's
                     x-amz-security-token header, and (as for a presigned request) its
                     X-Amz-Credential and X-Amz-Security-Token query parameters
  assume_role_fault  {"status": 403, "code": "AccessDenied"}: every sts:AssumeRole into a role
                     of this account fails

An Organization (optional), created by the management account and its credentials:
  {"organization": {"management": SPEC, "members": [{"name": ..., "status": "ACTIVE"|"SUSPENDED"
   |"PENDING_CLOSURE"|"CLOSED", ...SPEC}, ...]}}
moto picks member account ids; the ready line then also carries
  "organization": {"management": ID, "members": {NAME: ID, ...}}
`POST /_fixture/organization` with {"remove": [ID, ...], "status": {ID: STATUS}} changes
membership while the server runs. `GET /_fixture/stats` counts the AWS requests seen, by
"service:Action" (`DELETE` reads and resets them). `GET /_fixture/seen` lists every access
key id and session token that signed a request, so that a test can look for them in what the
exporter prints.
"""

import argparse
import datetime
import io
import json
import os
import random
import signal
import sys
import threading
import time
import types
import urllib.parse
from xml.sax.saxutils import escape

import boto3
from botocore.config import Config
from moto.iam.models import AccountSummary, VirtualMfaDevice, get_account_id_from, iam_backends
from moto.organizations.models import organizations_backends
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

REGION = "us-east-1"
STATS = {}  # "Service:Action" -> requests seen, for the benchmark (GET /_fixture/stats)
FAULTS = {}  # account id -> fault spec for that account's own calls
ROLE_FAULTS = {}  # account id -> fault spec for sts:AssumeRole into that account
SEEN = {"access_key_ids": set(), "session_tokens": set()}  # credentials that signed requests
LOCK = threading.Lock()

_original_summary_map = AccountSummary.summary_map.fget


def _summary_map(self):
    """GetAccountSummary with the keys moto cannot set: AccountPasswordPresent, and omissions."""
    result = dict(_original_summary_map(self))
    password = getattr(self, "fixture_password", None)
    if password is not None:
        result["AccountPasswordPresent"] = password
    for key in getattr(self, "fixture_omit", ()):
        result.pop(key, None)
    return result


AccountSummary.summary_map = property(_summary_map)


def client(endpoint, service, account_id):
    """A boto3 client that acts in `account_id` (moto reads the x-moto-account-id header)."""
    c = boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="fixture",
        aws_secret_access_key="fixture",
        config=Config(retries={"max_attempts": 1}),
    )

    def add_account(request, **_):
        request.headers["x-moto-account-id"] = account_id

    c.meta.events.register("before-sign.*.*", add_account)
    return c


def backend(account_id):
    return iam_backends[account_id]["global"]


def root_user(account_id):
    # How IAM reports the root user as a device's owner: no UserName, UserId is the account id.
    return types.SimpleNamespace(
        fixture_root=True,
        path="/",
        id=account_id,
        arn=f"arn:aws:iam::{account_id}:root",
        create_date=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
    )


def user(account_id, name):
    return types.SimpleNamespace(
        path="/",
        user_name=name,
        id=f"AIDA{abs(hash(name)) % 10**16:016d}",
        arn=f"arn:aws:iam::{account_id}:user/{name}",
        create_date=datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc),
    )


def add_device(b, account_id, name, owner, exist_ok):
    """Adds a virtual MFA device, assigned to `owner` (None: unassigned)."""
    device = VirtualMfaDevice(account_id, REGION, f"/{name}")
    if device.serial_number in b.virtual_mfa_devices:
        if exist_ok:
            return
        raise ValueError(f"device {name} exists in {account_id}")
    if owner is not None:
        device.enable_date = datetime.datetime.now(datetime.timezone.utc)
        device.user = owner
    b.virtual_mfa_devices[device.serial_number] = device


def ensure_user(iam, name):
    try:
        iam.create_user(UserName=name)
        return True
    except iam.exceptions.EntityAlreadyExistsException:
        return False


def apply_account(endpoint, spec, with_credentials=True):
    """Sets one account's state; applying a spec again replaces root's devices and summary."""
    account_id = spec["id"]
    creds = None
    iam = client(endpoint, "iam", account_id) if with_credentials else None
    if iam is not None and ensure_user(iam, "exporter"):
        key = iam.create_access_key(UserName="exporter")["AccessKey"]
        creds = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

    b = backend(account_id)
    for serial, device in list(b.virtual_mfa_devices.items()):
        if getattr(device.user, "fixture_root", False):
            del b.virtual_mfa_devices[serial]
    # User devices are made in-process: thousands of them cost milliseconds instead of minutes
    # of HTTP calls, and ListVirtualMFADevices renders them exactly like API-made ones.
    for i in range(int(spec.get("user_devices", 0))):
        name = f"user-{i:05d}"
        add_device(b, account_id, name, user(account_id, name), exist_ok=True)
    if spec.get("decoy"):
        add_device(b, account_id, "root-account-mfa-device", user(account_id, "rootadmin"), exist_ok=True)
    for i in range(int(spec.get("unassigned", 0))):
        add_device(b, account_id, f"spare-{i}", None, exist_ok=True)
    for name in spec.get("root_virtual", []):
        add_device(b, account_id, name, root_user(account_id), exist_ok=False)

    summary = b.account_summary
    summary._account_mfa_enabled = 1 if spec.get("mfa_enabled") else 0
    summary._account_access_keys_present = int(spec.get("access_keys", 0))
    summary._account_signing_certificates_present = int(spec.get("certificates", 0))
    summary.fixture_password = spec.get("password", 1)
    summary.fixture_omit = list(spec.get("omit", []))
    with LOCK:
        for table, key in ((FAULTS, "fault"), (ROLE_FAULTS, "assume_role_fault")):
            if spec.get(key):
                table[account_id] = spec[key]
            else:
                table.pop(account_id, None)
    return creds


def org_backend(management_id):
    return organizations_backends[management_id]["aws"]


def set_member_status(management_id, account_id, status):
    for account in org_backend(management_id).accounts:
        if account.id == account_id:
            account.status = "SUSPENDED" if status == "SUSPENDED" else "ACTIVE"
            account.state = status
            return
    raise KeyError(f"account {account_id} is not in the organization")


def create_organization(endpoint, org):
    """Creates the Organization and its members; returns (management id, creds, {name: id})."""
    management = dict(org.get("management", {}))
    management.setdefault("id", "123456789012")
    creds = apply_account(endpoint, management)
    orgs = client(endpoint, "organizations", management["id"])
    orgs.create_organization(FeatureSet="ALL")
    members = {}
    for i, member in enumerate(org.get("members", [])):
        name = member.get("name", f"member-{i:04d}")
        status = orgs.create_account(Email=f"{name}@example.invalid", AccountName=name)["CreateAccountStatus"]
        account_id = status["AccountId"]
        members[name] = account_id
        apply_account(endpoint, dict(member, id=account_id), with_credentials=False)
        if member.get("status", "ACTIVE") != "ACTIVE":
            set_member_status(management["id"], account_id, member["status"])
    return management["id"], creds, members


class Fixtures:
    """WSGI middleware: the fixture endpoint, and fault injection in front of moto."""

    def __init__(self, app, endpoint_ref):
        self.app = app
        self.endpoint_ref = endpoint_ref

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_fixture/accounts" and environ["REQUEST_METHOD"] == "POST":
            specs = json.loads(self._body(environ) or b"[]")
            creds = {s["id"]: apply_account(self.endpoint_ref[0], s) for s in specs}
            body = json.dumps({k: v for k, v in creds.items() if v}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("PATH_INFO") == "/_fixture/organization" and environ["REQUEST_METHOD"] == "POST":
            change = json.loads(self._body(environ) or b"{}")
            management = self.endpoint_ref[1]
            orgs = client(self.endpoint_ref[0], "organizations", management)
            for account_id in change.get("remove", []):
                orgs.remove_account_from_organization(AccountId=account_id)
            for account_id, status in change.get("status", {}).items():
                set_member_status(management, account_id, status)
            start_response("204 No Content", [])
            return [b""]
        if environ.get("PATH_INFO") == "/_fixture/stats":
            with LOCK:
                body = json.dumps(STATS).encode()
                if environ["REQUEST_METHOD"] == "DELETE":
                    STATS.clear()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("PATH_INFO") == "/_fixture/seen":
            with LOCK:
                body = json.dumps({k: sorted(v) for k, v in SEEN.items()}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        self._count(environ)
        self._remember_credentials(environ)
        fault = self._fault_for(environ)
        if fault and random.random() >= float(fault.get("rate", 1)):
            fault = None
        if fault and fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault and fault.get("truncate"):
            return self._truncated(environ, start_response)
        if fault and "code" in fault and environ.get("HTTP_X_AMZ_TARGET"):
            # The JSON protocols (Organizations) answer errors as JSON with a __type.
            body = json.dumps({"__type": fault["code"], "message": "injected by the test launcher"}).encode()
            status = f'{int(fault.get("status", 400))} Injected'
            start_response(status, [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))])
            return [body]
        if fault and "code" in fault:
            message = self._quoted_request(environ) if fault.get("quote_request") else "injected by the test launcher"
            body = (
                '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
                f'<Code>{fault["code"]}</Code><Message>{escape(message)}</Message></Error>'
                "<RequestId>fixture</RequestId></ErrorResponse>"
            ).encode()
            status = f'{int(fault.get("status", 400))} Injected'
            start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)

    @staticmethod
    def _credential(environ):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        return auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""

    def _remember_credentials(self, environ):
        key, token = self._credential(environ), environ.get("HTTP_X_AMZ_SECURITY_TOKEN", "")
        with LOCK:
            if key:
                SEEN["access_key_ids"].add(key)
            if token:
                SEEN["session_tokens"].add(token)

    def _quoted_request(self, environ):
        """A SignatureDoesNotMatch message quoting this request, credentials and all, as AWS does."""
        token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN", "")
        key = self._credential(environ)
        date = environ.get("HTTP_X_AMZ_DATE", "")
        scope = f"{date[:8]}/{REGION}/iam/aws4_request"
        query = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={urllib.parse.quote(key + '/' + scope, safe='')}"
                 f"&X-Amz-Date={date}&X-Amz-Security-Token={urllib.parse.quote(token, safe='')}")
        return (
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.\n\n"
            "The Canonical String for this request should have been\n"
            f"'POST\n/\n{query}\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\n"
            f"host:{environ.get('HTTP_HOST', '')}\nx-amz-date:{date}\nx-amz-security-token:{token}\n\n"
            "content-type;host;x-amz-date;x-amz-security-token\n"
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e'\n\n"
            f"The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n{date}\n{scope}\n"
            "d62cbd4ac86cab5e8dbb9e1bb2b0d2bc9e1dba5f52f5a0bbc8b84a3d7ef5e0ab'\n"
        )

    def _truncated(self, environ, start_response):
        """moto's answer, cut in half: a malformed body with an honest Content-Length."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = b"".join(self.app(environ, capture))
        body = body[: len(body) // 2]
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(body)))])
        return [body]

    def _count(self, environ):
        target = environ.get("HTTP_X_AMZ_TARGET")  # JSON protocols (Organizations)
        if target:
            prefix, action = target.rsplit(".", 1)
            service = "organizations" if prefix.startswith("AWSOrganizations") else prefix
            key = f"{service}:{action}"
        else:
            form = urllib.parse.parse_qs(self._body(environ).decode("utf-8", "replace"))
            service = environ.get("HTTP_AUTHORIZATION", "").split("/")[3:4]
            key = (service[0] if service else "?") + ":" + form.get("Action", ["?"])[0]
        with LOCK:
            STATS[key] = STATS.get(key, 0) + 1

    @staticmethod
    def _body(environ):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _fault_for(self, environ):
        with LOCK:
            if not FAULTS and not ROLE_FAULTS:
                return None
        form = urllib.parse.parse_qs(self._body(environ).decode("utf-8", "replace"))
        action = form.get("Action", [""])[0]
        target = environ.get("HTTP_X_AMZ_TARGET")  # JSON protocols name the operation here
        if target:
            action = target.rsplit(".", 1)[-1]
        if action == "AssumeRole":
            role_account = form.get("RoleArn", [""])[0].split(":")[4:5]
            with LOCK:
                fault = ROLE_FAULTS.get(role_account[0]) if role_account else None
            if fault:
                return fault
        access_key = self._credential(environ)
        if not access_key:
            return None
        account_id = get_account_id_from(access_key)
        with LOCK:
            fault = FAULTS.get(account_id)
        if not fault:
            return None
        return fault if fault.get("operation") in (action, "*") else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenario", required=True, help="JSON file: {\"accounts\": [spec, ...]}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--exit-on-stdin-close", action="store_true",
                        help="stop when standard input closes (so a dying test leaves nothing behind)")
    args = parser.parse_args()

    endpoint_ref = [None, None]  # endpoint, management account id
    app = Fixtures(DomainDispatcherApplication(create_backend_app), endpoint_ref)
    server = make_server(args.host, args.port, app, threaded=True)
    endpoint = f"http://{args.host}:{server.server_port}"
    endpoint_ref[0] = endpoint
    threading.Thread(target=server.serve_forever, daemon=True).start()

    with open(args.scenario, encoding="utf-8") as f:
        scenario = json.load(f)
    credentials = {}
    for spec in scenario.get("accounts", []):
        creds = apply_account(endpoint, spec)
        if creds:
            credentials[spec["id"]] = creds
    ready = {"endpoint": endpoint, "credentials": credentials}
    if "organization" in scenario:
        management, creds, members = create_organization(endpoint, scenario["organization"])
        endpoint_ref[1] = management
        credentials[management] = creds
        ready["organization"] = {"management": management, "members": members}
    print(json.dumps(ready), flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.exit_on_stdin_close:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    main()
