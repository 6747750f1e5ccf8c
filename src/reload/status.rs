//! Reload outcomes and their counters.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// How one reload ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// The new config serves from this generation on.
    Applied {
        /// The new generation.
        generation: u64,
    },
    /// The file says what is already running.
    Unchanged,
    /// Nothing changed; the reason (a bad file names file:line:column).
    Rejected(String),
}

impl Outcome {
    /// The metric label: `applied`, `unchanged` or `rejected`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Rejected(_) => "rejected",
        }
    }
}

/// Counters by outcome and the last outcome; shown at `/config`.
#[derive(Debug, Default)]
pub struct ReloadStatus {
    applied: AtomicU64,
    unchanged: AtomicU64,
    rejected: AtomicU64,
    last: Mutex<Option<Outcome>>,
    last_rejection: Mutex<Option<String>>,
}

impl ReloadStatus {
    /// Counts an outcome and logs it once.
    pub(super) fn record(&self, outcome: &Outcome, generation: u64) {
        match outcome {
            Outcome::Applied { generation } => {
                self.applied.fetch_add(1, Ordering::Relaxed);
                tracing::info!(generation, "config reloaded");
            }
            Outcome::Unchanged => {
                self.unchanged.fetch_add(1, Ordering::Relaxed);
                tracing::info!(generation, "config unchanged");
            }
            Outcome::Rejected(reason) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(generation, %reason, "config reload rejected; the running config keeps serving");
                *lock(&self.last_rejection) = Some(reason.clone());
            }
        }
        *lock(&self.last) = Some(outcome.clone());
    }

    /// Reloads counted so far by outcome label.
    pub fn counts(&self) -> [(&'static str, u64); 3] {
        [
            ("applied", self.applied.load(Ordering::Relaxed)),
            ("unchanged", self.unchanged.load(Ordering::Relaxed)),
            ("rejected", self.rejected.load(Ordering::Relaxed)),
        ]
    }

    /// Whether the file as last read is in force: false from a rejected
    /// reload until a reload is applied or finds the file unchanged (true
    /// before any reload).
    pub fn last_successful(&self) -> bool {
        !matches!(*lock(&self.last), Some(Outcome::Rejected(_)))
    }

    /// The JSON shown at `/config`.
    pub fn to_json(&self) -> serde_json::Value {
        let counts: serde_json::Map<String, serde_json::Value> = self
            .counts()
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).into()))
            .collect();
        serde_json::json!({
            "last": *lock(&self.last),
            "last_rejection": *lock(&self.last_rejection),
            "counts": counts,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain values replaced whole: a poisoned lock holds a valid one.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
