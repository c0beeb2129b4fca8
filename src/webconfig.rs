//! The web configuration file (`--web.config.file`), in the format of the Prometheus
//! exporter-toolkit, so that the file node_exporter reads works here too: TLS, basic
//! authentication, extra response headers and a request rate limit.
//!
//! This module only parses and validates text; [`crate::tls`] reads the certificate files and
//! [`crate::websecurity`] applies the result to requests and reloads it when the file changes.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use rustls::{CipherSuite, NamedGroup, ProtocolVersion};
use serde::Deserialize;

/// A problem with the web configuration: the key it concerns and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The dotted path of the offending key, such as `tls_server_config.min_version`.
    pub key: String,
    /// Why the value was refused, in one line.
    pub reason: String,
}

impl Invalid {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}

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

/// Where a certificate, key or CA bundle comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// A PEM file, its path made absolute against the configuration file's directory.
    File(PathBuf),
    /// PEM text written in the configuration file itself.
    Inline(String),
}

impl fmt::Debug for Source {
    // Inline PEM may be a private key: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "File({})", path.display()),
            Source::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

/// Whether and how clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A certificate is asked for and verified against the client CA when given.
    VerifyIfGiven,
    /// A certificate verified against the client CA is required.
    Required,
}

/// A subject alternative name that a client certificate may carry to be let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedSan {
    /// A DNS name, compared exactly.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
    /// A URI, such as a SPIFFE id, compared exactly.
    Uri(String),
}

/// The TLS part of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's certificate chain.
    pub cert: Source,
    /// The server's private key.
    pub key: Source,
    /// The CA bundle that client certificates are verified against.
    pub client_ca: Option<Source>,
    /// Whether client certificates are asked for or required.
    pub client_auth: ClientAuth,
    /// The TLS versions offered, from `min_version` to `max_version`.
    pub versions: Vec<ProtocolVersion>,
    /// The TLS 1.2 cipher suites offered, in order; `None` for rustls' defaults.
    pub cipher_suites: Option<Vec<CipherSuite>>,
    /// The key exchange groups offered, in order; `None` for rustls' defaults.
    pub kx_groups: Option<Vec<NamedGroup>>,
    /// Whether the server's cipher suite order wins over the client's.
    pub prefer_server_order: bool,
    /// When not empty, a client certificate must carry one of these names.
    pub allowed_sans: Vec<AllowedSan>,
}

impl TlsSettings {
    /// The files this configuration reads, so that a change to any of them is noticed.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|s| match s {
                Source::File(path) => Some(path.as_path()),
                Source::Inline(_) => None,
            })
    }
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
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_ca_file: Option<String>,
    client_auth_type: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
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

