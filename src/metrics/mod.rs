//! Metric names, the exporter's own long-lived metrics, and the exposition of a poll's snapshot.
//!
//! Per-account series are rebuilt from scratch for every poll and encoded once, so an account
//! that is no longer watched simply disappears; the exporter's own metrics (build information,
//! API counters, discovery, reloads, `process_*`) live for the whole process and are encoded
//! for every scrape, so they are there before the first poll ends and never stale.

use bytes::Bytes;
use prometheus::core::Collector;
use prometheus::{Encoder, Gauge, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

use crate::BuildInfo;

pub mod exposition;
pub mod process;

use crate::aws::activity::RootActivity;
use crate::posture::{Control, MfaKind, Verdict};
use crate::snapshot::{AccountView, OrgFeatures};
use exposition::{Exposition, Family};
use process::ProcessMetrics;

/// The prefix of every metric about an account's root user.
pub const NAMESPACE: &str = "aws_root";
/// The prefix of the metrics about the AWS Organization itself.
pub const ORG_NAMESPACE: &str = "aws_organization";
/// The prefix of the exporter's own metrics.
pub const SELF_NAMESPACE: &str = "aws_root_mfa_exporter";
/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appended to every HELP text of a cached value: the Writing Exporters guide asks an exporter
/// that polls on its own timer to say so.
const CACHED: &str = "Cached: refreshed every poll interval (--poll.interval).";

/// The AWS API call counters, shared by every SDK client.
#[derive(Debug, Clone)]
pub struct ApiCounters {
    requests: IntCounterVec,
    errors: IntCounterVec,
}

impl ApiCounters {
    /// Counts one request put on the wire.
    pub fn request(&self, service: &str, operation: &str) {
        self.requests.with_label_values(&[service, operation]).inc();
    }

    /// Counts one failed attempt or call, by bounded code.
    pub fn error(&self, service: &str, operation: &str, code: &str) {
        self.errors
            .with_label_values(&[service, operation, code])
            .inc();
    }

    /// The current count of requests for one operation.
    pub fn requests_for(&self, service: &str, operation: &str) -> u64 {
        self.requests.with_label_values(&[service, operation]).get()
    }

    /// The current count of errors for one operation and code.
    pub fn errors_for(&self, service: &str, operation: &str, code: &str) -> u64 {
        self.errors
            .with_label_values(&[service, operation, code])
            .get()
    }
}

/// The exporter's own metrics, registered once for the life of the process.
#[derive(Debug, Clone)]
pub struct ExporterMetrics {
    registry: Registry,
    process: std::sync::Arc<ProcessMetrics>,
    /// The AWS API call counters.
    pub api: ApiCounters,
    poll_duration: Gauge,
    poll_interval: Gauge,
    accounts: Gauge,
    discovery: GaugeVec,
}

impl ExporterMetrics {
    /// Registers the exporter's metrics, with the build information of `build`.
    pub fn new(build: &BuildInfo) -> ExporterMetrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                format!("{SELF_NAMESPACE}_api_requests_total"),
                "AWS API requests sent, retries included, by service and operation.",
            ),
            &["service", "operation"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                format!("{SELF_NAMESPACE}_api_errors_total"),
                "Failed AWS API attempts, retried ones included, by service, operation and a bounded error code.",
            ),
            &["service", "operation", "code"],
        )
        .expect("valid metric");
        let poll_duration = Gauge::new(
            format!("{SELF_NAMESPACE}_poll_duration_seconds"),
            "How long the last full poll of every account took.",
        )
        .expect("valid metric");
        let poll_interval = Gauge::new(
            format!("{SELF_NAMESPACE}_poll_interval_seconds"),
            "How often every account is checked (--poll.interval); alerts on stale checks derive their threshold from it.",
        )
        .expect("valid metric");
        let build_info = GaugeVec::new(
            Opts::new(
                format!("{SELF_NAMESPACE}_build_info"),
                "A metric with a constant '1' value labeled by the version, revision and branch from which the exporter was built, and the rustc version and target it was built with.",
            ),
            &["version", "revision", "branch", "rustc_version", "target"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[
                build.version,
                build.revision,
                build.branch,
                build.rustc_version,
                build.target,
            ])
            .set(1.0);
        let accounts = Gauge::new(
            format!("{SELF_NAMESPACE}_accounts"),
            "Accounts this instance checks (after discovery and sharding).",
        )
        .expect("valid metric");
        // Label-less, but a vector: the series exists only in Organization mode.
        let discovery = GaugeVec::new(
            Opts::new(
                format!("{SELF_NAMESPACE}_discovery_success"),
                "1 if the last listing of the Organization's accounts succeeded (Organization mode only).",
            ),
            &[],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn Collector>,
            Box::new(errors.clone()),
            Box::new(poll_duration.clone()),
            Box::new(poll_interval.clone()),
            Box::new(build_info),
            Box::new(accounts.clone()),
            Box::new(discovery.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }

        let process = std::sync::Arc::new(ProcessMetrics::new());

        ExporterMetrics {
            registry,
            process,
            api: ApiCounters { requests, errors },
            poll_duration,
            poll_interval,
            accounts,
            discovery,
        }
    }

    /// Records the poll interval (`--poll.interval`).
    pub fn set_poll_interval(&self, interval: std::time::Duration) {
        self.poll_interval.set(interval.as_secs_f64());
    }

    /// Records how long the last full poll took.
    pub fn set_poll_duration(&self, seconds: f64) {
        self.poll_duration.set(seconds);
    }

    /// Records how many accounts are watched, and whether discovery worked (Organization mode).
    pub fn set_fleet(&self, accounts: usize, discovery_ok: Option<bool>) {
        self.accounts.set(accounts as f64);
        if let Some(ok) = discovery_ok {
            self.discovery
                .with_label_values(&[] as &[&str])
                .set(flag(ok));
        }
    }

    /// Encodes the account series of one poll, and the Organization's feature state where
    /// known (once per poll).
    pub fn encode_posture(
        &self,
        accounts: &[AccountView],
        features: Option<&OrgFeatures>,
    ) -> Bytes {
        let mut out = Exposition::with_capacity(accounts.len() * BYTES_PER_ACCOUNT + 1024);
        // `aws_organization_*` sorts before `aws_root_*`, as a registry would write them.
        if let Some(f) = features {
            organization_series(&mut out, f);
        }
        account_series(&mut out, accounts);
        out.finish()
    }

    /// The registry of the exporter's own metrics, encoded for every scrape; other parts of
    /// the exporter (the web configuration's reloads) register theirs here.
    pub fn per_scrape(&self) -> &Registry {
        &self.registry
    }

    /// Encodes the exporter's own metrics and the `process_*` series, as they are now.
    pub fn encode_per_scrape(&self) -> Bytes {
        let mut out = Exposition::from(encode_vec(&self.registry.gather()));
        self.process.encode(&mut out);
        out.finish()
    }
}

