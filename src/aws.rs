//! The AWS edge: SDK clients for one account, the calls the decision needs, and an interceptor
//! that counts every call and every failed attempt by service, operation and bounded code.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::SummaryKeyType;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    Error as ErasedError, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::error::{Error, bounded_aws_code};
use crate::metrics::ApiCounters;
use crate::posture::{self, Identity, Posture, Summary, VirtualDevice};
use crate::role::{RoleCredentials, SharedRoleCredentials};

/// Page size for `ListVirtualMFADevices`: the API's maximum, so that an account with thousands
/// of IAM users costs as few calls as possible.
const MFA_PAGE_SIZE: i32 = 1000;

/// What one check found: the identity once STS has answered, and the posture or why not.
#[derive(Debug)]
pub struct Outcome {
    /// The account and partition the credentials belong to, if STS answered.
    pub identity: Option<Identity>,
    /// The root user's posture, or why it could not be observed.
    pub result: Result<Posture, Error>,
}

/// The timeouts applied to every AWS call: `--poll.timeout` bounds a whole call, retries included.
pub fn timeout_config(call_timeout: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(call_timeout)
        .connect_timeout(call_timeout.min(Duration::from_secs(5)))
        .build()
}

/// The STS and IAM clients that check one account.
#[derive(Debug, Clone)]
pub struct AccountClients {
    sts: aws_sdk_sts::Client,
    iam: aws_sdk_iam::Client,
    role: Option<Arc<RoleCredentials>>,
}

impl AccountClients {
    /// Builds the clients from a loaded SDK configuration, counting calls into `api`.
    pub fn new(config: &SdkConfig, api: &ApiCounters) -> AccountClients {
        let sts = aws_sdk_sts::config::Builder::from(config)
            .interceptor(ApiCallInterceptor::new(api.clone()))
            .build();
        let iam = aws_sdk_iam::config::Builder::from(config)
            .interceptor(ApiCallInterceptor::new(api.clone()))
            .build();
        AccountClients::from_clients(
            aws_sdk_sts::Client::from_conf(sts),
            aws_sdk_iam::Client::from_conf(iam),
        )
    }

    /// Clients for a member account, with credentials from assuming its role.
    pub fn assumed(
        config: &SdkConfig,
        api: &ApiCounters,
        role: Arc<RoleCredentials>,
    ) -> AccountClients {
        let provider = SharedCredentialsProvider::new(SharedRoleCredentials(role.clone()));
        let sts = aws_sdk_sts::config::Builder::from(config)
            .credentials_provider(provider.clone())
            .interceptor(ApiCallInterceptor::new(api.clone()))
            .build();
        let iam = aws_sdk_iam::config::Builder::from(config)
            .credentials_provider(provider)
            .interceptor(ApiCallInterceptor::new(api.clone()))
            .build();
        AccountClients {
            sts: aws_sdk_sts::Client::from_conf(sts),
            iam: aws_sdk_iam::Client::from_conf(iam),
            role: Some(role),
        }
    }

    /// Wraps clients that were built elsewhere (tests build them with mocked responses).
    pub fn from_clients(sts: aws_sdk_sts::Client, iam: aws_sdk_iam::Client) -> AccountClients {
        AccountClients {
            sts,
            iam,
            role: None,
        }
    }

    /// Checks the root user of the account these clients' credentials belong to. When the
    /// account is `known` (from a role ARN or the Organization), STS is not asked again.
    pub async fn check(&self, known: Option<&Identity>) -> Outcome {
        if let Some(role) = &self.role {
            // Assume the role first, so that a failure is reported as AssumeRole's, with its code.
            if let Err(err) = role.credentials().await {
                return Outcome {
                    identity: known.cloned(),
                    result: Err(err),
                };
            }
        }
        let identity = match known {
            Some(identity) => identity.clone(),
            None => match self.caller_identity().await {
                Ok(identity) => identity,
                Err(err) => {
                    return Outcome {
                        identity: None,
                        result: Err(err),
                    };
                }
            },
        };
        let result = self.posture(&identity).await;
        Outcome {
            identity: Some(identity),
            result,
        }
    }

