//! The web configuration file (`--web.config.file`), in the format of the Prometheus
//! exporter-toolkit, so that the file node_exporter reads works here too: TLS, basic
//! authentication, extra response headers and a request rate limit.
//!
//! This module only parses and validates text; `web::tls` validates the TLS section and reads
//! the certificate files, and `web::reload` applies the result to connections and requests and
//! reloads it when the file changes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::Invalid;
use super::tls::{RawTls, TlsSettings, tls_settings};

/// A validated web configuration.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// TLS settings, when the file enables TLS.
    pub tls: Option<TlsSettings>,
    /// Basic authentication users and their bcrypt hashes; empty when authentication is off.
    pub users: BTreeMap<String, String>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The request rate limit, when configured.
    pub rate_limit: Option<RateLimit>,
}

/// A token bucket: `burst` requests at once, then one per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// How many requests may arrive at once.
    pub burst: u32,
    /// How often one more request is allowed.
    pub interval: Duration,
}

// The file as written. Every struct refuses unknown keys, as exporter-toolkit's strict YAML
// decoding does, so that a typo is an error rather than a silently ignored setting.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    // HTTP/2 is not served; the key is accepted so that exporter-toolkit files load unchanged.
    #[allow(dead_code)]
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    burst: Option<u32>,
    interval: Option<String>,
}

/// Response headers that may be set, and the values they may take (any when empty). The list
/// is exporter-toolkit's, so that the same file means the same thing across exporters.
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The most requests a token bucket may hold; more would make the limit meaningless.
const MAX_BURST: u32 = 1_000_000;

impl WebConfig {
    /// Parses and validates the text of a web configuration file. Relative file paths are
    /// resolved against `dir`, the directory of the file, as exporter-toolkit does.
    pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, Invalid> {
        let raw = parse_yaml(text)?;
        let mut config = WebConfig::default();
        if let Some(tls) = raw.tls_server_config {
            config.tls = tls_settings(tls, dir)?;
        }
        if let Some(users) = raw.basic_auth_users {
            for (user, hash) in &users {
                check_bcrypt_hash(hash)
                    .map_err(|reason| Invalid::new(format!("basic_auth_users.{user}"), reason))?;
            }
            config.users = users;
        }
        if let Some(headers) = raw.http_server_config.and_then(|h| h.headers) {
            config.headers = headers_of(headers)?;
        }
        if let Some(limit) = raw.rate_limit {
            config.rate_limit = rate_limit(limit)?;
        }
        Ok(config)
    }

    /// The bcrypt cost of the most expensive user hash, so that an unknown user can be made to
    /// cost as much as a wrong password.
    pub fn max_cost(&self) -> Option<u32> {
        self.users.values().filter_map(|h| bcrypt_cost(h)).max()
    }
}

fn parse_yaml(text: &str) -> Result<RawConfig, Invalid> {
    // Two steps: YAML to a tree, then the tree to the typed structs through
    // serde_path_to_error, which knows the dotted path of the key that failed.
    let tree: serde_json::Value = serde_saphyr::from_str(text)
        .map_err(|err| Invalid::new("", format!("not valid YAML: {}", one_line(&err))))?;
    if tree.is_null() {
        return Ok(RawConfig::default());
    }
    if !tree.is_object() {
        return Err(Invalid::new(
            "",
            "expected a mapping with keys such as tls_server_config and basic_auth_users",
        ));
    }
    serde_path_to_error::deserialize(tree).map_err(|err| {
        let key = err.path().to_string();
        let key = if key == "." { String::new() } else { key };
        Invalid::new(key, one_line(err.inner()))
    })
}

fn one_line(err: &dyn fmt::Display) -> String {
    let text = err.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid");
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

fn check_bcrypt_hash(hash: &str) -> Result<(), String> {
    // Checked here so that a wrong value fails at start-up, not at the first scrape. The value
    // is never echoed: it is a secret.
    let parts: bcrypt::HashParts = hash
        .parse()
        .map_err(|_| "not a bcrypt hash (expected $2a$, $2b$ or $2y$ and 60 characters)")?;
    let cost = parts.get_cost();
    if !(4..=31).contains(&cost) {
        return Err(format!("bcrypt cost {cost} is out of range 4..31"));
    }
    Ok(())
}

/// The cost of a bcrypt hash, or `None` when it is not one.
pub fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.parse::<bcrypt::HashParts>().ok().map(|p| p.get_cost())
}

