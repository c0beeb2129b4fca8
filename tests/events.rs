//! End to end with CloudTrail events: the real exporter long-polls an SQS queue of the stand-in
//! AWS (moto), which changes an account's root state and puts the matching EventBridge event on
//! the queue; the poll interval is an hour, so only the event can explain a change.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Exporter, Exposition, Moto, shared_moto};

const MFA_REMOVED: &str = "200000000001";
const SIGN_IN: &str = "200000000002";
const BURST: &str = "200000000003";
const MALFORMED: &str = "200000000004";
const QUEUE_GONE: &str = "200000000005";
const UNWATCHED: &str = "299999999999";

fn hardware(id: &str) -> Value {
    json!({"id": id, "mfa_enabled": true, "unassigned": 1})
}

fn scenario() -> Value {
    json!({"accounts": [
        hardware(MFA_REMOVED), hardware(SIGN_IN), hardware(BURST), hardware(MALFORMED),
        hardware(QUEUE_GONE),
    ]})
}

fn moto() -> &'static Moto {
    shared_moto(scenario)
}

/// An exporter watching `account` (its ambient credentials), polling hourly, reading the
/// queue `queue` of that account, which this creates; ready when it returns.
fn exporter_with_queue(moto: &Moto, account: &str, queue: &str) -> Exporter {
    let url = moto.sqs(&json!({"account": account, "queue": queue, "op": "create"}))["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let exporter = Exporter::start(
        &moto.env_for(account),
        &["--poll.interval", "1h", "--events.sqs-queue-url", &url],
    );
    exporter.wait_ready();
    exporter
}

fn send(moto: &Moto, account: &str, queue: &str, what: Value) {
    let mut change = json!({"account": account, "queue": queue, "op": "send"});
    change
        .as_object_mut()
        .unwrap()
        .extend(what.as_object().unwrap().clone());
    moto.sqs(&change);
}

fn depth(moto: &Moto, account: &str, queue: &str) -> (u64, u64) {
    let d = moto.sqs(&json!({"account": account, "queue": queue, "op": "depth"}));
    (
        d["visible"].as_u64().unwrap(),
        d["in_flight"].as_u64().unwrap(),
    )
}

fn counter(m: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.value(name, labels).unwrap_or(0.0)
}

fn iam_calls(m: &Exposition) -> f64 {
    ["GetAccountSummary", "ListVirtualMFADevices", "GetUser"]
        .iter()
        .map(|op| {
            counter(
                m,
                "aws_root_mfa_exporter_api_requests_total",
                &[("service", "iam"), ("operation", op)],
            )
        })
        .sum()
}

fn control(m: &Exposition, account: &str, id: &str, status: &str) -> Option<f64> {
    m.value(
        "aws_root_control_status",
        &[("account_id", account), ("control", id), ("status", status)],
    )
}

#[test]
fn mfa_removed_flips_the_verdict_within_ten_seconds_while_the_poll_is_hourly() {
    let moto = moto();
    let exporter = exporter_with_queue(moto, MFA_REMOVED, "mfa-removed");
    let before = exporter.scrape();
    assert_eq!(
        before.account("aws_root_mfa_enabled", MFA_REMOVED),
        Some(1.0)
    );
    assert_eq!(control(&before, MFA_REMOVED, "IAM.9", "passed"), Some(1.0));
    assert_eq!(
        before.account("aws_root_last_event_timestamp_seconds", MFA_REMOVED),
        None
    );

    let sent = Instant::now();
    send(
        moto,
        MFA_REMOVED,
        "mfa-removed",
        json!({"apply": [{"id": MFA_REMOVED, "mfa_enabled": false}],
               "events": [{"account": MFA_REMOVED, "name": "DeactivateMFADevice"}]}),
    );
    let mut after = before.clone();
    exporter.wait_for("the MFA verdict to flip", Duration::from_secs(10), || {
        after = exporter.scrape();
        after.account("aws_root_mfa_enabled", MFA_REMOVED) == Some(0.0)
    });
    let took = sent.elapsed();
    assert_eq!(control(&after, MFA_REMOVED, "IAM.9", "failed"), Some(1.0));
    assert_eq!(control(&after, MFA_REMOVED, "IAM.9", "passed"), Some(0.0));
    assert_eq!(control(&after, MFA_REMOVED, "IAM.6", "failed"), Some(1.0));
    let event_at = after
        .account("aws_root_last_event_timestamp_seconds", MFA_REMOVED)
        .expect("the event's time is exported");
    assert!((event_at - support_now()).abs() < 60.0, "{event_at}");
    assert_eq!(
        counter(
            &after,
            "aws_root_mfa_exporter_events_acted_on_total",
            &[("action", "recheck")]
        ),
        1.0
    );
    assert!(
        after
            .value("aws_root_mfa_exporter_events_newest_age_seconds", &[])
            .is_some_and(|age| (0.0..60.0).contains(&age)),
        "the newest event's age is exported"
    );
    exporter.wait_for("the message to be deleted", Duration::from_secs(10), || {
        depth(moto, MFA_REMOVED, "mfa-removed") == (0, 0)
    });
    eprintln!("event to flipped verdict: {took:?}");
    support::promtool_check_metrics(&after.text);
}

