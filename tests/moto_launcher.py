#!/usr/bin/env python3
"""Starts moto as the stand-in AWS for the end-to-end tests, with root-user state it cannot set.

moto implements the IAM, STS and Organizations wire protocols, but it has no API to give the
root user MFA, access keys or a password: `AccountMFAEnabled` is hard-coded to 0,
`AccountPasswordPresent` is never returned, and a virtual MFA device can only be enabled for an
IAM user. This launcher runs moto's WSGI app in-process and patches its backend to set that
state, and wraps the app in a small middleware that

- answers `POST /_fixture/accounts` (a JSON list of account specs) to (re)apply account state
  while the server runs, so a test can "fix" an account and watch the exporter notice;
- injects AWS-style errors for chosen operations of chosen accounts (moto never fails); and
- answers what moto lacks for centralized root access: sts:AssumeRoot, the root sessions it
  issues, and iam:ListOrganizationsFeatures (see below).

Usage: moto_launcher.py --scenario FILE.json [--host 127.0.0.1] [--port 0]
When ready it prints one JSON line to stdout: {"endpoint": URL, "credentials": {account: {...}}}
and then serves until SIGTERM or SIGINT (or, with --exit-on-stdin-close, until stdin closes).

An account spec (every key but "id" optional):
  id                 12-digit account id
  mfa_enabled        bool: AccountMFAEnabled (when left out: whether root_devices lists any
                     device if root_devices is given, else false)
  root_virtual       list of virtual MFA device names assigned to the root user
  root_devices       root's own MFA devices, each {"kind": "virtual"|"fido"|"hardware_totp",
                     "name": ..., "enabled": ISO 8601 (default 2025-01-01T00:00:00Z)}; serial
                     numbers as IAM reports them: virtual arn:aws:iam::ACCOUNT:mfa/NAME, FIDO
                     arn:aws:iam::ACCOUNT:u2f/root-account-mfa-device/NAME, hardware TOTP a
                     non-ARN serial GAHT + 8 digits (or "serial": ... for FIDO and TOTP). Virtual
                     ones are also listed by ListVirtualMFADevices as assigned to root, like
                     root_virtual. Root sessions (sts:AssumeRoot) list root_virtual, then these;
                     at most 8 in all, as AWS allows
  mfa_page_size      int 1..1000 (default 100, ListMFADevices' MaxItems default): the most
                     devices one ListMFADevices page of a root session holds
  password_last_used ISO 8601 or null (never used): root's PasswordLastUsed (GetUser of a root
                     session) and the credential report's password_last_used
  root_access_keys   root's access keys (at most 2), each {"id_suffix": "A1" (the key id is AKIA
                     + 16 characters ending so), "status": "Active"|"Inactive", "last_used":
                     ISO 8601 or null, "service": "s3", "region": "us-east-1", "created": ISO};
                     when left out, access_keys 1 stands for one active key, never used
  user_devices       int: IAM users, each with an assigned virtual device (created before root's)
  decoy              bool: IAM user "rootadmin" owning a device named "root-account-mfa-device"
  unassigned         int: virtual devices assigned to nobody
  access_keys        0|1: AccountAccessKeysPresent (when left out: 1 if root_access_keys lists
                     any key, else 0)
  certificates       0|1: AccountSigningCertificatesPresent
  password           0|1|null: AccountPasswordPresent (null: left out, as older IAM does); 0
                     also means root has no login profile
  omit               list of SummaryMap keys to leave out of GetAccountSummary
  fault              {"operation": "GetAccountSummary", "status": 403, "code": "AccessDenied"}
                     makes every call of that operation by that account fail (Organizations
                     operations too, such as "ListAccounts", answered in their JSON protocol). "operation": "*"
                     matches every call; "rate": 0.6 fails only that share of calls, at random;
                     "delay": 3 answers 3 seconds late (then fails, or answers normally when no
                     "code" is given); "truncate": true answers the reply cut in half;
                     "quote_request": true makes the error message quote the request as AWS's
                     SignatureDoesNotMatch does: the canonical string, with the caller's
                     x-amz-security-token header, and (as for a presigned request) its
                     X-Amz-Credential and X-Amz-Security-Token query parameters
  assume_role_fault  {"status": 403, "code": "AccessDenied"}: every sts:AssumeRole into a role
                     of this account fails
  assume_root_fault  {"status": 403, "code": "AccessDenied"}: every sts:AssumeRoot targeting this
                     account fails (same fields as fault: rate, delay, truncate)

An Organization (optional), created by the management account and its credentials:
  {"organization": {"management": SPEC, "members": [{"name": ..., "status": "ACTIVE"|"SUSPENDED"
   |"PENDING_CLOSURE"|"CLOSED", ...SPEC}, ...]}}
with, at Organization level (both optional):
  features             ["RootCredentialsManagement", "RootSessions"] (the default: both): what
                       iam:ListOrganizationsFeatures reports and sts:AssumeRoot requires; null:
                       trusted access for IAM is off (ServiceAccessNotEnabledException)
  root_session_seconds caps the lifetime of root sessions (default: DurationSeconds)
moto picks member account ids; the ready line then also carries
  "organization": {"management": ID, "members": {NAME: ID, ...}, "id": "o-..."}
`POST /_fixture/organization` with {"remove": [ID, ...], "status": {ID: STATUS}, "features":
[...], "root_session_seconds": N} changes membership and settings while the server runs.
`POST /_fixture/sqs` with {"account": ID, "queue": NAME, "op": ...} works a queue of that account
(the one whose credentials the exporter uses): "create" (answers {"url": ...}), "delete",
"depth" (answers {"visible": N, "in_flight": N}), or "send" with "apply": [SPEC, ...] (applied
first, as /_fixture/accounts does: a root change), "bodies": [TEXT, ...] (sent as they are) and
"events": [{"account": ID, "name": "DeactivateMFADevice", "identity": "Root", "time": ISO
(default now), "result": "Success", "error": CODE}, ...] (each sent as the EventBridge envelope of
the CloudTrail event: detail-type "AWS Console Sign In via CloudTrail" for ConsoleLogin, else
"AWS API Call via CloudTrail"), ten to a SendMessageBatch.
`GET /_fixture/stats` counts the AWS requests seen, by "service:Action" (`DELETE` reads and
resets them); sts:AssumeRoot is also counted by target ("sts:AssumeRoot:ACCOUNT"), and a root
session's calls by its account ("iam:ListMFADevices:ACCOUNT"). Two-part keys alone add up to
the total. `GET /_fixture/seen` lists every access key id and session token that signed a
request, so that a test can look for them in what the exporter prints.

Centralized root access, which moto lacks, is answered by the middleware in the query protocol
(XML as the AWS API reference and the botocore/SDK service models have it):
- sts:AssumeRoot (TargetPrincipal = member account id or arn:aws:iam::ID:root,
  TaskPolicyArn.arn = an arn:aws:iam::aws:policy/root-task/ policy, DurationSeconds 0..900,
  default 900) answers Credentials (ASIA... key, secret, token, Expiration) for a root session
  of the member. Regional vs global endpoint is told by the Host header: a request to Host
  sts.amazonaws.com (the global endpoint) answers 400 InvalidAction "Unknown Operation", as AWS
  does; any other Host (127.0.0.1:PORT, as an SDK pointed here by AWS_ENDPOINT_URL sends) is a
  regional endpoint. Refusals: a caller that is not the Organization's management account, a
  target that is not a member (the management account itself included), or the feature the
  policy needs not enabled (RootCredentialsManagement for the IAM* policies, RootSessions for
  S3/SQS unlock): 403 AccessDenied; bad DurationSeconds, TaskPolicyArn or TargetPrincipal: 400
  ValidationError; root session credentials as caller: 403 AccessDenied.
- A root session (requests signed with its key and carrying its X-Amz-Security-Token) expires at
  Expiration: then every call answers 403 ExpiredToken. With the audit policy
  (IAMAuditRootUserCredentials) it may call, on root only (no UserName), iam:GetAccountSummary
  (moto's patched summary of the member), ListMFADevices (root's devices, MaxItems/Marker/
  IsTruncated paging, mfa_page_size a page), GetUser (root: Path, UserId = account id, Arn
  ...:root, CreateDate, PasswordLastUsed if used; no UserName, as IAM answers for root),
  ListAccessKeys, GetAccessKeyLastUsed (never used: ServiceName and Region N/A, no date),
  ListSigningCertificates, GetLoginProfile (NoSuchEntity without a password), and
  sts:GetCallerIdentity (needs no permission); anything else, or a UserName, is 403
  AccessDenied (explicit deny of the task policy). The account's `fault` applies to these calls.
- iam:ListOrganizationsFeatures answers OrganizationId and EnabledFeatures to the management
  account; a member gets AccountNotManagementOrDelegatedAdministratorException, an account
  outside any Organization OrganizationNotFoundException (400, codes as the service model has
  them, which is what the SDKs match).

The credential report (GenerateCredentialReport, GetCredentialReport) gets the `<root_account>`
row AWS puts first, built from the spec: password_enabled and password rotation `not_supported`,
password_last_used ISO 8601 (2026-01-02T03:04:05+00:00), `no_information` (never used) or `N/A`
(no password), mfa_active as AccountMFAEnabled, access_key_N_* from root_access_keys (`N/A` when
absent or never used), cert_1_active from certificates. moto's own rows follow it.
"""

