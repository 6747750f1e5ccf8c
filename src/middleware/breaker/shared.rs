//! The breaker object a cluster owns: the state machine behind a mutex,
//! plus lock-free counters for metrics and the admin API.
//!
//! One `Arc<Breaker>` per cluster is shared by every connection's clone of
//! the stack (and can be kept across a reload). The mutex is held for a few
//! arithmetic steps, never across an `.await`. Transitions are logged here,
//! once each: WARN when the breaker opens, INFO when it half-opens or closes.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::error::BreakerOpen;
use super::state::{Admission, BreakerState, Call, Cause, Kind, Phase, Transition};
use crate::config::{BreakerMode, BreakerSettings};

/// A cluster's circuit breaker, shared by all its requests.
#[derive(Debug)]
pub struct Breaker {
    cluster: String,
    state: Mutex<BreakerState>,
    phase: AtomicU8,
    /// The throttle's admit ratio, as `f64` bits.
    admit_ratio: AtomicU64,
    counters: Counters,
}

/// Transition and refusal counts, for the metrics registry.
#[derive(Debug, Default)]
pub struct Counters {
    /// Opened by `consecutive_failures`.
    pub opened_consecutive: AtomicU64,
    /// Opened by `failure_rate`.
    pub opened_failure_rate: AtomicU64,
    /// Opened by `slow_call_rate`.
    pub opened_slow_call_rate: AtomicU64,
    /// Opened because nothing succeeded for a while (timeouts included).
    pub opened_no_success: AtomicU64,
    /// The throttle started refusing part of the load (overload).
    pub throttle_started: AtomicU64,
    /// Requests refused by the throttle.
    pub throttled: AtomicU64,
    /// Reopened by a failed probe.
    pub reopened: AtomicU64,
    /// Open → half-open.
    pub half_opened: AtomicU64,
    /// Half-open → closed.
    pub closed: AtomicU64,
    /// Requests refused while open.
    pub rejected: AtomicU64,
}

impl Breaker {
    /// A closed breaker for `cluster`.
    pub fn new(cluster: &str, settings: BreakerSettings) -> Arc<Self> {
        Self::with_rng(cluster, settings, fastrand::Rng::new())
    }

    /// A closed breaker whose jitter comes from `rng` (seeded in tests).
    pub fn with_rng(cluster: &str, settings: BreakerSettings, rng: fastrand::Rng) -> Arc<Self> {
        Arc::new(Self {
            cluster: cluster.to_owned(),
            state: Mutex::new(BreakerState::new(settings, rng)),
            phase: AtomicU8::new(0),
            admit_ratio: AtomicU64::new(1.0f64.to_bits()),
            counters: Counters::default(),
        })
    }

    /// The phase as of the last call (lock-free).
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            1 => Phase::Open,
            2 => Phase::HalfOpen,
            _ => Phase::Closed,
        }
    }

    /// The share of requests the throttle admits (1: it refuses nothing),
    /// as of the last call (lock-free).
    pub fn admit_ratio(&self) -> f64 {
        f64::from_bits(self.admit_ratio.load(Ordering::Relaxed))
    }

    /// The manual override in force.
    pub fn mode(&self) -> BreakerMode {
        self.lock().mode()
    }

    /// Sets the manual override (config or admin API) and restarts closed.
    pub fn set_mode(&self, mode: BreakerMode) {
        let mut state = self.lock();
        state.set_mode(mode);
        self.phase.store(0, Ordering::Release);
        self.admit_ratio.store(1.0f64.to_bits(), Ordering::Relaxed);
        tracing::warn!(cluster = %self.cluster, ?mode, "breaker mode set");
    }

    /// Transition and refusal counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Admits a call at `now`, or refuses it with the time left open.
    pub fn acquire(self: &Arc<Self>, now: Instant) -> Result<Ticket, BreakerOpen> {
        let admission = {
            let mut state = self.lock();
            let (admission, transition) = state.acquire(now);
            self.publish(&state, transition);
            admission
        };
        match admission {
            Admission::Admit(kind) => Ok(Ticket {
                breaker: self.clone(),
                kind,
                started: now,
                done: false,
            }),
            Admission::Reject(after) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                Err(BreakerOpen::new(after))
            }
            Admission::Throttle => {
                self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                Err(BreakerOpen::throttled())
            }
        }
    }

    /// Records a call that started at `started` (one clock read for both
    /// its length and the time of the record).
    fn finish(&self, kind: Kind, call: Option<Call>, started: Instant) {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(started);
        let mut state = self.lock();
        let transition = match call {
            Some(call) => state.record_call(kind, call, elapsed, now),
            None => state.cancel(kind, elapsed, now),
        };
        self.publish(&state, transition);
    }

    /// Stores the phase, and logs and counts a transition once.
    fn publish(&self, state: &BreakerState, transition: Option<Transition>) {
        let phase = match state.phase() {
            Phase::Closed => 0,
            Phase::Open => 1,
            Phase::HalfOpen => 2,
        };
        self.phase.store(phase, Ordering::Release);
        self.admit_ratio
            .store(state.admit_ratio().to_bits(), Ordering::Relaxed);
        let c = &self.counters;
        let cluster = &self.cluster;
        match transition {
            None => {}
            Some(Transition::Opened(cause, open_for)) => {
                let counter = match cause {
                    Cause::ConsecutiveFailures => &c.opened_consecutive,
                    Cause::FailureRate => &c.opened_failure_rate,
                    Cause::SlowCallRate => &c.opened_slow_call_rate,
                    Cause::ProbeFailed => &c.reopened,
                    Cause::NoSuccess => &c.opened_no_success,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%cluster, ?cause, ?open_for, "breaker opened");
            }
            Some(Transition::HalfOpened) => {
                c.half_opened.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%cluster, "breaker half-open: probing");
            }
            Some(Transition::Closed) => {
                c.closed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%cluster, "breaker closed");
            }
            Some(Transition::ThrottleStarted(admit_ratio)) => {
                c.throttle_started.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    %cluster,
                    admit_ratio,
                    "breaker throttling: the upstream accepts only part of the load (overload); refusing the excess"
                );
            }
            Some(Transition::ThrottleEnded) => {
                tracing::info!(%cluster, "breaker throttling ended: the upstream accepts the load again");
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, BreakerState> {
        // Every update leaves the state consistent between statements; after
        // a panic elsewhere keep serving with what is there.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One admitted call. Report its outcome with [`Ticket::finish`]; dropped
/// unfinished (the caller gave up), it frees its probe slot.
#[derive(Debug)]
pub struct Ticket {
    breaker: Arc<Breaker>,
    kind: Kind,
    started: Instant,
    done: bool,
}

impl Ticket {
    /// How the call is accounted for.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Records how the call ended.
    pub fn finish(mut self, call: Call) {
        self.done = true;
        self.breaker.finish(self.kind, Some(call), self.started);
    }

    /// Records how a call ended whose answer began `elapsed` after it was
    /// admitted (a streamed gRPC response, judged at its trailers): its
    /// latency is the answer's, not the stream's.
    pub fn finish_after(mut self, call: Call, elapsed: Duration) {
        self.done = true;
        let started = Instant::now().checked_sub(elapsed).unwrap_or(self.started);
        self.breaker.finish(self.kind, Some(call), started);
    }

    /// Time since the call was admitted.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.finish(self.kind, None, self.started);
        }
    }
}
