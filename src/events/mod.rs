//! CloudTrail events through SQS (`--events.sqs-queue-url`): an EventBridge rule puts the
//! CloudTrail events that can change root's posture on a queue; this listener long-polls it,
//! re-checks the account at once (outside the poll schedule), and records root console
//! sign-ins without any IAM call. Events shorten detection; they never replace the poll, so a
//! lost event costs at most one interval.
//!
//! - [`parse`]: the envelope, read and classified (pure).
//! - [`queue`]: the queue URL, receives, deletes and the backoff.
//!
//! A burst of events for one account costs one check: a re-check waits [`COALESCE`] for the
//! burst to settle, events that arrive while it is queued join it, and events that arrive
//! while it runs cause one more check after it. A message is deleted once what it asked for
//! is published; a malformed, foreign or unwatched one is counted and deleted at once.

pub mod parse;
pub mod queue;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntCounterVec, Opts, Registry};
use tracing::{info, warn};

use crate::metrics::SELF_NAMESPACE;
use crate::poller::Rechecker;
use crate::unix_now;
use parse::{Action, Ignored, Malformed};
use queue::{Message, Queue};

/// How long a re-check waits after the first event of a burst: a person removing root's MFA
/// makes several calls in a row (`DeactivateMFADevice`, then `DeleteVirtualMFADevice`), and
/// one check after them sees the end state.
pub const COALESCE: Duration = Duration::from_secs(1);
/// The least time between two log lines about malformed messages or queue errors: a queue
/// full of foreign messages, or a queue that is gone, must not flood the log.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The listener's own metrics, registered with the exporter's per-scrape ones.
#[derive(Debug, Clone)]
pub struct EventsMetrics {
    received: IntCounter,
    acted: IntCounterVec,
    ignored: IntCounterVec,
    malformed: IntCounterVec,
    rechecks: IntCounter,
    receive_errors: IntCounterVec,
    failures: Gauge,
    newest: NewestEvent,
}

impl EventsMetrics {
    /// Registers the metrics in `registry`, every labelled series at 0.
    pub fn register(registry: &Registry) -> EventsMetrics {
        let name = |n: &str| format!("{SELF_NAMESPACE}_events_{n}");
        let counter = |n: &str, help: &str| IntCounter::new(name(n), help).expect("valid metric");
        let counters = |n: &str, help: &str, label: &str| {
            IntCounterVec::new(Opts::new(name(n), help), &[label]).expect("valid metric")
        };
        let m = EventsMetrics {
            received: counter(
                "received_total",
                "Messages received from the CloudTrail event queue (--events.sqs-queue-url).",
            ),
            acted: counters(
                "acted_on_total",
                "Events acted on, by action: recheck (the account was checked again at once) or sign_in (root's last sign-in was recorded).",
                "action",
            ),
            ignored: counters(
                "ignored_total",
                "Well-formed events left alone, by reason: unwatched_account, not_root, failed_sign_in, failed_call, other_event.",
                "reason",
            ),
            malformed: counters(
                "malformed_total",
                "Messages that are no usable CloudTrail event, deleted unread, by reason: json, envelope, foreign.",
                "reason",
            ),
            rechecks: counter(
                "rechecks_total",
                "Checks of single accounts that events caused (a burst of events for one account costs one).",
            ),
            receive_errors: counters(
                "receive_errors_total",
                "Failed receives from the event queue, by bounded error code.",
                "code",
            ),
            failures: Gauge::new(
                name("receive_consecutive_failures"),
                "Receives from the event queue that failed in a row; 0 once one succeeds.",
            )
            .expect("valid metric"),
            newest: NewestEvent::new(name("newest_age_seconds")),
        };
        for action in ["recheck", "sign_in"] {
            m.acted.with_label_values(&[action]);
        }
        for reason in Ignored::ALL {
            m.ignored.with_label_values(&[reason.as_str()]);
        }
        for reason in Malformed::ALL {
            m.malformed.with_label_values(&[reason.as_str()]);
        }
        for c in [
            Box::new(m.received.clone()) as Box<dyn Collector>,
            Box::new(m.acted.clone()),
            Box::new(m.ignored.clone()),
            Box::new(m.malformed.clone()),
            Box::new(m.rechecks.clone()),
            Box::new(m.receive_errors.clone()),
            Box::new(m.failures.clone()),
            Box::new(m.newest.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        m
    }
}

/// The age of the newest event seen, computed at each scrape from its `eventTime`; absent
/// until an event has been seen.
#[derive(Debug, Clone)]
struct NewestEvent {
    desc: Desc,
    /// The newest `eventTime` as `f64` bits; 0 while none was seen.
    at: Arc<AtomicU64>,
}

impl NewestEvent {
    fn new(name: String) -> NewestEvent {
        let desc = Desc::new(
            name,
            "Seconds from the eventTime of the newest well-formed CloudTrail event received to now; absent until one arrives.".into(),
            vec![],
            HashMap::new(),
        )
        .expect("valid metric");
        NewestEvent {
            desc,
            at: Arc::new(AtomicU64::new(0)),
        }
    }

    fn saw(&self, event_time: f64) {
        let _ = self
            .at
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                (event_time > f64::from_bits(old)).then_some(event_time.to_bits())
            });
    }
}