fn support_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn root_sign_in_updates_the_gauge_without_any_iam_call() {
    let moto = moto();
    let exporter = exporter_with_queue(moto, SIGN_IN, "sign-in");
    let before = exporter.scrape();
    let calls = iam_calls(&before);
    assert!(calls > 0.0, "the first poll checked the account");
    send(
        moto,
        SIGN_IN,
        "sign-in",
        json!({"events": [
            {"account": SIGN_IN, "name": "ConsoleLogin", "time": "2026-11-20T10:00:00Z"},
            // Neither a failed root sign-in nor a user's moves the gauge.
            {"account": SIGN_IN, "name": "ConsoleLogin", "time": "2026-11-21T10:00:00Z",
             "result": "Failure"},
            {"account": SIGN_IN, "name": "ConsoleLogin", "time": "2026-11-21T10:00:00Z",
             "identity": "IAMUser"},
        ]}),
    );
    let mut after = before.clone();
    exporter.wait_for("the sign-in gauge", Duration::from_secs(10), || {
        after = exporter.scrape();
        after.account("aws_root_password_last_used_timestamp_seconds", SIGN_IN)
            == Some(1_795_168_800.0)
            && counter(
                &after,
                "aws_root_mfa_exporter_events_ignored_total",
                &[("reason", "not_root")],
            ) == 1.0
    });
    assert_eq!(
        counter(
            &after,
            "aws_root_mfa_exporter_events_ignored_total",
            &[("reason", "failed_sign_in")]
        ),
        1.0
    );
    assert_eq!(
        counter(
            &after,
            "aws_root_mfa_exporter_events_acted_on_total",
            &[("action", "sign_in")]
        ),
        1.0
    );
    assert_eq!(iam_calls(&after), calls, "no IAM call for a sign-in");
    assert_eq!(
        after.account("aws_root_last_event_timestamp_seconds", SIGN_IN),
        Some(1_795_168_800.0)
    );
    exporter.wait_for(
        "the messages to be deleted",
        Duration::from_secs(10),
        || depth(moto, SIGN_IN, "sign-in") == (0, 0),
    );
}

#[test]
fn a_burst_of_a_hundred_events_costs_one_or_two_checks() {
    let moto = moto();
    let exporter = exporter_with_queue(moto, BURST, "burst");
    let summaries = |m: &Exposition| {
        counter(
            m,
            "aws_root_mfa_exporter_api_requests_total",
            &[("service", "iam"), ("operation", "GetAccountSummary")],
        )
    };
    let before = summaries(&exporter.scrape());
    let events: Vec<Value> = (0..100)
        .map(|i| json!({"account": BURST, "name": if i % 2 == 0 { "CreateAccessKey" } else { "DeleteAccessKey" }}))
        .collect();
    send(moto, BURST, "burst", json!({ "events": events }));
    exporter.wait_for(
        "every event acted on and deleted",
        Duration::from_secs(30),
        || {
            counter(
                &exporter.scrape(),
                "aws_root_mfa_exporter_events_acted_on_total",
                &[("action", "recheck")],
            ) == 100.0
                && depth(moto, BURST, "burst") == (0, 0)
        },
    );
    let after = exporter.scrape();
    let rechecks = counter(&after, "aws_root_mfa_exporter_events_rechecks_total", &[]);
    assert!((1.0..=2.0).contains(&rechecks), "{rechecks} re-checks");
    let checks = summaries(&after) - before;
    assert!((1.0..=2.0).contains(&checks), "{checks} checks");
}

