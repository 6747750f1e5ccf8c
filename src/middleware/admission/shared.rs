//! One compartment's shared state: the pure [`Queue`] behind a lock, the
//! permits that hold its slots and the waiters that queue for one.
//!
//! Every decision is made under a short `std::sync::Mutex` (no await while
//! holding it); waking a waiter happens after the lock is released. A slot
//! is a [`Permit`] value that gives itself back when dropped, wherever that
//! happens: in the response future, in a waiter dropped by its client, or
//! inside a channel whose receiver is gone. That one rule is what makes
//! cancellation leak-free without bookkeeping at each exit.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use super::error::{Shed, ShedReason};
use super::metrics::AdmissionMetrics;
use super::state::{Arrival, Handoff, Queue, Sample, Verdict};
use crate::config::AdmissionSettings;
use crate::middleware::Priority;

type Grant = Result<Permit, Shed>;

/// A compartment: its slots, queue and counters, shared by every clone of
/// every service built on it (all connections, and every route that shares
/// a cluster's compartment).
#[derive(Debug)]
pub struct AdmissionState {
    name: String,
    queue: Mutex<Queue<oneshot::Sender<Grant>>>,
    metrics: AdmissionMetrics,
    /// How many endpoints the requests are spread over, when known.
    spread: ArcSwapOption<AtomicUsize>,
}

/// The outcome of [`AdmissionState::acquire`].
#[derive(Debug)]
pub(crate) enum Acquire {
    Admitted(Permit),
    Waiting(Waiter),
    Shed(Shed),
}

impl AdmissionState {
    /// A compartment named `name` (for logs) with `settings`.
    pub fn new(name: impl Into<String>, settings: AdmissionSettings) -> Arc<Self> {
        Self::with_rng(name, settings, fastrand::Rng::new())
    }

    /// Like [`new`](Self::new), with a seeded `Retry-After` jitter (tests).
    pub fn with_seed(name: impl Into<String>, settings: AdmissionSettings, seed: u64) -> Arc<Self> {
        Self::with_rng(name, settings, fastrand::Rng::with_seed(seed))
    }

