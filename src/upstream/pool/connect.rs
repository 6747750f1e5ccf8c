//! Opening connections: dial through the connector, hand the socket to
//! hyper's HTTP/1 or HTTP/2 handshake, and give the connection its own task.
//! Every failure here is a [`ConnectFailed`]: the request was never sent.

use http::uri::{Authority, Scheme, Uri};
use hyper::client::conn::{http1, http2};
use hyper::rt::{Read, Write};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;
use tower::ServiceExt;

use super::{Pool, Protocol};
use crate::upstream::facts::{ConnectFailed, ConnectionReady};
use crate::wire::BoxError;
use crate::wire::body::Body;

/// Most an upstream HTTP/1 connection's read buffer may grow to (hyper's
/// default is 408 KiB). A body chunk is split off this buffer and may
/// wait in the downstream write queue while the next read fills a new
/// one, so a response streaming to a client that reads slowly (or not at
/// all) holds up to about three of them: 192 KiB here, 1.2 MiB with
/// hyper's default. Reads of 64 KiB still move a large body in few
/// system calls. It also caps an upstream's response head: hyper checks
/// the cap before each read, so a head is refused (a 502) once it is past
/// the cap and still incomplete; nginx refuses heads past 4 or 8 KiB.
pub const H1_READ_BUF_MAX: usize = 64 * 1024;

/// The flow-control window seawall grants each upstream HTTP/2 stream
/// (hyper's default is 2 MiB, adaptive off). It is what a response may
/// pile up in seawall, unread, when its client reads slowly or never: the
/// upstream sends no more until seawall passes some on. 256 KiB is a
/// sidecar or LAN path's bandwidth-delay product with room to spare (at
/// 0.5 ms round trip it allows ~500 MB/s per stream; over loopback a
/// 200 MB body moved at the same ~1.1 GB/s as with 2 MiB), and about what
/// an HTTP/1 upstream's response holds (three 64 KiB reads and the
/// connection's buffers): measured 280–287 KiB per non-reader with it,
/// 1,772 KiB with hyper's default.
pub const H2_STREAM_WINDOW: u32 = 256 * 1024;

/// The window of a whole upstream HTTP/2 connection (hyper's default is
/// 5 MiB). A stream whose client does not read holds its window's worth
/// of this one until it ends, and the connection is shared by every
/// request to its endpoint, so it must leave room for many such streams:
/// with hyper's defaults three of them stopped every other response's
/// body on the connection. 128 streams' windows (nginx's default stream
/// limit) is 32 MiB; it adds nothing to what a stream may hold.
pub const H2_CONN_WINDOW: u32 = 128 * H2_STREAM_WINDOW;

impl<C, IO> Pool<C>
where
    C: tower::Service<Uri, Response = IO> + Clone + Send + Sync + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send,
    IO: Read + Write + Unpin + Send + 'static,
{
    /// A new HTTP/1 connection to `authority`, driven by its own task.
    pub(super) async fn open_h1(
        &self,
        authority: &Authority,
    ) -> Result<(http1::SendRequest<Body>, ConnectionReady), ConnectFailed> {
        let io = self.connect(authority).await?;
        let (tx, conn) = http1::Builder::new()
            .max_buf_size(H1_READ_BUF_MAX)
            .handshake(io)
            .await
            .map_err(|e| ConnectFailed(e.into()))?;
        drive(conn.with_upgrades());
        Ok((tx, ConnectionReady(Instant::now())))
    }

    /// A new HTTP/2 connection to `authority`, driven by its own task and
    /// shared from the pool.
    pub(super) async fn open_h2(
        &self,
        authority: &Authority,
    ) -> Result<(http2::SendRequest<Body>, ConnectionReady), ConnectFailed> {
        let io = self.connect(authority).await?;
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        builder
            .adaptive_window(false)
            .initial_stream_window_size(H2_STREAM_WINDOW)
            .initial_connection_window_size(H2_CONN_WINDOW);
        if let Protocol::Http2 {
            keepalive_interval,
            keepalive_timeout,
        } = self.inner.protocol
        {
            builder
                .keep_alive_interval(keepalive_interval)
                .keep_alive_timeout(keepalive_timeout)
                .keep_alive_while_idle(true);
        }
        let (tx, conn) = builder
            .handshake(io)
            .await
            .map_err(|e| ConnectFailed(e.into()))?;
        drive(conn);
        let ready = ConnectionReady(Instant::now());
        self.inner.share(authority, tx.clone(), ready);
        Ok((tx, ready))
    }

    async fn connect(&self, authority: &Authority) -> Result<IO, ConnectFailed> {
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| ConnectFailed(e.into()))?;
        self.inner
            .connector
            .clone()
            .oneshot(uri)
            .await
            .map_err(|e| ConnectFailed(e.into()))
    }
}

/// Gives a connection its own task, which ends when the connection does.
fn drive<F>(conn: F)
where
    F: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection closed with an error");
        }
    });
}
