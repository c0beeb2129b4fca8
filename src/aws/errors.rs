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
    let code = match &err {
        SdkError::TimeoutError(_) => "timeout",
        SdkError::ServiceError(e) => service_error_code(e.err().code(), e.raw().status().as_u16()),
        SdkError::DispatchFailure(e) => match e.as_connector_error() {
            Some(c) if c.is_timeout() => "timeout",
            Some(c) if c.is_io() => "connection",
            _ if chain_has::<CredentialsError>(&err) => "credentials",
            _ => "dispatch",
        },
        SdkError::ResponseError(_) => "response",
        _ if chain_has::<TruncatedAnswer>(&err) => "response",
        _ if chain_has::<CredentialsError>(&err) => "credentials",
        _ => "other",
    };
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

/// The bounded code of one failed attempt, as the interceptor sees it.
pub(super) fn attempt_error_code(
    err: &OrchestratorError<ErasedError>,
    response: Option<&HttpResponse>,
) -> &'static str {
    if err.is_timeout_error() {
        return "timeout";
    }
    if let Some(c) = err.as_connector_error() {
        return if c.is_timeout() {
            "timeout"
        } else if c.is_io() {
            "connection"
        } else {
            "dispatch"
        };
    }
    if err.is_response_error() || chain_has::<TruncatedAnswer>(err) {
        return "response";
    }
    if let Some(op) = err.as_operation_error() {
        let status = response.map_or(0, |r| r.status().as_u16());
        return service_error_code(operation_error_code(op), status);
    }
    if chain_has::<CredentialsError>(err) {
        return "credentials";
    }
    "other"
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
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::get_account_summary::GetAccountSummaryError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

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
