//! AWS failures as the crate's [`Error`]: a bounded code for the metrics, the error chain on
//! one line for the logs, and secrets masked out of it by [`crate::redact`].

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::interceptors::context::Error as ErasedError;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::error::{Error, bounded_aws_code};

/// Turns an SDK error into the crate's error with a bounded code. Counting is not done here:
/// the interceptor has already counted every failed attempt, the last one included.
pub fn sdk_error<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let code = Failure {
        timeout: matches!(err, SdkError::TimeoutError(_)),
        dispatch: matches!(err, SdkError::DispatchFailure(_)),
        connector: match &err {
            SdkError::DispatchFailure(e) => e.as_connector_error().map(ConnectorKind::of),
            _ => None,
        },
        response: matches!(err, SdkError::ResponseError(_)),
        service: match &err {
            SdkError::ServiceError(e) => Some((e.err().code(), e.raw().status().as_u16())),
            _ => None,
        },
        chain: &err,
    }
    .code();
    let message = match &err {
        // The chain would end in the error metadata's Debug form; AWS's own words read better.
        SdkError::ServiceError(e) => format!(
            "{}: {}",
            e.err().code().unwrap_or("unknown error"),
            e.err().message().unwrap_or("no message")
        ),
        _ => error_chain(&err),
    };
    Error::Aws {
        service,
        operation,
        code,
        // AWS quotes credentials in some messages: a `SignatureDoesNotMatch` carries the
        // canonical request, with the access key id and the session token.
        message: crate::redact::redact(&message).into_owned(),
    }
}

/// The error and its sources on one line, joined by `: `, each said once. (The SDK's
/// `DisplayErrorContext` appends a full `Debug` dump, too long for a log line or a table cell,
/// and the credential chain's message spans several lines.)
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    let mut line = String::with_capacity(out.len());
    for part in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    line
}

/// Whether `E` is anywhere in the error's source chain.
pub(super) fn chain_has<E: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<E>().is_some() {
            return true;
        }
        next = e.source();
    }
    false
}

/// The label for an error answer: its AWS code, or, when it carries none that could be read,
/// `server_error` for a 5xx and `response` for anything else that could not be understood.
pub(super) fn service_error_code(code: Option<&str>, status: u16) -> &'static str {
    match code {
        Some(code) => bounded_aws_code(code),
        None if status >= 500 => "server_error",
        None => "response",
    }
}

/// A successful answer whose body was cut short.
#[derive(Debug, thiserror::Error)]
#[error("the {operation} answer is incomplete (the body ends before its closing tag)")]
pub struct TruncatedAnswer {
    /// The operation whose answer was cut short.
    pub operation: String,
}

/// The bounded code of one failed attempt, as the interceptor sees it: the same classifier
/// as [`sdk_error`]'s, so that the attempt counters and the check's error agree.
pub(super) fn attempt_error_code(
    err: &OrchestratorError<ErasedError>,
    response: Option<&HttpResponse>,
) -> &'static str {
    Failure {
        timeout: err.is_timeout_error(),
        dispatch: err.as_connector_error().is_some(),
        connector: err.as_connector_error().map(ConnectorKind::of),
        response: err.is_response_error(),
        service: err.as_operation_error().map(|op| {
            (
                operation_error_code(op),
                response.map_or(0, |r| r.status().as_u16()),
            )
        }),
        chain: err,
    }
    .code()
}

/// What a connector (network) error was.
#[derive(Debug, Clone, Copy)]
struct ConnectorKind {
    timeout: bool,
    io: bool,
}

impl ConnectorKind {
    fn of(err: &aws_smithy_runtime_api::client::result::ConnectorError) -> ConnectorKind {
        ConnectorKind {
            timeout: err.is_timeout(),
            io: err.is_io(),
        }
    }
}

/// A failed call or attempt, as far as its code is concerned. Both the SDK's error of a whole
/// call and the interceptor's error of one attempt are read into this, so that there is one
/// classifier for both.
struct Failure<'a> {
    /// The operation or attempt timed out (`--poll.timeout`).
    timeout: bool,
    /// The request could not be dispatched (network, credentials).
    dispatch: bool,
    /// The connector's own error, when the network failed.
    connector: Option<ConnectorKind>,
    /// The answer could not be read.
    response: bool,
    /// AWS answered with an error: its code, if readable, and the HTTP status.
    service: Option<(Option<&'a str>, u16)>,
    /// The whole error, for what only its source chain tells.
    chain: &'a (dyn StdError + 'static),
}

impl Failure<'_> {
    /// The bounded `code` label.
    fn code(&self) -> &'static str {
        if self.timeout || self.connector.is_some_and(|c| c.timeout) {
            return "timeout";
        }
        if self.connector.is_some_and(|c| c.io) {
            return "connection";
        }
        if self.response || chain_has::<TruncatedAnswer>(self.chain) {
            return "response";
        }
        if let Some((code, status)) = self.service {
            return service_error_code(code, status);
        }
        if chain_has::<CredentialsError>(self.chain) {
            return "credentials";
        }
        if self.dispatch { "dispatch" } else { "other" }
    }
}

