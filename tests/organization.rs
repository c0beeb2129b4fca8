//! End to end in Organization mode: the exporter lists the Organization's accounts in moto,
//! assumes a role in each member, and checks them concurrently.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Exporter, Exposition, Moto, run_check, shared_moto};

const ROLE: &str = "RootMfaReader";

/// What a member account looks like, and what the exporter must say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hardware,
    Virtual,
    MfaOff,
    NoRootCredentials,
    AccessKeys,
    Suspended,
    PendingClosure,
    Closed,
    AssumeRoleDenied,
}

impl Kind {
    fn spec(self) -> Value {
        match self {
            Kind::Hardware => json!({"mfa_enabled": true, "unassigned": 1}),
            Kind::Virtual => json!({"mfa_enabled": true, "root_virtual": ["phone"]}),
            Kind::MfaOff => json!({"mfa_enabled": false}),
            Kind::NoRootCredentials => json!({"mfa_enabled": false, "password": 0}),
            Kind::AccessKeys => json!({"mfa_enabled": true, "access_keys": 1}),
            Kind::Suspended => json!({"mfa_enabled": false, "status": "SUSPENDED"}),
            Kind::PendingClosure => json!({"mfa_enabled": false, "status": "PENDING_CLOSURE"}),
            Kind::Closed => json!({"mfa_enabled": false, "status": "CLOSED"}),
            Kind::AssumeRoleDenied => json!({"mfa_enabled": true,
                "assume_role_fault": {"status": 403, "code": "AccessDenied"}}),
        }
    }

    fn watched(self) -> bool {
        !matches!(self, Kind::Suspended | Kind::PendingClosure | Kind::Closed)
    }

    /// mfa_enabled, mfa_hardware, credentials_present, access_keys_present
    fn posture(self) -> Option<[f64; 4]> {
        match self {
            Kind::Hardware => Some([1.0, 1.0, 1.0, 0.0]),
            Kind::Virtual => Some([1.0, 0.0, 1.0, 0.0]),
            Kind::MfaOff => Some([0.0, 0.0, 1.0, 0.0]),
            Kind::NoRootCredentials => Some([0.0, 0.0, 0.0, 0.0]),
            Kind::AccessKeys => Some([1.0, 1.0, 1.0, 1.0]),
            _ => None,
        }
    }
}

/// 44 members (more than two ListAccounts pages of 20) in mixed states, plus the management
/// account, which is on hardware MFA.
fn members() -> Vec<(String, Kind)> {
    let plan = [
        (Kind::Hardware, 12),
        (Kind::Virtual, 9),
        (Kind::MfaOff, 7),
        (Kind::NoRootCredentials, 5),
        (Kind::AccessKeys, 3),
        (Kind::Suspended, 4),
        (Kind::PendingClosure, 1),
        (Kind::Closed, 2),
        (Kind::AssumeRoleDenied, 1),
    ];
    plan.iter()
        .flat_map(|&(kind, n)| (0..n).map(move |i| (format!("{kind:?}-{i}").to_lowercase(), kind)))
        .collect()
}

fn scenario() -> Value {
    let members: Vec<Value> = members()
        .into_iter()
        .map(|(name, kind)| {
            let mut spec = kind.spec();
            spec["name"] = json!(name);
            spec
        })
        .collect();
    json!({"organization": {"management": {"mfa_enabled": true}, "members": members}})
}

fn moto() -> &'static Moto {
    shared_moto(scenario)
}

fn env() -> Vec<(String, String)> {
    let moto = moto();
    moto.env_for(&moto.org().management)
}

fn requests(m: &Exposition, operation: &str) -> f64 {
    m.value(
        "aws_root_mfa_exporter_api_requests_total",
        &[("operation", operation)],
    )
    .unwrap_or(0.0)
}

fn errors(m: &Exposition, operation: &str, code: &str) -> f64 {
    m.value(
        "aws_root_mfa_exporter_api_errors_total",
        &[("operation", operation), ("code", code)],
    )
    .unwrap_or(0.0)
}

