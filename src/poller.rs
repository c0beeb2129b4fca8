//! The background poller: checks every target on its own timer, up to `--poll.concurrency` at
//! a time, builds a complete snapshot, encodes it once and publishes it; the HTTP side never
//! calls AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tracing::{error, info, warn};

use crate::aws::account::Outcome;
use crate::aws::discovery::{Fleet, Target};
use crate::error::Error;
use crate::metrics::ExporterMetrics;
use crate::posture::Identity;
use crate::snapshot::{AccountView, Snapshot};
use crate::unix_now;
use crate::web::compression::Precompressed;

/// Later polls start their checks spread over this share of the interval, so that a large
/// Organization does not send its calls in one burst.
const SPREAD_SHARE: f64 = 0.5;

/// Polls the targets and publishes snapshots.
#[derive(Debug)]
pub struct Poller {
    fleet: Fleet,
    concurrency: usize,
    state: BTreeMap<String, AccountView>,
    metrics: ExporterMetrics,
    publish: watch::Sender<Arc<Snapshot>>,
    completed_polls: u64,
}

impl Poller {
    /// A poller over `fleet`, and the receiving end of its snapshots (empty until the first poll).
    pub fn new(
        fleet: Fleet,
        concurrency: usize,
        metrics: ExporterMetrics,
    ) -> (Poller, watch::Receiver<Arc<Snapshot>>) {
        let (publish, snapshots) = watch::channel(Arc::new(Snapshot::default()));
        let poller = Poller {
            fleet,
            concurrency: concurrency.max(1),
            state: BTreeMap::new(),
            metrics,
            publish,
            completed_polls: 0,
        };
        (poller, snapshots)
    }

    /// Checks every target once as fast as the concurrency allows, then publishes the snapshot.
    pub async fn poll_once(&mut self) -> Arc<Snapshot> {
        self.poll(Duration::ZERO).await
    }

    /// Checks every target once, starting the checks evenly over `spread`, then builds, encodes
    /// and publishes the snapshot.
    pub async fn poll(&mut self, spread: Duration) -> Arc<Snapshot> {
        let started = Instant::now();
        if let Err(err) = self.fleet.refresh_if_due().await {
            warn!(code = err.code(), error = %err,
                  "listing the Organization's accounts failed; keeping the previous list");
        }
        let targets = self.fleet.targets();
        // Accounts that left the Organization or this shard disappear with their series.
        let keys: BTreeSet<&str> = targets.iter().map(|t| t.key.as_str()).collect();
        self.state.retain(|key, _| keys.contains(key.as_str()));

        let gap = spread
            .checked_div(targets.len().max(1) as u32)
            .unwrap_or_default();
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut running = Vec::with_capacity(targets.len());
        for (i, target) in targets.into_iter().enumerate() {
            if i > 0 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            let permit = permits.clone().acquire_owned().await.expect("never closed");
            let key = target.key.clone();
            let name = target.account_name.clone();
            let known = target.identity.clone();
            // Each check runs in its own task, so that a panic in it fails only that account.
            let task = tokio::spawn(async move {
                let _permit = permit;
                let outcome = check(&target).await;
                (outcome, unix_now())
            });
            running.push((key, name, known, task));
        }
        for (key, name, known, task) in running {
            let (outcome, at) = task
                .await
                .unwrap_or_else(|join| (panicked(&join, known), unix_now()));
            let view = self.state.entry(key).or_default();
            view.account_name = name;
            apply(view, outcome, at);
        }

        let elapsed = started.elapsed().as_secs_f64();
        self.metrics.set_poll_duration(elapsed);
        self.metrics
            .set_fleet(self.state.len(), self.fleet.discovery_ok());
        self.completed_polls += 1;
        let accounts: Vec<AccountView> = self.state.values().cloned().collect();
        let failed = accounts.iter().filter(|a| !a.last_check_ok).count();
        if self.fleet.discovered() {
            info!(
                accounts = accounts.len(),
                failed,
                duration_seconds = (elapsed * 1000.0).round() / 1000.0,
                "poll finished"
            );
        } else {
            // Silence is never compliance: an exporter that could not list its accounts says
            // so on every poll, and stays unready.
            error!(
                "poll finished without any account: the Organization's accounts have never been listed"
            );
        }
        let features = self.fleet.features();
        let exposition = self.metrics.encode_posture(&accounts, features.as_ref());
        let snapshot = Arc::new(Snapshot {
            compressed: Precompressed::deflate(&exposition),
            exposition,
            accounts,
            completed_polls: self.completed_polls,
            discovered: self.fleet.discovered(),
            features,
        });
        self.publish.send_replace(snapshot.clone());
        snapshot
    }

    /// Polls now and then every `interval` until `shutdown` completes; polls never overlap. The
    /// first poll runs at full concurrency so that the exporter is ready soon after start-up;
    /// later ones spread their checks over half the interval.
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
            let spread = if self.completed_polls == 0 {
                Duration::ZERO
            } else {
                interval.mul_f64(SPREAD_SHARE)
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.poll(spread) => {}
            }
        }
    }
}

async fn check(target: &Target) -> Outcome {
    target.clients.check(target.identity.as_ref()).await
}

fn panicked(join: &tokio::task::JoinError, known: Option<Identity>) -> Outcome {
    Outcome {
        identity: known,
        result: Err(Error::Panic(if join.is_panic() {
            "the check panicked".into()
        } else {
            "the check was cancelled".into()
        })),
        activity: None,
    }
}

/// Folds one check's outcome into an account's state: a failure keeps the last observed
/// posture (and the last observed activity).
pub fn apply(view: &mut AccountView, outcome: Outcome, now_unix: f64) {
    if let Some(identity) = outcome.identity {
        view.account_id = Some(identity.account_id);
        view.partition = Some(identity.partition);
    }
    match outcome.activity {
        None => {}
        Some(Ok(activity)) => {
            view.activity = Some(activity);
            view.activity_ok = Some(true);
        }
        Some(Err(err)) => {
            warn!(
                account_id = view.account_id.as_deref().unwrap_or("unidentified"),
                code = err.code(),
                error = %err,
                "reading root's last activity failed"
            );
            view.activity_ok = Some(false);
        }
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
