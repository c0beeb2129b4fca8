//! aws-root-mfa-exporter: watches whether the root user of AWS accounts is protected by
//! hardware MFA (CIS AWS Foundations, Security Hub IAM.6) and publishes it for Prometheus.
//!
//! - [`posture`]: the compliance decision, a pure function of the AWS answers.
//! - [`aws`]: the SDK calls that gather those answers, and API call accounting.
//! - [`fleet`], [`role`]: which accounts to check (the caller's, listed roles, or a whole
//!   Organization, sharded), and the cached assumed-role credentials that reach them.
//! - [`poller`]: checks every account on a timer and publishes a [`snapshot::Snapshot`].
//! - [`metrics`]: metric names and the exposition, encoded once per poll.
//! - [`http`]: `/metrics`, the landing page and the health endpoints; [`gzip`] compresses
//!   the exposition once per poll.
//! - [`webconfig`], [`webguard`], [`tls`], [`auth`]: `--web.config.file` (TLS, basic
//!   authentication, headers, rate limit), reloaded when it changes.
//! - [`report`]: the table and JSON output of `check`, and its exit codes.
//! - [`config`], [`logging`], [`app`]: flags, logs, and the wiring of it all.

#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod aws;
pub mod config;
pub mod error;
pub mod fleet;
pub mod gzip;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod poller;
pub mod posture;
pub mod report;
pub mod role;
pub mod snapshot;
pub mod tls;
pub mod webconfig;
pub mod webguard;

pub use error::Error;

/// The exporter's version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision it was built from, or `unknown`.
pub const REVISION: &str = env!("BUILD_REVISION");
