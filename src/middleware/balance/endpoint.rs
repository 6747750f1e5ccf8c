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
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::outlier::{Change, EndpointHealth};
use super::state::PeakEwma;

/// Below this an RTT is measurement noise; flooring the estimate keeps the
/// in-flight count meaningful in the cost even for a "zero-latency" endpoint.
const MIN_RTT_SECS: f64 = 1e-6;

/// An upstream address with its in-flight count and latency estimate.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    /// `addr` as a URI authority, formatted once: every request to this
    /// endpoint gets it (a cheap `Bytes` clone) instead of a new string.
    /// `None` only if the address does not parse back as an authority.
    authority: Option<http::uri::Authority>,
    pub(super) in_flight: AtomicUsize,
    rtt: Mutex<PeakEwma>,
    health: Mutex<EndpointHealth>,
    ejections: AtomicU64,
    readmissions: AtomicU64,
}

impl Endpoint {
    /// A fresh endpoint whose estimate starts at `default_rtt` and forgets
    /// with time constant `decay`.
    pub fn new(addr: SocketAddr, default_rtt: Duration, decay: Duration) -> Self {
        Self {
            addr,
            authority: http::uri::Authority::try_from(addr.to_string()).ok(),
            in_flight: AtomicUsize::new(0),
            rtt: Mutex::new(PeakEwma::new(default_rtt, decay)),
            health: Mutex::new(EndpointHealth::default()),
            ejections: AtomicU64::new(0),
            readmissions: AtomicU64::new(0),
        }
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

    /// The PeakEWMA round-trip estimate at `now`.
    pub fn rtt_estimate(&self, now: Instant) -> Duration {
        Duration::from_secs_f64(self.ewma().estimate(now))
    }

    /// The balancing cost at `now`: estimated RTT × (in-flight + 1), i.e. the
    /// time a new request expects to wait if the queue ahead drains serially.
    pub fn cost(&self, now: Instant) -> f64 {
        self.cost_at(self.ewma().estimate(now))
    }

    /// The RTT estimate in seconds (the default until the first answer).
    pub fn rtt_secs(&self, now: Instant) -> f64 {
        self.ewma().estimate(now)
    }

    /// The RTT estimate in seconds, if the endpoint has ever answered.
    pub fn measured_rtt(&self, now: Instant) -> Option<f64> {
        self.ewma().measured(now)
    }

    /// The balancing cost if the endpoint's RTT were `rtt_secs`.
    pub fn cost_at(&self, rtt_secs: f64) -> f64 {
        let rtt = rtt_secs.max(MIN_RTT_SECS);
        // Precision loss above 2^53 in-flight requests is irrelevant.
        #[allow(clippy::cast_precision_loss)]
        let queue = (self.in_flight() + 1) as f64;
        rtt * queue
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
    /// the endpoint again as if new (see [`PeakEwma::forget_bound`]).
    pub fn health_check_passed(&self) {
        if self.ewma().forget_bound() {
            tracing::debug!(endpoint = %self.addr, "answering again; RTT estimate reset");
        }
    }

    pub(super) fn ewma(&self) -> MutexGuard<'_, PeakEwma> {
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
    async fn cost_grows_with_in_flight() {
        let ep = endpoint();
        let now = Instant::now();
        let idle = ep.cost(now);
        assert!((idle - 0.030).abs() < 1e-9);
        let _guards: Vec<_> = (0..3).map(|_| InFlight::new(ep.clone())).collect();
        assert!((ep.cost(now) - 4.0 * idle).abs() < 1e-9);
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
}
