//! The crate's one error type, and the bounded `code` label that each error maps to.

/// Everything that can go wrong in the exporter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An AWS API call failed after the SDK's retries.
    #[error("{service}:{operation} failed ({code}): {message}")]
    Aws {
        /// The AWS service, lower case (`iam`, `sts`).
        service: &'static str,
        /// The API operation, as AWS names it (`GetAccountSummary`).
        operation: &'static str,
        /// The bounded error code used as a metric label.
        code: &'static str,
        /// The full error chain as the SDK reports it; never holds credentials.
        message: String,
    },
    /// An AWS answer lacked something the decision cannot do without.
    #[error("incomplete answer from {operation}: {what}")]
    Incomplete {
        /// The API operation whose answer was incomplete.
        operation: &'static str,
        /// What was missing.
        what: String,
    },
    /// A paged listing could not be trusted to end: a marker came back twice, or it ran past
    /// the page cap. Its code says which (`pagination_loop`, `page_limit`, or
    /// `incomplete_response` for a truncated page without a marker).
    #[error("incomplete listing from {operation}: {what}")]
    Paging {
        /// The API operation whose listing was cut off.
        operation: &'static str,
        /// The bounded code.
        code: &'static str,
        /// What went wrong.
        what: String,
    },
    /// The configuration is unusable (for example an unreadable role ARN file).
    #[error("{0}")]
    Config(String),
    /// The web configuration file is unreadable or invalid.
    #[error("web config {}: {reason}", path.display())]
    WebConfig {
        /// The file given with `--web.config.file`.
        path: std::path::PathBuf,
        /// The offending key and what is wrong with it, in one line.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from `--web.listen-address`, as given.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
    /// The check of one account panicked; the panic was contained.
    #[error("check panicked: {0}")]
    Panic(String),
    /// The poller or the HTTP server ended while the exporter was serving.
    #[error("{task} stopped: {reason}; exiting so that a supervisor restarts the exporter")]
    Stopped {
        /// Which task: `the poller` or `the HTTP server`.
        task: &'static str,
        /// Why: the panic message, or that it returned.
        reason: String,
    },
}

impl Error {
    /// The error, naming `endpoint` if it is a network failure (connection refused, timeout,
    /// no route): what a person checks first is whether the address is right.
    pub fn at_endpoint(self, endpoint: &str) -> Error {
        match self {
            Error::Aws {
                service,
                operation,
                code: code @ ("connection" | "timeout" | "dispatch"),
                message,
            } => Error::Aws {
                service,
                operation,
                code,
                message: format!("{message} (endpoint: {endpoint})"),
            },
            other => other,
        }
    }

    /// A small, fixed set of values for the `code` label of the error counters.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Aws { code, .. } => code,
            Error::Incomplete { .. } => "incomplete_response",
            Error::Paging { code, .. } => code,
            Error::Config(_)
            | Error::WebConfig { .. }
            | Error::Bind { .. }
            | Error::Http(_)
            | Error::Stopped { .. } => "internal",
            Error::Panic(_) => "panic",
        }
    }
}

/// AWS error codes worth a label of their own; every other code is reported as `other`.
///
/// The list is closed on purpose: an error code is remote input, and an open label set would
/// let a misbehaving endpoint create unbounded series.
const KNOWN_AWS_CODES: &[&str] = &[
    // SQS, as its JSON protocol names a missing queue (and as its query-compatible header does).
    "AWS.SimpleQueueService.NonExistentQueue",
    "AccessDenied",
    "AccessDeniedException",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InternalFailure",
    "InvalidClientTokenId",
    "InvalidParameterValue",
    "KmsAccessDenied",
    "KmsDisabled",
    "MalformedQueryString",
    "NoSuchEntity",
    "OptInRequired",
    "QueueDoesNotExist",
    "RegionDisabledException",
    "RequestExpired",
    "RequestLimitExceeded",
    "ServiceFailure",
    "ServiceUnavailable",
    "SignatureDoesNotMatch",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "UnrecognizedClientException",
    "ValidationError",
];

/// Maps an AWS error code to the bounded label value: itself when known, `other` otherwise.
pub fn bounded_aws_code(code: &str) -> &'static str {
    KNOWN_AWS_CODES
        .iter()
        .find(|known| **known == code)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_codes_are_bounded() {
        assert_eq!(bounded_aws_code("Throttling"), "Throttling");
        assert_eq!(bounded_aws_code("AccessDenied"), "AccessDenied");
        assert_eq!(bounded_aws_code("SomethingNewFromAws"), "other");
        assert_eq!(bounded_aws_code(""), "other");
    }
}
