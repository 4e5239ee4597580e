//! TLS for `corral serve` (rustls with the ring provider): a listener that
//! hands axum only connections whose handshake finished. Handshakes run
//! side by side, each bounded in time, so a slow or silent client never
//! holds up the others.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the TLS configuration could not be made from the given files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read as PEM certificates.
    #[error("--tls-cert {}: cannot read PEM certificates: {source}", path.display())]
    ReadCertificates {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("--tls-cert {}: no certificate in the file (expected PEM, BEGIN CERTIFICATE)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file could not be read as a PEM private key.
    #[error("--tls-key {}: cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1): {source}", path.display())]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: pem::Error,
    },
    /// rustls refused the pair: the key does not match the certificate, or
    /// an algorithm is not supported.
    #[error("--tls-cert/--tls-key: rustls refused them: {source}")]
    BuildConfig {
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

/// A server configuration from a PEM certificate chain and private key.
/// HTTP/1.1 only: the websocket console upgrades an HTTP/1.1 connection.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read_certs = |source| TlsError::ReadCertificates {
        path: cert.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(read_certs)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_certs)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::ReadKey {
        path: key.to_path_buf(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|source| TlsError::BuildConfig { source })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener that yields TLS connections.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` in a task of its own; each handshake runs in its own
    /// task. Must be called within a tokio runtime.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            while !tx.is_closed() {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    // Out of file descriptors and the like: wait, retry.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    // A failed or slow handshake is the client's problem
                    // alone: drop the connection.
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task ended (it cannot while we hold the receiver).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_name_the_flag_and_the_file() {
        let dir = std::env::temp_dir().join(format!("corral-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.join("missing.pem");
        let cases = [
            (&missing, &missing, "--tls-cert"),
            (&empty, &empty, "no certificate in the file"),
            (&junk, &junk, "--tls-cert"),
        ];
        for (cert, key, want) in cases {
            let e = server_config(cert, key).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
            assert!(e.contains(&cert.display().to_string()), "{e}");
        }
    }
}
