//! Applies the web configuration file to the server, and reloads it when it changes.
//!
//! The file is read again for every request, and the files it names for every TLS handshake,
//! as exporter-toolkit does; a change is parsed once, and takes effect for the next request or
//! connection. A change that does not validate is logged and counted, and the last good
//! configuration stays in force: a typo must neither open the door nor take the exporter down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus::{Gauge, IntCounterVec, Opts, Registry};
use tracing::{error, info};

use super::auth::{self, Authenticator};
use super::config::WebConfig;
use super::ratelimit::Bucket;
use super::tls;
use crate::error::Error;
use crate::files::{WEB_CONFIG_MAX_BYTES, read_bounded};
use crate::unix_now;

/// The configuration in force, with what was built from it.
#[derive(Debug)]
pub struct InForce {
    /// The validated configuration.
    pub config: WebConfig,
    /// The TLS server configuration, when TLS is on.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// A bcrypt hash no password matches, as costly as the users' hashes.
    pub fake_hash: String,
    text: Vec<u8>,
    files: Vec<(PathBuf, Vec<u8>)>,
    limiter: Option<Mutex<Bucket>>,
}

impl InForce {
    fn load(path: &Path, text: Vec<u8>) -> Result<InForce, Error> {
        let invalid = |err: super::Invalid| Error::WebConfig {
            path: path.to_owned(),
            reason: err.to_string(),
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let utf8 = std::str::from_utf8(&text).map_err(|_| Error::WebConfig {
            path: path.to_owned(),
            reason: "not UTF-8 text".into(),
        })?;
        let config = WebConfig::parse(utf8, dir).map_err(invalid)?;
        let mut files = Vec::new();
        let tls = match &config.tls {
            None => None,
            Some(settings) => {
                // Read before building, so that what is compared later is what was used.
                for file in settings.files() {
                    files.push((file.to_owned(), std::fs::read(file).unwrap_or_default()));
                }
                Some(Arc::new(tls::server_config(settings).map_err(invalid)?))
            }
        };
        let fake_hash = auth::fake_hash(config.max_cost().unwrap_or(10));
        let limiter = config.rate_limit.map(|l| Mutex::new(Bucket::new(l)));
        Ok(InForce {
            config,
            tls,
            fake_hash,
            text,
            files,
            limiter,
        })
    }

    fn files_changed(&self) -> bool {
        self.files
            .iter()
            .any(|(path, seen)| std::fs::read(path).ok().as_ref() != Some(seen))
    }

    /// Takes one request from the rate limit; `false` when the request must be refused.
    pub fn admit(&self) -> bool {
        match &self.limiter {
            None => true,
            Some(bucket) => bucket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(Instant::now()),
        }
    }
}

/// The web configuration file, watched for changes.
#[derive(Debug)]
pub struct ConfigWatcher {
    path: PathBuf,
    active: Mutex<Arc<InForce>>,
    last_failure: Mutex<Option<String>>,
    /// Checks basic authentication credentials.
    pub auth: Authenticator,
    metrics: ReloadMetrics,
}

/// The guard's own metrics: reloads and refused requests.
#[derive(Debug, Clone)]
pub struct ReloadMetrics {
    reload_ok: Gauge,
    reload_time: Gauge,
    /// Requests and connections refused, by reason.
    pub rejected: IntCounterVec,
}

impl ReloadMetrics {
    /// Registers the metrics in `registry`, the one read afresh for every scrape.
    pub fn register(registry: &Registry) -> ReloadMetrics {
        let ns = crate::metrics::SELF_NAMESPACE;
        let reload_ok = Gauge::new(
            format!("{ns}_web_config_last_reload_successful"),
            "1 if the last change to --web.config.file was valid and is in force.",
        )
        .expect("valid metric");
        let reload_time = Gauge::new(
            format!("{ns}_web_config_last_reload_success_timestamp_seconds"),
            "Unix time at which --web.config.file was last loaded successfully.",
        )
        .expect("valid metric");
        let rejected = IntCounterVec::new(
            Opts::new(
                format!("{ns}_http_rejected_total"),
                "HTTP requests and TLS connections refused, by reason (unauthorized, rate_limited, tls_handshake).",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for reason in ["unauthorized", "rate_limited", "tls_handshake"] {
            rejected.with_label_values(&[reason]);
        }
        for c in [
            Box::new(reload_ok.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reload_time.clone()),
            Box::new(rejected.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        ReloadMetrics {
            reload_ok,
            reload_time,
            rejected,
        }
    }
}

impl ConfigWatcher {
    /// Loads the file; an unreadable or invalid file is an error naming the offending key.
    pub fn load(path: &Path, metrics: ReloadMetrics) -> Result<ConfigWatcher, Error> {
        let text = read_bounded(path, WEB_CONFIG_MAX_BYTES).map_err(|err| Error::WebConfig {
            path: path.to_owned(),
            reason: format!("cannot read: {err}"),
        })?;
        let active = InForce::load(path, text)?;
        metrics.reload_ok.set(1.0);
        metrics.reload_time.set(unix_now());
        Ok(ConfigWatcher {
            path: path.to_owned(),
            active: Mutex::new(Arc::new(active)),
            last_failure: Mutex::new(None),
            auth: Authenticator::default(),
            metrics,
        })
    }

    /// Counts a refused request or connection.
    pub fn reject(&self, reason: &str) {
        self.metrics.rejected.with_label_values(&[reason]).inc();
    }

    /// The configuration for a new connection: reloaded first if the file or the certificate
    /// files it names changed.
    pub fn for_connection(&self) -> Arc<InForce> {
        self.current(true)
    }

    /// The configuration for a request: reloaded first if the file changed. Certificates
    /// matter only to handshakes, so they are not compared here.
    pub fn for_request(&self) -> Arc<InForce> {
        self.current(false)
    }

    fn current(&self, new_connection: bool) -> Arc<InForce> {
        let active = self.lock().clone();
        let text = match read_bounded(&self.path, WEB_CONFIG_MAX_BYTES) {
            Ok(text) => text,
            Err(err) => {
                self.failed(format!("cannot read: {err}"));
                return active;
            }
        };
        if text == active.text && !(new_connection && active.files_changed()) {
            return active;
        }
        match InForce::load(&self.path, text) {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.lock() = fresh.clone();
                *self.failures() = None;
                self.metrics.reload_ok.set(1.0);
                self.metrics.reload_time.set(unix_now());
                info!(file = %self.path.display(), tls = fresh.tls.is_some(),
                      users = fresh.config.users.len(), "web configuration reloaded");
                fresh
            }
            Err(err) => {
                self.failed(err.to_string());
                active
            }
        }
    }

    fn failed(&self, reason: String) {
        self.metrics.reload_ok.set(0.0);
        let mut last = self.failures();
        // Every request rereads the file: log a failure once, not once per request.
        if last.as_deref() != Some(reason.as_str()) {
            error!(file = %self.path.display(), error = %reason,
                   "web configuration change rejected; the last good one stays in force");
            *last = Some(reason);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<InForce>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_failure.lock().unwrap_or_else(|p| p.into_inner())
    }
}
