//! Serving a connection that arrived on a TLS listener.
//!
//! The handshake happens here, in the connection's task and bounded by the
//! listener's `handshake_timeout` (or cut short by a drain), so the accept
//! loop never waits on a client. Then ALPN decides: `h2` is served by
//! hyper's HTTP/2 server, anything else by its HTTP/1 server, each built
//! directly. hyper-util's auto builder is not used over TLS: it sniffs the
//! preface and falls back to HTTP/1 on a bad one, while ALPN has already
//! said which protocol the client speaks.
//!
//! [`drive`] is the one loop every connection (plain or TLS) runs in:
//! finish, or shut down gracefully on drain or keep-alive idleness.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::activity::Activity;
use super::service::Proxy;
use crate::config::ServerLimits;
use crate::tls::server::{self, Negotiated};

/// Longest a drain keeps an idle connection open for a request that may be
/// on its way (see [`drive`]). Clients moving off a draining sidecar send
/// within milliseconds; a second covers a slow one without holding the
/// drain for long.
pub(super) const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// hyper refuses a read buffer smaller than this.
const HYPER_MIN_BUF: usize = 8192;

/// hyper's HTTP/1 and HTTP/2 servers, configured with a listener's limits
/// exactly as `listener::server_builder` configures the auto builder.
#[derive(Debug)]
pub(super) struct AlpnServers {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl AlpnServers {
    /// Both servers for `limits`.
    pub(super) fn new(limits: &ServerLimits) -> Self {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.get().max(HYPER_MIN_BUF))
            .keep_alive(true);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(u32::try_from(limits.max_header_bytes.get()).unwrap_or(u32::MAX));
        Self {
            http1: h1,
            http2: h2,
        }
    }
}

/// What a TLS connection needs besides its socket.
pub(super) struct TlsConn<'a> {
    /// The listener's current server config.
    pub config: Arc<rustls::ServerConfig>,
    /// Bound on the handshake.
    pub handshake_timeout: Duration,
    /// The servers to hand the decrypted stream to.
    pub servers: &'a AlpnServers,
    /// When the connection ends (see [`drive`]).
    pub life: Life<'a>,
}

/// What decides when a served connection ends: the drain, keep-alive
/// idleness, and the header read timeout (a drain never waits longer than
/// it for a request to begin).
#[derive(Clone, Copy)]
pub(super) struct Life<'a> {
    /// Fires on drain.
    pub shutdown: &'a CancellationToken,
    /// The connection's request activity.
    pub activity: &'a Activity,
    /// Keep-alive idle timeout.
    pub keepalive: Duration,
    /// The listener's header read timeout.
    pub header_read_timeout: Duration,
}

impl TlsConn<'_> {
    /// Handshakes, then serves `proxy` over the negotiated protocol.
    pub(super) async fn serve(self, stream: TcpStream, proxy: Proxy) -> Result<(), String> {
        // Bounded by the handshake timeout, and not cut short by a drain:
        // the connection was accepted, its first request is served.
        let accepted = server::accept(self.config, stream, self.handshake_timeout).await;
        let (stream, negotiated) = accepted.map_err(|e| format!("TLS handshake failed: {e}"))?;
        let io = TokioIo::new(stream);
        let service = service_fn(move |req| proxy.clone().handle(req));
        let result = match negotiated {
            Negotiated::Http2 => {
                let conn = self.servers.http2.serve_connection(io, service);
                let graceful = |c: Pin<&mut _>| http2::Connection::graceful_shutdown(c);
                drive(conn, graceful, self.life).await
            }
            Negotiated::Http1 => {
                let conn = self
                    .servers
                    .http1
                    .serve_connection(io, service)
                    .with_upgrades();
                let graceful = |c: Pin<&mut _>| http1::UpgradeableConnection::graceful_shutdown(c);
                drive(conn, graceful, self.life).await
            }
        };
        result.map_err(|e| e.to_string())
    }
}

/// Runs `conn` to its end; on drain or after `keepalive` without a request
/// in progress, asks it to finish gracefully (h2: GOAWAY; h1: close after
/// the current response) with `graceful`, and waits for that.
///
/// On drain, an idle connection may have a request on its way: one accepted
/// just before the drain that has not sent its first request yet, or a
/// keep-alive connection a client is reusing at that moment. Closing it at
/// once would drop that request (the client sees the connection reset after
/// writing it). So an idle connection gets up to [`DRAIN_IDLE_GRACE`]
/// (shorter if the header read timeout is) for a request to begin; that
/// request is answered and the connection closed after it. A connection
/// with a request in progress closes after its response.
pub(super) async fn drive<C, T, E>(
    conn: C,
    graceful: impl FnOnce(Pin<&mut C>),
    life: Life<'_>,
) -> Result<T, E>
where
    C: Future<Output = Result<T, E>>,
{
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => res,
        _ = life.shutdown.cancelled() => {
            let grace = DRAIN_IDLE_GRACE.min(life.header_read_timeout);
            tokio::select! {
                res = conn.as_mut() => return res,
                () = life.activity.next_request_if_idle(grace) => {}
            }
            graceful(conn.as_mut());
            conn.await
        }
        _ = life.activity.idle_for(life.keepalive) => {
            graceful(conn.as_mut());
            conn.await
        }
    }
}
