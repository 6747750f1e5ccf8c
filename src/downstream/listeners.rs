//! The bound data listeners, by name: a set that a reload grows and
//! shrinks without dropping a connection. A listener whose address changes
//! is bound anew; one that takes over an address an old listener still
//! holds is bound once the old one has let go.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::listener;
use crate::config::ListenerSettings;
use crate::snapshot::Shared;

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {what} on {address}: {source}")]
pub struct BindError {
    what: String,
    address: SocketAddr,
    source: std::io::Error,
}

/// Binds `address` for `what` (named in the error), returning the listener
/// and the address actually bound (port 0 picks one).
pub async fn bind(what: &str, address: SocketAddr) -> Result<(TcpListener, SocketAddr), BindError> {
    let err = |source| BindError {
        what: what.to_string(),
        address,
        source,
    };
    let tcp = TcpListener::bind(address).await.map_err(err)?;
    let local = tcp.local_addr().map_err(err)?;
    Ok((tcp, local))
}

/// One bound data listener.
#[derive(Debug)]
struct Bound {
    /// The address as configured (may have port 0).
    configured: SocketAddr,
    /// The address actually bound.
    local: SocketAddr,
    /// Cancelling stops accepting and gracefully closes its connections.
    token: CancellationToken,
    accept: JoinHandle<()>,
}

/// The bound data listeners, by name.
#[derive(Debug)]
pub struct Listeners {
    bound: Mutex<HashMap<String, Bound>>,
    shared: Shared,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// A new listener, bound but not yet serving.
#[derive(Debug)]
pub struct Pending {
    settings: ListenerSettings,
    tcp: TcpListener,
    local: SocketAddr,
}

impl Listeners {
    /// An empty set whose listeners serve `shared`, stop on `shutdown` and
    /// track their connections in `tracker` (the drain waits on it).
    pub fn new(shared: Shared, shutdown: CancellationToken, tracker: TaskTracker) -> Self {
        Self {
            bound: Mutex::new(HashMap::new()),
            shared,
            shutdown,
            tracker,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bound>> {
        // The map is only ever replaced entry by entry; a panic elsewhere
        // cannot leave an entry half-written.
        self.bound.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bound address of the named listener.
    pub fn address(&self, name: &str) -> Option<SocketAddr> {
        self.lock().get(name).map(|b| b.local)
    }

    /// (name, bound address) of every listener.
    pub fn addresses(&self) -> Vec<(String, SocketAddr)> {
        let mut all: Vec<_> = self
            .lock()
            .iter()
            .map(|(n, b)| (n.clone(), b.local))
            .collect();
        all.sort();
        all
    }

    /// Binds the listeners of `wanted` that are not bound yet (new name, or
    /// a known name at a new address). Nothing changes if one bind fails.
    /// A new listener on an address an old one still holds is bound by
    /// [`Listeners::apply`] once the old one has let go.
    pub async fn prepare(&self, wanted: &[ListenerSettings]) -> Result<Vec<Pending>, BindError> {
        let held: Vec<(String, SocketAddr)> = self
            .lock()
            .iter()
            .map(|(n, b)| (n.clone(), b.configured))
            .collect();
        let mut pending = Vec::new();
        for l in wanted {
            if held.iter().any(|(n, a)| *n == l.name && *a == l.address) {
                continue;
            }
            if l.address.port() != 0 && held.iter().any(|(_, a)| *a == l.address) {
                continue; // taken over in `apply`
            }
            let (tcp, local) = bind(&format!("listener {}", l.name), l.address).await?;
            pending.push(Pending {
                settings: l.clone(),
                tcp,
                local,
            });
        }
        Ok(pending)
    }

    /// Makes the bound set match `wanted`: stops listeners no longer wanted
    /// (their open connections finish gracefully), starts `pending`, then
    /// binds what had to wait for an old listener to let go of its address.
    pub async fn apply(&self, wanted: &[ListenerSettings], pending: Vec<Pending>) {
        let stale: Vec<(String, Bound)> = {
            let mut bound = self.lock();
            let names: Vec<String> = bound
                .iter()
                .filter(|(n, b)| {
                    !wanted
                        .iter()
                        .any(|l| l.name == **n && l.address == b.configured)
                })
                .map(|(n, _)| n.clone())
                .collect();
            names
                .into_iter()
                .filter_map(|n| bound.remove(&n).map(|b| (n, b)))
                .collect()
        };
        for (name, old) in stale {
            old.token.cancel();
            let _ = old.accept.await;
            tracing::info!(listener = %name, address = %old.local, "listener removed");
        }
        for p in pending {
            self.spawn(p.settings, p.tcp, p.local);
        }
        for l in wanted {
            if self.lock().contains_key(&l.name) {
                continue;
            }
            match bind(&format!("listener {}", l.name), l.address).await {
                Ok((tcp, local)) => self.spawn(l.clone(), tcp, local),
                Err(e) => tracing::error!(error = %e, "listener could not take over its address"),
            }
        }
    }

    fn spawn(&self, settings: ListenerSettings, tcp: TcpListener, local: SocketAddr) {
        let token = self.shutdown.child_token();
        tracing::info!(listener = %settings.name, address = %local, "listening");
        let accept = tokio::spawn(listener::serve(
            tcp,
            settings.name.clone(),
            settings.limits.clone(),
            self.shared.clone(),
            token.clone(),
            self.tracker.clone(),
        ));
        self.lock().insert(
            settings.name,
            Bound {
                configured: settings.address,
                local,
                token,
                accept,
            },
        );
    }
}