#[test]
fn every_active_account_is_checked_through_its_role_and_credentials_are_cached() {
    let moto = moto();
    let org = moto.org();
    let exporter = Exporter::start(
        &env(),
        &[
            "--organization.role-name",
            ROLE,
            "--poll.interval",
            "1s",
            "--poll.concurrency",
            "8",
        ],
    );
    exporter.wait_ready();
    let first = exporter.scrape();
    support::promtool_check_metrics(&first.text);

    let watched: Vec<(String, Kind)> = members().into_iter().filter(|(_, k)| k.watched()).collect();
    assert_eq!(
        first.value("aws_root_mfa_exporter_accounts", &[]),
        Some(watched.len() as f64 + 1.0)
    );
    assert_eq!(
        first.value("aws_root_mfa_exporter_discovery_success", &[]),
        Some(1.0)
    );
    assert!(
        requests(&first, "ListAccounts") >= 3.0,
        "45 accounts at 20 a page"
    );

    for (name, kind) in members() {
        let id = org.id(&name);
        let success = first.account("aws_root_check_success", id);
        if !kind.watched() {
            assert_eq!(success, None, "{name} ({kind:?}) is not checked");
            assert!(!first.text.contains(id), "{name} ({kind:?}) has no series");
            continue;
        }
        assert_eq!(
            first.value(
                "aws_root_account_info",
                &[
                    ("account_id", id),
                    ("account_name", &name),
                    ("partition", "aws")
                ]
            ),
            Some(1.0),
            "{name}"
        );
        match kind.posture() {
            Some(want) => {
                assert_eq!(success, Some(1.0), "{name}");
                let got = [
                    "aws_root_mfa_enabled",
                    "aws_root_mfa_hardware",
                    "aws_root_credentials_present",
                    "aws_root_access_keys_present",
                ]
                .map(|g| first.account(g, id).unwrap_or(f64::NAN));
                assert_eq!(got, want, "{name} ({kind:?})");
            }
            None => {
                assert_eq!(success, Some(0.0), "{name} ({kind:?}) fails alone");
                assert_eq!(
                    first.account("aws_root_mfa_hardware", id),
                    None,
                    "{name}: nothing unobserved"
                );
            }
        }
    }
    let management = &org.management;
    assert_eq!(
        first.account("aws_root_mfa_hardware", management),
        Some(1.0)
    );
    assert!(errors(&first, "AssumeRole", "AccessDenied") >= 1.0);

    // The steady state: the only AssumeRole calls after the first poll are the denied
    // account's retries; every other account reuses its cached credentials.
    let assumed_first = requests(&first, "AssumeRole");
    assert!(
        assumed_first >= (watched.len()) as f64,
        "one AssumeRole per member"
    );
    let summaries_first = requests(&first, "GetAccountSummary");
    let mut later = first.clone();
    exporter.wait_for("two more polls", Duration::from_secs(60), || {
        later = exporter.scrape();
        requests(&later, "GetAccountSummary") >= summaries_first + 2.0 * (watched.len() as f64)
    });
    let new_assumes = requests(&later, "AssumeRole") - assumed_first;
    let new_denied =
        errors(&later, "AssumeRole", "AccessDenied") - errors(&first, "AssumeRole", "AccessDenied");
    assert!(
        new_assumes > 0.0,
        "the denied account is retried every poll"
    );
    assert_eq!(
        new_assumes, new_denied,
        "no AssumeRole for accounts whose credentials are cached"
    );
    assert_eq!(
        requests(&later, "GetCallerIdentity"),
        1.0,
        "identities come from the Organization"
    );
}

#[test]
fn two_shards_split_the_organization_exactly() {
    let moto = moto();
    let org = moto.org();
    let mut shards: Vec<BTreeSet<String>> = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = run_check(
            &env(),
            &[
                "--organization.role-name",
                ROLE,
                "--shard",
                shard,
                "--output",
                "json",
            ],
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ids: BTreeSet<String> = report["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["account_id"].as_str().unwrap().to_owned())
            .collect();
        assert!(!ids.is_empty(), "shard {shard} has accounts");
        shards.push(ids);
    }
    assert!(
        shards[0].is_disjoint(&shards[1]),
        "no account in both shards"
    );
    let union: BTreeSet<String> = shards.concat_sets();
    let mut want: BTreeSet<String> = members()
        .into_iter()
        .filter(|(_, k)| k.watched())
        .map(|(name, _)| org.id(&name).to_owned())
        .collect();
    want.insert(org.management.clone());
    assert_eq!(
        union, want,
        "the shards' union is exactly the Organization's active accounts"
    );
}

trait ConcatSets {
    fn concat_sets(&self) -> BTreeSet<String>;
}

impl ConcatSets for Vec<BTreeSet<String>> {
    fn concat_sets(&self) -> BTreeSet<String> {
        self.iter().flatten().cloned().collect()
    }
}

#[test]
fn check_summarises_the_organization() {
    let out = run_check(&env(), &["--organization.role-name", ROLE]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "some accounts are non-compliant"
    );
    let table = String::from_utf8(out.stdout).unwrap();
    let count = |k: Kind| members().iter().filter(|(_, kind)| *kind == k).count();
    // Root access keys fail IAM.4, whatever the MFA.
    let compliant = count(Kind::Hardware) + 1;
    let non_compliant = count(Kind::Virtual) + count(Kind::MfaOff) + count(Kind::AccessKeys);
    let total = compliant + non_compliant + count(Kind::NoRootCredentials) + 1;
    let summary = format!(
        "{total} accounts: {compliant} compliant, {non_compliant} non-compliant, {} not applicable, 1 could not be checked",
        count(Kind::NoRootCredentials)
    );
    assert_eq!(table.lines().last(), Some(summary.as_str()), "{table}");
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()) && !l.contains(" accounts: "))
            .count(),
        total,
        "{table}"
    );
    assert!(
        table.contains("hardware-0"),
        "account names are shown: {table}"
    );
}

