//! Serving a connection that arrived on a TLS listener.
//!
//! The handshake happens here, in the connection's task and bounded by the
//! listener's `handshake_timeout` (or cut short by a drain), so the accept
//! loop never waits on a client. Then ALPN decides: `h2` is served by
//! hyper's HTTP/2 server, anything else by its HTTP/1 server
//! (`proxy::servers`).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::servers::{Life, Protocol, Servers};
use super::service::Proxy;
use crate::tls::server::{self, Negotiated};

/// What a TLS connection needs besides its socket.
pub(super) struct TlsConn<'a> {
    /// The listener's current server config.
    pub config: Arc<rustls::ServerConfig>,
    /// Bound on the handshake.
    pub handshake_timeout: Duration,
    /// The servers to hand the decrypted stream to.
    pub servers: &'a Servers,
    /// When the connection ends (see `servers::drive`).
    pub life: Life<'a>,
}

impl TlsConn<'_> {
    /// Handshakes, then serves `proxy` over the negotiated protocol.
    pub(super) async fn serve(self, stream: TcpStream, proxy: Proxy) -> Result<(), String> {
        // Bounded by the handshake timeout, and not cut short by a drain:
        // the connection was accepted, its first request is served.
        let accepted = server::accept(self.config, stream, self.handshake_timeout).await;
        let (stream, negotiated) = accepted.map_err(|e| format!("TLS handshake failed: {e}"))?;
        let protocol = match negotiated {
            Negotiated::Http2 => Protocol::Http2,
            Negotiated::Http1 => Protocol::Http1,
        };
        let served = self.servers.serve(stream, protocol, proxy, self.life);
        served.await.map_err(|e| e.to_string())
    }
}