/// The TLS 1.2 cipher suites rustls offers, by their Go names as exporter-toolkit files use
/// them. Go's older names for the ChaCha20 suites are accepted too.
const TLS12_SUITES: &[(&str, CipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// TLS 1.3 suites are always all offered, as in Go; naming them is allowed and changes nothing.
const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Key exchange groups by their exporter-toolkit (Go) names. P-521 is not among them because
/// rustls does not offer it.
const GROUPS: &[(&str, NamedGroup)] = &[
    ("X25519", NamedGroup::X25519),
    ("CurveP256", NamedGroup::secp256r1),
    ("CurveP384", NamedGroup::secp384r1),
    ("X25519MLKEM768", NamedGroup::X25519MLKEM768),
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

fn tls_settings(raw: RawTls, dir: &Path) -> Result<Option<TlsSettings>, Invalid> {
    const K: &str = "tls_server_config";
    let enabled = raw.cert.is_some()
        || raw.key.is_some()
        || raw.cert_file.is_some()
        || raw.key_file.is_some()
        || raw.client_ca.is_some()
        || raw.client_ca_file.is_some()
        || raw
            .client_auth_type
            .as_deref()
            .is_some_and(|a| !a.is_empty());
    // As in exporter-toolkit, only certificate or client-auth keys switch TLS on.
    if !enabled {
        return Ok(None);
    }
    let cert = source(K, "cert", raw.cert, "cert_file", raw.cert_file, dir)?
        .ok_or_else(|| Invalid::new(K, "missing one of cert or cert_file"))?;
    let key = source(K, "key", raw.key, "key_file", raw.key_file, dir)?
        .ok_or_else(|| Invalid::new(K, "missing one of key or key_file"))?;
    let client_ca = source(
        K,
        "client_ca",
        raw.client_ca,
        "client_ca_file",
        raw.client_ca_file,
        dir,
    )?;
    let client_auth = match raw.client_auth_type.as_deref().unwrap_or("") {
        "" | "NoClientCert" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::Required,
        unverified @ ("RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert") => {
            return Err(Invalid::new(
                format!("{K}.client_auth_type"),
                format!(
                    "{unverified} accepts client certificates without verifying them; use \
                     VerifyClientCertIfGiven or RequireAndVerifyClientCert with a client CA"
                ),
            ));
        }
        other => {
            return Err(Invalid::new(
                format!("{K}.client_auth_type"),
                format!(
                    "unknown value {other:?} (expected NoClientCert, VerifyClientCertIfGiven or \
                     RequireAndVerifyClientCert)"
                ),
            ));
        }
    };
    match (client_auth, &client_ca) {
        (ClientAuth::None, Some(_)) => {
            return Err(Invalid::new(
                format!("{K}.client_auth_type"),
                "a client CA is configured but no client_auth_type asks for client certificates",
            ));
        }
        (ClientAuth::VerifyIfGiven | ClientAuth::Required, None) => {
            return Err(Invalid::new(
                K,
                "client_auth_type verifies client certificates but neither client_ca_file nor \
                 client_ca is set",
            ));
        }
        _ => {}
    }

    let min = version(K, "min_version", raw.min_version, ProtocolVersion::TLSv1_2)?;
    let max = version(K, "max_version", raw.max_version, ProtocolVersion::TLSv1_3)?;
    let versions: Vec<ProtocolVersion> = [ProtocolVersion::TLSv1_2, ProtocolVersion::TLSv1_3]
        .into_iter()
        .filter(|v| u16::from(*v) >= u16::from(min) && u16::from(*v) <= u16::from(max))
        .collect();
    if versions.is_empty() {
        return Err(Invalid::new(
            format!("{K}.min_version"),
            "is above max_version",
        ));
    }

    let cipher_suites = match raw.cipher_suites {
        None => None,
        Some(names) => Some(cipher_suites(&names, &versions)?),
    };
    let kx_groups = match raw.curve_preferences {
        None => None,
        Some(names) => Some(groups(&names)?),
    };
    let allowed_sans = match raw.client_allowed_sans {
        None => Vec::new(),
        Some(sans) => {
            if client_auth != ClientAuth::Required {
                return Err(Invalid::new(
                    format!("{K}.client_allowed_sans"),
                    "needs client_auth_type RequireAndVerifyClientCert, or a client could \
                     connect without a certificate to match",
                ));
            }
            allowed_sans(&sans)?
        }
    };
    Ok(Some(TlsSettings {
        cert,
        key,
        client_ca,
        client_auth,
        versions,
        cipher_suites,
        kx_groups,
        prefer_server_order: raw.prefer_server_cipher_suites.unwrap_or(true),
        allowed_sans,
    }))
}

fn source(
    parent: &str,
    inline_key: &str,
    inline: Option<String>,
    file_key: &str,
    file: Option<String>,
    dir: &Path,
) -> Result<Option<Source>, Invalid> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(Invalid::new(
            format!("{parent}.{file_key}"),
            format!("set together with {inline_key}; use one of them"),
        )),
        (Some(pem), None) if pem.trim().is_empty() => {
            Err(Invalid::new(format!("{parent}.{inline_key}"), "is empty"))
        }
        (Some(pem), None) => Ok(Some(Source::Inline(pem))),
        (None, Some(path)) if path.is_empty() => {
            Err(Invalid::new(format!("{parent}.{file_key}"), "is empty"))
        }
        (None, Some(path)) => Ok(Some(Source::File(dir.join(path)))),
        (None, None) => Ok(None),
    }
}

fn version(
    parent: &str,
    key: &str,
    name: Option<String>,
    default: ProtocolVersion,
) -> Result<ProtocolVersion, Invalid> {
    match name.as_deref() {
        None => Ok(default),
        Some("TLS12") => Ok(ProtocolVersion::TLSv1_2),
        Some("TLS13") => Ok(ProtocolVersion::TLSv1_3),
        Some(old @ ("TLS10" | "TLS11")) => Err(Invalid::new(
            format!("{parent}.{key}"),
            format!("{old} is not offered: this exporter serves TLS12 and TLS13 only"),
        )),
        Some(other) => Err(Invalid::new(
            format!("{parent}.{key}"),
            format!("unknown TLS version {other:?} (expected TLS12 or TLS13)"),
        )),
    }
}

fn cipher_suites(
    names: &[String],
    versions: &[ProtocolVersion],
) -> Result<Vec<CipherSuite>, Invalid> {
    let mut suites = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if let Some((_, suite)) = TLS12_SUITES.iter().find(|(n, _)| n == name) {
            if !suites.contains(suite) {
                suites.push(*suite);
            }
        } else if !TLS13_SUITES.contains(&name.as_str()) {
            return Err(Invalid::new(
                format!("tls_server_config.cipher_suites[{i}]"),
                format!(
                    "{name:?} is not offered (rustls offers only AEAD suites with forward \
                     secrecy: {})",
                    TLS12_SUITES
                        .iter()
                        .map(|(n, _)| *n)
                        .filter(|n| n.ends_with("SHA256") || n.ends_with("SHA384"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if suites.is_empty() && versions.contains(&ProtocolVersion::TLSv1_2) {
        return Err(Invalid::new(
            "tls_server_config.cipher_suites",
            "names no TLS 1.2 suite while TLS12 is allowed; name one or set min_version: TLS13",
        ));
    }
    Ok(suites)
}

fn groups(names: &[String]) -> Result<Vec<NamedGroup>, Invalid> {
    let mut groups = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let Some((_, group)) = GROUPS.iter().find(|(n, _)| n == name) else {
            return Err(Invalid::new(
                format!("tls_server_config.curve_preferences[{i}]"),
                format!(
                    "{name:?} is not offered (expected one of {})",
                    GROUPS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if !groups.contains(group) {
            groups.push(*group);
        }
    }
    if groups.is_empty() {
        return Err(Invalid::new(
            "tls_server_config.curve_preferences",
            "is empty; remove it for the defaults",
        ));
    }
    Ok(groups)
}

fn allowed_sans(sans: &[String]) -> Result<Vec<AllowedSan>, Invalid> {
    let mut out = Vec::with_capacity(sans.len());
    for (i, san) in sans.iter().enumerate() {
        let key = || format!("tls_server_config.client_allowed_sans[{i}]");
        if san.is_empty() {
            return Err(Invalid::new(key(), "is empty"));
        }
        if let Ok(ip) = san.parse::<IpAddr>() {
            out.push(AllowedSan::Ip(ip));
        } else if san.contains("://") || san.starts_with("urn:") {
            out.push(AllowedSan::Uri(san.clone()));
        } else if san.contains('@') {
            // The value is not echoed: it is an e-mail address.
            return Err(Invalid::new(
                key(),
                "e-mail SANs are not supported; use a DNS, IP or URI SAN",
            ));
        } else if pki_types::DnsName::try_from(san.as_str()).is_ok() {
            out.push(AllowedSan::Dns(san.clone()));
        } else {
            return Err(Invalid::new(
                key(),
                format!("{san:?} is neither a DNS name, an IP address nor a URI"),
            ));
        }
    }
    Ok(out)
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
