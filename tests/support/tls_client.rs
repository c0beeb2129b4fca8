//! A blocking TLS client for the tests, on rustls: optional client certificate, chosen TLS
//! versions, and the certificate the server presented.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::crypto::aws_lc_rs;
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned, SupportedProtocolVersion,
};

use super::{HttpResponse, exchange, web_fixtures};

/// How the client connects.
pub struct Client {
    config: Arc<ClientConfig>,
}

impl Client {
    /// Trusts the test CA; presents `identity` (a fixture name such as `client`) if given.
    pub fn new(identity: Option<&str>) -> Client {
        Client::with_versions(identity, rustls::ALL_VERSIONS)
    }

    /// As [`Client::new`], offering only `versions`.
    pub fn with_versions(
        identity: Option<&str>,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Client {
        let dir = web_fixtures();
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(dir.join("ca.crt")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(name) => {
                let chain = CertificateDer::pem_file_iter(dir.join(format!("{name}.crt")))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        };
        Client {
            config: Arc::new(config),
        }
    }

    /// Connects and completes the handshake, for a test that sends several requests.
    pub fn connect(
        &self,
        addr: SocketAddr,
    ) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
        let tcp =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let conn = ClientConnection::new(
            self.config.clone(),
            ServerName::try_from("localhost").unwrap(),
        )
        .map_err(|e| e.to_string())?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("TLS handshake: {e}"))?;
        }
        Ok(stream)
    }

    /// `GET path` over TLS; `Err` when the connection or the handshake fails.
    pub fn get(
        &self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<HttpResponse, String> {
        let mut stream = self.connect(addr)?;
        exchange(&mut stream, "localhost", "GET", path, headers, b"").map_err(|e| e.to_string())
    }

    /// The DER certificate the server presents.
    pub fn server_certificate(&self, addr: SocketAddr) -> Result<Vec<u8>, String> {
        let stream = self.connect(addr)?;
        let certs = stream.conn.peer_certificates().ok_or("no certificate")?;
        Ok(certs[0].to_vec())
    }
}

/// The DER bytes of a fixture certificate.
pub fn fixture_certificate(name: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(web_fixtures().join(format!("{name}.crt")))
        .unwrap()
        .to_vec()
}