    async fn posture(&self, identity: &Identity) -> Result<Posture, Error> {
        if !identity.has_root_user() {
            return Ok(Posture::NO_ROOT_USER);
        }
        let summary = self.account_summary().await?;
        let devices = if summary.needs_device_listing() {
            Some(self.assigned_virtual_devices().await?)
        } else {
            None
        };
        posture::decide(identity, &summary, devices.as_deref()).map_err(|e| Error::Incomplete {
            operation: "GetAccountSummary",
            what: e.to_string(),
        })
    }

    /// The account and partition of these clients' credentials, from `sts:GetCallerIdentity`.
    pub async fn caller_identity(&self) -> Result<Identity, Error> {
        const OP: &str = "GetCallerIdentity";
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| sdk_error("sts", OP, e))?;
        let (Some(account), Some(arn)) = (out.account(), out.arn()) else {
            return Err(Error::Incomplete {
                operation: OP,
                what: "no Account or Arn".into(),
            });
        };
        Identity::from_caller(account, arn).ok_or_else(|| Error::Incomplete {
            operation: OP,
            what: format!("unparsable caller ARN {arn:?}"),
        })
    }

    async fn account_summary(&self) -> Result<Summary, Error> {
        const OP: &str = "GetAccountSummary";
        let out = self
            .iam
            .get_account_summary()
            .send()
            .await
            .map_err(|e| sdk_error("iam", OP, e))?;
        let map = out.summary_map().ok_or_else(|| Error::Incomplete {
            operation: OP,
            what: "no SummaryMap".into(),
        })?;
        let get = |key: SummaryKeyType| map.get(&key).copied();
        Ok(Summary {
            mfa_enabled: get(SummaryKeyType::AccountMfaEnabled),
            access_keys_present: get(SummaryKeyType::AccountAccessKeysPresent),
            signing_certificates_present: get(SummaryKeyType::AccountSigningCertificatesPresent),
            password_present: get(SummaryKeyType::AccountPasswordPresent),
        })
    }

    /// Every assigned virtual MFA device, from every page; any failure fails the whole listing,
    /// because a partial listing must never be read as "no virtual device".
    async fn assigned_virtual_devices(&self) -> Result<Vec<VirtualDevice>, Error> {
        const OP: &str = "ListVirtualMFADevices";
        let mut devices = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .iam
                .list_virtual_mfa_devices()
                .assignment_status(aws_sdk_iam::types::AssignmentStatusType::Assigned)
                .max_items(MFA_PAGE_SIZE)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| sdk_error("iam", OP, e))?;
            devices.extend(out.virtual_mfa_devices().iter().map(|d| VirtualDevice {
                serial_number: d.serial_number().to_owned(),
                user_arn: d.user().map(|u| u.arn().to_owned()),
            }));
            if !out.is_truncated() {
                return Ok(devices);
            }
            match out.marker() {
                Some(next) if Some(next) != marker.as_deref() => marker = Some(next.to_owned()),
                _ => {
                    return Err(Error::Incomplete {
                        operation: OP,
                        what: "truncated page without a new Marker".into(),
                    });
                }
            }
        }
    }
}

/// Turns an SDK error into the crate's error with a bounded code. Counting is not done here:
/// [`ApiCallInterceptor`] has already counted every failed attempt, the last one included.
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
        message: redact_access_key_ids(&message),
    }
}