impl Collector for NewestEvent {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let at = f64::from_bits(self.at.load(Ordering::Relaxed));
        if at == 0.0 {
            return Vec::new();
        }
        let gauge = Gauge::with_opts(Opts::new(self.desc.fq_name.clone(), self.desc.help.clone()))
            .expect("valid metric");
        // An event stamped a little in the future (clock skew) is not negative in age.
        gauge.set((unix_now() - at).max(0.0));
        gauge.collect()
    }
}

/// Logs at most once per [`LOG_EVERY`], saying how many lines it held back.
#[derive(Debug, Default)]
struct Throttled {
    last: Mutex<Option<Instant>>,
    held: AtomicU64,
}

impl Throttled {
    /// Whether to log now; if so, also how many lines were held back since the last one.
    fn due(&self) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(Instant::now());
        Some(self.held.swap(0, Ordering::Relaxed))
    }
}

/// A re-check that is waiting to start, and the messages it will answer.
#[derive(Debug, Default)]
struct Pending {
    receipts: Vec<String>,
    newest: f64,
}

/// Reads the queue and acts on its events.
#[derive(Debug)]
pub struct Listener {
    queue: Queue,
    rechecker: Rechecker,
    metrics: EventsMetrics,
    pending: Mutex<HashMap<String, Pending>>,
    malformed_log: Throttled,
    error_log: Throttled,
}

impl Listener {
    /// A listener on `queue` that re-checks accounts through `rechecker`.
    pub fn new(queue: Queue, rechecker: Rechecker, metrics: EventsMetrics) -> Arc<Listener> {
        Arc::new(Listener {
            queue,
            rechecker,
            metrics,
            pending: Mutex::new(HashMap::new()),
            malformed_log: Throttled::default(),
            error_log: Throttled::default(),
        })
    }

    /// Reads the queue until `shutdown` completes; a failing queue is retried forever, with a
    /// backoff, while the exporter goes on serving.
    pub async fn run(self: Arc<Listener>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        // Until the first poll has ended, the accounts are not all known (an Organization is
        // still being listed, the ambient account not yet identified): events would be dropped
        // as unwatched. They wait in the queue instead; the first poll reads every account
        // anyway, and the events that come after its check of an account still re-check it.
        while !self.rechecker.ready() {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        let mut failures: u32 = 0;
        loop {
            let received = tokio::select! {
                _ = &mut shutdown => return,
                r = self.queue.receive() => r,
            };
            match received {
                Ok(messages) => {
                    if failures > 0 {
                        info!(failures, "the event queue can be read again");
                    }
                    failures = 0;
                    self.metrics.failures.set(0.0);
                    self.clone().handle(messages).await;
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    self.metrics.failures.set(f64::from(failures));
                    self.metrics
                        .receive_errors
                        .with_label_values(&[err.code()])
                        .inc();
                    if let Some(held) = self.error_log.due() {
                        warn!(code = err.code(), error = %err, failures, held_back = held,
                              "cannot read the event queue; retrying with a backoff");
                    }
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(queue::backoff(failures)) => {}
                    }
                }
            }
        }
    }

    /// Acts on one batch: sign-ins at once, posture events through a coalesced re-check, and
    /// the rest deleted at once.
    async fn handle(self: Arc<Listener>, messages: Vec<Message>) {
        let mut done = Vec::new();
        for message in messages {
            self.metrics.received.inc();
            let event = match parse::classify(&message.body) {
                Ok(event) => event,
                Err(reason) => {
                    self.metrics
                        .malformed
                        .with_label_values(&[reason.as_str()])
                        .inc();
                    if let Some(held) = self.malformed_log.due() {
                        // The message id, never the body: it may hold personal data.
                        warn!(reason = reason.as_str(), message_id = %message.id, held_back = held,
                              "deleting a message that is no usable CloudTrail event");
                    }
                    done.push(message.receipt);
                    continue;
                }
            };
            self.metrics.newest.saw(event.event_time);
            let key = match event.action {
                Action::Ignore(_) => None,
                _ => self.rechecker.key_of(&event.account),
            };
            match (event.action, key) {
                (Action::Ignore(reason), _) => {
                    self.ignore(reason);
                    done.push(message.receipt);
                }
                (_, None) => {
                    self.ignore(Ignored::UnwatchedAccount);
                    done.push(message.receipt);
                }
                (Action::SignIn, Some(key)) => {
                    self.rechecker.signed_in(&key, event.event_time);
                    self.metrics.acted.with_label_values(&["sign_in"]).inc();
                    info!(account_id = %event.account, "root signed in to the console");
                    done.push(message.receipt);
                }
                (Action::Recheck, Some(key)) => {
                    self.metrics.acted.with_label_values(&["recheck"]).inc();
                    self.request(key, message.receipt, event.event_time);
                }
            }
        }
        self.delete(done).await;
    }