/// The AWS error code of a type-erased operation error: the interceptor sees errors of every
/// operation through one type, so it tries the operations this exporter calls.
fn operation_error_code(err: &ErasedError) -> Option<&str> {
    macro_rules! try_types {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(e) = err.downcast_ref::<$ty>() {
                return e.code();
            })*
        };
    }
    try_types!(
        aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError,
        aws_sdk_sts::operation::assume_role::AssumeRoleError,
        aws_sdk_iam::operation::get_account_summary::GetAccountSummaryError,
        aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMFADevicesError,
        aws_sdk_organizations::operation::list_accounts::ListAccountsError,
        aws_sdk_sqs::operation::receive_message::ReceiveMessageError,
        aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchError,
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::get_account_summary::GetAccountSummaryError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    type StsError = aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;

    fn service_error(code: Option<&str>) -> StsError {
        let mut meta = aws_sdk_sts::error::ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        StsError::generic(meta.build())
    }

    fn raw(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().unwrap(), SdkBody::empty())
    }

    /// The code both must give, the call's error, the attempt's error and its answer.
    type Pair = (
        &'static str,
        SdkError<StsError, HttpResponse>,
        OrchestratorError<ErasedError>,
        Option<HttpResponse>,
    );

    /// Each failure, as the SDK reports a whole call and as the interceptor sees an attempt.
    fn pairs() -> Vec<Pair> {
        let io = || ConnectorError::io("connection refused".into());
        let slow = || ConnectorError::timeout("read timed out".into());
        let other = || ConnectorError::other("tls".into(), None);
        let truncated = || TruncatedAnswer {
            operation: "GetCallerIdentity".into(),
        };
        vec![
            (
                "timeout",
                SdkError::timeout_error("operation timeout"),
                OrchestratorError::timeout("operation timeout".into()),
                None,
            ),
            (
                "timeout",
                SdkError::dispatch_failure(slow()),
                OrchestratorError::connector(slow()),
                None,
            ),
            (
                "connection",
                SdkError::dispatch_failure(io()),
                OrchestratorError::connector(io()),
                None,
            ),
            (
                "dispatch",
                SdkError::dispatch_failure(other()),
                OrchestratorError::connector(other()),
                None,
            ),
            (
                "response",
                SdkError::response_error(truncated(), raw(200)),
                OrchestratorError::response(truncated().into()),
                Some(raw(200)),
            ),
            (
                "Throttling",
                SdkError::service_error(service_error(Some("Throttling")), raw(400)),
                OrchestratorError::operation(ErasedError::erase(service_error(Some("Throttling")))),
                Some(raw(400)),
            ),
            (
                "other",
                SdkError::service_error(service_error(Some("BrandNewCode")), raw(400)),
                OrchestratorError::operation(ErasedError::erase(service_error(Some(
                    "BrandNewCode",
                )))),
                Some(raw(400)),
            ),
            (
                "server_error",
                SdkError::service_error(service_error(None), raw(503)),
                OrchestratorError::operation(ErasedError::erase(service_error(None))),
                Some(raw(503)),
            ),
        ]
    }

    #[test]
    fn a_call_and_its_last_attempt_get_the_same_code() {
        for (want, call, attempt, response) in pairs() {
            let from_call = sdk_error("sts", "GetCallerIdentity", call).code();
            let from_attempt = attempt_error_code(&attempt, response.as_ref());
            assert_eq!((from_call, from_attempt), (want, want), "{want}");
        }
    }

    #[test]
    fn credentials_quoted_by_aws_are_masked() {
        let token =
            "IQoJb3JpZ2luX2VjEDoaCXVzLWVhc3QtMSJHMEUCIQDexampleexampleexample1234567890ABCDEFGH";
        let quoted = format!(
            "The request signature we calculated does not match the signature you provided.\n\
             'POST\n/\n\nhost:iam.amazonaws.com\nx-amz-security-token:{token}\n'\n\
             Credential=ASIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request"
        );
        let err = GetAccountSummaryError::generic(
            ErrorMetadata::builder()
                .code("SignatureDoesNotMatch")
                .message(quoted)
                .build(),
        );
        let response = HttpResponse::new(403.try_into().unwrap(), SdkBody::empty());
        let err = sdk_error(
            "iam",
            "GetAccountSummary",
            SdkError::service_error(err, response),
        );
        let text = err.to_string();
        assert!(
            !text.contains(token) && !text.contains("ASIAIOSFODNN7EXAMPLE"),
            "{text}"
        );
        assert!(text.contains("x-amz-security-token:[REDACTED]"), "{text}");
        assert!(text.contains("Credential=ASIA****************/"), "{text}");
    }
}
