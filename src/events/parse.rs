//! The EventBridge envelope of a CloudTrail event, read and classified: a pure function of the
//! message body, free of I/O, so that every shape a queue can hold is table-tested.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde_json::Value;

/// The IAM calls that can change what the check reports about root: its MFA devices, its
/// access keys, its password and its signing certificates. Centralized root access's tasks
/// (`IAMDeleteRootUserCredentials`, `IAMCreateRootUserPassword`) act through these same calls
/// in the member account, so they need no names of their own.
pub const POSTURE_EVENTS: [&str; 12] = [
    "DeactivateMFADevice",
    "EnableMFADevice",
    "DeleteVirtualMFADevice",
    "CreateVirtualMFADevice",
    "CreateAccessKey",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "DeleteLoginProfile",
    "UploadSigningCertificate",
    "DeleteSigningCertificate",
];

/// EventBridge's `detail-type` of an API call that CloudTrail recorded.
pub const API_CALL: &str = "AWS API Call via CloudTrail";
/// EventBridge's `detail-type` of a console sign-in that CloudTrail recorded.
pub const SIGN_IN: &str = "AWS Console Sign In via CloudTrail";

/// What the exporter does with one well-formed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Check the account again now: the call may have changed root's posture.
    Recheck,
    /// Root signed in to the console: its last sign-in is the event's time.
    SignIn,
    /// Nothing: the event cannot change what the exporter reports.
    Ignore(Ignored),
}

/// Why a well-formed event is left alone; the `reason` label of the ignored counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// The account is not one this instance watches (another shard's, or not in the fleet).
    UnwatchedAccount,
    /// A console sign-in by someone other than root.
    NotRoot,
    /// A root console sign-in that failed: root's password was not used successfully.
    FailedSignIn,
    /// An API call that failed (`errorCode` set): it changed nothing.
    FailedCall,
    /// A CloudTrail event of IAM or sign-in that cannot change root's posture.
    OtherEvent,
}

impl Ignored {
    /// Every reason, so that each counter series exists from the start.
    pub const ALL: [Ignored; 5] = [
        Ignored::UnwatchedAccount,
        Ignored::NotRoot,
        Ignored::FailedSignIn,
        Ignored::FailedCall,
        Ignored::OtherEvent,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Ignored::UnwatchedAccount => "unwatched_account",
            Ignored::NotRoot => "not_root",
            Ignored::FailedSignIn => "failed_sign_in",
            Ignored::FailedCall => "failed_call",
            Ignored::OtherEvent => "other_event",
        }
    }
}

/// Why a message is not a usable event; the `reason` label of the malformed counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The body is not JSON (or not a JSON object).
    Json,
    /// An EventBridge CloudTrail event without the fields the exporter needs (`account`,
    /// `detail.eventName`, a readable `detail.eventTime`), or with a malformed one.
    Envelope,
    /// Well-formed JSON, but not a CloudTrail event of IAM or console sign-in (another
    /// service's event, an S3 or SNS notification, a queue test message).
    Foreign,
}

impl Malformed {
    /// Every reason, so that each counter series exists from the start.
    pub const ALL: [Malformed; 3] = [Malformed::Json, Malformed::Envelope, Malformed::Foreign];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::Json => "json",
            Malformed::Envelope => "envelope",
            Malformed::Foreign => "foreign",
        }
    }
}

/// One classified event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The account the event happened in (`account` of the envelope).
    pub account: String,
    /// `detail.eventTime`, as Unix seconds.
    pub event_time: f64,
    /// What to do with it.
    pub action: Action,
}

