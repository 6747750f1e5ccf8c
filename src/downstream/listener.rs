//! Accepting and serving downstream connections.
//!
//! Each listener serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on the
//! same port: [`preface`] reads the first bytes (under the header read
//! timeout) to tell them apart, then hyper's server for that protocol takes
//! the connection (`proxy::servers`, where the listener's HTTP limits are
//! applied). Limits hyper does not enforce by itself are wired here and
//! there: the keep-alive idle timeout (our [`Activity`] watcher), the cap on
//! open connections (`max_connections`), and graceful shutdown of every
//! connection when draining (h2 GOAWAY, h1 close after the current
//! response).
//!
//! A listener with a `tls:` block terminates TLS instead (`proxy::secure`):
//! each connection looks the listener's certificates up in the current
//! snapshot, so a reload that changes them applies to new connections while
//! established ones keep theirs.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::activity::Activity;
use super::preface;
use super::secure::TlsConn;
use super::servers::{Life, Servers};
use super::service::Proxy;
use crate::config::ServerLimits;
use crate::snapshot::Shared;

/// Most connections taken from the kernel's queue once `shutdown` fires
/// (Linux's default listen backlog is 4096; a burst larger than this at the
/// very moment of a drain is reset, as it would be anyway).
const BACKLOG_AT_SHUTDOWN: usize = 4096;

/// Accepts connections until `shutdown` fires; each connection task is
/// tracked so the drain can wait for it. `shutdown` is this listener's own
/// token: cancelling it (drain, or the listener removed by a reload) stops
/// accepting and shuts its open connections down gracefully.
pub async fn serve(
    listener: TcpListener,
    name: String,
    limits: ServerLimits,
    shared: Shared,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let mut limits = limits;
    let mut servers = Arc::new(Servers::new(&limits));
    let mut generation = shared.load().generation;
    // Whether this socket speaks TLS is fixed when it starts serving; only
    // the certificates may change with a reload (see `Connection::tls`).
    let started_tls = listener_tls(&shared, &name);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut at_capacity = false;
    let mut taken_after_shutdown = 0usize;
    loop {
        let accepted = tokio::select! {
            // The drain first: once it fires, every accept is counted below.
            biased;
            _ = shutdown.cancelled() => {
                // Connections the kernel has completed but seawall has not
                // taken yet would be reset when the socket closes: take
                // them, so each gets its first request answered. Bounded,
                // so clients still arriving cannot hold the socket open.
                taken_after_shutdown += 1;
                match listener.accept().now_or_never() {
                    Some(accepted) if taken_after_shutdown <= BACKLOG_AT_SHUTDOWN => accepted,
                    _ => break,
                }
            }
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                // Over the cap: close at once rather than leave the client in
                // the kernel's backlog until its own timeout (see ServerLimits).
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    if !at_capacity {
                        tracing::warn!(listener = %name, max = limits.max_connections, "connection limit reached; closing new connections");
                    }
                    at_capacity = true;
                    drop(stream);
                    continue;
                };
                if at_capacity && slots.available_permits() > 0 {
                    tracing::info!(listener = %name, "below the connection limit again");
                    at_capacity = false;
                }
                refresh_limits(&shared, &name, &mut generation, &mut limits, &mut servers);
                let conn = Connection {
                    servers: servers.clone(),
                    started_tls: started_tls.clone(),
                    shared: shared.clone(),
                    listener: name.clone(),
                    keepalive: limits.keepalive_timeout,
                    header_read_timeout: limits.header_read_timeout,
                    shutdown: shutdown.clone(),
                };
                tracker.spawn(async move {
                    conn.run(stream, remote).await;
                    drop(slot);
                });
            }
            Err(e) => accept_backoff(&e).await,
        }
    }
    tracing::info!(listener = %name, "listener closed");
}

/// A reload may have changed this listener's limits: new connections get
/// the new ones (and servers built for them), open ones keep theirs.
fn refresh_limits(
    shared: &Shared,
    name: &str,
    generation: &mut u64,
    limits: &mut ServerLimits,
    servers: &mut Arc<Servers>,
) {
    let snapshot = shared.load();
    if snapshot.generation == *generation {
        return;
    }
    *generation = snapshot.generation;
    if let Some(l) = snapshot.config.listeners.iter().find(|l| l.name == name)
        && l.limits != *limits
    {
        *limits = l.limits.clone();
        *servers = Arc::new(Servers::new(limits));
    }
}