fn encode_vec(families: &[prometheus::proto::MetricFamily]) -> Vec<u8> {
    // Room for the process series that follow.
    let mut buf = Vec::with_capacity(8192);
    TextEncoder::new()
        .encode(families, &mut buf)
        .expect("writing to a Vec cannot fail");
    buf
}

/// The Organization's centralized root access features, labelled with its id.
fn organization_series(out: &mut Exposition, f: &OrgFeatures) {
    let help_suffix = "Cached: refreshed with the account list (--organization.refresh-interval).";
    let families = [
        (
            "root_credentials_management_enabled",
            "1 if the Organization has centralized root access's RootCredentialsManagement enabled (iam:ListOrganizationsFeatures).",
            f.root_credentials_management,
        ),
        (
            "root_sessions_enabled",
            "1 if the Organization has centralized root access's RootSessions enabled (iam:ListOrganizationsFeatures).",
            f.root_sessions,
        ),
    ];
    for (name, help, on) in families {
        let name = format!("{ORG_NAMESPACE}_{name}");
        let help = format!("{help} {help_suffix}");
        out.gauge(&name, &help, &["organization_id"])
            .sample(&[&f.organization_id], flag(on));
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

const ID: &[&str] = &["account_id"];

/// One family of per-account series: its name (after `aws_root_`), HELP text, label names and
/// how an account's samples are written. The labels after `account_id` are given in sorted
/// order, so that the samples come out sorted as a registry would sort them.
struct AccountSeries {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    write: fn(&AccountView, &str, &mut Family),
}

/// Every per-account family, sorted by name as a registry gathers them (a test checks it).
const ACCOUNT_SERIES: [AccountSeries; 14] = [
    AccountSeries {
        name: "access_key_last_used_timestamp_seconds",
        help: "Unix time each root access key (key=\"1\" the older, \"2\") was last used; absent when never used.",
        labels: &["account_id", "key"],
        write: |a, id, f| {
            let used = a.activity.map(|act| act.access_keys_last_used);
            for (i, t) in used.iter().flatten().enumerate() {
                if let Some(t) = t {
                    f.sample(&[id, RootActivity::key_ordinal(i)], *t);
                }
            }
        },
    },
    AccountSeries {
        name: "access_keys_present",
        help: "1 if the root user has access keys (or IAM did not say it has none).",
        labels: ID,
        write: |a, id, f| {
            if let Some(p) = &a.posture {
                f.sample(&[id], flag(p.access_keys_present));
            }
        },
    },
    AccountSeries {
        name: "account_info",
        help: "A metric with a constant '1' value labeled by the account's id, name and partition.",
        labels: &["account_id", "account_name", "partition"],
        write: |a, id, f| {
            if let Some(partition) = &a.partition {
                f.sample(&[id, &a.account_name, partition], 1.0);
            }
        },
    },
    AccountSeries {
        name: "activity_check_success",
        help: "1 if the last read of the root user's last activity succeeded; only where it is read.",
        labels: ID,
        write: |a, id, f| {
            if let Some(ok) = a.activity_ok {
                f.sample(&[id], flag(ok));
            }
        },
    },
    AccountSeries {
        name: "check_success",
        help: "1 if the last check of this account succeeded.",
        labels: ID,
        write: |a, id, f| f.sample(&[id], flag(a.last_check_ok)),
    },
    AccountSeries {
        name: "control_status",
        help: "Verdict of each AWS Security Hub control on the root user, one series per status, exactly one of them 1: IAM.4 no root access keys (CIS 1.4), IAM.6 hardware MFA (CIS 1.6), IAM.9 MFA (CIS 1.5). Kept from the last successful check.",
        labels: &["account_id", "control", "status"],
        write: |a, id, f| {
            let Some(p) = &a.posture else { return };
            let mut statuses = Verdict::ALL;
            statuses.sort_by_key(|s| s.as_str());
            for c in Control::ALL {
                let verdict = p.verdict(c);
                for status in statuses {
                    f.sample(&[id, c.id(), status.as_str()], flag(verdict == status));
                }
            }
        },
    },
    AccountSeries {
        name: "credentials_present",
        help: "0 only when the account positively has no root password, access keys or signing certificates, or no root user.",
        labels: ID,
        write: |a, id, f| {
            if let Some(p) = &a.posture {
                f.sample(&[id], flag(p.credentials_present));
            }
        },
    },
    AccountSeries {
        name: "last_event_timestamp_seconds",
        help: "Unix time (CloudTrail eventTime) of the newest event about this account's root that the exporter acted on (--events.sqs-queue-url), published as it arrives; absent until one does.",
        labels: ID,
        write: |a, id, f| {
            if let Some(t) = a.last_event_unix {
                f.sample(&[id], t);
            }
        },
    },
    AccountSeries {
        name: "last_successful_check_timestamp_seconds",
        help: "Unix time of the last successful check of this account.",
        labels: ID,
        write: |a, id, f| {
            if let Some(t) = a.last_success_unix {
                f.sample(&[id], t);
            }
        },
    },
    AccountSeries {
        name: "mfa_devices",
        help: "Root's own MFA devices by type (virtual, fido, hardware_totp), told by serial number; only where the inventory is exact (--organization.assume-root).",
        labels: &["account_id", "type"],
        write: |a, id, f| {
            let Some(inventory) = a.posture.and_then(|p| p.inventory) else {
                return;
            };
            let mut kinds = MfaKind::ALL;
            kinds.sort_by_key(|k| k.as_str());
            for kind in kinds {
                f.sample(&[id, kind.as_str()], f64::from(inventory.count(kind)));
            }
        },
    },
    AccountSeries {
        name: "mfa_enabled",
        help: "1 if the root user has any MFA device.",
        labels: ID,
        write: |a, id, f| {
            if let Some(p) = &a.posture {
                f.sample(&[id], flag(p.mfa_enabled));
            }
        },
    },
    AccountSeries {
        name: "mfa_hardware",
        help: "1 if root MFA is enabled and no virtual MFA device is assigned to the root user (Security Hub IAM.6, CIS 1.6).",
        labels: ID,
        write: |a, id, f| {
            if let Some(p) = &a.posture {
                f.sample(&[id], flag(p.hardware));
            }
        },
    },
    AccountSeries {
        name: "mfa_virtual_devices",
        help: "Virtual MFA devices assigned to the root user.",
        labels: ID,
        write: |a, id, f| {
            if let Some(p) = &a.posture {
                f.sample(&[id], f64::from(p.virtual_devices));
            }
        },
    },
    AccountSeries {
        name: "password_last_used_timestamp_seconds",
        help: "Unix time the root user last signed in with its password; absent when never used.",
        labels: ID,
        write: |a, id, f| {
            if let Some(t) = a.activity.and_then(|act| act.password_last_used) {
                f.sample(&[id], t);
            }
        },
    },
];

/// Bytes of exposition an account takes, about: to size the buffer once.
const BYTES_PER_ACCOUNT: usize = 1400;

/// Writes one poll's per-account series. Accounts are written in the order of their ids; an
/// id seen twice is written once, from the view given last.
fn account_series(out: &mut Exposition, accounts: &[AccountView]) {
    let mut sorted: Vec<(&str, &AccountView)> = accounts
        .iter()
        .map(|a| (a.account_id.as_deref().unwrap_or(""), a))
        .collect();
    // Stable, so that of two views with one id the later stays later, and is the one kept.
    sorted.sort_by_key(|(id, _)| *id);
    let mut unique: Vec<(&str, &AccountView)> = Vec::with_capacity(sorted.len());
    for (id, view) in sorted {
        match unique.last_mut() {
            Some(last) if last.0 == id => *last = (id, view),
            _ => unique.push((id, view)),
        }
    }
    for series in &ACCOUNT_SERIES {
        let name = format!("{NAMESPACE}_{}", series.name);
        let help = format!("{} {CACHED}", series.help);
        let mut family = out.gauge(&name, &help, series.labels);
        for (id, view) in &unique {
            (series.write)(view, id, &mut family);
        }
    }
}

/// Compares `got` with the golden file at `path` (from the crate's root), or rewrites the file
/// when `UPDATE_GOLDEN` is set: names, HELP texts, types and label sets are an interface, so a
/// change to them must show up in review.
#[cfg(test)]
pub(crate) fn assert_golden(path: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got, want,
        "run with UPDATE_GOLDEN=1 to accept the change, and review the diff"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posture::{Inventory, Posture};

    /// The golden exposition: names, HELP texts, types and label sets are an interface that
    /// dashboards and alerts depend on, so any change to them must show up in review.
    const GOLDEN: &str = "tests/golden/exposition.prom";

    fn golden_accounts() -> Vec<AccountView> {
        let virt = Posture {
            root_user: true,
            mfa_enabled: true,
            hardware: false,
            virtual_devices: 1,
            access_keys_present: false,
            credentials_present: true,
            inventory: None,
        };
        vec![
            AccountView {
                account_id: Some("111111111111".into()),
                account_name: "prod \"payments\"".into(),
                partition: Some("aws".into()),
                posture: Some(virt),
                last_check_ok: true,
                last_success_unix: Some(1_763_800_000.5),
                ..AccountView::default()
            },
            AccountView {
                account_id: Some("222222222222".into()),
                partition: Some("aws-us-gov".into()),
                posture: Some(Posture::NO_ROOT_USER),
                last_check_ok: false,
                last_success_unix: Some(1_763_700_000.0),
                last_error_code: Some("AccessDenied"),
                last_error: Some("denied".into()),
                ..AccountView::default()
            },
            AccountView {
                account_id: Some("333333333333".into()),
                last_check_ok: false,
                ..AccountView::default()
            },
            AccountView {
                account_id: Some("444444444444".into()),
                partition: Some("aws".into()),
                posture: Some(Posture {
                    inventory: Some(Inventory {
                        virtual_: 1,
                        fido: 1,
                        hardware_totp: 0,
                    }),
                    ..virt
                }),
                last_check_ok: true,
                last_success_unix: Some(1_763_800_000.0),
                activity: Some(RootActivity {
                    password_last_used: Some(1_763_000_000.0),
                    access_keys_last_used: [None, Some(1_762_000_000.0)],
                }),
                activity_ok: Some(true),
                last_event_unix: Some(1_763_800_100.0),
                ..AccountView::default()
            },
        ]
    }

    #[test]
    fn exposition_matches_the_golden_file() {
        let m = ExporterMetrics::new(&BuildInfo {
            version: "0.0.0-golden",
            revision: "golden",
            branch: "main",
            build_date: "2026-01-01T00:00:00Z",
            rustc_version: "1.95.0",
            target: "x86_64-unknown-linux-gnu",
        });
        m.api.request("iam", "GetAccountSummary");
        m.api.error("iam", "GetAccountSummary", "Throttling");
        m.set_poll_duration(0.25);
        m.set_poll_interval(std::time::Duration::from_secs(300));
        m.set_fleet(3, Some(true));
        // As a scrape serves it, less the process_* series, which change by the second.
        let features = OrgFeatures {
            organization_id: "o-golden1234".into(),
            root_credentials_management: true,
            root_sessions: false,
        };
        let mut got = m
            .encode_posture(&golden_accounts(), Some(&features))
            .to_vec();
        got.extend_from_slice(&encode_vec(&m.registry.gather()));
        let got = String::from_utf8(got).unwrap();
        assert_golden(GOLDEN, &got);
    }

    #[test]
    fn account_families_are_in_the_order_a_registry_writes() {
        let names: Vec<&str> = ACCOUNT_SERIES.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn accounts_are_written_sorted_and_once_each() {
        let m = ExporterMetrics::new(&crate::BUILD);
        let mut accounts = golden_accounts();
        let want = m.encode_posture(&accounts, None);
        accounts.reverse();
        assert_eq!(m.encode_posture(&accounts, None), want, "in any order");
        let mut stale = accounts[0].clone();
        stale.last_check_ok = !stale.last_check_ok;
        accounts.insert(0, stale);
        assert_eq!(
            m.encode_posture(&accounts, None),
            want,
            "the later of two views of one account"
        );
    }

    #[test]
    fn no_sample_has_a_timestamp() {
        let m = ExporterMetrics::new(&crate::BUILD);
        let mut text =
            String::from_utf8(m.encode_posture(&golden_accounts(), None).to_vec()).unwrap();
        text.push_str(std::str::from_utf8(&m.encode_per_scrape()).unwrap());
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let after_labels = line.rsplit('}').next().unwrap();
            assert_eq!(
                after_labels.split_whitespace().count(),
                1 + usize::from(!line.contains('}')),
                "{line}"
            );
        }
    }
}
