//! TLS for the server: the `tls_server_config` section of the web configuration (validated
//! here, by key), and the rustls server configuration built from it.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{
    CipherSuite, DigitallySignedStruct, DistinguishedName, NamedGroup, ProtocolVersion,
    RootCertStore, SignatureScheme,
};
use serde::Deserialize;

use super::Invalid;
use super::files::{WEB_CONFIG_MAX_BYTES, read_bounded};

/// The section of the web configuration this module owns, as errors name it.
const K: &str = "tls_server_config";

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

/// The `tls_server_config` section as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
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

/// Validates the `tls_server_config` section; `None` when it does not switch TLS on.
pub(super) fn tls_settings(raw: RawTls, dir: &Path) -> Result<Option<TlsSettings>, Invalid> {
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

/// Reads the files the settings name and builds the server configuration; an unreadable file,
/// a key that does not match the certificate or an empty CA bundle is reported by key.
pub fn server_config(settings: &TlsSettings) -> Result<ServerConfig, Invalid> {
    let certs = read_certs(&settings.cert, "cert")?;
    let key = read_key(&settings.key)?;
    let provider = Arc::new(provider(settings));
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(settings))
        .map_err(|err| Invalid::new(K, format!("unusable TLS settings: {err}")))?;
    let builder = match (&settings.client_ca, settings.client_auth) {
        (Some(ca), ClientAuth::VerifyIfGiven | ClientAuth::Required) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, "client_ca")? {
                roots.add(cert).map_err(|err| {
                    Invalid::new(
                        source_key(ca, "client_ca"),
                        format!("unusable CA certificate: {err}"),
                    )
                })?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if settings.client_auth == ClientAuth::VerifyIfGiven {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|err| Invalid::new(source_key(ca, "client_ca"), format!("{err}")))?;
            if settings.allowed_sans.is_empty() {
                builder.with_client_cert_verifier(verifier)
            } else {
                builder.with_client_cert_verifier(Arc::new(SanVerifier {
                    inner: verifier,
                    allowed: settings.allowed_sans.clone(),
                }))
            }
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|err| {
        let reason = match err {
            rustls::Error::InconsistentKeys(_) => "does not match the certificate".to_owned(),
            other => format!("unusable with the certificate: {other}"),
        };
        Invalid::new(source_key(&settings.key, "key"), reason)
    })?;
    config.ignore_client_order = settings.prefer_server_order;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn provider(settings: &TlsSettings) -> CryptoProvider {
    let mut provider = aws_lc_rs::default_provider();
    if let Some(wanted) = &settings.cipher_suites {
        // Go, and so exporter-toolkit, applies cipher_suites to TLS 1.2 only.
        provider
            .cipher_suites
            .retain(|s| s.version() == &rustls::version::TLS13 || wanted.contains(&s.suite()));
        let order = |s: &rustls::SupportedCipherSuite| {
            wanted
                .iter()
                .position(|w| *w == s.suite())
                .unwrap_or(usize::MAX)
        };
        provider.cipher_suites.sort_by_key(order);
    }
    if let Some(wanted) = &settings.kx_groups {
        let all = aws_lc_rs::ALL_KX_GROUPS;
        provider.kx_groups = wanted
            .iter()
            .filter_map(|g| all.iter().find(|k| k.name() == *g).copied())
            .collect();
    }
    provider
}

fn versions(settings: &TlsSettings) -> Vec<&'static rustls::SupportedProtocolVersion> {
    rustls::ALL_VERSIONS
        .iter()
        .filter(|v| settings.versions.contains(&v.version))
        .copied()
        .collect()
}

fn source_key(source: &Source, inline_key: &str) -> String {
    match source {
        Source::File(_) => format!("{K}.{inline_key}_file"),
        Source::Inline(_) => format!("{K}.{inline_key}"),
    }
}

fn read(source: &Source, inline_key: &str) -> Result<Vec<u8>, Invalid> {
    match source {
        Source::Inline(pem) => Ok(pem.as_bytes().to_vec()),
        Source::File(path) => read_bounded(path, WEB_CONFIG_MAX_BYTES).map_err(|err| {
            Invalid::new(
                source_key(source, inline_key),
                format!("cannot read {}: {err}", path.display()),
            )
        }),
    }
}

fn read_certs(source: &Source, inline_key: &str) -> Result<Vec<CertificateDer<'static>>, Invalid> {
    let pem = read(source, inline_key)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            Invalid::new(
                source_key(source, inline_key),
                format!("not valid PEM: {err}"),
            )
        })?;
    if certs.is_empty() {
        return Err(Invalid::new(
            source_key(source, inline_key),
            "holds no PEM certificate",
        ));
    }
    Ok(certs)
}

fn read_key(source: &Source) -> Result<PrivateKeyDer<'static>, Invalid> {
    let pem = read(source, "key")?;
    // The parser's error could quote key material; only say what kind of problem it is.
    PrivateKeyDer::from_pem_slice(&pem).map_err(|err| {
        let reason = match err {
            pki_types::pem::Error::NoItemsFound => "holds no PEM private key",
            _ => "is not a valid PEM private key",
        };
        Invalid::new(source_key(source, "key"), reason)
    })
}

/// Whether a DER certificate carries one of the allowed subject alternative names.
fn carries_allowed_san(cert: &CertificateDer<'_>, allowed: &[AllowedSan]) -> bool {
    let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    allowed.iter().any(|san| match san {
        AllowedSan::Dns(name) => cert.valid_dns_names().any(|n| n.eq_ignore_ascii_case(name)),
        AllowedSan::Uri(uri) => cert.valid_uri_names().any(|u| u == uri),
        AllowedSan::Ip(ip) => cert
            .verify_is_valid_for_subject_name(&ServerName::IpAddress((*ip).into()))
            .is_ok(),
    })
}

/// The WebPKI verifier, plus the `client_allowed_sans` check on the client's certificate.
#[derive(Debug)]
struct SanVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<AllowedSan>,
}

impl ClientCertVerifier for SanVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if carries_allowed_san(end_entity, &self.allowed) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
