//! Serving one downstream connection once its protocol is known.
//!
//! Every connection reaches here as HTTP/1.1 or HTTP/2: told by ALPN on a
//! TLS listener (`proxy::secure`), by the first bytes on a plaintext one
//! (`proxy::preface`). hyper's HTTP/1 and HTTP/2 servers are then used
//! directly. hyper-util's auto builder, which would sniff the preface a
//! second time, is not: its connection type holds both servers' states in
//! one enum, so every HTTP/1 connection carried the (larger) HTTP/2 state
//! and each read went through its replay wrapper.
//!
//! [`drive`] is the one loop every connection runs in: finish, or shut
//! down gracefully on drain or keep-alive idleness.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use std::sync::Arc;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::activity::{Activity, Expiry};
use super::calm::Calm;
use super::heads::Heads;
use super::service::Proxy;
use crate::config::ServerLimits;

/// Longest a drain keeps an idle connection open for a request that may be
/// on its way (see [`drive`]). Clients moving off a draining sidecar send
/// within milliseconds; a second covers a slow one without holding the
/// drain for long.
pub(super) const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// How long a connection marked an abuser (see `resets`) may take to
/// finish the streams it has in progress after its GOAWAY.
const ABUSER_GRACE: Duration = Duration::from_secs(1);

/// hyper refuses a read buffer smaller than this.
const HYPER_MIN_BUF: usize = 8192;

/// The HTTP version a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.0 or HTTP/1.1.
    Http1,
    /// HTTP/2 (`h2` by ALPN, or prior knowledge in cleartext).
    Http2,
}

/// hyper's HTTP/1 and HTTP/2 servers, configured with a listener's limits.
/// The one place those limits meet hyper, for plaintext and TLS alike.
#[derive(Debug)]
pub(super) struct Servers {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Servers {
    /// Both servers for `limits`.
    pub(super) fn new(limits: &ServerLimits) -> Self {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            // hyper arms its header read timer whenever it waits for a
            // head, idle keep-alive connections included; the timeout is
            // kept in `activity` instead, from the first byte of a head.
            .header_read_timeout(None)
            .max_buf_size(limits.max_header_bytes.get().max(HYPER_MIN_BUF))
            .keep_alive(true);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            // Also bounds a CONTINUATION flood: h2 stops decoding a header
            // block past this size instead of buffering it.
            .max_header_list_size(u32::try_from(limits.max_header_bytes.get()).unwrap_or(u32::MAX))
            // Rapid reset (CVE-2023-44487) and error floods end in GOAWAY.
            .max_pending_accept_reset_streams(limits.http2.max_pending_accept_reset_streams)
            .max_local_error_reset_streams(limits.http2.max_local_error_reset_streams)
            // A client advertising a tiny window cannot make us buffer more.
            .max_send_buf_size(limits.http2.max_send_buf_size)
            .keep_alive_interval(limits.http2.keepalive_interval)
            .keep_alive_timeout(limits.http2.keepalive_timeout);
        Self {
            http1: h1,
            http2: h2,
        }
    }

    /// Serves `proxy` on `io` in `protocol` until the connection ends (see
    /// [`drive`]).
    pub(super) async fn serve<IO>(
        &self,
        io: IO,
        protocol: Protocol,
        proxy: Proxy,
        life: Life<'_>,
    ) -> Result<(), hyper::Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(move |req| proxy.clone().handle(req));
        match protocol {
            Protocol::Http1 => {
                life.activity.await_first_head();
                let io = TokioIo::new(Heads::new(io, life.activity.clone()));
                let conn = self.http1.serve_connection(io, service).with_upgrades();
                let graceful = |c: Pin<&mut _>| http1::UpgradeableConnection::graceful_shutdown(c);
                drive(conn, graceful, life, Some(life.header_read_timeout)).await
            }
            // Boxed: most connections are HTTP/1, and every connection's
            // task is as large as the largest state it may hold. h2 bounds
            // its own header blocks; a silent h2 connection is idle.
            Protocol::Http2 => {
                let io = TokioIo::new(Calm::new(io, life.activity.clone()));
                let conn = self.http2.serve_connection(io, service);
                let graceful = |c: Pin<&mut _>| http2::Connection::graceful_shutdown(c);
                Box::pin(drive(conn, graceful, life, None)).await
            }
        }
    }
}

/// What decides when a served connection ends: the drain, keep-alive
/// idleness, and the header read timeout (a drain never waits longer than
/// it for a request to begin).
#[derive(Clone, Copy)]
pub(super) struct Life<'a> {
    /// Fires on drain.
    pub shutdown: &'a CancellationToken,
    /// The connection's request activity.
    pub activity: &'a Arc<Activity>,
    /// Keep-alive idle timeout.
    pub keepalive: Duration,
    /// The listener's header read timeout.
    pub header_read_timeout: Duration,
}

/// Runs `conn` to its end; on drain or after `keepalive` without a request
/// in progress, asks it to finish gracefully (h2: GOAWAY; h1: close after
/// the current response) with `graceful`, and waits for that. With `head`
/// (HTTP/1), a request head begun and not complete within it ends the
/// connection at once (see `activity`).
///
/// On drain, an idle connection may have a request on its way: one accepted
/// just before the drain that has not sent its first request yet, or a
/// keep-alive connection a client is reusing at that moment. Closing it at
/// once would drop that request (the client sees the connection reset after
/// writing it). So an idle connection gets up to [`DRAIN_IDLE_GRACE`]
/// (shorter if the header read timeout is) for a request to begin; that
/// request is answered and the connection closed after it. A connection
/// with a request in progress closes after its response.
pub(super) async fn drive<C, E>(
    conn: C,
    graceful: impl FnOnce(Pin<&mut C>),
    life: Life<'_>,
    head: Option<Duration>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
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
            finish(conn, life.activity, head).await
        }
        expiry = life.activity.expiry(life.keepalive, head) => match expiry {
            Expiry::Idle => {
                graceful(conn.as_mut());
                finish(conn, life.activity, head).await
            }
            Expiry::Head => head_overdue(),
        },
        () = life.activity.abused() => {
            // GOAWAY (ENHANCE_YOUR_CALM, see `calm`), and no long wait for
            // the streams in progress of a client that resets them.
            tracing::warn!("client abandoned most of its requests before their answers; GOAWAY");
            graceful(conn.as_mut());
            let _ = tokio::time::timeout(ABUSER_GRACE, conn).await;
            Ok(())
        }
    }
}

/// Waits for a connection told to finish; a head begun on it is still
/// bounded by `head` (hyper keeps reading one it has started).
async fn finish<C, E>(
    conn: Pin<&mut C>,
    activity: &Activity,
    head: Option<Duration>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    tokio::select! {
        res = conn => res,
        () = activity.head_overdue(head) => head_overdue(),
    }
}

/// The connection is dropped (closed without an answer, as hyper's own
/// header read timeout did).
fn head_overdue<E>() -> Result<(), E> {
    tracing::debug!("request head incomplete after header_read_timeout; closing");
    Ok(())
}