import argparse
import base64
import datetime
import http
import io
import json
import os
import random
import secrets
import signal
import string
import sys
import threading
import time
import types
import urllib.parse
import uuid
import zlib
from xml.sax.saxutils import escape

import boto3
from botocore.config import Config
import moto.iam.models
from moto.iam.models import AccountSummary, IAMBackend, VirtualMfaDevice, iam_backends
from moto.organizations.models import organizations_backends
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

REGION = "us-east-1"
STATS = {}  # "Service:Action" -> requests seen, for the benchmark (GET /_fixture/stats)
FAULTS = {}  # account id -> fault spec for that account's own calls
ROLE_FAULTS = {}  # account id -> fault spec for sts:AssumeRole into that account
ROOT_FAULTS = {}  # account id -> fault spec for sts:AssumeRoot into that account
ROOT = {}  # account id -> the root user's own credentials (root_state), for root sessions and the report
ORGANIZATION = {}  # "management", "id", "features" (None: trusted access off), "root_session_seconds"
SESSIONS = {}  # access key id -> root session that AssumeRoot issued
SEEN = {"access_key_ids": set(), "session_tokens": set()}  # credentials that signed requests
LOCK = threading.Lock()

UTC = datetime.timezone.utc
ROOT_CREATED = datetime.datetime(2020, 1, 1, tzinfo=UTC)  # the root user's CreateDate, as root_user() says
DEFAULT_ENABLE_DATE = datetime.datetime(2025, 1, 1, tzinfo=UTC)  # a root device's EnableDate unless given
DEFAULT_KEY_DATE = datetime.datetime(2023, 1, 1, tzinfo=UTC)  # a root access key's CreateDate unless given
MAX_ROOT_DEVICES = 8  # AWS allows up to 8 MFA devices per user, root included
MAX_ROOT_KEYS = 2  # and 2 access keys
DEVICE_KINDS = ("virtual", "fido", "hardware_totp")
REPORT_DATE = "%Y-%m-%dT%H:%M:%S+00:00"  # how the credential report writes dates

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

# moto finds the account of a request's access key by looking in every account's IAM, in every
# partition: with 10,000 accounts each request costs tens of milliseconds, and the stand-in,
# not the exporter, would set the pace. An index of the keys moto issues makes it one lookup.
KEY_ACCOUNTS = {}  # access key id -> (account id, partition) of the IAM backend that issued it
_original_account_id_from = moto.iam.models.get_account_id_from


