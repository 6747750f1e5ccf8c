//! Running seawall: bind, serve, reload, drain.
//!
//! [`start`] binds every listener and the admin port before returning, so a
//! caller (the binary, or a test on port 0) knows the real addresses and that
//! connections are accepted. [`Running::drain`] stops accepting, lets
//! in-flight requests finish up to the drain timeout, and returns. Listeners
//! live in a [`Listeners`] set that a reload can grow and shrink.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, AdminState};
use crate::config::{Config, ListenerSettings};
use crate::discovery::Resolve;
use crate::proxy::listener;
use crate::reload::{self, ReloadHandle};
use crate::snapshot::{Shared, Snapshot};
use crate::telemetry::Metrics;

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {what} on {address}: {source}")]
pub struct BindError {
    what: String,
    address: SocketAddr,
    source: std::io::Error,
}

async fn bind(what: &str, address: SocketAddr) -> Result<(TcpListener, SocketAddr), BindError> {
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

/// A started seawall.
#[derive(Debug)]
pub struct Running {
    /// Bound admin address.
    pub admin: SocketAddr,
    /// The shared snapshot (for reload and inspection).
    pub shared: Shared,
    /// The bound data listeners.
    pub listeners: Arc<Listeners>,
    /// Sends reload requests to the one writer task.
    pub reload: ReloadHandle,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished.
    Clean,
    /// The drain timeout expired with connections still open.
    TimedOut,
}

/// Resolves endpoints, binds everything and starts serving. With
/// `config_path`, the reload task watches that file.
pub async fn start(
    config: Config,
    resolver: Arc<dyn Resolve>,
    config_path: Option<std::path::PathBuf>,
) -> Result<Running, BindError> {
    let admin_addr = config.admin.address;
    let wanted = config.listeners.clone();
    let (admin_listener, admin) = bind("admin listener", admin_addr).await?;
    let metrics = Metrics::new();
    let snapshot = Snapshot::build(config, 1, resolver.clone(), None, metrics.clone()).await;
    let shared: Shared = Arc::new(ArcSwap::from_pointee(snapshot));
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let listeners = Arc::new(Listeners {
        bound: Mutex::new(HashMap::new()),
        shared: shared.clone(),
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
    });
    let pending = listeners.prepare(&wanted).await?;
    listeners.apply(&wanted, pending).await;
    let reload = reload::spawn(reload::Reloader {
        path: config_path,
        shared: shared.clone(),
        resolver,
        listeners: listeners.clone(),
    });
    metrics.observe(shared.clone(), reload.clone());
    tokio::spawn(crate::memory::run(
        shared.clone(),
        metrics.memory_releases(),
    ));
    tracing::info!(address = %admin, "admin listening");
    tokio::spawn(admin::serve(
        admin_listener,
        AdminState {
            shared: shared.clone(),
            listeners: listeners.clone(),
            reload: reload.clone(),
        },
        shutdown.clone(),
    ));
    Ok(Running {
        admin,
        shared,
        listeners,
        reload,
        shutdown,
        tracker,
    })
}

impl Running {
    /// The bound address of the named listener.
    pub fn listener(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.address(name)
    }

    /// Stops accepting, shuts every connection down gracefully, and waits up
    /// to the drain timeout (of the config in force) for in-flight requests.
    pub async fn drain(self) -> Drained {
        let drain_timeout = self.shared.load().config.shutdown.drain_timeout;
        self.shutdown.cancel();
        self.tracker.close();
        match tokio::time::timeout(drain_timeout, self.tracker.wait()).await {
            Ok(()) => Drained::Clean,
            Err(_) => Drained::TimedOut,
        }
    }
}
