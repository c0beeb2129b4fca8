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
use crate::aws::activity::RootActivity;
use crate::posture::{Control, MfaKind, Verdict};
use crate::snapshot::{AccountView, OrgFeatures};

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
    process: Registry,
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

        let process = Registry::new();
        #[cfg(target_os = "linux")]
        process
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric names");

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
        let r = account_registry(accounts);
        if let Some(f) = features {
            organization_series(&r, f);
        }
        encode(&r.gather())
    }

    /// The registry of the exporter's own metrics, encoded for every scrape; other parts of
    /// the exporter (the web configuration's reloads) register theirs here.
    pub fn per_scrape(&self) -> &Registry {
        &self.registry
    }

    /// Encodes the exporter's own metrics and the `process_*` series, as they are now.
    pub fn encode_per_scrape(&self) -> Bytes {
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        encode(&families)
    }
}

fn encode(families: &[prometheus::proto::MetricFamily]) -> Bytes {
    let mut buf = Vec::with_capacity(4096);
    TextEncoder::new()
        .encode(families, &mut buf)
        .expect("writing to a Vec cannot fail");
    Bytes::from(buf)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let vec = GaugeVec::new(
        Opts::new(format!("{NAMESPACE}_{name}"), format!("{help} {CACHED}")),
        labels,
    )
    .expect("valid metric");
    registry
        .register(Box::new(vec.clone()))
        .expect("unique metric names");
    vec
}

