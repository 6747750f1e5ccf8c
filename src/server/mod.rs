//! Running seawall: bind, serve, reload, drain.
//!
//! [`start`] binds every listener and the admin port before returning, so a
//! caller (the binary, or a test on port 0) knows the real addresses and that
//! connections are accepted. [`Running::drain`] stops accepting, lets
//! in-flight requests finish up to the drain timeout, and returns. Listeners
//! live in a [`Listeners`] set that a reload can grow and shrink.

pub mod memory;

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::discovery::Resolve;
use crate::downstream::bind;
pub use crate::downstream::{BindError, Listeners};
use crate::reload::{self, ReloadHandle};
use crate::snapshot::{Shared, Snapshot};
use crate::telemetry::Metrics;

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
    admin_stop: CancellationToken,
    stop: CancellationToken,
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

/// How long a drain waits for finished spans to be exported.
const TRACE_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

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
    let listeners = Arc::new(Listeners::new(
        shared.clone(),
        shutdown.clone(),
        tracker.clone(),
    ));
    let pending = listeners.prepare(&wanted).await?;
    listeners.apply(&wanted, pending).await;
    let reload = reload::spawn(reload::Reloader {
        path: config_path,
        shared: shared.clone(),
        resolver,
        listeners: listeners.clone(),
    });
    metrics.observe(admin::StateCollector::new(shared.clone(), reload.clone()));
    tokio::spawn(memory::run(shared.clone(), metrics.memory_releases()));
    tracing::info!(address = %admin, "admin listening");
    // The admin listener outlives the drain, so probes see it happen.
    let admin_stop = CancellationToken::new();
    let stop = CancellationToken::new();
    tokio::spawn(admin::serve(
        admin_listener,
        AdminState {
            shared: shared.clone(),
            listeners: listeners.clone(),
            reload: reload.clone(),
            draining: shutdown.clone(),
            stop: stop.clone(),
        },
        admin_stop.clone(),
    ));
    Ok(Running {
        admin,
        shared,
        listeners,
        reload,
        shutdown,
        admin_stop,
        stop,
        tracker,
    })
}

impl Running {
    /// The bound address of the named listener.
    pub fn listener(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.address(name)
    }

    /// Resolves when a drain was asked for through the admin API
    /// (`POST /drain`); the binary then drains as it does on SIGTERM.
    pub async fn drain_requested(&self) {
        self.stop.cancelled().await;
    }

    /// Stops accepting, shuts every connection down gracefully, and waits up
    /// to the drain timeout (of the config in force) for in-flight requests.
    pub async fn drain(self) -> Drained {
        let drain_timeout = self.shared.load().config.shutdown.drain_timeout;
        self.shutdown.cancel();
        self.tracker.close();
        let drained = match tokio::time::timeout(drain_timeout, self.tracker.wait()).await {
            Ok(()) => Drained::Clean,
            Err(_) => Drained::TimedOut,
        };
        // The last requests' spans get a moment to leave.
        if let Some(tracing) = self.shared.load().tracing.clone() {
            tracing.flush(TRACE_FLUSH).await;
        }
        self.admin_stop.cancel();
        drained
    }
}
