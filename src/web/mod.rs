//! The HTTP side, as exporter-toolkit's `web/` is for Go exporters: the server and its routes,
//! the landing page, `--web.config.file` (TLS, basic authentication, headers, rate limit) and its
//! reload, and gzip. It serves what the core publishes and knows nothing of AWS.

use std::fmt;

pub mod auth;
pub mod body;
pub mod compression;
pub mod config;
pub mod deflate;
pub mod files;
pub mod landing;
pub mod listen;
pub mod ratelimit;
pub mod reload;
pub mod server;
pub mod tls;

/// A problem with the web configuration: the key it concerns and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The dotted path of the offending key, such as `tls_server_config.min_version`.
    pub key: String,
    /// Why the value was refused, in one line.
    pub reason: String,
}

impl Invalid {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}