/// The Organization's centralized root access features, labelled with its id.
fn organization_series(r: &Registry, f: &OrgFeatures) {
    let gauge = |name: &str, help: &str, on: bool| {
        let vec = GaugeVec::new(
            Opts::new(format!("{ORG_NAMESPACE}_{name}"), format!("{help} Cached: refreshed with the account list (--organization.refresh-interval).")),
            &["organization_id"],
        )
        .expect("valid metric");
        vec.with_label_values(&[f.organization_id.as_str()])
            .set(flag(on));
        r.register(Box::new(vec)).expect("unique metric names");
    };
    gauge(
        "root_credentials_management_enabled",
        "1 if the Organization has centralized root access's RootCredentialsManagement enabled (iam:ListOrganizationsFeatures).",
        f.root_credentials_management,
    );
    gauge(
        "root_sessions_enabled",
        "1 if the Organization has centralized root access's RootSessions enabled (iam:ListOrganizationsFeatures).",
        f.root_sessions,
    );
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// A fresh registry holding one poll's per-account series.
fn account_registry(accounts: &[AccountView]) -> Registry {
    let r = Registry::new();
    let id = &["account_id"];
    let mfa_enabled = gauge_vec(
        &r,
        "mfa_enabled",
        "1 if the root user has any MFA device.",
        id,
    );
    let hardware = gauge_vec(
        &r,
        "mfa_hardware",
        "1 if root MFA is enabled and no virtual MFA device is assigned to the root user (Security Hub IAM.6, CIS 1.6).",
        id,
    );
    let virtual_devices = gauge_vec(
        &r,
        "mfa_virtual_devices",
        "Virtual MFA devices assigned to the root user.",
        id,
    );
    let access_keys = gauge_vec(
        &r,
        "access_keys_present",
        "1 if the root user has access keys (or IAM did not say it has none).",
        id,
    );
    let credentials = gauge_vec(
        &r,
        "credentials_present",
        "0 only when the account positively has no root password, access keys or signing certificates, or no root user.",
        id,
    );
    let info = gauge_vec(
        &r,
        "account_info",
        "A metric with a constant '1' value labeled by the account's id, name and partition.",
        &["account_id", "account_name", "partition"],
    );
    let success = gauge_vec(
        &r,
        "check_success",
        "1 if the last check of this account succeeded.",
        id,
    );
    let timestamp = gauge_vec(
        &r,
        "last_successful_check_timestamp_seconds",
        "Unix time of the last successful check of this account.",
        id,
    );
    let control = gauge_vec(
        &r,
        "control_status",
        "Verdict of each AWS Security Hub control on the root user, one series per status, exactly one of them 1: IAM.4 no root access keys (CIS 1.4), IAM.6 hardware MFA (CIS 1.6), IAM.9 MFA (CIS 1.5). Kept from the last successful check.",
        &["account_id", "control", "status"],
    );
    let devices = gauge_vec(
        &r,
        "mfa_devices",
        "Root's own MFA devices by type (virtual, fido, hardware_totp), told by serial number; only where the inventory is exact (--organization.assume-root).",
        &["account_id", "type"],
    );
    let password_used = gauge_vec(
        &r,
        "password_last_used_timestamp_seconds",
        "Unix time the root user last signed in with its password; absent when never used.",
        id,
    );
    let key_used = gauge_vec(
        &r,
        "access_key_last_used_timestamp_seconds",
        "Unix time each root access key (key=\"1\" the older, \"2\") was last used; absent when never used.",
        &["account_id", "key"],
    );
    let activity_success = gauge_vec(
        &r,
        "activity_check_success",
        "1 if the last read of the root user's last activity succeeded; only where it is read.",
        id,
    );
    // Not a cached value: it changes when an event arrives, not with the poll.
    let last_event = GaugeVec::new(
        Opts::new(
            format!("{NAMESPACE}_last_event_timestamp_seconds"),
            "Unix time (CloudTrail eventTime) of the newest event about this account's root that the exporter acted on (--events.sqs-queue-url); absent until one arrives.",
        ),
        id,
    )
    .expect("valid metric");
    r.register(Box::new(last_event.clone()))
        .expect("unique metric names");

    for a in accounts {
        let account = a.account_id.as_deref().unwrap_or("");
        if let Some(t) = a.last_event_unix {
            last_event.with_label_values(&[account]).set(t);
        }
        let labels = &[account];
        success.with_label_values(labels).set(flag(a.last_check_ok));
        if let Some(t) = a.last_success_unix {
            timestamp.with_label_values(labels).set(t);
        }
        if let Some(ok) = a.activity_ok {
            activity_success.with_label_values(labels).set(flag(ok));
        }
        if let Some(RootActivity {
            password_last_used,
            access_keys_last_used,
        }) = a.activity
        {
            if let Some(t) = password_last_used {
                password_used.with_label_values(labels).set(t);
            }
            for (i, used) in access_keys_last_used.iter().enumerate() {
                if let Some(t) = used {
                    key_used
                        .with_label_values(&[account, RootActivity::key_ordinal(i)])
                        .set(*t);
                }
            }
        }
        if let Some(partition) = &a.partition {
            info.with_label_values(&[account, a.account_name.as_str(), partition])
                .set(1.0);
        }
        if let Some(p) = &a.posture {
            mfa_enabled
                .with_label_values(labels)
                .set(flag(p.mfa_enabled));
            hardware.with_label_values(labels).set(flag(p.hardware));
            virtual_devices
                .with_label_values(labels)
                .set(f64::from(p.virtual_devices));
            access_keys
                .with_label_values(labels)
                .set(flag(p.access_keys_present));
            credentials
                .with_label_values(labels)
                .set(flag(p.credentials_present));
            if let Some(inventory) = p.inventory {
                for kind in MfaKind::ALL {
                    devices
                        .with_label_values(&[account, kind.as_str()])
                        .set(f64::from(inventory.count(kind)));
                }
            }
            for c in Control::ALL {
                let verdict = p.verdict(c);
                for status in Verdict::ALL {
                    control
                        .with_label_values(&[account, c.id(), status.as_str()])
                        .set(flag(verdict == status));
                }
            }
        }
    }
    r
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
        got.extend_from_slice(&encode(&m.registry.gather()));
        let got = String::from_utf8(got).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            got, want,
            "run with UPDATE_GOLDEN=1 to accept the change, and review the diff"
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