/// Masks access key ids (`AKIA…`, `ASIA…`): AWS quotes them in some error messages (a
/// `SignatureDoesNotMatch` carries the string to sign), and half a credential has no place in
/// a log line.
pub fn redact_access_key_ids(text: &str) -> String {
    const ID_LEN: usize = 20;
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let candidate = &bytes[i..bytes.len().min(i + ID_LEN)];
        let is_key = candidate.len() == ID_LEN
            && (candidate.starts_with(b"AKIA") || candidate.starts_with(b"ASIA"))
            && candidate[4..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && bytes
                .get(i + ID_LEN)
                .is_none_or(|b| !b.is_ascii_alphanumeric());
        if is_key {
            out.push_str(&text[i..i + 4]);
            out.push_str("****************");
            i += ID_LEN;
        } else {
            let ch = text[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
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

fn chain_has<E: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<E>().is_some() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Counts each request put on the wire and each failed attempt, retries included, so that
/// throttling shows in the error counter even when a retry then succeeds.
#[derive(Debug)]
pub struct ApiCallInterceptor {
    api: ApiCounters,
}

impl ApiCallInterceptor {
    /// An interceptor that records into `api`.
    pub fn new(api: ApiCounters) -> ApiCallInterceptor {
        ApiCallInterceptor { api }
    }
}

fn service_and_operation(cfg: &ConfigBag) -> (String, String) {
    match cfg.load::<Metadata>() {
        Some(m) => (m.service().to_ascii_lowercase(), m.name().to_owned()),
        None => ("unknown".into(), "unknown".into()),
    }
}

impl Intercept for ApiCallInterceptor {
    fn name(&self) -> &'static str {
        "ApiCallInterceptor"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = service_and_operation(cfg);
        self.api.request(&service, &operation);
        Ok(())
    }

    /// Rejects a successful XML answer that does not end with its root element's closing tag.
    /// The SDK's XML reader accepts a body cut short, and a `ListVirtualMFADevices` page cut
    /// before root's device and before `IsTruncated` reads as "no virtual device, last page":
    /// a posture that was never observed.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let xml = response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.contains("xml"));
        if !response.status().is_success() || !xml {
            return Ok(());
        }
        let Some(body) = response.body().bytes() else {
            return Ok(());
        };
        let (_, operation) = service_and_operation(cfg);
        if complete_xml_answer(body, &operation) {
            Ok(())
        } else {
            Err(Box::new(TruncatedAnswer { operation }))
        }
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Err(err)) = context.output_or_error() {
            let (service, operation) = service_and_operation(cfg);
            self.api.error(
                &service,
                &operation,
                attempt_error_code(err, context.response()),
            );
        }
        Ok(())
    }
}

/// The label for an error answer: its AWS code, or, when it carries none that could be read,
/// `server_error` for a 5xx and `response` for anything else that could not be understood.
fn service_error_code(code: Option<&str>, status: u16) -> &'static str {
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
    operation: String,
}

/// Whether a query-protocol answer ends with `</{operation}Response>`, as every complete one does.
pub fn complete_xml_answer(body: &[u8], operation: &str) -> bool {
    let closing = format!("</{operation}Response>");
    body.trim_ascii_end().ends_with(closing.as_bytes())
}

fn attempt_error_code(
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

    #[test]
    fn access_key_ids_are_masked() {
        let cases = [
            (
                "Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam",
                "Credential=AKIA****************/20260101/us-east-1/iam",
            ),
            ("key ASIAABCDEFGHIJKLMNOP.", "key ASIA****************."),
            ("AKIASHORT", "AKIASHORT"),
            (
                "AKIAIOSFODNN7EXAMPLEX is longer",
                "AKIAIOSFODNN7EXAMPLEX is longer",
            ),
            (
                "arn:aws:iam::123456789012:role/AKIA",
                "arn:aws:iam::123456789012:role/AKIA",
            ),
            ("é AKIAIOSFODNN7EXAMPLE", "é AKIA****************"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(redact_access_key_ids(input), want, "{input}");
        }
    }

    #[test]
    fn only_complete_xml_answers_pass() {
        let page = "<ListVirtualMFADevicesResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
            <ListVirtualMFADevicesResult><IsTruncated>false</IsTruncated></ListVirtualMFADevicesResult>\
            </ListVirtualMFADevicesResponse>";
        let cases = [
            (page.to_owned(), true),
            (format!("{page}\n  "), true),
            (page[..page.len() / 2].to_owned(), false),
            (page[..page.len() - 1].to_owned(), false),
            (String::new(), false),
            ("</GetAccountSummaryResponse>".to_owned(), false),
        ];
        for (body, want) in cases {
            assert_eq!(
                complete_xml_answer(body.as_bytes(), "ListVirtualMFADevices"),
                want,
                "{body:?}"
            );
        }
    }
}
