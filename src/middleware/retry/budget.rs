//! The cluster's retry budget and its counters.
//!
//! The budget is tower's [`TpsBudget`] (Finagle's design): every request
//! deposits, every retry withdraws, deposits expire after `ttl`, and a fixed
//! reserve of `min_per_second × ttl` lets a quiet cluster retry at all. It
//! fits as is: lock-free on the hot path, `tokio::time` based (so tests run
//! on the paused clock), and its limits are validated in `config`, so its
//! constructor's asserts cannot fire. What it lacks is added here: a cap on
//! retries in progress at once (the windowed budget alone would let its
//! whole reserve go out in one instant) and counters for metrics.
//!
//! One [`RetryBudget`] per cluster, behind an `Arc`, kept by `Cluster::build`
//! across reloads while the budget settings are unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tower::retry::budget::{Budget, TpsBudget};

use crate::config::RetryBudgetSettings;

/// A cluster's retry budget, concurrency cap and retry counters.
#[derive(Debug)]
pub struct RetryBudget {
    settings: RetryBudgetSettings,
    tps: TpsBudget,
    in_progress: AtomicUsize,
    counters: RetryCounters,
}

/// Counters for metrics (all monotonic; read with `Relaxed`).
#[derive(Debug, Default)]
pub struct RetryCounters {
    /// Requests that entered the retry layer.
    pub requests: AtomicU64,
    /// Attempts whose outcome the classifier called a success.
    pub attempts_success: AtomicU64,
    /// Attempts that failed upstream (counted by breaker and ejection).
    pub attempts_failure: AtomicU64,
    /// Attempts refused locally (breaker open, no endpoint, shed downstream).
    pub attempts_local: AtomicU64,
    /// Retries sent (attempts after the first).
    pub retries: AtomicU64,
    /// Retries refused by the budget.
    pub budget_exhausted: AtomicU64,
    /// Retries refused because `max_concurrent` retries were in progress.
    pub concurrency_capped: AtomicU64,
    /// Retryable failures not retried for another reason (attempt ceiling,
    /// deadline, body not replayable, method not safe, long Retry-After).
    pub given_up: AtomicU64,
}

/// What an attempt's outcome was, for [`RetryBudget::record_attempt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Acceptable answer.
    Success,
    /// Upstream failure.
    Failure,
    /// Local refusal.
    Local,
}

/// Why the budget refused a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No budget left in the window.
    Exhausted,
    /// Too many retries in progress.
    Concurrency,
}

/// One retry in progress; dropping it frees its concurrency slot.
#[derive(Debug)]
pub struct RetryPermit(Arc<RetryBudget>);

impl RetryBudget {
    /// A fresh budget (full reserve, no deposits).
    pub fn new(settings: RetryBudgetSettings) -> Arc<Self> {
        // Validation bounds ttl to 1..=60 s, ratio to [0, 1] and
        // min_per_second far below i32::MAX: TpsBudget's asserts hold.
        #[allow(clippy::cast_possible_truncation)]
        let tps = TpsBudget::new(settings.ttl, settings.min_per_second, settings.ratio as f32);
        Arc::new(Self {
            settings,
            tps,
            in_progress: AtomicUsize::new(0),
            counters: RetryCounters::default(),
        })
    }

    /// The settings this budget was built with (reload compares them).
    pub fn settings(&self) -> &RetryBudgetSettings {
        &self.settings
    }

    /// Counts a new request and deposits its share of retries.
    pub fn deposit(&self) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.tps.deposit();
    }

    /// Asks for one retry: a concurrency slot first (cheap to give back),
    /// then a withdrawal from the budget. Counts refusals.
    pub fn try_retry(self: &Arc<Self>) -> Result<RetryPermit, Refusal> {
        let max = self.settings.max_concurrent.get();
        let taken = self
            .in_progress
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        if taken.is_err() {
            self.counters
                .concurrency_capped
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Concurrency);
        }
        let permit = RetryPermit(self.clone());
        if !self.tps.withdraw() {
            self.counters
                .budget_exhausted
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Exhausted);
        }
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        Ok(permit)
    }

    /// Counts one attempt by outcome.
    pub fn record_attempt(&self, outcome: AttemptOutcome) {
        let c = &self.counters;
        let counter = match outcome {
            AttemptOutcome::Success => &c.attempts_success,
            AttemptOutcome::Failure => &c.attempts_failure,
            AttemptOutcome::Local => &c.attempts_local,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a retryable failure that was not retried for a reason other
    /// than the budget.
    pub fn record_give_up(&self) {
        self.counters.given_up.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, for the metrics registry and the admin API.
    pub fn counters(&self) -> &RetryCounters {
        &self.counters
    }

    /// Retries in progress now.
    pub fn in_progress(&self) -> usize {
        self.in_progress.load(Ordering::Relaxed)
    }

    /// Attempts sent per request (1.0 = no retries); 0 before any request.
    #[allow(clippy::cast_precision_loss)] // a ratio of counters
    pub fn amplification(&self) -> f64 {
        let c = &self.counters;
        let requests = c.requests.load(Ordering::Relaxed);
        if requests == 0 {
            return 0.0;
        }
        let attempts = c.attempts_success.load(Ordering::Relaxed)
            + c.attempts_failure.load(Ordering::Relaxed)
            + c.attempts_local.load(Ordering::Relaxed);
        attempts as f64 / requests as f64
    }
}

impl Drop for RetryPermit {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}