    fn ignore(&self, reason: Ignored) {
        self.metrics
            .ignored
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// Asks for a re-check of the account at `key`, or joins the one already waiting.
    fn request(self: &Arc<Listener>, key: String, receipt: String, event_time: f64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.entry(key) {
            Entry::Occupied(mut waiting) => {
                let waiting = waiting.get_mut();
                waiting.receipts.push(receipt);
                waiting.newest = waiting.newest.max(event_time);
            }
            Entry::Vacant(slot) => {
                let key = slot.key().clone();
                slot.insert(Pending {
                    receipts: vec![receipt],
                    newest: event_time,
                });
                tokio::spawn(self.clone().recheck(key));
            }
        }
    }

    /// Waits for the burst to settle, checks the account, then deletes the messages the check
    /// answered: those that arrived before it started.
    async fn recheck(self: Arc<Listener>, key: String) {
        tokio::time::sleep(COALESCE).await;
        let mut answered = Pending::default();
        let watched = self
            .rechecker
            .recheck(&key, || {
                // Taken only now that the check starts: events that came while it waited for
                // a running check of the account join it; later ones queue the next.
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                answered = pending.remove(&key).unwrap_or_default();
                (answered.newest > 0.0).then_some(answered.newest)
            })
            .await;
        if watched {
            self.metrics.rechecks.inc();
        } else {
            // The account left the fleet meanwhile: the next poll drops it, and its events
            // have nothing left to do.
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            answered = pending.remove(&key).unwrap_or_default();
        }
        self.delete(answered.receipts).await;
    }

    async fn delete(&self, receipts: Vec<String>) {
        if receipts.is_empty() {
            return;
        }
        let (failed, err) = self.queue.delete(receipts).await;
        if failed > 0
            && let Some(held) = self.error_log.due()
        {
            // They come back after the visibility timeout and are acted on again.
            warn!(failed, held_back = held,
                  error = %err.map_or_else(|| "some entries failed".to_owned(), |e| e.to_string()),
                  "deleting event messages failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, TextEncoder};

    /// The listener's metrics: names, HELP texts, types and label sets are an interface that
    /// dashboards and alerts depend on, so any change to them must show up in review.
    const GOLDEN: &str = "tests/golden/events.prom";

    #[test]
    fn metrics_match_the_golden_file() {
        let registry = Registry::new();
        let m = EventsMetrics::register(&registry);
        m.received.inc_by(7);
        m.acted.with_label_values(&["recheck"]).inc_by(3);
        m.ignored
            .with_label_values(&[Ignored::UnwatchedAccount.as_str()])
            .inc();
        m.malformed
            .with_label_values(&[Malformed::Json.as_str()])
            .inc();
        m.rechecks.inc();
        m.receive_errors
            .with_label_values(&["AWS.SimpleQueueService.NonExistentQueue"])
            .inc_by(2);
        m.failures.set(2.0);
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut text)
            .unwrap();
        let got = String::from_utf8(text).unwrap();
        // The age is absent until an event is seen, then never negative.
        assert!(!got.contains("newest_age_seconds "), "{got}");
        crate::metrics::assert_golden(GOLDEN, &got);
        m.newest.saw(unix_now() + 30.0);
        m.newest.saw(1.0);
        let families = m.newest.collect();
        let age = families[0].get_metric()[0].get_gauge().get_value();
        assert_eq!(age, 0.0, "an event from the future is not negative in age");
    }

    #[test]
    fn throttled_logs_say_how_many_lines_they_held_back() {
        let t = Throttled::default();
        assert_eq!(t.due(), Some(0));
        assert_eq!(t.due(), None);
        assert_eq!(t.due(), None);
        *t.last.lock().unwrap() = Instant::now().checked_sub(LOG_EVERY);
        assert_eq!(t.due(), Some(2));
    }
}