def _indexing(issue):
    def issue_and_index(self, *args, **kwargs):
        key = issue(self, *args, **kwargs)
        KEY_ACCOUNTS[key.physical_resource_id] = (self.account_id, self.partition)
        return key
    return issue_and_index


IAMBackend.create_access_key = _indexing(IAMBackend.create_access_key)
IAMBackend.create_temp_access_key = _indexing(IAMBackend.create_temp_access_key)


def indexed_account(access_key):
    """The account whose live access key this is, from the index; None if the index does not
    know it (or the key was deleted since)."""
    found = KEY_ACCOUNTS.get(access_key)
    if found is not None and access_key in iam_backends[found[0]][found[1]].access_keys:
        return found[0]
    return None


def get_account_id_from(access_key):
    """moto's own lookup, through the index first; keys moto stored some other way are still
    found by its scan."""
    return indexed_account(access_key) or _original_account_id_from(access_key)


moto.iam.models.get_account_id_from = get_account_id_from


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


def add_device(b, account_id, name, owner, exist_ok, enable_date=None):
    """Adds a virtual MFA device, assigned to `owner` (None: unassigned), enabled at `enable_date`
    (default: now)."""
    device = VirtualMfaDevice(account_id, REGION, f"/{name}")
    if device.serial_number in b.virtual_mfa_devices:
        if exist_ok:
            return
        raise ValueError(f"device {name} exists in {account_id}")
    if owner is not None:
        device.enable_date = enable_date or datetime.datetime.now(UTC)
        device.user = owner
    b.virtual_mfa_devices[device.serial_number] = device


def parse_time(value, what):
    """An ISO 8601 timestamp of the scenario ("2026-01-02T03:04:05Z") as an aware datetime."""
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what}: not an ISO 8601 timestamp: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(moment):
    """A timestamp as AWS's query protocol writes it: 2026-11-23T01:02:03Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def device_serial(kind, account_id, name):
    """The SerialNumber IAM reports for a root device of this kind: an `:mfa/` ARN (virtual), a
    `:u2f/` ARN (FIDO security key or passkey), or the token's own serial, not an ARN (TOTP)."""
    if kind == "virtual":
        return f"arn:aws:iam::{account_id}:mfa/{name}"
    if kind == "fido":
        return f"arn:aws:iam::{account_id}:u2f/root-account-mfa-device/{name}"
    return f"GAHT{zlib.crc32(f'{account_id}/{name}'.encode()) % 10**8:08d}"


def root_state(account_id, spec):
    """The root user's own credentials from an account spec, checked before anything is applied:
    its MFA devices (`root_virtual` first, then `root_devices`), access keys, signing certificate
    and password, as root sessions (ListMFADevices, GetUser, ...) and the credential report see
    them. Raises ValueError on a bad spec."""
    now = datetime.datetime.now(UTC)
    devices = [
        {"kind": "virtual", "name": name, "serial": device_serial("virtual", account_id, name), "enabled": now}
        for name in spec.get("root_virtual", [])
    ]
    for d in spec.get("root_devices") or []:
        kind, name = d.get("kind"), d.get("name")
        if kind not in DEVICE_KINDS or not name:
            raise ValueError(f"{account_id}: a root device needs a kind in {DEVICE_KINDS} and a name: {d}")
        serial = device_serial(kind, account_id, name)
        if kind != "virtual" and d.get("serial"):
            serial = d["serial"]
        enabled = parse_time(d["enabled"], f"{account_id} device {name}") if d.get("enabled") else DEFAULT_ENABLE_DATE
        devices.append({"kind": kind, "name": name, "serial": serial, "enabled": enabled})
    if len(devices) > MAX_ROOT_DEVICES:
        raise ValueError(f"{account_id}: {len(devices)} root MFA devices; AWS allows {MAX_ROOT_DEVICES}")
    if len({d["serial"] for d in devices}) != len(devices):
        raise ValueError(f"{account_id}: two root MFA devices have the same serial number")

    keys_spec = spec.get("root_access_keys")
    if keys_spec is None and int(spec.get("access_keys", 0)):
        # AccountAccessKeysPresent 1 without a key list: one active key, never used, so that
        # ListAccessKeys and the credential report agree with the summary.
        keys_spec = [{"id_suffix": "K1"}]
    keys = []
    for i, k in enumerate(keys_spec or []):
        suffix = str(k.get("id_suffix", f"K{i + 1}")).upper()
        if not suffix.isalnum() or len(suffix) > 12:
            raise ValueError(f"{account_id}: id_suffix must be up to 12 letters or digits: {suffix!r}")
        status = k.get("status", "Active")
        if status not in ("Active", "Inactive"):
            raise ValueError(f"{account_id}: a root access key's status is Active or Inactive, not {status!r}")
        last_used = k.get("last_used")
        keys.append({
            "id": "AKIA" + f"ROOT{account_id}{suffix}"[-16:],
            "status": status,
            "created": parse_time(k["created"], f"{account_id} key") if k.get("created") else DEFAULT_KEY_DATE,
            "last_used": parse_time(last_used, f"{account_id} key") if last_used else None,
            "service": k.get("service", "s3"),
            "region": k.get("region", REGION),
        })
    if len(keys) > MAX_ROOT_KEYS or len({k["id"] for k in keys}) != len(keys):
        raise ValueError(f"{account_id}: the root user has at most {MAX_ROOT_KEYS} access keys, with distinct ids")

    certificates = []
    if int(spec.get("certificates", 0)):
        certificates.append({"id": f"ROOTCERT{account_id}ABCD", "status": "Active", "uploaded": DEFAULT_KEY_DATE})
    used = spec.get("password_last_used")
    page_size = int(spec.get("mfa_page_size", 100))
    if not 1 <= page_size <= 1000:
        raise ValueError(f"{account_id}: mfa_page_size is 1..1000 (MaxItems' range)")
    return {
        "devices": devices,
        "keys": keys,
        "certificates": certificates,
        # "password": 0 means no password; 1 or null (AccountPasswordPresent left out) means one.
        "password": spec.get("password", 1) != 0,
        "password_last_used": parse_time(used, f"{account_id} password_last_used") if used else None,
        "mfa_page_size": page_size,
    }


