//! Watching the config file for changes.
//!
//! The *directory* is watched, not the file: editors save by writing a
//! temporary file and renaming it over the original (a watch on the old
//! inode would go quiet), and Kubernetes updates a mounted ConfigMap by
//! swapping the `..data` symlink inside the directory. Any event in the
//! directory wakes the writer task, which debounces, re-reads, and finds out
//! from the content whether anything changed. A symlinked config file is
//! watched in its own directory and in its target's. The directories of
//! the certificate and key files the config references are watched too
//! (added as reloads bring new ones), so a rotated certificate — rewritten
//! in place, or a Kubernetes Secret swap — is applied like a config edit.

use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::Trigger;

/// Starts watching; the watcher stops when dropped.
pub(super) fn start(
    path: &Path,
    tx: mpsc::Sender<Trigger>,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) if matters(&event.kind) => {
                // A full channel already holds a trigger that will read the
                // file: dropping this one loses nothing.
                let _ = tx.try_send(Trigger::File);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "config watch error"),
        }
    })?;
    for dir in directories(path) {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

/// Watches the directories of `files` not watched yet (`watched` remembers
/// them). A directory that cannot be watched is logged, not fatal: an
/// explicit reload still picks the change up.
pub(super) fn follow(
    watcher: &mut notify::RecommendedWatcher,
    watched: &mut std::collections::HashSet<PathBuf>,
    files: &[PathBuf],
) {
    for file in files {
        for dir in directories(file) {
            if watched.insert(dir.clone())
                && let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive)
            {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a certificate directory");
            }
        }
    }
}

fn matters(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    )
}

/// The directory of the file, and of its symlink target when it is one.
fn directories(path: &Path) -> Vec<PathBuf> {
    let parent = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut dirs = vec![parent(path)];
    if let Ok(target) = std::fs::canonicalize(path) {
        let target_dir = parent(&target);
        if !dirs.contains(&target_dir) && target_dir.is_dir() {
            dirs.push(target_dir);
        }
    }
    dirs
}
