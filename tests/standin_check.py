#!/usr/bin/env python3
"""Self-check of the stand-in AWS (tests/moto_launcher.py) for centralized root access.

Starts the launcher with an Organization whose members cover every root MFA device mix, then
drives it with real boto3 clients (endpoint_url = the launcher, region us-east-1), which parse
the answers with botocore's service models, as the Rust SDK parses them with the same models:
sts:AssumeRoot (regional, global refused, and every refusal), iam:ListOrganizationsFeatures, a
root session's ListMFADevices (paged), GetUser, ListAccessKeys, GetAccessKeyLastUsed,
GetAccountSummary, GetLoginProfile, ListSigningCertificates and what the task policy denies,
session expiry, disabled features, faults, the stats, fixture changes at run time, the
credential report's <root_account> row, and the existing account keys.

Usage: python tests/standin_check.py   (prints "N passed, M failed"; exit status 1 on a failure)
Everything stays on loopback: the "global endpoint" case only sets the Host header.
"""

import csv
import datetime
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"
TASK = "arn:aws:iam::aws:policy/root-task/"
AUDIT = TASK + "IAMAuditRootUserCredentials"
S3_UNLOCK = TASK + "S3UnlockBucketPolicy"
STANDALONE = "210987654321"  # an account outside the Organization
SUMMARY_DENIED = "310987654321"  # outside too, with an existing-style fault
TRUNCATED = "410987654321"  # ListVirtualMFADevices cut in half
STS_EXPIRED = "510987654321"  # GetCallerIdentity answers ExpiredToken
SERVER_ERROR = "610987654321"  # every call answers 500
USED = "2026-01-02T03:04:05Z"
PASSWORD_USED = "2026-02-03T04:05:06Z"

SCENARIO = {
    "accounts": [
        {"id": STANDALONE, "mfa_enabled": True, "access_keys": 1, "password": None, "user_devices": 120,
         "root_virtual": ["zz-root"], "decoy": True, "unassigned": 2},
        {"id": SUMMARY_DENIED, "mfa_enabled": True,
         "fault": {"operation": "GetAccountSummary", "status": 403, "code": "AccessDenied"}},
        {"id": TRUNCATED, "root_virtual": ["phone"], "fault": {"operation": "ListVirtualMFADevices", "truncate": True}},
        {"id": STS_EXPIRED, "fault": {"operation": "GetCallerIdentity", "status": 403, "code": "ExpiredToken"}},
        {"id": SERVER_ERROR, "fault": {"operation": "*", "status": 500, "code": "InternalFailure"}},
    ],
    "organization": {
        "management": {"mfa_enabled": True, "root_devices": [{"kind": "fido", "name": "mgmt-key"}]},
        "members": [
            {"name": "fido-only", "root_devices": [{"kind": "fido", "name": "yubikey-5c"}]},
            {"name": "totp-only", "root_devices": [{"kind": "hardware_totp", "name": "token"}]},
            {"name": "virtual-only", "root_devices": [{"kind": "virtual", "name": "phone"}]},
            {"name": "virtual-fido", "root_devices": [{"kind": "virtual", "name": "phone"},
                                                      {"kind": "fido", "name": "key"}]},
            {"name": "none", "root_devices": []},
            {"name": "several", "root_devices": [
                {"kind": "virtual", "name": "phone-a"}, {"kind": "virtual", "name": "phone-b"},
                {"kind": "fido", "name": "key-a"}, {"kind": "fido", "name": "key-b"},
                {"kind": "hardware_totp", "name": "token-a", "serial": "GAHT00000001",
                 "enabled": "2024-05-06T07:08:09Z"},
                {"kind": "hardware_totp", "name": "token-b"}]},
            {"name": "second-page", "mfa_page_size": 2, "root_devices": [
                {"kind": "fido", "name": "key"}, {"kind": "hardware_totp", "name": "token"},
                {"kind": "virtual", "name": "late-phone"}]},
            {"name": "never-used", "root_devices": [{"kind": "fido", "name": "key"}], "password_last_used": None},
            {"name": "keys-used", "root_devices": [{"kind": "hardware_totp", "name": "token"}],
             "password_last_used": PASSWORD_USED, "certificates": 1,
             "root_access_keys": [
                 {"id_suffix": "USED1", "status": "Active", "last_used": USED, "service": "s3", "region": REGION},
                 {"id_suffix": "IDLE2", "status": "Inactive", "last_used": None}]},
            {"name": "no-password", "password": 0, "root_devices": []},
            {"name": "legacy", "mfa_enabled": True, "root_virtual": ["root-account-mfa-device"]},
            {"name": "denied", "root_devices": [{"kind": "fido", "name": "key"}],
             "assume_root_fault": {"status": 403, "code": "AccessDenied"}},
            {"name": "faulty", "root_devices": [{"kind": "fido", "name": "key"}],
             "fault": {"operation": "ListMFADevices", "status": 500, "code": "ServiceFailure"}},
        ],
    },
}