def root_state_of(account_id):
    """The root state applied to `account_id`, or that of an empty spec."""
    with LOCK:
        state = ROOT.get(account_id)
    return state if state is not None else root_state(account_id, {})


def root_report_row(account_id, mfa_active):
    """The credential report's `<root_account>` row, in the report's column order: the root user
    has no password_enabled or password rotation of its own (`not_supported`); a never-used
    password is `no_information`, no password `N/A`; an absent or never-used key is `N/A`."""
    state = root_state_of(account_id)

    def when(moment):
        return moment.astimezone(UTC).strftime(REPORT_DATE) if moment else "N/A"

    if not state["password"]:
        password_last_used = "N/A"
    else:
        password_last_used = when(state["password_last_used"]) if state["password_last_used"] else "no_information"
    fields = [
        "<root_account>",
        f"arn:aws:iam::{account_id}:root",
        when(ROOT_CREATED),
        "not_supported",
        password_last_used,
        "not_supported",
        "not_supported",
        "true" if mfa_active else "false",
    ]
    for i in range(MAX_ROOT_KEYS):
        key = state["keys"][i] if i < len(state["keys"]) else None
        used = key is not None and key["last_used"] is not None
        fields += [
            "true" if key and key["status"] == "Active" else "false",
            when(key["created"]) if key else "N/A",
            when(key["last_used"]) if used else "N/A",
            key["region"] if used else "N/A",
            key["service"] if used else "N/A",
        ]
    for i in range(2):
        cert = state["certificates"][i] if i < len(state["certificates"]) else None
        fields += ["true" if cert and cert["status"] == "Active" else "false", when(cert["uploaded"]) if cert else "N/A"]
    return ",".join(fields) + "\n"


_original_credential_report = IAMBackend.get_credential_report


def _credential_report(self):
    """moto's credential report with the `<root_account>` row AWS puts first."""
    report = _original_credential_report(self)
    header, _, rows = report.partition("\n")
    mfa_active = self.account_summary._account_mfa_enabled
    return header + "\n" + root_report_row(self.account_id, mfa_active) + rows


IAMBackend.get_credential_report = _credential_report


def ensure_user(iam, name):
    try:
        iam.create_user(UserName=name)
        return True
    except iam.exceptions.EntityAlreadyExistsException:
        return False


def apply_account(endpoint, spec, with_credentials=True):
    """Sets one account's state; applying a spec again replaces root's devices and summary."""
    account_id = spec["id"]
    root = root_state(account_id, spec)  # checks the spec before anything changes
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
    # Root's virtual devices (root_virtual, and the virtual ones of root_devices) are also listed
    # by ListVirtualMFADevices as assigned to root, so role mode and root sessions see one world.
    for device in root["devices"]:
        if device["kind"] == "virtual":
            add_device(b, account_id, device["name"], root_user(account_id), exist_ok=False,
                       enable_date=device["enabled"])

    summary = b.account_summary
    if "mfa_enabled" in spec or "root_devices" not in spec:
        summary._account_mfa_enabled = 1 if spec.get("mfa_enabled") else 0
    else:
        summary._account_mfa_enabled = 1 if root["devices"] else 0
    if "access_keys" in spec or "root_access_keys" not in spec:
        summary._account_access_keys_present = int(spec.get("access_keys", 0))
    else:
        summary._account_access_keys_present = 1 if root["keys"] else 0
    summary._account_signing_certificates_present = int(spec.get("certificates", 0))
    summary.fixture_password = spec.get("password", 1)
    summary.fixture_omit = list(spec.get("omit", []))
    with LOCK:
        ROOT[account_id] = root
        for table, key in ((FAULTS, "fault"), (ROLE_FAULTS, "assume_role_fault"), (ROOT_FAULTS, "assume_root_fault")):
            if spec.get(key):
                table[account_id] = spec[key]
            else:
                table.pop(account_id, None)
    return creds


def cloudtrail_envelope(event):
    """The EventBridge envelope of one CloudTrail event, as an EventBridge rule delivers it to SQS."""
    account = event["account"]
    name = event.get("name", "DeactivateMFADevice")
    when = event.get("time") or datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    identity = event.get("identity", "Root")
    sign_in = name == "ConsoleLogin"
    user = ({"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account}
            if identity == "Root" else
            {"type": identity, "principalId": "AIDAFIXTURE", "arn": f"arn:aws:iam::{account}:user/alice",
             "accountId": account, "userName": "alice"})
    detail = {
        "eventVersion": "1.09", "userIdentity": user, "eventTime": when,
        "eventSource": "signin.amazonaws.com" if sign_in else "iam.amazonaws.com",
        "eventName": name, "awsRegion": REGION, "sourceIPAddress": "192.0.2.1",
        "userAgent": "fixture", "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()),
        "readOnly": False, "eventType": "AwsConsoleSignIn" if sign_in else "AwsApiCall",
        "managementEvent": True, "recipientAccountId": account, "eventCategory": "Management",
    }
    if sign_in:
        detail["responseElements"] = {"ConsoleLogin": event.get("result", "Success")}
        detail["additionalEventData"] = {"MFAUsed": "Yes", "LoginTo": "https://console.aws.amazon.com/"}
    else:
        detail["requestParameters"] = {"serialNumber": f"arn:aws:iam::{account}:mfa/root"}
        detail["responseElements"] = None
    if event.get("error"):
        detail["errorCode"] = event["error"]
        detail["errorMessage"] = "injected by the test launcher"
    return {
        "version": "0", "id": str(uuid.uuid4()),
        "detail-type": "AWS Console Sign In via CloudTrail" if sign_in else "AWS API Call via CloudTrail",
        "source": "aws.signin" if sign_in else "aws.iam", "account": account, "time": when,
        "region": REGION, "resources": [], "detail": detail,
    }


def sqs_fixture(endpoint, change):
    """POST /_fixture/sqs: creates, deletes, measures or fills a queue (see the module's doc)."""
    sqs = client(endpoint, "sqs", change["account"])
    name, op = change["queue"], change["op"]
    if op == "create":
        return {"url": sqs.create_queue(QueueName=name)["QueueUrl"]}
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    if op == "delete":
        sqs.delete_queue(QueueUrl=url)
        return {}
    if op == "depth":
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {"visible": int(attrs["ApproximateNumberOfMessages"]),
                "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"])}
    if op != "send":
        raise ValueError(f"unknown op {op!r}")
    for spec in change.get("apply", []):
        apply_account(endpoint, spec, with_credentials=False)
    bodies = list(change.get("bodies", [])) + [json.dumps(cloudtrail_envelope(e)) for e in change.get("events", [])]
    for i in range(0, len(bodies), 10):
        entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    return {"sent": len(bodies)}


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
    organization_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    with LOCK:
        ORGANIZATION.update(management=management["id"], id=organization_id, features=list(FEATURES),
                            root_session_seconds=None)
    change_organization_settings(org)
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