#[test]
fn malformed_foreign_and_unwatched_messages_are_counted_and_deleted() {
    let moto = moto();
    let exporter = exporter_with_queue(moto, MALFORMED, "malformed");
    let no_account = json!({"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail",
                            "detail": {"eventName": "DeactivateMFADevice",
                                       "eventTime": "2026-11-23T04:00:00Z"}});
    send(
        moto,
        MALFORMED,
        "malformed",
        json!({
            "bodies": ["{not json", "{\"Event\": \"s3:TestEvent\"}", no_account.to_string()],
            "events": [{"account": UNWATCHED, "name": "DeactivateMFADevice"}],
        }),
    );
    let m = |name: &str, reason: &str| counter(&exporter.scrape(), name, &[("reason", reason)]);
    exporter.wait_for("every message counted", Duration::from_secs(15), || {
        m("aws_root_mfa_exporter_events_malformed_total", "json") == 1.0
            && m("aws_root_mfa_exporter_events_malformed_total", "foreign") == 1.0
            && m("aws_root_mfa_exporter_events_malformed_total", "envelope") == 1.0
            && m(
                "aws_root_mfa_exporter_events_ignored_total",
                "unwatched_account",
            ) == 1.0
    });
    exporter.wait_for(
        "the messages to be deleted",
        Duration::from_secs(10),
        || depth(moto, MALFORMED, "malformed") == (0, 0),
    );
    let after = exporter.scrape();
    assert_eq!(
        counter(&after, "aws_root_mfa_exporter_events_received_total", &[]),
        4.0
    );
    assert_eq!(
        counter(&after, "aws_root_mfa_exporter_events_rechecks_total", &[]),
        0.0
    );
    assert_eq!(exporter.get("/healthz").status, 200);
    assert_eq!(
        after.account("aws_root_check_success", MALFORMED),
        Some(1.0)
    );
    let log = exporter.log();
    assert!(
        !log.contains("s3:TestEvent") && !log.contains("not json"),
        "message bodies are never logged:\n{log}"
    );
    // One line for three malformed messages: the rest are held back.
    assert_eq!(
        log.matches("no usable CloudTrail event").count(),
        1,
        "{log}"
    );
}

#[test]
fn a_queue_that_disappears_is_retried_until_it_comes_back() {
    let moto = moto();
    let exporter = exporter_with_queue(moto, QUEUE_GONE, "comes-back");
    moto.sqs(&json!({"account": QUEUE_GONE, "queue": "comes-back", "op": "delete"}));
    let failing = |m: &Exposition| {
        m.value(
            "aws_root_mfa_exporter_events_receive_consecutive_failures",
            &[],
        )
        .unwrap_or(0.0)
    };
    let mut gone = exporter.scrape();
    // The receive under way when the queue went may wait its 20 s out first.
    exporter.wait_for("receives to fail", Duration::from_secs(40), || {
        gone = exporter.scrape();
        failing(&gone) >= 2.0
    });
    let errors: f64 = gone
        .samples
        .iter()
        .filter(|s| s.name == "aws_root_mfa_exporter_events_receive_errors_total")
        .map(|s| s.value)
        .sum();
    assert!(errors >= 2.0, "{errors}");
    assert_eq!(
        exporter.get("/healthz").status,
        200,
        "the exporter keeps serving"
    );
    assert_eq!(
        gone.account("aws_root_check_success", QUEUE_GONE),
        Some(1.0)
    );

    moto.sqs(&json!({"account": QUEUE_GONE, "queue": "comes-back", "op": "create"}));
    send(
        moto,
        QUEUE_GONE,
        "comes-back",
        json!({"apply": [{"id": QUEUE_GONE, "mfa_enabled": false}],
               "events": [{"account": QUEUE_GONE, "name": "DeactivateMFADevice"}]}),
    );
    // The backoff is at most a minute; after two or three failures it is a few seconds.
    exporter.wait_for(
        "the queue to be read again",
        Duration::from_secs(40),
        || {
            let m = exporter.scrape();
            failing(&m) == 0.0 && m.account("aws_root_mfa_enabled", QUEUE_GONE) == Some(0.0)
        },
    );
}
