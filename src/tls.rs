//! Builds the rustls server configuration from the TLS part of the web configuration: reads
//! the certificate, key and client CA files, and checks client certificate names.

use std::sync::Arc;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::webconfig::{AllowedSan, ClientAuth, Invalid, Source, TlsSettings};

const K: &str = "tls_server_config";

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
        Source::File(path) => std::fs::read(path).map_err(|err| {
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
pub fn carries_allowed_san(cert: &CertificateDer<'_>, allowed: &[AllowedSan]) -> bool {
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
