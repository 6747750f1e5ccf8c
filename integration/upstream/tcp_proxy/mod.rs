//! The fault-injecting TCP proxy mode (`seawall-upstream --proxy-to ADDR`):
//! a toxiproxy-like relay placed between seawall and a replica, because the
//! kernel the tests run on has no `netem` — latency, slow links, sliced
//! writes, resets, blackholes and truncation must be made in user space.
//!
//! It relays raw TCP, so it works under HTTP/1 and HTTP/2 alike, and it takes
//! its toxics over a separate HTTP control port (see [`control`]). Each
//! accepted connection gets a fresh connection to the target and two
//! [`pipe()`]s; either one ending in a cut ends both.

mod control;
mod pipe;
mod toxics;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use pipe::{End, Shared, pipe};
pub use toxics::Toxics;

/// Counters behind `GET /_proxy/stats`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections ended by a reset.
    pub resets: AtomicU64,
}

/// Relays `listener` to `target` and serves the control API on `control`
/// until `shutdown` completes; open relays are dropped at exit.
pub async fn run(
    listener: TcpListener,
    control: TcpListener,
    target: String,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let (set, toxics) = watch::channel(Toxics::default());
    let counters = Arc::new(Counters::default());
    let api = tokio::spawn(control::serve(control, set, Arc::clone(&counters)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let client = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let nth = counters.accepted.fetch_add(1, Ordering::Relaxed);
        let (toxics, target, counters) = (toxics.clone(), target.clone(), Arc::clone(&counters));
        tokio::spawn(async move {
            counters.open.fetch_add(1, Ordering::Relaxed);
            let end = relay(client, &target, nth, toxics).await;
            counters.open.fetch_sub(1, Ordering::Relaxed);
            if end == Some(End::Reset) {
                counters.resets.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    api.abort();
    Ok(())
}

/// Connects to the address of `target` whose turn the `nth` connection is.
async fn connect_nth(target: &str, nth: u64) -> io::Result<TcpStream> {
    let mut addresses: Vec<_> = tokio::net::lookup_host(target).await?.collect();
    addresses.sort();
    let pick = usize::try_from(nth).unwrap_or(0) % addresses.len().max(1);
    match addresses.get(pick) {
        Some(address) => TcpStream::connect(address).await,
        None => Err(io::Error::new(io::ErrorKind::NotFound, "no address")),
    }
}

/// One proxied connection, the `nth` accepted; `None` if the target could
/// not be reached (the client is then closed, as a refused connect would
/// look through a proxy).
///
/// A target name that resolves to several addresses is resolved anew for
/// each connection, which goes to the addresses in turn: a virtual IP in
/// front of several replicas, as kube-proxy's round-robin mode makes one.
async fn relay(
    client: TcpStream,
    target: &str,
    nth: u64,
    toxics: watch::Receiver<Toxics>,
) -> Option<End> {
    let upstream = match connect_nth(target, nth).await {
        Ok(stream) => stream,
        Err(error) => {
            tracing::debug!(%error, target, "target unreachable");
            let _ = client.set_zero_linger();
            return None;
        }
    };
    let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
    let shared = Shared {
        toxics,
        opened: Instant::now(),
        forwarded: Arc::new(AtomicU64::new(0)),
        stop: CancellationToken::new(),
    };
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let (up, down) = tokio::join!(
        pipe(client_read, upstream_write, shared.clone()),
        pipe(upstream_read, client_write, shared),
    );
    Some(if up == End::Reset || down == End::Reset {
        End::Reset
    } else {
        End::Close
    })
}
