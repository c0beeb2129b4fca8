//! The SDK interceptor that every client carries: it counts each request and each failed
//! attempt by service, operation and bounded code, and refuses XML answers cut short.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::errors::{TruncatedAnswer, attempt_error_code};
use crate::metrics::ApiCounters;

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

/// Whether a query-protocol answer ends with `</{operation}Response>`, as every complete one does.
pub fn complete_xml_answer(body: &[u8], operation: &str) -> bool {
    let closing = format!("</{operation}Response>");
    body.trim_ascii_end().ends_with(closing.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
