//! Watching the config file for changes.
//!
//! The *directory* is watched, not the file: editors save by writing a
//! temporary file and renaming it over the original (a watch on the old
//! inode would go quiet), and Kubernetes updates a mounted ConfigMap by
//! swapping the `..data` symlink inside the directory. Only events that
//! name the config file, its symlink target, `..data`, or a file the config
//! references wake the writer task (which debounces, re-reads, and finds
//! out from the content whether anything changed): other files in the
//! directory, such as a log seawall itself writes there, never do. A symlinked config file is
//! watched in its own directory and in its target's. The directories of
//! the certificate and key files the config references are watched too
//! (added as reloads bring new ones), so a rotated certificate — rewritten
//! in place, or a Kubernetes Secret swap — is applied like a config edit.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::Trigger;

/// The name Kubernetes gives the symlink it swaps to update a mounted
/// ConfigMap or Secret.
const KUBERNETES_DATA: &str = "..data";

/// A running watch: the watcher and the file names whose events matter.
pub(super) struct Watch {
    watcher: notify::RecommendedWatcher,
    names: Arc<Mutex<HashSet<OsString>>>,
    dirs: HashSet<PathBuf>,
}

/// Starts watching; the watcher stops when dropped.
pub(super) fn start(path: &Path, tx: mpsc::Sender<Trigger>) -> notify::Result<Watch> {
    let names = Arc::new(Mutex::new(HashSet::from([OsString::from(KUBERNETES_DATA)])));
    let wanted = names.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) if matters(&event.kind) && names_one(&wanted, &event.paths) => {
                // A full channel already holds a trigger that will read the
                // file: dropping this one loses nothing.
                let _ = tx.try_send(Trigger::File);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "config watch error"),
        }
    })?;
    let mut watch = Watch {
        watcher,
        names,
        dirs: HashSet::new(),
    };
    for dir in watch.add(path) {
        watch.watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    }
    Ok(watch)
}

impl Watch {
    /// Watches the files the config references (certificates, keys), in
    /// their directories. A directory that cannot be watched is logged,
    /// not fatal: an explicit reload still picks the change up.
    pub(super) fn follow(&mut self, files: &[PathBuf]) {
        for file in files {
            for dir in self.add(file) {
                if let Err(e) = self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a certificate directory");
                }
            }
        }
    }

    /// Remembers the names of `file` (and of its symlink target); returns
    /// the directories not watched yet.
    fn add(&mut self, file: &Path) -> Vec<PathBuf> {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        let mut fresh = Vec::new();
        for (dir, name) in places(file) {
            names.extend(name);
            if self.dirs.insert(dir.clone()) {
                fresh.push(dir);
            }
        }
        fresh
    }
}

fn names_one(wanted: &Mutex<HashSet<OsString>>, paths: &[PathBuf]) -> bool {
    let wanted = wanted.lock().unwrap_or_else(PoisonError::into_inner);
    // An event without paths cannot be told apart: re-read to be safe.
    paths.is_empty()
        || paths
            .iter()
            .filter_map(|p| p.file_name())
            .any(|n| wanted.contains(n))
}

fn matters(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    )
}

/// The directory and file name of `path`, and of its symlink target when
/// it is one.
fn places(path: &Path) -> Vec<(PathBuf, Option<OsString>)> {
    let parent = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = |p: &Path| p.file_name().map(OsString::from);
    let mut places = vec![(parent(path), name(path))];
    if let Ok(target) = std::fs::canonicalize(path) {
        let target_dir = parent(&target);
        if target_dir.is_dir() {
            places.push((target_dir, name(&target)));
        }
    }
    places
}
