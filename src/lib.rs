//! aws-root-mfa-exporter: watches whether the root user of AWS accounts is protected by
//! hardware MFA (CIS AWS Foundations, Security Hub IAM.6) and publishes it for Prometheus.
//!
//! The core sits at the top; each edge has a folder of its own.
//! - [`posture`]: the compliance decision, a pure function of the AWS answers.
//! - [`poller`]: checks every account on a timer and publishes a [`snapshot::Snapshot`].
//! - [`events`]: CloudTrail events from an SQS queue, which re-check an account at once.
//! - [`snapshot`]: what one poll knows, and the state of each account.
//! - [`metrics`]: metric names and the exposition, encoded once per poll; the text format
//!   written straight into one buffer; the `process_*` series.
//! - [`report`]: the table and JSON output of `check`, and its exit codes.
//! - [`config`], [`logging`], [`error`]: flags, logs, and the crate's error type.
//! - [`redact`]: the masking of secrets that every log line and `check` output goes through.
//! - [`app`]: the wiring of it all, for `main`.
//! - [`aws`]: everything that speaks to AWS (clients, calls, credentials, discovery, root's
//!   activity).
//! - [`web`]: everything that serves HTTP (routes, landing page, web configuration, TLS,
//!   basic authentication, gzip, bounded reads of the files an operator names); it knows
//!   nothing of AWS.

#![forbid(unsafe_code)]

pub mod app;
pub mod aws;
pub mod config;
pub mod error;
pub mod events;
pub mod logging;
pub mod metrics;
pub mod poller;
pub mod posture;
pub mod redact;
pub mod report;
pub mod snapshot;
pub mod web;

pub use error::Error;

/// The exporter's version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision it was built from, or `unknown`.
pub const REVISION: &str = env!("BUILD_REVISION");

/// What this binary is and how it was built, as `--version` and `_build_info` tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    /// The version, from Cargo.toml.
    pub version: &'static str,
    /// The git revision, or `unknown`.
    pub revision: &'static str,
    /// The git branch, or `unknown`.
    pub branch: &'static str,
    /// When it was built (RFC 3339, UTC).
    pub build_date: &'static str,
    /// The compiler's version (`1.95.0`).
    pub rustc_version: &'static str,
    /// The target triple (`x86_64-unknown-linux-gnu`).
    pub target: &'static str,
}

/// This binary's build.
pub const BUILD: BuildInfo = BuildInfo {
    version: VERSION,
    revision: REVISION,
    branch: env!("BUILD_BRANCH"),
    build_date: env!("BUILD_DATE"),
    rustc_version: env!("BUILD_RUSTC_VERSION"),
    target: env!("BUILD_TARGET"),
};

/// The text of `--version`, in the shape Prometheus components print it.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (branch: ",
    env!("BUILD_BRANCH"),
    ", revision: ",
    env!("BUILD_REVISION"),
    ")\n  build date:    ",
    env!("BUILD_DATE"),
    "\n  rustc version: ",
    env!("BUILD_RUSTC_VERSION"),
    "\n  platform:      ",
    env!("BUILD_TARGET"),
);

/// Seconds since the Unix epoch, as Prometheus timestamps are written; 0 before 1970.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
