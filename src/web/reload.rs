//! Applies the web configuration file to the server, and reloads it when it changes.
//!
//! TLS on or off is decided once, at start-up, from the file, as exporter-toolkit does: a file
//! caught half-written (every write that is not an atomic rename empties it for a moment) must
//! not turn TLS or authentication off. Everything else takes effect without a restart.
//!
//! Before each new connection and each request, the file and the certificate files it names
//! are looked at (their [`Stamp`]: device, inode, size, times), off the async workers; only
//! when a stamp changed is anything read, so a scrape pays a few `stat` calls, not a read.
//! Nothing proceeds on a file that changed and was not read yet: the request waits for the
//! read. A change that cannot be read, is empty, does not validate, or would switch TLS on or
//! off is refused: the last good configuration stays in force, the reload gauge drops to 0 and
//! the reason is logged once. The gauge returns to 1 when the file on disk is valid again,
//! whether it is the configuration in force or a new one.
//!
//! A configuration that replaces another is announced to every open connection, which then
//! closes once its request in flight is answered (see `web::server`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use prometheus::{Gauge, IntCounterVec, Opts, Registry};
use tokio::sync::watch;
use tracing::{error, info};

use super::auth::{self, Authenticator};
use super::config::WebConfig;
use super::files::{Stamp, WEB_CONFIG_MAX_BYTES, read_bounded};
use super::ratelimit::Bucket;
use super::tls;
use crate::error::Error;
use crate::unix_now;

/// How often the files are looked at when no request comes, so that the reload gauge and open
/// connections follow the file even on an idle exporter.
const BACKGROUND_CHECK: Duration = Duration::from_secs(1);

/// The configuration in force, with what was built from it.
#[derive(Debug)]
pub struct InForce {
    /// The validated configuration.
    pub config: WebConfig,
    /// The TLS server configuration, when TLS is on.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// A bcrypt hash no password matches, as costly as the users' most costly hash.
    pub fake_hash: String,
    /// Counts the configurations put in force since start-up, from 0.
    pub generation: u64,
    /// Counts the changes to what a TLS handshake checks (settings, certificate, key, CA):
    /// a connection admitted under an older one must not be used any more.
    pub tls_generation: u64,
    text: Vec<u8>,
    files: Vec<(PathBuf, Vec<u8>)>,
    limiter: Option<Mutex<Bucket>>,
}