    fn with_rng(
        name: impl Into<String>,
        settings: AdmissionSettings,
        rng: fastrand::Rng,
    ) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            queue: Mutex::new(Queue::new(settings, Instant::now(), rng)),
            metrics: AdmissionMetrics::default(),
            spread: ArcSwapOption::empty(),
        })
    }

    /// Follows how many endpoints this compartment's requests are spread
    /// over (a cluster's pickable set, kept current by its balancer); the
    /// learned limit sizes its tolerated queue by it.
    pub fn spread_over(&self, endpoints: Arc<AtomicUsize>) {
        self.spread.store(Some(endpoints));
    }

    /// The compartment's name (`cluster` or `cluster/route`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The compartment's counters and gauges.
    pub fn metrics(&self) -> &AdmissionMetrics {
        &self.metrics
    }

    /// Applies new limits in place. Permits already held stay valid and
    /// count against the new `max_concurrent` (a shrink takes effect as
    /// they return), waiters beyond a smaller `max_queue` are refused, and a
    /// larger `max_concurrent` serves waiters at once.
    pub fn resize(self: &Arc<Self>, settings: AdmissionSettings) {
        let mut queue = self.lock();
        let (handoffs, change) = queue.resize(settings, Instant::now());
        self.after(queue, handoffs, change);
    }

    /// Takes a slot, a place in the queue, or a refusal.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        deadline: Option<Instant>,
        priority: Priority,
    ) -> Acquire {
        let now = Instant::now();
        let mut queue = self.lock();
        let (arrival, change) = queue.arrive(now, deadline, priority);
        let mut evicted = Vec::new();
        let result = match arrival {
            Arrival::Admit => {
                self.metrics.admitted(None, priority);
                Acquire::Admitted(Permit::new(self.clone(), queue.in_flight()))
            }
            Arrival::Shed(shed) => {
                self.metrics.shed(&shed);
                Acquire::Shed(shed)
            }
            Arrival::Wait { expires, reason } => {
                let (tx, rx) = oneshot::channel();
                let (id, pushed_out) =
                    queue.enqueue(now, deadline, (expires, reason), priority, tx);
                evicted.extend(pushed_out);
                Acquire::Waiting(Waiter {
                    id,
                    state: self.clone(),
                    rx,
                    sleep: Box::pin(tokio::time::sleep_until(expires)),
                    done: false,
                })
            }
        };
        self.after(queue, evicted, change);
        result
    }

    /// Gives a slot back, at `at` when its holder already read the clock.
    fn release(self: &Arc<Self>, sample: Option<Sample>, at: Option<Instant>) {
        let now = at.unwrap_or_else(Instant::now);
        let mut queue = self.lock();
        // Only a learned limit reads the spread: a fixed one pays nothing.
        if queue.adaptive.is_some()
            && let Some(spread) = &*self.spread.load()
        {
            queue.set_spread(spread.load(Ordering::Relaxed));
        }
        let (handoffs, change) = queue.finish(now, sample);
        self.after(queue, handoffs, change);
    }

    /// Takes waiter `id` out; `Some` if it was still queued.
    fn remove(&self, id: u64, expired: bool) -> Option<Shed> {
        let mut queue = self.lock();
        let (_tx, shed) = queue.remove(id, Instant::now(), expired)?;
        self.sync(&queue);
        if expired {
            self.metrics.shed(&shed);
        }
        Some(shed)
    }

    /// Updates gauges, unlocks, then logs a CoDel transition and wakes the
    /// waiters that left the queue (never while locked: a grant whose
    /// waiter is gone drops its permit, which locks again).
    fn after(
        self: &Arc<Self>,
        queue: MutexGuard<'_, Queue<oneshot::Sender<Grant>>>,
        handoffs: Vec<Handoff<oneshot::Sender<Grant>>>,
        change: Option<bool>,
    ) {
        self.sync(&queue);
        drop(queue);
        match change {
            Some(true) => {
                tracing::warn!(compartment = %self.name, "queue standing: shedding by delay")
            }
            Some(false) => {
                tracing::info!(compartment = %self.name, "queue drained: delay shedding stopped")
            }
            None => {}
        }
        for Handoff {
            payload,
            priority,
            outcome,
            in_flight_at_grant,
        } in handoffs
        {
            let grant = match outcome {
                Ok(waited) => {
                    self.metrics.admitted(Some(waited), priority);
                    Ok(Permit::new(self.clone(), in_flight_at_grant))
                }
                Err(shed) => {
                    self.metrics.shed(&shed);
                    Err(shed)
                }
            };
            // A closed channel hands the grant back; dropping it releases.
            drop(payload.send(grant));
        }
    }

    fn sync(&self, queue: &Queue<oneshot::Sender<Grant>>) {
        let (in_flight, queued) = (queue.in_flight(), queue.queued());
        self.metrics
            .gauges(in_flight, queued, queue.overloaded(), queue.service_time());
        self.metrics.learned(queue.limit(), queue.baseline());
    }

    fn lock(&self) -> MutexGuard<'_, Queue<oneshot::Sender<Grant>>> {
        // The queue is consistent between statements; a panic elsewhere
        // while locked leaves nothing half-done worth refusing service for.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One slot of a compartment, given back on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    state: Arc<AdmissionState>,
    sample: Option<Sample>,
    /// When the holder finished (read once, for the sample and the release).
    ended: Option<Instant>,
    in_flight_at_grant: usize,
}

impl Permit {
    fn new(state: Arc<AdmissionState>, in_flight_at_grant: usize) -> Self {
        Self {
            state,
            sample: None,
            ended: None,
            in_flight_at_grant,
        }
    }

    /// Gives the slot back with the request's service time (from
    /// `started` to now) and what its outcome says about the upstream's
    /// load.
    pub(crate) fn complete(mut self, started: Instant, verdict: Verdict) {
        let now = Instant::now();
        let held = now.saturating_duration_since(started);
        self.ended = Some(now);
        self.sample = Some(Sample {
            held,
            in_flight_at_grant: self.in_flight_at_grant,
            verdict,
        });
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.state.release(self.sample.take(), self.ended);
    }
}

/// A queued request: resolves to a permit or a refusal; dropping it leaves
/// the queue (or gives back a permit granted meanwhile).
#[derive(Debug)]
pub(crate) struct Waiter {
    id: u64,
    state: Arc<AdmissionState>,
    rx: oneshot::Receiver<Grant>,
    sleep: Pin<Box<Sleep>>,
    done: bool,
}

impl Future for Waiter {
    type Output = Grant;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Grant> {
        if let Poll::Ready(grant) = Pin::new(&mut self.rx).poll(cx) {
            self.done = true;
            // The sender lives in the queue until it sends: it cannot be
            // dropped unsent while this waiter holds the compartment.
            return Poll::Ready(grant.unwrap_or_else(|_| {
                Err(Shed::new(
                    ShedReason::QueueDelay,
                    Duration::from_secs(1),
                    Priority::Default,
                ))
            }));
        }
        ready!(self.sleep.as_mut().poll(cx));
        match self.state.remove(self.id, true) {
            Some(shed) => {
                self.done = true;
                Poll::Ready(Err(shed))
            }
            // Handed off concurrently: the grant is on its way to `rx`,
            // which is registered to wake this task.
            None => Poll::Pending,
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if !self.done {
            // If it was granted meanwhile, `rx` drops the permit with it.
            let _ = self.state.remove(self.id, false);
        }
    }
}