PASSED, FAILED = [], []


def check(name):
    """Runs the decorated function at once as one named check, and records the outcome."""
    def run(fn):
        try:
            fn()
        except Exception:
            FAILED.append(name)
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
        else:
            PASSED.append(name)
            print(f"ok   {name}", flush=True)
        return fn
    return run


def expect_error(call, code, status):
    """Asserts that `call()` fails with this AWS error code and HTTP status."""
    try:
        call()
    except ClientError as e:
        got = (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        assert got == (code, status), f"expected {code} {status}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code} {status}, but the call succeeded")


class Standin:
    """The launcher as a subprocess, and clients for it."""

    def __init__(self, scenario):
        self.file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(scenario, self.file)
        self.file.close()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "moto_launcher.py"), "--scenario", self.file.name,
             "--exit-on-stdin-close"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.ready = json.loads(self.proc.stdout.readline())
        self.endpoint = self.ready["endpoint"]
        org = self.ready["organization"]
        self.management, self.members, self.org_id = org["management"], org["members"], org["id"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        os.unlink(self.file.name)

    def client(self, service, creds, global_host=False):
        """A boto3 client with these credentials ({"AccessKeyId", ...} or the launcher's form)."""
        c = boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=creds.get("AccessKeyId") or creds.get("access_key_id"),
            aws_secret_access_key=creds.get("SecretAccessKey") or creds.get("secret_access_key"),
            aws_session_token=creds.get("SessionToken"),
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        if global_host:
            # What a request to the global endpoint carries, sent to the loopback launcher.
            c.meta.events.register("before-sign.sts.*", lambda request, **_: request.headers.__setitem__(
                "Host", "sts.amazonaws.com"))
        return c

    def mgmt(self, service, **kw):
        return self.client(service, self.ready["credentials"][self.management], **kw)

    def role_creds(self, account):
        """Credentials of a role in `account` (moto's AssumeRole), as Organization mode uses."""
        return self.mgmt("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                                            RoleSessionName="standin-check")["Credentials"]

    def assume_root(self, account, policy=AUDIT, **kw):
        return self.mgmt("sts").assume_root(TargetPrincipal=account, TaskPolicyArn={"arn": policy}, **kw)

    def root(self, name_or_id, service="iam", policy=AUDIT):
        """A client on a fresh root session of a member."""
        account = self.members.get(name_or_id, name_or_id)
        return self.client(service, self.assume_root(account, policy)["Credentials"])

    def fixture(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def all_devices(iam, **kw):
    return [d for p in iam.get_paginator("list_mfa_devices").paginate(**kw) for d in p["MFADevices"]]


def kind(serial):
    """The device kind from its serial, as DOMAIN.md says to tell it."""
    if not serial.startswith("arn:"):
        return "hardware_totp"
    return "virtual" if ":mfa/" in serial else "fido" if ":u2f/" in serial else "?"


def utc(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def report_rows(iam):
    """The credential report as a list of dict rows (generating it first)."""
    for _ in range(5):
        if iam.generate_credential_report()["State"] == "COMPLETE":
            break
    content = iam.get_credential_report()["Content"]
    return list(csv.DictReader(io.StringIO(content.decode())))


def main():
    s = Standin(SCENARIO)
    m = s.members
    try:
        run_checks(s, m)
    finally:
        s.close()
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    if FAILED:
        print("failed: " + ", ".join(FAILED))
    return 1 if FAILED else 0


def run_checks(s, m):
    @check("ready line carries the Organization id")
    def _():
        assert s.org_id.startswith("o-") and len(m) == len(SCENARIO["organization"]["members"])

    # --- iam:ListOrganizationsFeatures ---------------------------------------------------------
    @check("ListOrganizationsFeatures: management account sees both features")
    def _():
        r = s.mgmt("iam").list_organizations_features()
        assert r["OrganizationId"] == s.org_id, r
        assert r["EnabledFeatures"] == ["RootCredentialsManagement", "RootSessions"], r

    @check("ListOrganizationsFeatures: a member account is refused")
    def _():
        iam = s.client("iam", s.role_creds(m["fido-only"]))
        expect_error(iam.list_organizations_features, "AccountNotManagementOrDelegatedAdministratorException", 400)

    @check("ListOrganizationsFeatures: an account outside the Organization is refused")
    def _():
        iam = s.client("iam", s.ready["credentials"][STANDALONE])
        expect_error(iam.list_organizations_features, "OrganizationNotFoundException", 400)

    # --- sts:AssumeRoot ------------------------------------------------------------------------
    @check("AssumeRoot on the regional endpoint: credentials and a 900 s Expiration")
    def _():
        before = datetime.datetime.now(datetime.timezone.utc)
        r = s.assume_root(m["fido-only"])
        c = r["Credentials"]
        assert c["AccessKeyId"].startswith("ASIA") and len(c["AccessKeyId"]) == 20, c
        assert len(c["SecretAccessKey"]) == 40 and len(c["SessionToken"]) > 100, c
        left = (c["Expiration"] - before).total_seconds()
        assert 895 <= left <= 902, left
        caller = s.client("sts", c).get_caller_identity()
        assert caller["Arn"] == f"arn:aws:iam::{m['fido-only']}:root", caller
        assert caller["Account"] == caller["UserId"] == m["fido-only"], caller

    @check("AssumeRoot: the wire shape (AssumeRootResponse/AssumeRootResult/Credentials, ISO Z dates)")
    def _():
        sts = s.mgmt("sts")
        raw = {}
        sts.meta.events.register("after-call.sts.AssumeRoot",
                                 lambda http_response, **_: raw.setdefault("body", http_response.text))
        sts.assume_root(TargetPrincipal=m["fido-only"], TaskPolicyArn={"arn": AUDIT}, DurationSeconds=600)
        body = raw["body"]
        assert body.startswith('<AssumeRootResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                               "<AssumeRootResult><Credentials><AccessKeyId>ASIA"), body
        assert "</Credentials></AssumeRootResult><ResponseMetadata><RequestId>" in body, body
        expiration = body.split("<Expiration>")[1].split("</Expiration>")[0]
        assert len(expiration) == 20 and expiration.endswith("Z"), expiration
        assert datetime.datetime.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ"), expiration

    @check("AssumeRoot: TargetPrincipal may be the root ARN; DurationSeconds honoured")
    def _():
        r = s.assume_root(f"arn:aws:iam::{m['totp-only']}:root", DurationSeconds=60)
        left = (r["Credentials"]["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        assert 55 <= left <= 61, left

    @check("AssumeRoot on the global endpoint (Host sts.amazonaws.com) answers InvalidAction")
    def _():
        sts = s.mgmt("sts", global_host=True)
        expect_error(lambda: sts.assume_root(TargetPrincipal=m["fido-only"], TaskPolicyArn={"arn": AUDIT}),
                     "InvalidAction", 400)
        # The same client otherwise works: only AssumeRoot needs a regional endpoint.
        assert sts.get_caller_identity()["Account"] == s.management

    @check("AssumeRoot: a member account as caller is denied")
    def _():
        sts = s.client("sts", s.role_creds(m["totp-only"]))
        expect_error(lambda: sts.assume_root(TargetPrincipal=m["fido-only"], TaskPolicyArn={"arn": AUDIT}),
                     "AccessDenied", 403)

    @check("AssumeRoot: the management account and outsiders are not targets")
    def _():
        expect_error(lambda: s.assume_root(s.management), "AccessDenied", 403)
        expect_error(lambda: s.assume_root(STANDALONE), "AccessDenied", 403)

    @check("AssumeRoot: DurationSeconds over 900, a policy outside root-task/ and a bad target are invalid")
    def _():
        expect_error(lambda: s.assume_root(m["fido-only"], DurationSeconds=901), "ValidationError", 400)
        expect_error(lambda: s.assume_root(m["fido-only"], policy="arn:aws:iam::aws:policy/ReadOnlyAccess"),
                     "ValidationError", 400)
        expect_error(lambda: s.assume_root("not-an-account"), "ValidationError", 400)

    @check("AssumeRoot: root session credentials cannot call it")
    def _():
        sts = s.root("fido-only", service="sts")
        expect_error(lambda: sts.assume_root(TargetPrincipal=m["totp-only"], TaskPolicyArn={"arn": AUDIT}),
                     "AccessDenied", 403)

    @check("AssumeRoot: assume_root_fault fails only that account")
    def _():
        expect_error(lambda: s.assume_root(m["denied"]), "AccessDenied", 403)
        assert s.assume_root(m["fido-only"])["Credentials"]["AccessKeyId"].startswith("ASIA")

    # --- a root session's ListMFADevices, every device mix ---------------------------------------
    mixes = {
        "fido-only": ["fido"],
        "totp-only": ["hardware_totp"],
        "virtual-only": ["virtual"],
        "virtual-fido": ["virtual", "fido"],
        "none": [],
        "several": ["virtual", "virtual", "fido", "fido", "hardware_totp", "hardware_totp"],
        "second-page": ["fido", "hardware_totp", "virtual"],
        "legacy": ["virtual"],
    }
    for name, kinds in mixes.items():
        @check(f"ListMFADevices (root session) for {name}: {kinds or 'no device'}")
        def _(name=name, kinds=kinds):
            account = m[name]
            devices = all_devices(s.root(name))
            assert [kind(d["SerialNumber"]) for d in devices] == kinds, devices
            for d in devices:
                assert "UserName" not in d and isinstance(d["EnableDate"], datetime.datetime), d
                if kind(d["SerialNumber"]) == "fido":
                    assert d["SerialNumber"].startswith(f"arn:aws:iam::{account}:u2f/root-account-mfa-device/"), d
                if kind(d["SerialNumber"]) == "virtual":
                    assert d["SerialNumber"].startswith(f"arn:aws:iam::{account}:mfa/"), d
            summary = s.root(name).get_account_summary()["SummaryMap"]
            assert summary["AccountMFAEnabled"] == (1 if kinds else 0), summary

    @check("ListMFADevices: serial numbers and dates as the spec says")
    def _():
        devices = all_devices(s.root("several"))
        serials = [d["SerialNumber"] for d in devices]
        assert serials[0] == f"arn:aws:iam::{m['several']}:mfa/phone-a", serials
        assert serials[2] == f"arn:aws:iam::{m['several']}:u2f/root-account-mfa-device/key-a", serials
        assert serials[4] == "GAHT00000001", serials
        assert serials[5].startswith("GAHT") and len(serials[5]) == 12 and serials[5][4:].isdigit(), serials
        assert devices[4]["EnableDate"] == utc("2024-05-06T07:08:09Z"), devices[4]
        assert devices[0]["EnableDate"] == utc("2025-01-01T00:00:00Z"), devices[0]

    @check("ListMFADevices paging: mfa_page_size 2 puts the third device on a second page")
    def _():
        iam = s.root("second-page")
        first = iam.list_mfa_devices()
        assert first["IsTruncated"] is True and first["Marker"] and len(first["MFADevices"]) == 2, first
        second = iam.list_mfa_devices(Marker=first["Marker"])
        assert second["IsTruncated"] is False and "Marker" not in second, second
        assert [kind(d["SerialNumber"]) for d in second["MFADevices"]] == ["virtual"], second

    @check("ListMFADevices paging: MaxItems below the page size is honoured")
    def _():
        iam = s.root("several")
        pages = list(iam.get_paginator("list_mfa_devices").paginate(PaginationConfig={"PageSize": 4}))
        assert [len(p["MFADevices"]) for p in pages] == [4, 2], pages
        one = iam.list_mfa_devices(MaxItems=1)
        assert one["IsTruncated"] and len(one["MFADevices"]) == 1, one

    @check("ListMFADevices paging: a bad Marker is a ValidationError")
    def _():
        expect_error(lambda: s.root("several").list_mfa_devices(Marker="bm90LWEtbWFya2Vy"), "ValidationError", 400)

    @check("root's virtual devices are also in ListVirtualMFADevices, assigned to root (role mode)")
    def _():
        for name, names in (("virtual-fido", ["phone"]), ("several", ["phone-a", "phone-b"]),
                            ("second-page", ["late-phone"]), ("fido-only", []), ("legacy", ["root-account-mfa-device"])):
            account = m[name]
            iam = s.client("iam", s.role_creds(account))
            listed = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
            root = [d for d in listed if d["User"]["Arn"] == f"arn:aws:iam::{account}:root"]
            assert [d["SerialNumber"] for d in root] == [f"arn:aws:iam::{account}:mfa/{n}" for n in names], listed
            for d in root:
                assert "UserName" not in d["User"] and d["User"]["UserId"] == account, d
        # The two views of one device agree on its EnableDate.
        iam = s.client("iam", s.role_creds(m["virtual-fido"]))
        virtual = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"][0]
        root = all_devices(s.root("virtual-fido"))[0]
        assert virtual["EnableDate"] == root["EnableDate"], (virtual, root)

    # --- GetUser, keys, login profile, certificates --------------------------------------------
    @check("GetUser (root session): root, PasswordLastUsed when used")
    def _():
        u = s.root("keys-used").get_user()["User"]
        account = m["keys-used"]
        assert u["UserId"] == account and u["Arn"] == f"arn:aws:iam::{account}:root" and u["Path"] == "/", u
        assert "UserName" not in u, u
        assert u["PasswordLastUsed"] == utc(PASSWORD_USED), u

    @check("GetUser (root session): no PasswordLastUsed when never used, or without a password")
    def _():
        assert "PasswordLastUsed" not in s.root("never-used").get_user()["User"]
        assert "PasswordLastUsed" not in s.root("no-password").get_user()["User"]

    @check("ListAccessKeys and GetAccessKeyLastUsed (root session): used and never-used keys")
    def _():
        iam = s.root("keys-used")
        keys = iam.list_access_keys()
        assert keys["IsTruncated"] is False, keys
        meta = keys["AccessKeyMetadata"]
        assert [(k["Status"], k["AccessKeyId"][:4], len(k["AccessKeyId"])) for k in meta] == [
            ("Active", "AKIA", 20), ("Inactive", "AKIA", 20)], meta
        assert meta[0]["AccessKeyId"].endswith("USED1") and meta[1]["AccessKeyId"].endswith("IDLE2"), meta
        used = iam.get_access_key_last_used(AccessKeyId=meta[0]["AccessKeyId"])["AccessKeyLastUsed"]
        assert used == {"LastUsedDate": utc(USED), "ServiceName": "s3", "Region": REGION}, used
        idle = iam.get_access_key_last_used(AccessKeyId=meta[1]["AccessKeyId"])["AccessKeyLastUsed"]
        assert idle == {"ServiceName": "N/A", "Region": "N/A"}, idle
        expect_error(lambda: iam.get_access_key_last_used(AccessKeyId="AKIAIOSFODNN7EXAMPLE"), "AccessDenied", 403)
        assert s.root("fido-only").list_access_keys()["AccessKeyMetadata"] == []

    @check("GetAccountSummary (root session) is the member's patched summary")
    def _():
        via_root = s.root("keys-used").get_account_summary()["SummaryMap"]
        via_role = s.client("iam", s.role_creds(m["keys-used"])).get_account_summary()["SummaryMap"]
        assert via_root == via_role, (via_root, via_role)
        assert via_root["AccountAccessKeysPresent"] == 1 and via_root["AccountMFAEnabled"] == 1, via_root
        assert via_root["AccountSigningCertificatesPresent"] == 1 and via_root["AccountPasswordPresent"] == 1
        none = s.root("no-password").get_account_summary()["SummaryMap"]
        assert none["AccountAccessKeysPresent"] == 0 and none["AccountPasswordPresent"] == 0, none

    @check("GetLoginProfile (root session): NoSuchEntity without a password")
    def _():
        expect_error(s.root("no-password").get_login_profile, "NoSuchEntity", 404)
        profile = s.root("keys-used").get_login_profile()["LoginProfile"]
        assert profile["PasswordResetRequired"] is False and "CreateDate" in profile, profile

    @check("ListSigningCertificates (root session)")
    def _():
        certs = s.root("keys-used").list_signing_certificates()["Certificates"]
        assert len(certs) == 1 and certs[0]["Status"] == "Active", certs
        assert s.root("fido-only").list_signing_certificates()["Certificates"] == []

    @check("root session: the audit policy denies other actions, IAM users and other services")
    def _():
        iam = s.root("fido-only")
        expect_error(iam.list_users, "AccessDenied", 403)
        expect_error(lambda: iam.list_virtual_mfa_devices(), "AccessDenied", 403)
        expect_error(lambda: iam.get_user(UserName="exporter"), "AccessDenied", 403)
        expect_error(lambda: iam.list_mfa_devices(UserName="exporter"), "AccessDenied", 403)
        e = expect_error(iam.list_organizations_features, "AccessDenied", 403)
        assert "explicit deny" in e.response["Error"]["Message"], e
        orgs = s.root("fido-only", service="organizations")
        expect_error(orgs.list_accounts, "AccessDeniedException", 400)

    @check("root session: another root-task policy permits none of the audit reads")
    def _():
        iam = s.root("fido-only", policy=S3_UNLOCK)
        expect_error(iam.list_mfa_devices, "AccessDenied", 403)
        expect_error(iam.get_account_summary, "AccessDenied", 403)

    @check("root session: a wrong session token is refused")
    def _():
        c = dict(s.assume_root(m["fido-only"])["Credentials"], SessionToken="forged")
        expect_error(s.client("iam", c).list_mfa_devices, "InvalidClientTokenId", 403)

    @check("fault injection applies to root sessions of that account only")
    def _():
        iam = s.root("faulty")
        expect_error(iam.list_mfa_devices, "ServiceFailure", 500)
        assert iam.get_user()["User"]["UserId"] == m["faulty"]
        assert len(all_devices(s.root("fido-only"))) == 1

    # --- stats -----------------------------------------------------------------------------------
    @check("stats: AssumeRoot counted in all and by target; root-session calls by account")
    def _():
        status, _ = s.fixture("DELETE", "/_fixture/stats")
        assert status == 200
        for _ in range(3):
            s.assume_root(m["fido-only"])
        iam = s.root("totp-only")
        iam.list_mfa_devices()
        iam.get_user()
        _, stats = s.fixture("GET", "/_fixture/stats")
        assert stats["sts:AssumeRoot"] == 4, stats
        assert stats[f"sts:AssumeRoot:{m['fido-only']}"] == 3, stats
        assert stats[f"sts:AssumeRoot:{m['totp-only']}"] == 1, stats
        assert stats["iam:ListMFADevices"] == 1 and stats[f"iam:ListMFADevices:{m['totp-only']}"] == 1, stats
        assert stats[f"iam:GetUser:{m['totp-only']}"] == 1, stats
        expect_error(lambda: s.assume_root(m["denied"]), "AccessDenied", 403)
        _, stats = s.fixture("GET", "/_fixture/stats")
        assert stats[f"sts:AssumeRoot:{m['denied']}"] == 1 and stats["sts:AssumeRoot"] == 5, stats

    # --- the credential report's root row (role mode) ---------------------------------------------
    @check("credential report: <root_account> first, keys used, password used, AWS's columns")
    def _():
        rows = report_rows(s.client("iam", s.role_creds(m["keys-used"])))
        root = rows[0]
        assert list(root) == [
            "user", "arn", "user_creation_time", "password_enabled", "password_last_used",
            "password_last_changed", "password_next_rotation", "mfa_active", "access_key_1_active",
            "access_key_1_last_rotated", "access_key_1_last_used_date", "access_key_1_last_used_region",
            "access_key_1_last_used_service", "access_key_2_active", "access_key_2_last_rotated",
            "access_key_2_last_used_date", "access_key_2_last_used_region", "access_key_2_last_used_service",
            "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"], list(root)
        assert root["user"] == "<root_account>" and root["arn"] == f"arn:aws:iam::{m['keys-used']}:root", root
        assert root["password_enabled"] == "not_supported", root
        assert root["password_last_used"] == "2026-02-03T04:05:06+00:00", root
        assert root["mfa_active"] == "true", root
        assert (root["access_key_1_active"], root["access_key_1_last_used_date"],
                root["access_key_1_last_used_region"], root["access_key_1_last_used_service"]) == (
                    "true", "2026-01-02T03:04:05+00:00", REGION, "s3"), root
        assert (root["access_key_2_active"], root["access_key_2_last_used_date"]) == ("false", "N/A"), root
        assert root["cert_1_active"] == "true" and root["cert_2_active"] == "false", root
        assert all(r["user"] != "<root_account>" for r in rows[1:]), rows

    @check("credential report: never-used password, no password, no MFA")
    def _():
        root = report_rows(s.client("iam", s.role_creds(m["never-used"])))[0]
        assert (root["password_last_used"], root["mfa_active"], root["access_key_1_active"],
                root["access_key_1_last_used_date"]) == ("no_information", "true", "false", "N/A"), root
        root = report_rows(s.client("iam", s.role_creds(m["no-password"])))[0]
        assert (root["password_last_used"], root["mfa_active"]) == ("N/A", "false"), root
        rows = report_rows(s.mgmt("iam"))
        assert rows[0]["user"] == "<root_account>" and rows[1]["user"] == "exporter", rows

    # --- fixture changes at run time ----------------------------------------------------------------
    @check("POST /_fixture/accounts: root devices change mid-run")
    def _():
        account = m["fido-only"]
        status, _ = s.fixture("POST", "/_fixture/accounts", [{"id": account, "root_devices": [
            {"kind": "fido", "name": "yubikey-5c"}, {"kind": "virtual", "name": "new-phone"}]}])
        assert status == 200
        assert [kind(d["SerialNumber"]) for d in all_devices(s.root("fido-only"))] == ["fido", "virtual"]
        iam = s.client("iam", s.role_creds(account))
        listed = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
        assert [d["SerialNumber"] for d in listed] == [f"arn:aws:iam::{account}:mfa/new-phone"], listed
        status, _ = s.fixture("POST", "/_fixture/accounts", [{"id": account, "root_devices": []}])
        assert status == 200 and all_devices(s.root("fido-only")) == []
        assert s.root("fido-only").get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 0
        status, body = s.fixture("POST", "/_fixture/accounts", [{"id": account, "root_devices": [{"kind": "sms"}]}])
        assert status == 400 and "kind" in body["error"], body

    @check("session expiry: root_session_seconds 2, then ExpiredToken (403)")
    def _():
        status, _ = s.fixture("POST", "/_fixture/organization", {"root_session_seconds": 2})
        assert status == 204
        creds = s.assume_root(m["totp-only"])["Credentials"]
        left = (creds["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        assert left <= 2, left
        iam = s.client("iam", creds)
        assert len(iam.list_mfa_devices()["MFADevices"]) == 1
        time.sleep(3)
        expect_error(iam.list_mfa_devices, "ExpiredToken", 403)
        expect_error(iam.get_account_summary, "ExpiredToken", 403)
        s.fixture("POST", "/_fixture/organization", {"root_session_seconds": None})
        left = (s.assume_root(m["totp-only"])["Credentials"]["Expiration"]
                - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        assert left > 800, left

    @check("features: RootCredentialsManagement disabled refuses the audit AssumeRoot")
    def _():
        s.fixture("POST", "/_fixture/organization", {"features": ["RootSessions"]})
        try:
            assert s.mgmt("iam").list_organizations_features()["EnabledFeatures"] == ["RootSessions"]
            e = expect_error(lambda: s.assume_root(m["totp-only"]), "AccessDenied", 403)
            assert "RootCredentialsManagement" in e.response["Error"]["Message"], e
            # S3UnlockBucketPolicy needs RootSessions only.
            assert s.assume_root(m["totp-only"], policy=S3_UNLOCK)["Credentials"]["AccessKeyId"]
            s.fixture("POST", "/_fixture/organization", {"features": []})
            assert s.mgmt("iam").list_organizations_features()["EnabledFeatures"] == []
            expect_error(lambda: s.assume_root(m["totp-only"], policy=S3_UNLOCK), "AccessDenied", 403)
            s.fixture("POST", "/_fixture/organization", {"features": None})
            expect_error(s.mgmt("iam").list_organizations_features, "ServiceAccessNotEnabledException", 400)
        finally:
            s.fixture("POST", "/_fixture/organization",
                      {"features": ["RootCredentialsManagement", "RootSessions"]})
        assert s.assume_root(m["totp-only"])["Credentials"]["AccessKeyId"]

    @check("a member removed from the Organization is no longer a target")
    def _():
        status, _ = s.fixture("POST", "/_fixture/organization", {"remove": [m["none"]]})
        assert status == 204
        expect_error(lambda: s.assume_root(m["none"]), "AccessDenied", 403)

    # --- existing keys behave as before ----------------------------------------------------------------
    @check("existing keys: root_virtual behind 120 user devices, decoy, unassigned, access_keys, password null")
    def _():
        iam = s.client("iam", s.ready["credentials"][STANDALONE])
        summary = iam.get_account_summary()["SummaryMap"]
        assert summary["AccountMFAEnabled"] == 1 and summary["AccountAccessKeysPresent"] == 1, summary
        assert "AccountPasswordPresent" not in summary, summary
        pages = list(iam.get_paginator("list_virtual_mfa_devices").paginate(AssignmentStatus="Assigned"))
        assert len(pages) == 2, [len(p["VirtualMFADevices"]) for p in pages]
        devices = [d for p in pages for d in p["VirtualMFADevices"]]
        root = [d for d in devices if d["User"]["Arn"] == f"arn:aws:iam::{STANDALONE}:root"]
        assert [d["SerialNumber"] for d in root] == [f"arn:aws:iam::{STANDALONE}:mfa/zz-root"], root
        decoy = [d for d in devices if d["SerialNumber"].endswith(":mfa/root-account-mfa-device")]
        assert decoy[0]["User"]["UserName"] == "rootadmin", decoy
        everything = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
        assert len(everything) == 2, everything
        root_row = report_rows(iam)[0]
        assert (root_row["mfa_active"], root_row["access_key_1_active"]) == ("true", "true"), root_row

    @check("existing keys: fault on GetAccountSummary for an IAM user; other calls unaffected")
    def _():
        iam = s.client("iam", s.ready["credentials"][SUMMARY_DENIED])
        e = expect_error(iam.get_account_summary, "AccessDenied", 403)
        assert e.response["Error"]["Message"] == "injected by the test launcher", e
        assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []

    @check("existing keys: truncate, an injected STS error, operation * with status 500")
    def _():
        iam = s.client("iam", s.ready["credentials"][TRUNCATED])
        try:
            iam.list_virtual_mfa_devices()
        except ClientError:
            raise
        except Exception as e:  # botocore cannot parse half a document
            assert "parse" in str(e).lower() or "xml" in str(e).lower(), e
        else:
            raise AssertionError("a truncated answer parsed")
        assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 0
        sts = s.client("sts", s.ready["credentials"][STS_EXPIRED])
        expect_error(sts.get_caller_identity, "ExpiredToken", 403)
        expect_error(s.client("iam", s.ready["credentials"][SERVER_ERROR]).get_account_summary,
                     "InternalFailure", 500)


if __name__ == "__main__":
    sys.exit(main())