#[test]
fn an_account_that_leaves_the_organization_disappears_after_a_refresh() {
    // Its own small Organization, since it changes membership.
    let moto = Moto::start(
        &json!({"organization": {"management": {"mfa_enabled": true}, "members": [
            {"name": "stays", "mfa_enabled": true},
            {"name": "leaves", "mfa_enabled": false},
            {"name": "suspended-later", "mfa_enabled": true},
        ]}}),
    );
    let org = moto.org();
    let exporter = Exporter::start(
        &moto.env_for(&org.management),
        &[
            "--organization.role-name",
            ROLE,
            "--poll.interval",
            "1s",
            "--organization.refresh-interval",
            "1s",
        ],
    );
    exporter.wait_ready();
    let before = exporter.scrape();
    for name in ["stays", "leaves", "suspended-later"] {
        assert_eq!(
            before.account("aws_root_check_success", org.id(name)),
            Some(1.0),
            "{name}"
        );
    }
    moto.change_organization(
        &json!({"remove": [org.id("leaves")], "status": {org.id("suspended-later"): "SUSPENDED"}}),
    );
    exporter.wait_for(
        "the departed accounts' series to go",
        Duration::from_secs(20),
        || {
            let m = exporter.scrape();
            !m.text.contains(org.id("leaves")) && !m.text.contains(org.id("suspended-later"))
        },
    );
    let after = exporter.scrape();
    assert_eq!(
        after.account("aws_root_check_success", org.id("stays")),
        Some(1.0)
    );
    assert_eq!(
        after.value("aws_root_mfa_exporter_accounts", &[]),
        Some(2.0)
    );
}

#[test]
fn an_organization_that_cannot_be_listed_is_not_ready_and_says_nothing_is_compliant() {
    // ListAccounts is denied from the start: the exporter sees no account at all.
    let moto = Moto::start(&json!({"organization": {
        "management": {"mfa_enabled": true,
            "fault": {"operation": "ListAccounts", "status": 400, "code": "AccessDeniedException"}},
        "members": [{"name": "member", "mfa_enabled": true}],
    }}));
    let exporter = Exporter::start(
        &moto.env_for(&moto.org().management),
        &["--organization.role-name", ROLE, "--poll.interval", "1s"],
    );
    let mut m = exporter.scrape();
    exporter.wait_for("two polls", Duration::from_secs(20), || {
        m = exporter.scrape();
        errors(&m, "ListAccounts", "AccessDeniedException") >= 2.0
    });
    assert_eq!(exporter.get("/readyz").status, 503, "blind, so not ready");
    assert_eq!(
        m.value("aws_root_mfa_exporter_discovery_success", &[]),
        Some(0.0)
    );
    assert_eq!(m.value("aws_root_mfa_exporter_accounts", &[]), Some(0.0));
    assert!(
        !m.text.contains("aws_root_control_status") && !m.text.contains("aws_root_mfa_hardware"),
        "nothing is said about any account: {}",
        m.text
    );
    assert!(
        exporter
            .log()
            .contains("listing the Organization's accounts failed")
    );
    // And `check` does not call it a success either.
    let out = run_check(
        &moto.env_for(&moto.org().management),
        &["--organization.role-name", ROLE],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "no account checked is not compliance"
    );
}
