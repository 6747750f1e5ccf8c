//! Hot reload: one writer task turns triggers into new snapshots.
//!
//! ```text
//! file change (watch.rs, debounced) ─┐
//! SIGHUP (main.rs)                   ├─► writer task: read → parse → validate
//! POST /reload (admin)               ┘     → check live-applicable → bind new
//!                                          listeners → build (reusing state)
//!                                          → ArcSwap::store → apply listeners
//! ```
//!
//! Every trigger ends in exactly one [`Outcome`]: `Applied` (a new
//! generation serves), `Unchanged` (the file says what is already running),
//! or `Rejected` (nothing changed; the old config keeps serving and the
//! reason, with file:line:column for a bad file, is logged at WARN, counted
//! and shown at `/config`). One writer means reloads never race each other;
//! readers never wait for it (they load the snapshot atomically).

mod status;
mod watch;

pub use status::{Outcome, ReloadStatus};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::config::{self, Config};
use crate::discovery::Resolve;
use crate::downstream::Listeners;
use crate::snapshot::{Shared, Snapshot};

/// How long file events must be quiet before the file is read: editors and
/// ConfigMap updates arrive as bursts of events.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// What the writer task needs.
pub struct Reloader {
    /// The config file; `None` when seawall was started from a value (tests).
    pub path: Option<PathBuf>,
    /// The shared snapshot the writer swaps.
    pub shared: Shared,
    /// Resolves the endpoints of new or changed clusters.
    pub resolver: Arc<dyn Resolve>,
    /// The bound listeners, grown and shrunk to match the config.
    pub listeners: Arc<Listeners>,
}

/// Why a reload was asked for.
#[derive(Debug)]
enum Trigger {
    /// The file (or its directory) changed.
    File,
    /// SIGHUP or `POST /reload`; the outcome goes back on the channel.
    Asked(Option<oneshot::Sender<Outcome>>),
}

/// Asks the writer task for reloads and reads their outcomes.
#[derive(Clone, Debug)]
pub struct ReloadHandle {
    tx: mpsc::Sender<Trigger>,
    status: Arc<ReloadStatus>,
}

impl ReloadHandle {
    /// Reloads now and returns the outcome.
    pub async fn reload(&self) -> Outcome {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Trigger::Asked(Some(tx))).await.is_err() {
            return Outcome::Rejected("the reload task has stopped".into());
        }
        rx.await
            .unwrap_or_else(|_| Outcome::Rejected("the reload task has stopped".into()))
    }

    /// Asks for a reload without waiting (signal handlers).
    pub fn request(&self) {
        let _ = self.tx.try_send(Trigger::Asked(None));
    }

    /// Counters and the last outcome, for `/config` and metrics.
    pub fn status(&self) -> &ReloadStatus {
        &self.status
    }
}

/// Starts the writer task (and the file watcher when there is a path).
pub fn spawn(reloader: Reloader) -> ReloadHandle {
    let (tx, rx) = mpsc::channel(16);
    let status = Arc::new(ReloadStatus::default());
    let watcher = reloader.path.as_ref().and_then(|path| {
        watch::start(path, tx.clone())
            .map_err(|e| {
                tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "cannot watch the config file; reload with SIGHUP or POST /reload"
                );
            })
            .ok()
    });
    tokio::spawn(run(reloader, rx, status.clone(), watcher));
    ReloadHandle { tx, status }
}

/// The writer task. The watcher is held here so it lives as long as the
/// task, and grows to follow certificate files new configs reference.
async fn run(
    reloader: Reloader,
    mut rx: mpsc::Receiver<Trigger>,
    status: Arc<ReloadStatus>,
    mut watcher: Option<watch::Watch>,
) {
    if let Some(w) = watcher.as_mut() {
        w.follow(&reloader.shared.load().config.tls_files());
    }
    while let Some(trigger) = rx.recv().await {
        let mut replies = Vec::new();
        let from_file = match trigger {
            Trigger::File => true,
            Trigger::Asked(reply) => {
                replies.extend(reply);
                false
            }
        };
        if from_file {
            // Let a burst of file events settle, folding in any that follow.
            while let Ok(Some(next)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                if let Trigger::Asked(Some(reply)) = next {
                    replies.push(reply);
                }
            }
        }
        let outcome = reloader.reload_once().await;
        status.record(&outcome, reloader.shared.load().generation);
        if let (Outcome::Applied { .. }, Some(w)) = (&outcome, watcher.as_mut()) {
            w.follow(&reloader.shared.load().config.tls_files());
        }
        for reply in replies {
            let _ = reply.send(outcome.clone());
        }
    }
}

impl Reloader {
    /// Reads, validates and applies the file once.
    async fn reload_once(&self) -> Outcome {
        let Some(path) = &self.path else {
            return Outcome::Rejected("seawall was not started from a config file".into());
        };
        let text = match read_stable(path).await {
            Ok(text) => text,
            Err(reason) => return Outcome::Rejected(reason),
        };
        // Validation reads PEM and token files with blocking I/O: off the
        // async workers, so a slow disk (or a file that is a pipe) cannot
        // stall requests, even with one worker thread.
        let path = path.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            config::parse_all(&text, Some(&path)).map_err(|errors| {
                let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                all.join("; ")
            })
        })
        .await
        .unwrap_or_else(|e| Err(format!("the config parser failed: {e}")));
        match parsed {
            Ok(config) => self.apply(config).await,
            Err(reason) => Outcome::Rejected(reason),
        }
    }

    /// Applies a validated config: the live-applicability check, new
    /// listeners bound first (a failed bind changes nothing), then the swap.
    pub async fn apply(&self, config: Config) -> Outcome {
        let current = self.shared.load_full();
        if *current.config == config {
            return Outcome::Unchanged;
        }
        if let Some(reason) = not_live(&current.config, &config) {
            return Outcome::Rejected(reason);
        }
        let pending = match self.listeners.prepare(&config.listeners).await {
            Ok(pending) => pending,
            Err(e) => return Outcome::Rejected(e.to_string()),
        };
        let wanted = config.listeners.clone();
        let generation = current.generation + 1;
        let next = Snapshot::build(
            config,
            generation,
            self.resolver.clone(),
            Some(&current),
            current.metrics.clone(),
        )
        .await;
        self.shared.store(Arc::new(next));
        drop(current);
        self.listeners.apply(&wanted, pending).await;
        Outcome::Applied { generation }
    }
}

/// A change that cannot take effect without a restart, named.
fn not_live(old: &Config, new: &Config) -> Option<String> {
    // The admin token is read from the snapshot on every admin request,
    // so a rotated token applies live; only the bound address cannot.
    if old.admin.address != new.admin.address {
        return Some("admin.address cannot change while running; restart seawall".into());
    }
    if old.log.format != new.log.format || old.log.level != new.log.level {
        return Some(
            "log.level and log.format cannot change while running; restart seawall (RUST_LOG also works)"
                .into(),
        );
    }
    None
}

/// Reads the file until two reads 20 ms apart agree, so a file caught
/// half-written (truncate, then write) is never parsed as a whole.
async fn read_stable(path: &std::path::Path) -> Result<String, String> {
    let read = || async {
        tokio::fs::read_to_string(path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut last = read().await?;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = read().await?;
        if again == last {
            return Ok(last);
        }
        last = again;
    }
    Err(format!("{}: still changing after 1s", path.display()))
}