def change_organization_settings(change):
    """Applies the Organization-level keys present in `change`: "features" (a list of
    RootCredentialsManagement and RootSessions, or null: trusted access for IAM is off) and
    "root_session_seconds" (a cap on root sessions' lifetime, or null: none)."""
    features = change.get("features", ())
    if features and any(f not in FEATURES for f in features):
        raise ValueError(f"features: each one of {FEATURES}, not {features}")
    with LOCK:
        if "features" in change:
            ORGANIZATION["features"] = None if features is None else list(features)
        if "root_session_seconds" in change:
            seconds = change["root_session_seconds"]
            ORGANIZATION["root_session_seconds"] = None if seconds is None else int(seconds)


# --- Centralized root access: sts:AssumeRoot, root sessions, iam:ListOrganizationsFeatures ------
# moto has none of these; the middleware answers them itself, in the query protocol's XML.

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
GLOBAL_STS_HOST = "sts.amazonaws.com"  # the global endpoint; every other Host counts as regional
ROOT_TASK = "arn:aws:iam::aws:policy/root-task/"
AUDIT_POLICY = ROOT_TASK + "IAMAuditRootUserCredentials"
# The root-task policies AssumeRoot accepts, and the Organization feature each one needs.
TASK_POLICIES = {
    AUDIT_POLICY: "RootCredentialsManagement",
    ROOT_TASK + "IAMCreateRootUserPassword": "RootCredentialsManagement",
    ROOT_TASK + "IAMDeleteRootUserCredentials": "RootCredentialsManagement",
    ROOT_TASK + "S3UnlockBucketPolicy": "RootSessions",
    ROOT_TASK + "SQSUnlockQueuePolicy": "RootSessions",
}
# What IAMAuditRootUserCredentials allows, on the root user only; it denies everything else.
AUDIT_ACTIONS = frozenset({
    "GetAccountSummary", "ListMFADevices", "GetUser", "ListAccessKeys", "GetAccessKeyLastUsed",
    "ListSigningCertificates", "GetLoginProfile",
})
FEATURES = ("RootCredentialsManagement", "RootSessions")
MAX_ROOT_SESSION = 900  # DurationSeconds' maximum and default
CERTIFICATE_BODY = "-----BEGIN CERTIFICATE-----\nc3RhbmQtaW4=\n-----END CERTIFICATE-----"  # not a real one


