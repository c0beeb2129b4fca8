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

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;

use super::interceptor::ApiCallInterceptor;
use crate::error::Error;
use crate::metrics::ApiCounters;

/// IAM and STS are global in the commercial partition; a region is still needed to sign, so
/// without one configured the exporter signs for us-east-1. China and GovCloud users must set
/// `AWS_REGION` to a region of their partition.
const FALLBACK_REGION: &str = "us-east-1";

/// The call timeout of a client whose configuration has none (tests build such).
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variables that name an endpoint for the calls this exporter makes.
const ENDPOINT_VARIABLES: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_ORGANIZATIONS",
    "AWS_ENDPOINT_URL_SQS",
];

/// What to tell a person whose exporter found no credentials: the chain's own message lists
/// five providers over several hundred characters and says nothing of what to do.
pub const NO_CREDENTIALS: &str = "no AWS credentials (tried the environment, profiles, web identity, ECS, \
     IMDS): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use an instance \
     or pod role";

/// Refuses, before anything calls AWS, an endpoint URL or a region from the environment that
/// no call could work with; the SDK would otherwise fail every call with a dump of its request.
pub fn check_environment() -> Result<(), Error> {
    for var in ENDPOINT_VARIABLES {
        if let Some(value) = std::env::var_os(var) {
            let value = value.to_string_lossy();
            check_endpoint(&value)
                .map_err(|why| Error::Config(format!("{var}={value:?}: {why}")))?;
        }
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(value) = std::env::var_os(var) {
            let value = value.to_string_lossy();
            check_region(&value).map_err(|why| Error::Config(format!("{var}={value:?}: {why}")))?;
        }
    }
    Ok(())
}

/// Whether `url` can be an endpoint: an absolute http or https URL with a host.
fn check_endpoint(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| "not a URL (expected e.g. https://sts.eu-west-1.amazonaws.com)".to_owned())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err("not an http:// or https:// URL with a host".to_owned()),
    }
}

/// Whether `region` can be a region: a DNS label such as `eu-west-1`, which the SDK puts in
/// endpoint host names.
fn check_region(region: &str) -> Result<(), String> {
    let label = !region.is_empty()
        && region.len() <= 63
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    match region {
        "" => Err(
            "set but empty: unset it (the exporter then signs for us-east-1) or name a \
                   region such as eu-west-1"
                .to_owned(),
        ),
        _ if label => Ok(()),
        _ => Err(
            "not a region name (lower-case letters, digits and hyphens, such as eu-west-1)"
                .to_owned(),
        ),
    }
}

/// Asks the credential chain once, so that `check` can stop at once with one line when there
/// are none, instead of printing the chain's every attempt for every account.
pub async fn check_credentials(sdk: &SdkConfig) -> Result<(), Error> {
    let Some(provider) = sdk.credentials_provider() else {
        return Err(Error::Config(NO_CREDENTIALS.to_owned()));
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(CredentialsError::CredentialsNotLoaded(_)) => {
            Err(Error::Config(NO_CREDENTIALS.to_owned()))
        }
        // Credentials exist but could not be had right now (a network error on the way to
        // SSO or IMDS): not for this check to decide; the calls will say what went wrong.
        Err(_) => Ok(()),
    }
}

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
    endpoint: std::sync::Arc<str>,
}

impl ClientFactory {
    /// A factory over the loaded configuration `sdk`, counting into `api`.
    pub fn new(sdk: &SdkConfig, api: &ApiCounters) -> ClientFactory {
        // What a network error names: the configured endpoint, or AWS's own in the region.
        let endpoint = match (sdk.endpoint_url(), sdk.region()) {
            (Some(url), _) => url.to_owned(),
            (None, Some(region)) => format!("AWS's endpoints for {region}"),
            (None, None) => "AWS's endpoints".to_owned(),
        };
        ClientFactory {
            sdk: sdk.clone(),
            api: api.clone(),
            endpoint: endpoint.into(),
        }
    }

    /// Where the clients' calls go, as network errors name it.
    pub fn endpoint(&self) -> std::sync::Arc<str> {
        self.endpoint.clone()
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

    /// An SQS client with the ambient credentials, for `region` when given (a queue URL names
    /// its region, which may not be the configured one). Its calls may take `long_poll`
    /// longer than the others: a long-polled receive waits that long by design.
    pub fn sqs(&self, region: Option<String>, long_poll: Duration) -> aws_sdk_sqs::Client {
        let call = self
            .sdk
            .timeout_config()
            .and_then(|t| t.operation_timeout())
            .unwrap_or(DEFAULT_CALL_TIMEOUT);
        let mut conf = aws_sdk_sqs::config::Builder::from(&self.sdk)
            .interceptor(self.interceptor())
            .timeout_config(timeout_config(call + long_poll));
        if let Some(region) = region {
            conf = conf.region(Region::new(region));
        }
        aws_sdk_sqs::Client::from_conf(conf.build())
    }

    fn interceptor(&self) -> ApiCallInterceptor {
        ApiCallInterceptor::new(self.api.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_regions_that_cannot_work_are_refused() {
        for ok in [
            "https://sts.eu-west-1.amazonaws.com",
            "http://127.0.0.1:5000",
            "http://localhost:4566/",
        ] {
            assert_eq!(check_endpoint(ok), Ok(()), "{ok}");
        }
        for bad in [
            "not-a-url",
            "",
            "sts.amazonaws.com",
            "ftp://host",
            "https://",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
        for ok in ["us-east-1", "cn-north-1", "us-gov-west-1", "eu-central-2"] {
            assert_eq!(check_region(ok), Ok(()), "{ok}");
        }
        for bad in ["", "EU-WEST-1", "eu west 1", "-x", "x-", "eu_west_1"] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
        assert!(check_region("").unwrap_err().contains("empty"));
    }
}
