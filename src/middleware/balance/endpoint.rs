//! One upstream endpoint and the state the balancer keeps about it.
//!
//! An [`Endpoint`] lives behind an `Arc` owned by the [`EndpointSet`]; every
//! request sent to it holds another `Arc` through its [`InFlight`] guard, so
//! removing an address from the set never disturbs requests already under
//! way, and a reload that keeps the address keeps its latency estimate.
//! Its ejection and health-check state ([`EndpointHealth`]) lives here too,
//! with counters the metrics registry and the admin API read.
//!
//! The in-flight count is an atomic; the latency estimate is a few floats
//! behind a std `Mutex` held for nanoseconds (no `.await` under it).
//!
//! [`EndpointSet`]: super::EndpointSet
//! [`InFlight`]: super::InFlight

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::outlier::{Change, EndpointHealth};
use super::state::{Reading, RttEwma};

/// An upstream address with its in-flight count and latency estimate.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    /// `addr` as a URI authority, formatted once: every request to this
    /// endpoint gets it (a cheap `Bytes` clone) instead of a new string.
    /// `None` only if the address does not parse back as an authority.
    authority: Option<http::uri::Authority>,
    pub(super) in_flight: AtomicUsize,
    /// Requests sent to it so far: ties between equally loaded endpoints go
    /// to the one with fewer (see `pick`).
    pub(super) picks: AtomicU64,
    rtt: Mutex<RttEwma>,
    health: Mutex<EndpointHealth>,
    ejections: AtomicU64,
    readmissions: AtomicU64,
    /// The generation of the set it belongs to, bumped on every change of
    /// its availability so the set rebuilds its pickable snapshot.
    generation: Arc<AtomicU64>,
}

/// What the set's pickable snapshot needs of one endpoint, read under one lock.
#[derive(Clone, Copy, Debug)]
pub(super) struct PickState {
    /// Neither ejected nor failing health checks.
    pub available: bool,
    /// When its current ejection ends, if it is ejected.
    pub ejected_until: Option<Instant>,
}

impl Endpoint {
    /// A fresh endpoint whose estimate starts at `default_rtt` and forgets
    /// with time constant `decay`.
    pub fn new(addr: SocketAddr, default_rtt: Duration, decay: Duration) -> Self {
        Self::in_set(addr, default_rtt, decay, Arc::default())
    }

    /// [`Endpoint::new`], reporting its changes to a set's `generation`.
    pub(super) fn in_set(
        addr: SocketAddr,
        default_rtt: Duration,
        decay: Duration,
        generation: Arc<AtomicU64>,
    ) -> Self {
        Self {
            addr,
            authority: http::uri::Authority::try_from(addr.to_string()).ok(),
            in_flight: AtomicUsize::new(0),
            picks: AtomicU64::new(0),
            rtt: Mutex::new(RttEwma::new(default_rtt, decay)),
            health: Mutex::new(EndpointHealth::default()),
            ejections: AtomicU64::new(0),
            readmissions: AtomicU64::new(0),
            generation,
        }
    }

    /// Availability and ejection end at `now` (readmitting it, once, when
    /// its time is up).
    pub(super) fn pick_state(&self, now: Instant) -> PickState {
        let mut health = self.health();
        let (ejected, change) = health.ejected(now);
        let state = PickState {
            available: !ejected && health.healthy(),
            ejected_until: health.ejected_until(),
        };
        drop(health);
        self.note(change);
        state
    }

    /// True when the balancer may pick it at `now`: not ejected, and not
    /// failing its active health checks.
    pub fn available(&self, now: Instant) -> bool {
        let mut health = self.health();
        let (ejected, change) = health.ejected(now);
        let healthy = health.healthy();
        drop(health);
        self.note(change);
        !ejected && healthy
    }

    /// True while ejected at `now`.
    pub fn ejected(&self, now: Instant) -> bool {
        let (ejected, change) = self.health().ejected(now);
        self.note(change);
        ejected
    }

    /// True unless active health checks marked it unhealthy.
    pub fn healthy(&self) -> bool {
        self.health().healthy()
    }

    /// Times this endpoint has been ejected.
    pub fn ejections(&self) -> u64 {
        self.ejections.load(Ordering::Relaxed)
    }

    /// Times this endpoint rejoined after an ejection.
    pub fn readmissions(&self) -> u64 {
        self.readmissions.load(Ordering::Relaxed)
    }

    /// Runs `f` on the health state, then logs and counts what changed.
    pub(crate) fn update_health<T>(
        &self,
        f: impl FnOnce(&mut EndpointHealth) -> (T, Vec<Change>),
    ) -> T {
        let (out, changes) = f(&mut self.health());
        for change in changes {
            self.note(Some(change));
        }
        out
    }

