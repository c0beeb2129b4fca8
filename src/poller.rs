//! The background poller: checks every target on its own timer, builds a complete snapshot,
//! encodes it once and publishes it; the HTTP side never calls AWS.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tracing::{info, warn};

use crate::aws::{AccountClients, Outcome};
use crate::error::Error;
use crate::metrics::ExporterMetrics;
use crate::snapshot::{AccountView, Snapshot};

/// One account to check, with the clients whose credentials reach it.
#[derive(Debug, Clone)]
pub struct Target {
    /// A stable key: the account id where known in advance, else a name for the credentials.
    pub key: String,
    /// The account id, when known before the first check.
    pub account_id: Option<String>,
    /// The account's name where known, else empty.
    pub account_name: String,
    /// The clients to check it with.
    pub clients: AccountClients,
}

/// Polls the targets and publishes snapshots.
#[derive(Debug)]
pub struct Poller {
    targets: Vec<Target>,
    state: BTreeMap<String, AccountView>,
    metrics: ExporterMetrics,
    publish: watch::Sender<Arc<Snapshot>>,
    completed_polls: u64,
}

impl Poller {
    /// A poller over `targets`, and the receiving end of its snapshots (empty until the first poll).
    pub fn new(
        targets: Vec<Target>,
        metrics: ExporterMetrics,
    ) -> (Poller, watch::Receiver<Arc<Snapshot>>) {
        let (publish, snapshots) = watch::channel(Arc::new(Snapshot::default()));
        let state = targets
            .iter()
            .map(|t| {
                let view = AccountView {
                    account_id: t.account_id.clone(),
                    account_name: t.account_name.clone(),
                    ..AccountView::default()
                };
                (t.key.clone(), view)
            })
            .collect();
        let poller = Poller {
            targets,
            state,
            metrics,
            publish,
            completed_polls: 0,
        };
        (poller, snapshots)
    }

    /// Checks every target once, then builds, encodes and publishes the snapshot.
    pub async fn poll_once(&mut self) -> Arc<Snapshot> {
        let started = Instant::now();
        for target in &self.targets {
            let result = check_contained(target).await;
            let view = self.state.entry(target.key.clone()).or_default();
            apply(view, result, unix_now());
        }
        let elapsed = started.elapsed().as_secs_f64();
        self.metrics.set_poll_duration(elapsed);
        self.completed_polls += 1;

        let accounts: Vec<AccountView> = self.state.values().cloned().collect();
        let failed = accounts.iter().filter(|a| !a.last_check_ok).count();
        info!(
            accounts = accounts.len(),
            failed,
            duration_seconds = (elapsed * 1000.0).round() / 1000.0,
            "poll finished"
        );
        let snapshot = Arc::new(Snapshot {
            exposition: self.metrics.encode_snapshot(&accounts),
            accounts,
            completed_polls: self.completed_polls,
        });
        self.publish.send_replace(snapshot.clone());
        snapshot
    }

    /// Polls now and then every `interval` until `shutdown` completes; polls never overlap.
    pub async fn run(mut self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticks = tokio::time::interval(interval);
        // A poll that overruns the interval delays the next one instead of causing a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticks.tick() => {}
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.poll_once() => {}
            }
        }
    }
}

/// Runs one check in its own task, so that a panic in it fails only that account.
async fn check_contained(target: &Target) -> Outcome {
    let clients = target.clients.clone();
    match tokio::spawn(async move { clients.check().await }).await {
        Ok(outcome) => outcome,
        Err(join) => Outcome {
            identity: None,
            result: Err(Error::Panic(if join.is_panic() {
                "the check panicked".into()
            } else {
                "the check was cancelled".into()
            })),
        },
    }
}

/// Folds one check's outcome into an account's state: a failure keeps the last observed posture.
pub fn apply(view: &mut AccountView, outcome: Outcome, now_unix: f64) {
    if let Some(identity) = outcome.identity {
        view.account_id = Some(identity.account_id);
        view.partition = Some(identity.partition);
    }
    match outcome.result {
        Ok(posture) => {
            view.posture = Some(posture);
            view.last_check_ok = true;
            view.last_success_unix = Some(now_unix);
            view.last_error_code = None;
            view.last_error = None;
        }
        Err(err) => {
            warn!(
                account_id = view.account_id.as_deref().unwrap_or("unidentified"),
                code = err.code(),
                error = %err,
                "check failed"
            );
            view.last_check_ok = false;
            view.last_error_code = Some(err.code());
            view.last_error = Some(err.to_string());
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