class AwsError(Exception):
    """An AWS error answer: HTTP status, error code, message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def query_response(action, namespace, result):
    """The query protocol's answer: <ActionResponse><ActionResult>result</ActionResult>..."""
    return (
        f'<{action}Response xmlns="{namespace}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()


def query_error(namespace, code, message):
    """The query protocol's error body."""
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


def element(tag, value):
    return f"<{tag}>{escape(str(value))}</{tag}>"


def random_text(alphabet, n):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def target_account(principal):
    """The account id of AssumeRoot's TargetPrincipal: an account id or arn:aws:iam::ID:root."""
    if principal.startswith("arn:"):
        parts = principal.split(":")
        if len(parts) == 6 and parts[2] == "iam" and parts[5] == "root":
            principal = parts[4]
    return principal if len(principal) == 12 and principal.isdigit() else None


def account_of_key(access_key):
    """The account whose IAM (or assumed-role) access key this is; None if moto does not know it."""
    found = indexed_account(access_key)
    if found is not None:
        return found
    for account_id, account in list(iam_backends.items()):
        if access_key in account["aws"].access_keys:
            return account_id
    return None


def organization_members():
    """Ids of the Organization's member accounts (the management account is not one)."""
    management = ORGANIZATION.get("management")
    if management is None:
        return set()
    return {a.id for a in org_backend(management).accounts if a.id != management}


def page(items, form, page_size):
    """One page of `items` by the request's Marker and MaxItems (capped at `page_size`, as IAM may
    answer fewer than asked): the page, then the rest of the result (IsTruncated, Marker)."""
    size = page_size
    if form.get("MaxItems"):
        try:
            asked = int(form["MaxItems"])
        except ValueError:
            asked = 0
        if not 1 <= asked <= 1000:
            raise AwsError(400, "ValidationError", f"1 validation error detected: Value '{form['MaxItems']}' "
                           "at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000")
        size = min(asked, page_size)
    start = 0
    if form.get("Marker"):
        try:
            kind, offset = base64.b64decode(form["Marker"], validate=True).decode().split(":")
            start = int(offset)
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
            kind = None
        if kind != "root" or not 0 < start <= len(items):
            raise AwsError(400, "ValidationError", "Invalid Marker.")
    end = start + size
    if end < len(items):
        marker = base64.b64encode(f"root:{end}".encode()).decode()
        rest = f"<IsTruncated>true</IsTruncated>{element('Marker', marker)}"
    else:
        rest = "<IsTruncated>false</IsTruncated>"
    return items[start:end], rest


def list_organizations_features(caller):
    """iam:ListOrganizationsFeatures for the account `caller`: the management account's answer,
    or the error the API reference lists (codes as the service model names them)."""
    management = ORGANIZATION.get("management")
    members = organization_members()
    if management is None or (caller != management and caller not in members):
        raise AwsError(400, "OrganizationNotFoundException",
                       "The request was rejected because no organization is associated with your account.")
    if caller != management:
        raise AwsError(400, "AccountNotManagementOrDelegatedAdministratorException",
                       "The request was rejected because the account making the request is not the management "
                       "account or delegated administrator account for centralized root access.")
    features = ORGANIZATION.get("features")
    if features is None:
        raise AwsError(400, "ServiceAccessNotEnabledException",
                       "The request was rejected because trusted access is not enabled for IAM in AWS Organizations.")
    listed = "".join(element("member", f) for f in features)
    return element("OrganizationId", ORGANIZATION["id"]) + f"<EnabledFeatures>{listed}</EnabledFeatures>"


def assume_root(call):
    """sts:AssumeRoot: a root session of a member account, scoped by a root-task policy."""
    if call.host == GLOBAL_STS_HOST:
        # The global endpoint does not know the action (boto/boto3#4461 shows AWS's answer).
        raise AwsError(400, "InvalidAction", "Unknown Operation")
    if call.access_key in SESSIONS:
        raise AwsError(403, "AccessDenied", "You cannot use root user credentials to call AssumeRoot.")
    caller = account_of_key(call.access_key) if call.access_key else None
    if caller is None:
        raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    principal = call.form.get("TargetPrincipal")
    policy = call.form.get("TaskPolicyArn.arn") or call.form.get("TaskPolicyArn.Arn")
    if not principal or not policy:
        missing = "targetPrincipal" if not principal else "taskPolicyArn"
        raise AwsError(400, "ValidationError", f"1 validation error detected: Value null at '{missing}' "
                       "failed to satisfy constraint: Member must not be null")
    duration = call.form.get("DurationSeconds", str(MAX_ROOT_SESSION))
    if not duration.isdigit() or int(duration) > MAX_ROOT_SESSION:
        raise AwsError(400, "ValidationError", f"1 validation error detected: Value '{duration}' at "
                       f"'durationSeconds' failed to satisfy constraint: Member must have value less than or "
                       f"equal to {MAX_ROOT_SESSION}")
    if policy not in TASK_POLICIES:
        raise AwsError(400, "ValidationError", f"TaskPolicyArn {policy} is not an AWS managed root-task policy.")
    target = target_account(principal)
    if target is None:
        raise AwsError(400, "ValidationError", f"Invalid TargetPrincipal: {principal}")
    denied = f"is not authorized to perform: sts:AssumeRoot on resource: arn:aws:iam::{target}:root"
    if caller != ORGANIZATION.get("management"):
        raise AwsError(403, "AccessDenied", f"Account {caller} {denied}: only the Organization's management "
                       "account can assume root in its member accounts.")
    if target not in organization_members():
        raise AwsError(403, "AccessDenied", f"Account {caller} {denied}: the target is not a member account "
                       "of the Organization.")
    feature = TASK_POLICIES[policy]
    if feature not in (ORGANIZATION.get("features") or ()):
        raise AwsError(403, "AccessDenied", f"Account {caller} {denied}: {feature} is not enabled for the "
                       "Organization (centralized root access).")
    lifetime = int(duration)
    if ORGANIZATION.get("root_session_seconds") is not None:
        lifetime = min(lifetime, int(ORGANIZATION["root_session_seconds"]))
    expires = int(time.time()) + lifetime
    session = {
        "access_key": "ASIA" + random_text(string.ascii_uppercase + string.digits, 16),
        "secret": random_text(string.ascii_letters + string.digits + "+/", 40),
        "token": "IQoJb3JpZ2luX2VjE" + random_text(string.ascii_letters + string.digits + "+/", 300),
        "expires": expires,
        "account": target,
        "policy": policy,
    }
    with LOCK:
        SESSIONS[session["access_key"]] = session
    expiration = iso(datetime.datetime.fromtimestamp(expires, UTC))
    return (
        f"<Credentials>{element('AccessKeyId', session['access_key'])}"
        f"{element('SecretAccessKey', session['secret'])}{element('SessionToken', session['token'])}"
        f"{element('Expiration', expiration)}</Credentials>"
    )


def session_refusal(session, environ):
    """Why a request signed with a root session's key fails before anything else, if it does."""
    if environ.get("HTTP_X_AMZ_SECURITY_TOKEN") != session["token"]:
        return AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    if time.time() >= session["expires"]:
        return AwsError(403, "ExpiredToken", "The security token included in the request is expired")
    return None


def root_call(call, session):
    """A query-protocol call made with a root session: what the task policy allows, answered from
    the account's root state; anything else is an explicit deny. Returns the result XML, or None
    for GetAccountSummary, which moto answers for the session's account."""
    account = session["account"]
    root_arn = f"arn:aws:iam::{account}:root"
    if call.service == "sts" and call.action == "GetCallerIdentity":  # needs no permission
        return element("Arn", root_arn) + element("UserId", account) + element("Account", account)
    audit = call.service == "iam" and session["policy"] == AUDIT_POLICY and call.action in AUDIT_ACTIONS
    resource = f"user {call.form['UserName']}" if call.form.get("UserName") else root_arn
    if not audit or call.form.get("UserName"):
        raise AwsError(403, "AccessDenied", f"User: {root_arn} is not authorized to perform: "
                       f"{call.service}:{call.action} on resource: {resource} with an explicit deny in an "
                       f"identity-based policy: {session['policy']}")
    state = root_state_of(account)
    if call.action == "GetAccountSummary":
        return None
    if call.action == "ListMFADevices":
        devices, rest = page(state["devices"], call.form, state["mfa_page_size"])
        # Root's devices carry no UserName (required in the model; the SDKs default it).
        members = "".join(
            f"<member>{element('SerialNumber', d['serial'])}{element('EnableDate', iso(d['enabled']))}</member>"
            for d in devices)
        return f"<MFADevices>{members}</MFADevices>{rest}"
    if call.action == "GetUser":
        used = state["password_last_used"] if state["password"] else None
        return (f"<User><Path>/</Path>{element('UserId', account)}{element('Arn', root_arn)}"
                f"{element('CreateDate', iso(ROOT_CREATED))}"
                f"{element('PasswordLastUsed', iso(used)) if used else ''}</User>")
    if call.action == "ListAccessKeys":
        keys, rest = page(state["keys"], call.form, 100)
        members = "".join(
            f"<member>{element('AccessKeyId', k['id'])}{element('Status', k['status'])}"
            f"{element('CreateDate', iso(k['created']))}</member>" for k in keys)
        return f"<AccessKeyMetadata>{members}</AccessKeyMetadata>{rest}"
    if call.action == "GetAccessKeyLastUsed":
        key_id = call.form.get("AccessKeyId", "")
        key = next((k for k in state["keys"] if k["id"] == key_id), None)
        if key is None:
            raise AwsError(403, "AccessDenied", f"User: {root_arn} is not authorized to perform: "
                           f"iam:GetAccessKeyLastUsed on resource: access key {key_id}")
        if key["last_used"] is None:  # never used: no date, N/A service and region
            used = "<ServiceName>N/A</ServiceName><Region>N/A</Region>"
        else:
            used = (element("LastUsedDate", iso(key["last_used"])) + element("ServiceName", key["service"])
                    + element("Region", key["region"]))
        return f"<AccessKeyLastUsed>{used}</AccessKeyLastUsed>"
    if call.action == "ListSigningCertificates":
        certs, rest = page(state["certificates"], call.form, 100)
        members = "".join(
            f"<member>{element('CertificateId', c['id'])}"
            f"{element('CertificateBody', CERTIFICATE_BODY)}"
            f"{element('Status', c['status'])}{element('UploadDate', iso(c['uploaded']))}</member>" for c in certs)
        return f"<Certificates>{members}</Certificates>{rest}"
    # GetLoginProfile
    if not state["password"]:
        raise AwsError(404, "NoSuchEntity", "Login Profile for User root cannot be found.")
    return (f"<LoginProfile>{element('CreateDate', iso(ROOT_CREATED))}"
            "<PasswordResetRequired>false</PasswordResetRequired></LoginProfile>")


class Call(types.SimpleNamespace):
    """One AWS request as the middleware sees it: service (from the SigV4 credential scope),
    action, form parameters, signing access key, Host header's host, JSON target if any."""

    @classmethod
    def of(cls, environ, body):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in auth else []
        target = environ.get("HTTP_X_AMZ_TARGET")
        form = {}
        if not target:
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        return cls(
            access_key=scope[0] if scope else None,
            service=scope[3] if len(scope) > 3 else "?",
            target=target,
            form=form,
            # The JSON protocols (Organizations) name the operation in X-Amz-Target.
            action=form.get("Action", "?") if not target else target.rsplit(".", 1)[-1],
            host=environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower(),
        )


class Fixtures:
    """WSGI middleware: the fixture endpoint, fault injection, and what moto lacks (AssumeRoot,
    root sessions, ListOrganizationsFeatures) in front of moto."""

    def __init__(self, app, endpoint_ref):
        self.app = app
        self.endpoint_ref = endpoint_ref

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_fixture/accounts" and environ["REQUEST_METHOD"] == "POST":
            specs = json.loads(self._body(environ) or b"[]")
            try:
                creds = {s["id"]: apply_account(self.endpoint_ref[0], s) for s in specs}
            except ValueError as e:
                return self._json(start_response, "400 Bad Request", {"error": str(e)})
            return self._json(start_response, "200 OK", {k: v for k, v in creds.items() if v})
        if environ.get("PATH_INFO") == "/_fixture/organization" and environ["REQUEST_METHOD"] == "POST":
            change = json.loads(self._body(environ) or b"{}")
            management = self.endpoint_ref[1]
            try:
                change_organization_settings(change)
            except ValueError as e:
                return self._json(start_response, "400 Bad Request", {"error": str(e)})
            orgs = client(self.endpoint_ref[0], "organizations", management)
            for account_id in change.get("remove", []):
                orgs.remove_account_from_organization(AccountId=account_id)
            for account_id, status in change.get("status", {}).items():
                set_member_status(management, account_id, status)
            start_response("204 No Content", [])
            return [b""]
        if environ.get("PATH_INFO") == "/_fixture/sqs" and environ["REQUEST_METHOD"] == "POST":
            try:
                answer = sqs_fixture(self.endpoint_ref[0], json.loads(self._body(environ) or b"{}"))
            except (ValueError, KeyError) as e:
                return self._json(start_response, "400 Bad Request", {"error": str(e)})
            return self._json(start_response, "200 OK", answer)
        if environ.get("PATH_INFO") == "/_fixture/stats":
            with LOCK:
                stats = dict(STATS)
                if environ["REQUEST_METHOD"] == "DELETE":
                    STATS.clear()
            return self._json(start_response, "200 OK", stats)
        if environ.get("PATH_INFO") == "/_fixture/seen":
            with LOCK:
                seen = {k: sorted(v) for k, v in SEEN.items()}
            return self._json(start_response, "200 OK", seen)
        call = Call.of(environ, self._body(environ))
        self._remember_credentials(call, environ)
        with LOCK:
            session = SESSIONS.get(call.access_key)
        self._count(call, session)
        if session is not None:
            refusal = session_refusal(session, environ)
            if refusal is not None:
                return self._error(start_response, call, refusal)
        fault = self._fault_for(call, session)
        if fault and random.random() >= float(fault.get("rate", 1)):
            fault = None
        if fault and fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault and fault.get("truncate"):
            return self._truncated(environ, start_response, call, session)
        if fault and "code" in fault:
            message = (self._quoted_request(call, environ) if fault.get("quote_request")
                       else "injected by the test launcher")
            error = AwsError(int(fault.get("status", 400)), fault["code"], message)
            return self._error(start_response, call, error)
        return self._handle(environ, start_response, call, session)

    @staticmethod
    def _remember_credentials(call, environ):
        """Records the access key id and session token that signed the request (GET /_fixture/seen)."""
        token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN", "")
        with LOCK:
            if call.access_key:
                SEEN["access_key_ids"].add(call.access_key)
            if token:
                SEEN["session_tokens"].add(token)

    @staticmethod
    def _quoted_request(call, environ):
        """A SignatureDoesNotMatch message quoting this request, credentials and all, as AWS does."""
        token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN", "")
        key = call.access_key or ""
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

    def _handle(self, environ, start_response, call, session):
        """Answers what moto lacks; passes everything else to moto."""
        try:
            if call.target is None and call.action == "AssumeRoot":
                return self._answer(start_response, STS_NS, call, assume_root(call))
            if session is not None:
                if call.target is not None:
                    return self._json_denied(start_response, call, session)
                result = root_call(call, session)
                if result is not None:
                    return self._answer(start_response, IAM_NS if call.service == "iam" else STS_NS, call, result)
                environ["HTTP_X_MOTO_ACCOUNT_ID"] = session["account"]  # moto answers for that account
            elif call.target is None and call.action == "ListOrganizationsFeatures":
                caller = account_of_key(call.access_key) if call.access_key else None
                if caller is None:
                    raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
                return self._answer(start_response, IAM_NS, call, list_organizations_features(caller))
        except AwsError as e:
            return self._error(start_response, call, e)
        return self.app(environ, start_response)

    @staticmethod
    def _json(start_response, status, value):
        body = json.dumps(value).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    @staticmethod
    def _send(start_response, status, body, content_type="text/xml"):
        phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Injected"
        start_response(f"{status} {phrase}", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                              ("x-amzn-RequestId", str(uuid.uuid4()))])
        return [body]

    def _answer(self, start_response, namespace, call, result):
        return self._send(start_response, 200, query_response(call.action, namespace, result))

    def _error(self, start_response, call, error):
        """An AWS error in the protocol of the request (query XML, or JSON for JSON services)."""
        if call.target is not None:
            body = json.dumps({"__type": error.code, "message": error.message}).encode()
            return self._send(start_response, error.status, body, "application/x-amz-json-1.1")
        namespace = STS_NS if call.service == "sts" else IAM_NS
        return self._send(start_response, error.status, query_error(namespace, error.code, error.message))

    def _json_denied(self, start_response, call, session):
        """A JSON-protocol call (Organizations, ...) with a root session: the task policy denies it."""
        operation = call.target.rsplit(".", 1)[-1]
        error = AwsError(400, "AccessDeniedException", f"User: arn:aws:iam::{session['account']}:root is not "
                         f"authorized to perform: {operation} with an explicit deny in an identity-based policy: "
                         f"{session['policy']}")
        return self._error(start_response, call, error)

    def _truncated(self, environ, start_response, call, session):
        """The answer, cut in half: a malformed body with an honest Content-Length."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = b"".join(self._handle(environ, capture, call, session))
        body = body[: len(body) // 2]
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(body)))])
        return [body]

    @staticmethod
    def _count(call, session):
        """Counts the request by "service:Action"; AssumeRoot also by target account
        ("sts:AssumeRoot:ACCOUNT"), and a root session's calls by its account
        ("iam:ListMFADevices:ACCOUNT")."""
        if call.target:  # JSON protocols (Organizations)
            prefix, action = call.target.rsplit(".", 1)
            service = "organizations" if prefix.startswith("AWSOrganizations") else prefix
            keys = [f"{service}:{action}"]
        else:
            keys = [f"{call.service}:{call.action}"]
            if call.action == "AssumeRoot":
                principal = call.form.get("TargetPrincipal", "?")
                keys.append(f"{keys[0]}:{target_account(principal) or principal}")
            elif session is not None:
                keys.append(f"{keys[0]}:{session['account']}")
        with LOCK:
            for key in keys:
                STATS[key] = STATS.get(key, 0) + 1

    @staticmethod
    def _body(environ):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    @staticmethod
    def _fault_for(call, session):
        """The fault to inject, if any: assume_role_fault / assume_root_fault of the target
        account, else the `fault` of the caller's account (a root session's: its account)."""
        with LOCK:
            if not FAULTS and not ROLE_FAULTS and not ROOT_FAULTS:
                return None
        if call.action == "AssumeRole":
            role_account = call.form.get("RoleArn", "").split(":")[4:5]
            with LOCK:
                fault = ROLE_FAULTS.get(role_account[0]) if role_account else None
            if fault:
                return fault
        if call.action == "AssumeRoot":
            with LOCK:
                fault = ROOT_FAULTS.get(target_account(call.form.get("TargetPrincipal", "")))
            if fault:
                return fault
        if not call.access_key:
            return None
        account_id = session["account"] if session is not None else get_account_id_from(call.access_key)
        with LOCK:
            fault = FAULTS.get(account_id)
        if not fault:
            return None
        return fault if fault.get("operation") in (call.action, "*") else None


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
        ready["organization"] = {"management": management, "members": members, "id": ORGANIZATION["id"]}
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