    /// Logs and counts one change, once.
    fn note(&self, change: Option<Change>) {
        let endpoint = self.addr;
        if change.is_some() {
            // Release: a set that sees the new generation sees the change.
            self.generation.fetch_add(1, Ordering::Release);
        }
        match change {
            None => {}
            Some(Change::Ejected(time)) => {
                self.ejections.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%endpoint, ?time, "endpoint ejected");
            }
            Some(Change::Readmitted) => {
                self.readmissions.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%endpoint, "endpoint readmitted");
            }
            Some(Change::Unhealthy) => tracing::warn!(%endpoint, "endpoint failed health checks"),
            Some(Change::Healthy) => tracing::info!(%endpoint, "endpoint passed health checks"),
        }
    }

    fn health(&self) -> MutexGuard<'_, EndpointHealth> {
        // Counters and instants only: never inconsistent in a way that matters.
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The address requests are sent to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address as a URI authority (`10.0.0.1:80`, `[::1]:81`).
    pub fn authority(&self) -> Option<&http::uri::Authority> {
        self.authority.as_ref()
    }

    /// Requests sent to this endpoint that have not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The round-trip estimate at `now`.
    pub fn rtt_estimate(&self, now: Instant) -> Duration {
        Duration::from_secs_f64(self.ewma().estimate(now))
    }

    /// The RTT estimate in seconds, if the endpoint has ever answered.
    pub fn measured_rtt(&self, now: Instant) -> Option<f64> {
        self.ewma().measured(now)
    }

    /// What a pick reads of the RTT estimate at `now`, under one lock
    /// (`busy`: it has requests in flight).
    pub(super) fn rtt_for_pick(&self, now: Instant, busy: bool) -> Reading {
        self.ewma().reading(now, busy)
    }

    /// The share of the pairings it wins that a slowly starting endpoint
    /// keeps at `now`: `age / over` since it joined or came back (1 when
    /// it never left, or has been in for `over`).
    pub fn ramp(&self, now: Instant, over: Duration) -> f64 {
        match self.health().ramp_from() {
            Some(from) if !over.is_zero() => {
                let age = now.saturating_duration_since(from);
                (age.as_secs_f64() / over.as_secs_f64()).min(1.0)
            }
            _ => 1.0,
        }
    }

    /// Starts a slow-start ramp at `now` (an endpoint added to a serving set).
    pub(crate) fn start_ramp(&self, now: Instant) {
        self.health().start_ramp(now);
    }

    /// Requests the balancer has sent to this endpoint so far.
    pub fn picks(&self) -> u64 {
        self.picks.load(Ordering::Relaxed)
    }

    /// Changes the estimate's parameters (on reload), keeping what was learnt.
    pub(crate) fn reconfigure(&self, default_rtt: Duration, decay: Duration) {
        self.ewma().reconfigure(default_rtt, decay);
    }

    /// Records a completed request's latency.
    pub(crate) fn observe(&self, rtt: Duration, now: Instant) {
        self.ewma().observe(rtt, now);
    }

    /// Records a passing active health check: an RTT estimate that rests
    /// only on requests that got no answer is dropped, so the balancer tries
    /// the endpoint again as if new (see [`RttEwma::forget_bound`]).
    pub fn health_check_passed(&self) {
        if self.ewma().forget_bound() {
            tracing::debug!(endpoint = %self.addr, "answering again; RTT estimate reset");
        }
    }

    pub(super) fn ewma(&self) -> MutexGuard<'_, RttEwma> {
        // A panic while holding the lock cannot leave the floats half-written
        // in a way that matters; keep serving with whatever is there.
        self.rtt
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::middleware::balance::InFlight;

    const MS: Duration = Duration::from_millis(1);

    fn endpoint() -> Arc<Endpoint> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
        Arc::new(Endpoint::new(addr, 30 * MS, Duration::from_secs(10)))
    }

    #[tokio::test(start_paused = true)]
    async fn guard_counts_while_alive() {
        let ep = endpoint();
        let a = InFlight::new(ep.clone());
        let b = InFlight::new(ep.clone());
        assert_eq!(ep.in_flight(), 2);
        drop(a);
        assert_eq!(ep.in_flight(), 1);
        b.complete(5 * MS);
        assert_eq!(ep.in_flight(), 0);
        assert_eq!(ep.rtt_estimate(Instant::now()), 5 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_request_records_elapsed_as_lower_bound() {
        let ep = endpoint();
        let guard = InFlight::new(ep.clone());
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(guard);
        assert_eq!(ep.in_flight(), 0);
        assert_eq!(ep.rtt_estimate(Instant::now()), Duration::from_secs(2));
    }

    /// What an endpoint nobody uses costs: its state, its `Arc`'s counts,
    /// its authority's bytes and its slots in the set's two lists (the pool
    /// forgets it with its last idle connection).
    #[test]
    fn an_endpoint_costs_under_a_kibibyte() {
        let authority = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535".len();
        let lists = 2 * size_of::<Arc<Endpoint>>();
        let size = size_of::<Endpoint>() + 2 * size_of::<usize>() + authority + lists;
        assert!(size <= 1024, "{size} bytes");
    }
}