fn headers_of(
    headers: BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, Invalid> {
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let key = format!("http_server_config.headers.{name}");
        let Some((canonical, allowed)) = ALLOWED_HEADERS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        else {
            return Err(Invalid::new(
                key,
                format!(
                    "this header can not be configured (allowed: {})",
                    ALLOWED_HEADERS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(Invalid::new(
                key,
                format!("invalid value {value:?} (expected one of {allowed:?})"),
            ));
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| Invalid::new(&key, "not a valid header value"))?;
        // HeaderName lower-cases what it is given; the table's names are valid header names.
        let name = HeaderName::from_bytes(canonical.as_bytes()).expect("a valid header name");
        out.push((name, value));
    }
    Ok(out)
}

fn rate_limit(raw: RawRateLimit) -> Result<Option<RateLimit>, Invalid> {
    let interval = match raw.interval.as_deref() {
        None | Some("0" | "0s") => return Ok(None),
        Some(text) => humantime::parse_duration(text).map_err(|err| {
            Invalid::new(
                "rate_limit.interval",
                format!("{text:?} is not a duration: {err}"),
            )
        })?,
    };
    if interval.is_zero() {
        return Ok(None);
    }
    let burst = raw.burst.unwrap_or(0);
    if burst == 0 || burst > MAX_BURST {
        return Err(Invalid::new(
            "rate_limit.burst",
            format!("must be between 1 and {MAX_BURST} when an interval is set"),
        ));
    }
    Ok(Some(RateLimit { burst, interval }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::tls::{AllowedSan, ClientAuth, Source};
    use rustls::{NamedGroup, ProtocolVersion};

    fn parse(text: &str) -> Result<WebConfig, Invalid> {
        WebConfig::parse(text, Path::new("/etc/exporter"))
    }

    const HASH: &str = "$2b$10$uiT5XwCBZpHk7l4biRuw0e6mXvQtraamW.FBJCJfogqAO.e.0X9hO";

    #[test]
    fn an_empty_file_turns_nothing_on() {
        for text in ["", "# nothing\n", "{}", "---\n"] {
            let config = parse(text).unwrap();
            assert!(config.tls.is_none() && config.users.is_empty(), "{text:?}");
            assert!(config.headers.is_empty() && config.rate_limit.is_none());
        }
    }

    #[test]
    fn tls_defaults_match_exporter_toolkit() {
        let config =
            parse("tls_server_config:\n  cert_file: tls.crt\n  key_file: /abs/tls.key\n").unwrap();
        let tls = config.tls.unwrap();
        assert_eq!(tls.cert, Source::File("/etc/exporter/tls.crt".into()));
        assert_eq!(tls.key, Source::File("/abs/tls.key".into()));
        assert_eq!(
            tls.versions,
            [ProtocolVersion::TLSv1_2, ProtocolVersion::TLSv1_3]
        );
        assert_eq!(tls.client_auth, ClientAuth::None);
        assert!(tls.prefer_server_order);
        assert_eq!(tls.cipher_suites, None);
        assert_eq!(
            tls.files().collect::<Vec<_>>(),
            [
                Path::new("/etc/exporter/tls.crt"),
                Path::new("/abs/tls.key")
            ]
        );
    }

    #[test]
    fn only_certificate_or_client_auth_keys_enable_tls() {
        let config = parse("tls_server_config:\n  min_version: TLS13\n").unwrap();
        assert!(config.tls.is_none());
    }

    #[test]
    fn every_setting_is_read() {
        let config = parse(
            "tls_server_config:
  cert: |
    -----BEGIN CERTIFICATE-----
  key_file: k.pem
  client_ca_file: ca.pem
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS13
  cipher_suites: [TLS_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
  client_allowed_sans: [prometheus.example, 10.0.0.1, 'spiffe://cluster/ns/monitoring/sa/prometheus']
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    strict-transport-security: max-age=31536000
basic_auth_users:
  prometheus: '$2b$10$uiT5XwCBZpHk7l4biRuw0e6mXvQtraamW.FBJCJfogqAO.e.0X9hO'
rate_limit:
  interval: 100ms
  burst: 20
",
        )
        .unwrap();
        let tls = config.tls.as_ref().unwrap();
        assert!(matches!(tls.cert, Source::Inline(_)));
        assert_eq!(
            format!("{:?}", tls.cert),
            "Inline(..)",
            "inline PEM is never printed"
        );
        assert_eq!(tls.client_auth, ClientAuth::Required);
        assert_eq!(tls.versions, [ProtocolVersion::TLSv1_3]);
        assert_eq!(tls.cipher_suites, Some(vec![]));
        assert_eq!(
            tls.kx_groups,
            Some(vec![NamedGroup::X25519, NamedGroup::secp256r1])
        );
        assert!(!tls.prefer_server_order);
        assert_eq!(
            tls.allowed_sans,
            [
                AllowedSan::Dns("prometheus.example".into()),
                AllowedSan::Ip("10.0.0.1".parse().unwrap()),
                AllowedSan::Uri("spiffe://cluster/ns/monitoring/sa/prometheus".into()),
            ]
        );
        assert_eq!(config.users["prometheus"], HASH);
        assert_eq!(config.max_cost(), Some(10));
        let headers: Vec<_> = config
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                ("x-frame-options", "deny"),
                ("strict-transport-security", "max-age=31536000")
            ]
        );
        assert_eq!(
            config.rate_limit,
            Some(RateLimit {
                burst: 20,
                interval: Duration::from_millis(100)
            })
        );
    }

    #[test]
    fn bad_files_name_the_key() {
        let cases = [
            (
                "tls_server_config:\n  cert_fil: a\n",
                "tls_server_config.cert_fil",
            ),
            ("basic_auth_user:\n  a: b\n", "basic_auth_user"),
            ("tls_server_config:\n  key_file: k\n", "tls_server_config"),
            ("tls_server_config:\n  cert_file: c\n", "tls_server_config"),
            (
                "tls_server_config:\n  cert_file: c\n  cert: x\n  key_file: k\n",
                "tls_server_config.cert_file",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n",
                "tls_server_config.min_version",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  max_version: TLS14\n",
                "tls_server_config.max_version",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS13\n  max_version: TLS12\n",
                "tls_server_config.min_version",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAnyClientCert\n  client_ca_file: ca\n",
                "tls_server_config.client_auth_type",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Sometimes\n",
                "tls_server_config.client_auth_type",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n",
                "tls_server_config.client_auth_type",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n",
                "tls_server_config",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
                "tls_server_config.cipher_suites[0]",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
                "tls_server_config.cipher_suites",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  curve_preferences: [X25519, CurveP521]\n",
                "tls_server_config.curve_preferences[1]",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_allowed_sans: [a.example]\n",
                "tls_server_config.client_allowed_sans",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [ops@example.com]\n",
                "tls_server_config.client_allowed_sans[0]",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n  prefer_server_cipher_suites: maybe\n",
                "tls_server_config.prefer_server_cipher_suites",
            ),
            (
                "basic_auth_users:\n  alice: hunter2\n",
                "basic_auth_users.alice",
            ),
            (
                "basic_auth_users:\n  alice: '$2b$10$uiT5XwCBZpHk7l4biRuw0e6mXvQtraamW.FBJCJfogqAO.e.0X9h'\n",
                "basic_auth_users.alice",
            ),
            (
                "http_server_config:\n  headers:\n    Server: me\n",
                "http_server_config.headers.Server",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                "http_server_config.headers.X-Frame-Options",
            ),
            (
                "http_server_config:\n  headers:\n    X-XSS-Protection: \"a\\nb\"\n",
                "http_server_config.headers.X-XSS-Protection",
            ),
            (
                "http_server_config:\n  http3: true\n",
                "http_server_config.http3",
            ),
            (
                "rate_limit:\n  interval: soon\n  burst: 1\n",
                "rate_limit.interval",
            ),
            ("rate_limit:\n  interval: 1s\n", "rate_limit.burst"),
            (
                "rate_limit:\n  interval: 1s\n  burst: -1\n",
                "rate_limit.burst",
            ),
            ("tls_server_config: [1, 2]\n", "tls_server_config[0]"),
            (
                "tls_server_config:\n  cert_file: [a]\n",
                "tls_server_config.cert_file",
            ),
            ("- a\n- b\n", ""),
            ("tls_server_config:\n  cert_file: 'unterminated\n", ""),
        ];
        let mut wrong = Vec::new();
        for (text, key) in cases {
            let err = parse(text).expect_err(text);
            if err.key != key {
                wrong.push(format!("{text:?}: {err}"));
            }
            let line = err.to_string();
            assert!(!line.contains('\n'), "{text:?}: {line}");
            assert!(!line.contains("uiT5Xw"), "a hash was echoed: {line}");
            assert!(!line.contains("hunter2"), "a password was echoed: {line}");
            assert!(
                !line.contains("ops@example.com"),
                "an e-mail was echoed: {line}"
            );
        }
        assert!(wrong.is_empty(), "wrong keys:\n{}", wrong.join("\n"));
    }
}