impl InForce {
    /// Validates `text` and builds what it asks for; reads the files it names (blocking).
    fn load(path: &Path, text: Vec<u8>) -> Result<InForce, Error> {
        let invalid = |reason: String| Error::WebConfig {
            path: path.to_owned(),
            reason,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let utf8 = std::str::from_utf8(&text).map_err(|_| invalid("not UTF-8 text".into()))?;
        let config = WebConfig::parse(utf8, dir).map_err(|e| invalid(e.to_string()))?;
        let mut files = Vec::new();
        let tls = match &config.tls {
            None => None,
            Some(settings) => {
                // Read before building, so that what is compared later is what was used.
                for file in settings.files() {
                    let bytes = read_bounded(file, WEB_CONFIG_MAX_BYTES).unwrap_or_default();
                    files.push((file.to_owned(), bytes));
                }
                let built = tls::server_config(settings).map_err(|e| invalid(e.to_string()))?;
                Some(Arc::new(built))
            }
        };
        let fake_hash = auth::fake_hash(config.max_cost().unwrap_or(10));
        let limiter = config.rate_limit.map(|l| Mutex::new(Bucket::new(l)));
        Ok(InForce {
            config,
            tls,
            fake_hash,
            generation: 0,
            tls_generation: 0,
            text,
            files,
            limiter,
        })
    }

    /// Whether a handshake under `self` checks the same things as under `other`.
    fn same_tls(&self, other: &InForce) -> bool {
        self.config.tls == other.config.tls && self.files == other.files
    }

    /// The files whose change means the configuration must be looked at again.
    fn watched(&self, path: &Path) -> Vec<PathBuf> {
        let mut paths = vec![path.to_owned()];
        paths.extend(self.files.iter().map(|(p, _)| p.clone()));
        paths
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

/// The stamps of `paths`; `None` for a file that cannot be looked at.
fn stamps(paths: &[PathBuf]) -> Vec<Option<Stamp>> {
    paths.iter().map(|p| Stamp::of(p).ok()).collect()
}

/// What the stamps of the watched files were when they were last read.
#[derive(Debug, Default)]
struct Seen {
    paths: Vec<PathBuf>,
    stamps: Vec<Option<Stamp>>,
    /// False when the files may have changed without their stamps showing it: they were being
    /// written while read, or changed within the file system's clock tick.
    trusted: bool,
}

/// What reading the file found.
enum Examined {
    /// The file on disk is the configuration in force.
    Same,
    /// A valid new configuration.
    Fresh(Box<InForce>),
    /// A change that is refused, and why.
    Refused(String),
}

/// The web configuration file, watched for changes.
#[derive(Debug)]
pub struct ConfigWatcher {
    path: PathBuf,
    tls_on: bool,
    active: watch::Sender<Arc<InForce>>,
    seen: Mutex<Seen>,
    // One read at a time: requests that arrive during a read wait for it rather than read too.
    reading: tokio::sync::Mutex<()>,
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

/// The reasons a request or connection is refused, each a value of the `reason` label.
pub const REJECT_REASONS: [&str; 4] = [
    "unauthorized",
    "rate_limited",
    "tls_handshake",
    "config_replaced",
];

impl ReloadMetrics {
    /// Registers the metrics in `registry`, the one read afresh for every scrape.
    pub fn register(registry: &Registry) -> ReloadMetrics {
        let ns = crate::metrics::SELF_NAMESPACE;
        let reload_ok = Gauge::new(
            format!("{ns}_web_config_last_reload_successful"),
            "1 if the --web.config.file on disk is valid and in force.",
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
                "HTTP requests and TLS connections refused, by reason (unauthorized, rate_limited, \
                 tls_handshake, config_replaced).",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for reason in REJECT_REASONS {
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
    /// Loads the file at start-up (blocking); an unreadable or invalid file is an error naming
    /// the offending key. Whether TLS is on is decided here, for the life of the process.
    pub fn load(path: &Path, metrics: ReloadMetrics) -> Result<ConfigWatcher, Error> {
        let watched = [path.to_owned()];
        let before = stamps(&watched);
        let text = read_bounded(path, WEB_CONFIG_MAX_BYTES).map_err(|err| Error::WebConfig {
            path: path.to_owned(),
            reason: format!("cannot read: {err}"),
        })?;
        let active = InForce::load(path, text)?;
        let paths = active.watched(path);
        let now = stamps(&paths);
        let seen = Seen {
            trusted: before[0] == now[0] && !recent(&now),
            paths,
            stamps: now,
        };
        metrics.reload_ok.set(1.0);
        metrics.reload_time.set(unix_now());
        Ok(ConfigWatcher {
            path: path.to_owned(),
            tls_on: active.tls.is_some(),
            active: watch::Sender::new(Arc::new(active)),
            seen: Mutex::new(seen),
            reading: tokio::sync::Mutex::new(()),
            last_failure: Mutex::new(None),
            auth: Authenticator::default(),
            metrics,
        })
    }

    /// Whether the server speaks TLS: decided at start-up, for the life of the process.
    pub fn tls_on(&self) -> bool {
        self.tls_on
    }

    /// The configuration in force, without looking at the file.
    pub fn in_force(&self) -> Arc<InForce> {
        self.active.borrow().clone()
    }

    /// Tells of every configuration that replaces the one in force now.
    pub fn subscribe(&self) -> watch::Receiver<Arc<InForce>> {
        self.active.subscribe()
    }

    /// Counts a refused request or connection.
    pub fn reject(&self, reason: &str) {
        self.metrics.rejected.with_label_values(&[reason]).inc();
    }

    /// The configuration for a new connection, or a request: the one in force once any change
    /// to the file or its certificate files has been read (and put in force, or refused).
    pub async fn current(&self) -> Arc<InForce> {
        let paths = self.seen().paths.clone();
        if self.unchanged(&look(paths).await) {
            return self.in_force();
        }
        let _one = self.reading.lock().await;
        // Whoever read while this waited may have found what this would find.
        let paths = self.seen().paths.clone();
        if self.unchanged(&look(paths).await) {
            return self.in_force();
        }
        let (path, active, tls_on) = (self.path.clone(), self.in_force(), self.tls_on);
        let read = tokio::task::spawn_blocking(move || examine(&path, &active, tls_on)).await;
        match read {
            Ok((examined, seen)) => {
                *self.seen() = seen;
                self.apply(examined);
            }
            // Only a panic gets here; the configuration in force stays, and so does `seen`,
            // so the next request tries again.
            Err(err) => self.failed(format!("reading failed: {err}")),
        }
        self.in_force()
    }

    /// Looks at the files every second until `shutdown` completes, so that an idle exporter
    /// follows them too.
    pub async fn watch_in_background(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(BACKGROUND_CHECK) => {}
            }
            self.current().await;
        }
    }

    fn unchanged(&self, now: &[Option<Stamp>]) -> bool {
        let seen = self.seen();
        seen.trusted && seen.stamps == now
    }

    fn apply(&self, examined: Examined) {
        match examined {
            Examined::Same => self.succeeded(),
            Examined::Fresh(fresh) => {
                let mut fresh = *fresh;
                let old = self.in_force();
                fresh.generation = old.generation + 1;
                fresh.tls_generation = old.tls_generation + u64::from(!fresh.same_tls(&old));
                info!(file = %self.path.display(), tls = fresh.tls.is_some(),
                      users = fresh.config.users.len(), "web configuration reloaded");
                self.active.send_replace(Arc::new(fresh));
                self.metrics.reload_time.set(unix_now());
                self.succeeded();
            }
            Examined::Refused(reason) => self.failed(reason),
        }
    }

    fn succeeded(&self) {
        self.metrics.reload_ok.set(1.0);
        if self.failures().take().is_some() {
            info!(file = %self.path.display(), "web configuration on disk is valid again");
        }
    }

    fn failed(&self, reason: String) {
        self.metrics.reload_ok.set(0.0);
        let mut last = self.failures();
        // A refused file is looked at again on every change: log a failure once, not once per
        // look; a new failure, or the same one after a good file, is logged again.
        if last.as_deref() != Some(reason.as_str()) {
            error!(file = %self.path.display(), error = %reason,
                   "web configuration change rejected; the last good one stays in force");
            *last = Some(reason);
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_failure.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The stamps of `paths`, taken off the async workers.
async fn look(paths: Vec<PathBuf>) -> Vec<Option<Stamp>> {
    tokio::task::spawn_blocking(move || stamps(&paths))
        .await
        // A panic in `stat`: report a change, so that the caller reads rather than trusts.
        .unwrap_or_default()
}

fn recent(stamps: &[Option<Stamp>]) -> bool {
    let now = SystemTime::now();
    stamps.iter().flatten().any(|s| s.is_recent(now))
}

/// Reads the file (blocking) and decides what it means next to the configuration in force;
/// returns that, and the stamps the decision was made on.
fn examine(path: &Path, active: &InForce, tls_on: bool) -> (Examined, Seen) {
    #[cfg(test)]
    tests::READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let before = stamps(&[path.to_owned()]);
    let examined = match read_bounded(path, WEB_CONFIG_MAX_BYTES) {
        Err(err) => Examined::Refused(format!("cannot read: {err}")),
        Ok(text) if text == active.text => {
            let certificates_same = active
                .files
                .iter()
                .all(|(p, seen)| read_bounded(p, WEB_CONFIG_MAX_BYTES).ok().as_ref() == Some(seen));
            if certificates_same {
                Examined::Same
            } else {
                fresh(path, text, tls_on)
            }
        }
        Ok(text) if is_empty_document(&text) => Examined::Refused(
            "the file is empty (as a file being rewritten in place is for a moment); write `{}` \
             to turn every setting off"
                .into(),
        ),
        Ok(text) => fresh(path, text, tls_on),
    };
    let kept = match &examined {
        Examined::Fresh(fresh) => fresh.watched(path),
        _ => active.watched(path),
    };
    let now = stamps(&kept);
    let seen = Seen {
        trusted: before[0] == now[0] && !recent(&now),
        paths: kept,
        stamps: now,
    };
    (examined, seen)
}

fn fresh(path: &Path, text: Vec<u8>, tls_on: bool) -> Examined {
    match InForce::load(path, text) {
        Err(Error::WebConfig { reason, .. }) => Examined::Refused(reason),
        Err(other) => Examined::Refused(other.to_string()),
        Ok(fresh) if fresh.tls.is_some() != tls_on => Examined::Refused(format!(
            "would switch TLS {}: TLS is decided at start-up, as exporter-toolkit does; restart \
             the exporter to change it",
            if tls_on { "off" } else { "on" }
        )),
        Ok(fresh) => Examined::Fresh(Box::new(fresh)),
    }
}

/// Whether the text holds no YAML at all: nothing, blank lines and comments.
fn is_empty_document(text: &[u8]) -> bool {
    String::from_utf8_lossy(text)
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// How many times the file was read after start-up.
    pub(super) static READS: AtomicUsize = AtomicUsize::new(0);

    fn gauge(metrics: &ReloadMetrics) -> f64 {
        metrics.reload_ok.get()
    }

    #[tokio::test]
    async fn the_file_is_read_only_when_it_changed_and_refused_changes_keep_the_last_good_one() {
        let dir = std::env::temp_dir().join(format!("reload-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("web.yml");
        let good = "basic_auth_users:\n  prometheus: \
                    '$2b$10$uiT5XwCBZpHk7l4biRuw0e6mXvQtraamW.FBJCJfogqAO.e.0X9hO'\n";
        std::fs::write(&path, good).unwrap();
        // Past the window in which a file system's clock tick could hide a second write.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let metrics = ReloadMetrics::register(&Registry::new());
        let watcher = ConfigWatcher::load(&path, metrics.clone()).unwrap();
        let first = watcher.current().await;
        for _ in 0..100 {
            assert!(Arc::ptr_eq(&watcher.current().await, &first));
        }
        assert_eq!(
            READS.load(Ordering::Relaxed),
            0,
            "an unchanged file is not read"
        );

        // Emptied, as a rewrite in place does for a moment: refused, the users stay.
        std::fs::write(&path, "").unwrap();
        assert!(Arc::ptr_eq(&watcher.current().await, &first));
        assert_eq!(gauge(&metrics), 0.0);
        assert_eq!(READS.load(Ordering::Relaxed), 1);

        // The same bytes again: valid again, nothing replaced.
        std::fs::write(&path, good).unwrap();
        assert!(Arc::ptr_eq(&watcher.current().await, &first));
        assert_eq!(gauge(&metrics), 1.0);

        // Would switch TLS on: refused, and the reason says a restart is needed.
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/web");
        std::fs::write(
            &path,
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                fixtures.join("server.crt").display(),
                fixtures.join("server.key").display()
            ),
        )
        .unwrap();
        assert!(Arc::ptr_eq(&watcher.current().await, &first));
        assert_eq!(gauge(&metrics), 0.0);
        let reason = watcher.failures().clone().unwrap_or_default();
        assert!(reason.starts_with("would switch TLS on"), "{reason}");
        assert!(reason.contains("restart the exporter"), "{reason}");

        // A real change replaces the configuration, and says so to subscribers.
        let replaced = watcher.subscribe();
        std::fs::write(&path, "{}").unwrap();
        let now = watcher.current().await;
        assert_eq!(now.generation, 1);
        assert!(now.config.users.is_empty());
        assert_eq!(now.tls_generation, first.tls_generation, "TLS untouched");
        assert!(replaced.has_changed().unwrap());
        assert_eq!(gauge(&metrics), 1.0);
    }

    #[test]
    fn empty_documents() {
        for text in ["", "\n\n", "# only a comment\n", "---\n...\n", "  \t\n"] {
            assert!(is_empty_document(text.as_bytes()), "{text:?}");
        }
        for text in ["{}", "rate_limit: {}\n", "# c\nbasic_auth_users: {}\n"] {
            assert!(!is_empty_document(text.as_bytes()), "{text:?}");
        }
    }
}