/// On resource exhaustion (EMFILE/ENFILE/ENOBUFS) `accept` fails at once,
/// again and again; pausing avoids a busy loop while connections drain.
async fn accept_backoff(e: &io::Error) {
    let exhausted = matches!(e.raw_os_error(), Some(23 | 24 | 105));
    if exhausted {
        tracing::warn!(error = %e, "accept failed: out of resources; pausing 100ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        tracing::debug!(error = %e, "accept failed");
    }
}

struct Connection {
    servers: Arc<Servers>,
    started_tls: Option<TlsParams>,
    shared: Shared,
    listener: String,
    keepalive: Duration,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
}

impl Connection {
    async fn run(self, stream: TcpStream, remote: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let _counted = self.shared.load().metrics.connection(&self.listener);
        let activity = Arc::new(Activity::new());
        let life = Life {
            shutdown: &self.shutdown,
            activity: &activity,
            keepalive: self.keepalive,
            header_read_timeout: self.header_read_timeout,
        };
        let result = match self.tls() {
            None => {
                // The protocol is told under the header read timeout (see
                // `preface`); a TLS connection is bounded by its handshake.
                // Not cut short by a drain: the connection was accepted, and
                // its first request is served (see `servers::drive`).
                let sniffed = preface::sniff(stream, self.header_read_timeout).await;
                let Some(stream) = sniffed else {
                    tracing::debug!(%remote, "connection closed before its protocol was known");
                    return;
                };
                if stream.broken_h2_preface() {
                    tracing::debug!(%remote, "broken HTTP/2 preface: GOAWAY");
                    preface::refuse_h2(stream, self.header_read_timeout).await;
                    return;
                }
                let protocol = stream.protocol();
                let proxy = Proxy::new(self.shared, self.listener, remote, activity.clone());
                let served = self.servers.serve(stream, protocol, proxy, life);
                served.await.map_err(|e| e.to_string())
            }
            Some((config, handshake_timeout)) => {
                let proxy = Proxy::with_scheme(
                    self.shared,
                    self.listener,
                    remote,
                    activity.clone(),
                    "https",
                );
                let tls = TlsConn {
                    config,
                    handshake_timeout,
                    servers: &self.servers,
                    life,
                };
                // Boxed: a TLS connection's state (the handshake, then
                // rustls's buffers) is twice a plaintext one's, and every
                // connection's task is as large as the largest state it
                // may hold.
                Box::pin(tls.serve(stream, proxy)).await
            }
        };
        if let Err(e) = result {
            tracing::debug!(%remote, error = %e, "connection ended with error");
        }
    }

    /// The TLS config for this connection: the listener's in the current
    /// snapshot, so reloaded certificates apply to new connections; the one
    /// it started with if a reload dropped it (a TLS port never falls back
    /// to plaintext); none for a plaintext listener.
    fn tls(&self) -> Option<TlsParams> {
        let started = self.started_tls.as_ref()?;
        listener_tls(&self.shared, &self.listener).or_else(|| Some(started.clone()))
    }
}

/// A listener's server config and handshake timeout.
type TlsParams = (Arc<rustls::ServerConfig>, Duration);

/// The TLS config of listener `name` in the current snapshot, if any.
fn listener_tls(shared: &Shared, name: &str) -> Option<TlsParams> {
    let snapshot = shared.load();
    let listener = snapshot.config.listeners.iter().find(|l| l.name == name)?;
    let tls = listener.tls.as_ref()?;
    Some((tls.server_config.get().clone(), tls.handshake_timeout))
}

/// Compile-time guard: hyper's executor needs the handler future to be
/// `Send`; this fails to build, with a readable error, if it stops being so.
fn _assert_send(p: Proxy, r: http::Request<hyper::body::Incoming>) {
    fn is_send<T: Send>(_: T) {}
    is_send(p.handle(r));
}
