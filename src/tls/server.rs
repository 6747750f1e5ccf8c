//! Downstream TLS: the server config of a listener and the handshake of
//! one accepted connection.
//!
//! The handshake runs in the connection's own task, bounded by the
//! listener's `handshake_timeout`: a client that connects and says nothing
//! (or trickles its ClientHello) costs one task and one socket until then,
//! never the accept loop. ALPN offers `h2` then `http/1.1`; [`accept`]
//! reports which one was chosen so the listener serves it with the matching
//! hyper server, and a client without ALPN gets HTTP/1.1.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A verifier of client certificates against `roots` (mTLS); `required`
/// refuses a client that sends none, otherwise such a client is served
/// unauthenticated (a certificate that is sent is always verified).
pub fn client_verifier(
    roots: RootCertStore,
    required: bool,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), super::provider());
    let verifier = if required {
        verifier
    } else {
        verifier.allow_unauthenticated()
    };
    verifier.build().map_err(|e| e.to_string())
}

/// Builds a listener's rustls config: the certificate chain and its key,
/// client verification when `clients` is given, ALPN `h2` and `http/1.1`.
/// Fails when the key does not match the certificate.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    clients: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let builder = rustls::ServerConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()?;
    let builder = match clients {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The HTTP version ALPN settled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Negotiated {
    /// `h2`.
    Http2,
    /// `http/1.1`, or no ALPN at all.
    Http1,
}

/// Runs the server handshake on `stream`, giving up after `limit`.
pub async fn accept(
    config: Arc<rustls::ServerConfig>,
    stream: TcpStream,
    limit: Duration,
) -> io::Result<(TlsStream<TcpStream>, Negotiated)> {
    let handshake = TlsAcceptor::from(config).accept(stream);
    let stream = tokio::time::timeout(limit, handshake)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    let negotiated = match stream.get_ref().1.alpn_protocol() {
        Some(b"h2") => Negotiated::Http2,
        _ => Negotiated::Http1,
    };
    Ok((stream, negotiated))
}
