//! aws-root-mfa-exporter: watches whether the root user of AWS accounts is protected by
//! hardware MFA (CIS AWS Foundations, Security Hub IAM.6) and publishes it for Prometheus.
//!
//! The core sits at the top; each edge has a folder of its own.
//! - [`posture`]: the compliance decision, a pure function of the AWS answers.
//! - [`activity`]: when root's password and access keys were last used.
//! - [`poller`]: checks every account on a timer and publishes a [`snapshot::Snapshot`].
//! - [`snapshot`]: what one poll knows, and the state of each account.
//! - [`metrics`]: metric names and the exposition, encoded once per poll.
//! - [`report`]: the table and JSON output of `check`, and its exit codes.
//! - [`config`], [`logging`], [`error`]: flags, logs, and the crate's error type.
//! - [`app`]: the wiring of it all, for `main`.
//! - [`aws`]: everything that speaks to AWS (clients, calls, credentials, discovery).
//! - [`web`]: everything that serves HTTP (routes, landing page, web configuration, TLS,
//!   basic authentication, gzip); it knows nothing of AWS.

#![forbid(unsafe_code)]

pub mod activity;
pub mod app;
pub mod aws;
pub mod config;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod poller;
pub mod posture;
pub mod report;
pub mod snapshot;
pub mod web;

pub use error::Error;

/// The exporter's version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision it was built from, or `unknown`.
pub const REVISION: &str = env!("BUILD_REVISION");

/// Seconds since the Unix epoch, as Prometheus timestamps are written; 0 before 1970.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