/// Reads one SQS message body. The account is not looked up here: whether this instance
/// watches it is the caller's to say.
pub fn classify(body: &str) -> Result<Event, Malformed> {
    let v: Value = serde_json::from_str(body).map_err(|_| Malformed::Json)?;
    if !v.is_object() {
        return Err(Malformed::Json);
    }
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(source), Some(detail_type)) = (text(&v, "source"), text(&v, "detail-type")) else {
        return Err(Malformed::Foreign);
    };
    let known = matches!(
        (source.as_str(), detail_type.as_str()),
        ("aws.iam", API_CALL) | ("aws.signin", SIGN_IN)
    );
    if !known {
        return Err(Malformed::Foreign);
    }
    let account = text(&v, "account")
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(Malformed::Envelope)?;
    let detail = v.get("detail").filter(|d| d.is_object());
    let detail = detail.ok_or(Malformed::Envelope)?;
    let name = text(detail, "eventName").ok_or(Malformed::Envelope)?;
    let event_time = text(detail, "eventTime")
        .and_then(|t| DateTime::from_str(&t, Format::DateTime).ok())
        .map(|t| t.as_secs_f64())
        .ok_or(Malformed::Envelope)?;
    let root = detail
        .get("userIdentity")
        .and_then(|u| text(u, "type"))
        .is_some_and(|t| t == "Root");
    let failed = detail.get("errorCode").is_some_and(|e| !e.is_null());
    let action = if detail_type == SIGN_IN {
        let success = detail
            .get("responseElements")
            .and_then(|r| text(r, "ConsoleLogin"))
            .is_some_and(|r| r == "Success");
        match (name.as_str(), root, success) {
            ("ConsoleLogin", true, true) => Action::SignIn,
            ("ConsoleLogin", true, false) => Action::Ignore(Ignored::FailedSignIn),
            ("ConsoleLogin", false, _) => Action::Ignore(Ignored::NotRoot),
            _ => Action::Ignore(Ignored::OtherEvent),
        }
    } else if !POSTURE_EVENTS.contains(&name.as_str()) {
        Action::Ignore(Ignored::OtherEvent)
    } else if failed {
        Action::Ignore(Ignored::FailedCall)
    } else {
        // Whoever made the call: only root (or a root session) can change root's own
        // credentials, but how CloudTrail names a root session's identity is not something
        // to bet a page on, and one check too many costs a few IAM calls.
        Action::Recheck
    };
    Ok(Event {
        account,
        event_time,
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "123456789012";
    /// 2026-11-23T04:00:00Z
    const AT: f64 = 1_795_406_400.0;

    fn api_call(name: &str, identity: &str) -> Value {
        json!({
            "version": "0", "id": "6f3c8a1e-0000-0000-0000-000000000000",
            "detail-type": API_CALL, "source": "aws.iam", "account": ACCOUNT,
            "time": "2026-11-23T04:00:01Z", "region": "us-east-1", "resources": [],
            "detail": {
                "eventVersion": "1.09", "eventSource": "iam.amazonaws.com",
                "eventName": name, "eventTime": "2026-11-23T04:00:00Z",
                "userIdentity": {"type": identity, "accountId": ACCOUNT},
                "requestParameters": {"serialNumber": "arn:aws:iam::123456789012:mfa/root"},
            }
        })
    }

    fn sign_in(identity: &str, result: &str) -> Value {
        json!({
            "detail-type": SIGN_IN, "source": "aws.signin", "account": ACCOUNT,
            "detail": {
                "eventName": "ConsoleLogin", "eventTime": "2026-11-23T04:00:00Z",
                "userIdentity": {"type": identity},
                "responseElements": {"ConsoleLogin": result},
            }
        })
    }

    fn with(mut v: Value, path: &[&str], value: Value) -> Value {
        let mut at = &mut v;
        for key in &path[..path.len() - 1] {
            at = &mut at[*key];
        }
        match value {
            Value::Null => {
                at.as_object_mut().unwrap().remove(path[path.len() - 1]);
            }
            value => at[path[path.len() - 1]] = value,
        }
        v
    }

    #[test]
    fn events_are_classified_by_what_they_can_change() {
        use Action::*;
        let cases: Vec<(&str, Value, Result<Action, Malformed>)> = vec![
            (
                "MFA removed",
                api_call("DeactivateMFADevice", "Root"),
                Ok(Recheck),
            ),
            (
                "every posture call",
                api_call("DeleteSigningCertificate", "Root"),
                Ok(Recheck),
            ),
            (
                "by a user",
                api_call("CreateAccessKey", "IAMUser"),
                Ok(Recheck),
            ),
            (
                "not a posture call",
                api_call("CreateUser", "Root"),
                Ok(Ignore(Ignored::OtherEvent)),
            ),
            (
                "a denied call",
                with(
                    api_call("DeactivateMFADevice", "IAMUser"),
                    &["detail", "errorCode"],
                    json!("AccessDenied"),
                ),
                Ok(Ignore(Ignored::FailedCall)),
            ),
            (
                "errorCode null",
                with(
                    api_call("EnableMFADevice", "Root"),
                    &["detail", "errorCode"],
                    json!(null),
                ),
                Ok(Recheck),
            ),
            ("root sign-in", sign_in("Root", "Success"), Ok(SignIn)),
            (
                "failed root sign-in",
                sign_in("Root", "Failure"),
                Ok(Ignore(Ignored::FailedSignIn)),
            ),
            (
                "a user's sign-in",
                sign_in("IAMUser", "Success"),
                Ok(Ignore(Ignored::NotRoot)),
            ),
            (
                "no identity",
                with(
                    sign_in("Root", "Success"),
                    &["detail", "userIdentity"],
                    Value::Null,
                ),
                Ok(Ignore(Ignored::NotRoot)),
            ),
            (
                "a sign-in event that is not a log-in",
                with(
                    sign_in("Root", "Success"),
                    &["detail", "eventName"],
                    json!("CheckMfa"),
                ),
                Ok(Ignore(Ignored::OtherEvent)),
            ),
            (
                "another service",
                with(
                    api_call("DeactivateMFADevice", "Root"),
                    &["source"],
                    json!("aws.s3"),
                ),
                Err(Malformed::Foreign),
            ),
            (
                "a sign-in with the API call's type",
                with(
                    sign_in("Root", "Success"),
                    &["detail-type"],
                    json!(API_CALL),
                ),
                Err(Malformed::Foreign),
            ),
            (
                "no detail-type",
                with(
                    api_call("DeactivateMFADevice", "Root"),
                    &["detail-type"],
                    Value::Null,
                ),
                Err(Malformed::Foreign),
            ),
            (
                "an SQS test message",
                json!({"Event": "s3:TestEvent"}),
                Err(Malformed::Foreign),
            ),
            (
                "no account",
                with(
                    api_call("DeactivateMFADevice", "Root"),
                    &["account"],
                    Value::Null,
                ),
                Err(Malformed::Envelope),
            ),
            (
                "an account that is no account id",
                with(
                    api_call("DeactivateMFADevice", "Root"),
                    &["account"],
                    json!("12345"),
                ),
                Err(Malformed::Envelope),
            ),
            (
                "no detail",
                with(
                    api_call("DeactivateMFADevice", "Root"),
                    &["detail"],
                    Value::Null,
                ),
                Err(Malformed::Envelope),
            ),
            (
                "no eventName",
                with(
                    api_call("DeactivateMFADevice", "Root"),
                    &["detail", "eventName"],
                    json!(7),
                ),
                Err(Malformed::Envelope),
            ),
            (
                "an unreadable eventTime",
                with(
                    api_call("DeactivateMFADevice", "Root"),
                    &["detail", "eventTime"],
                    json!("yesterday"),
                ),
                Err(Malformed::Envelope),
            ),
        ];
        for (what, body, want) in cases {
            let got = classify(&body.to_string());
            match (&got, want) {
                (Ok(event), Ok(action)) => {
                    assert_eq!(event.action, action, "{what}");
                    assert_eq!(event.account, ACCOUNT, "{what}");
                    assert_eq!(event.event_time, AT, "{what}");
                }
                (Err(got), Err(want)) => assert_eq!(*got, want, "{what}"),
                _ => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn bodies_that_are_not_json_objects_are_malformed() {
        for body in [
            "",
            "not json",
            "{\"account\":",
            "[1,2]",
            "\"text\"",
            "null",
            "42",
        ] {
            assert_eq!(classify(body), Err(Malformed::Json), "{body:?}");
        }
    }
}
