//! Where every SDK client is built: the standard AWS configuration chain, one shared HTTPS
//! client, the call timeouts, and the call-counting interceptor on each client.

use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::timeout::TimeoutConfig;

use super::interceptor::ApiCallInterceptor;
use crate::metrics::ApiCounters;

/// IAM and STS are global in the commercial partition; a region is still needed to sign, so
/// without one configured the exporter signs for us-east-1. China and GovCloud users must set
/// `AWS_REGION` to a region of their partition.
const FALLBACK_REGION: &str = "us-east-1";

/// Loads the standard AWS configuration chain (environment, profile, SSO, web identity, IMDS).
pub async fn load_aws_config(call_timeout: Duration) -> SdkConfig {
    let region = RegionProviderChain::default_provider().or_else(Region::new(FALLBACK_REGION));
    aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(timeout_config(call_timeout))
        .http_client(shared_http_client())
        .load()
        .await
}

/// The timeouts applied to every AWS call: `--poll.timeout` bounds a whole call, retries included.
pub fn timeout_config(call_timeout: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(call_timeout)
        .connect_timeout(call_timeout.min(Duration::from_secs(5)))
        .build()
}

/// One HTTPS client for every SDK client of every account. Left to itself, each SDK client
/// builds its own, with its own root certificate store and connection pool: about 150 KiB per
/// account, and no connection reuse towards the one global IAM endpoint.
fn shared_http_client() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        connector.set_sleep_impl(components.and_then(|c| c.sleep_impl()));
        // HTTPS_PROXY and NO_PROXY, as the SDK's own default client honours them.
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// Builds SDK clients from one loaded configuration, each counting its calls into the same
/// [`ApiCounters`]. Credentials other than the ambient ones (an assumed role's) are passed in.
#[derive(Debug, Clone)]
pub struct ClientFactory {
    sdk: SdkConfig,
    api: ApiCounters,
}

impl ClientFactory {
    /// A factory over the loaded configuration `sdk`, counting into `api`.
    pub fn new(sdk: &SdkConfig, api: &ApiCounters) -> ClientFactory {
        ClientFactory {
            sdk: sdk.clone(),
            api: api.clone(),
        }
    }

    /// An STS client, with `credentials` instead of the ambient ones when given.
    pub fn sts(&self, credentials: Option<SharedCredentialsProvider>) -> aws_sdk_sts::Client {
        let mut conf =
            aws_sdk_sts::config::Builder::from(&self.sdk).interceptor(self.interceptor());
        conf.set_credentials_provider(credentials);
        aws_sdk_sts::Client::from_conf(conf.build())
    }

    /// An IAM client, with `credentials` instead of the ambient ones when given.
    pub fn iam(&self, credentials: Option<SharedCredentialsProvider>) -> aws_sdk_iam::Client {
        let mut conf =
            aws_sdk_iam::config::Builder::from(&self.sdk).interceptor(self.interceptor());
        conf.set_credentials_provider(credentials);
        aws_sdk_iam::Client::from_conf(conf.build())
    }

    /// An Organizations client with the ambient credentials.
    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        let conf = aws_sdk_organizations::config::Builder::from(&self.sdk)
            .interceptor(self.interceptor())
            .build();
        aws_sdk_organizations::Client::from_conf(conf)
    }

    fn interceptor(&self) -> ApiCallInterceptor {
        ApiCallInterceptor::new(self.api.clone())
    }
}
