//! The endpoints of one cluster, shared by every request and every reload.
//!
//! Readers (each request) load the current list with one atomic pointer read
//! (`arc-swap`); the writer (discovery) builds a new list and swaps it in. An
//! address that stays keeps its `Arc<Endpoint>`, and with it its latency
//! estimate and in-flight count; a removed endpoint lives on for as long as
//! requests still hold it.
//!
//! The endpoints a request may pick are kept in a second snapshot,
//! rebuilt only when something changed (see `pickable`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use tokio::time::Instant;

use super::endpoint::Endpoint;
use super::outlier::max_ejected;
use super::pickable::Pickable;
use super::rate::{Counts, is_outlier};
use crate::config::OutlierSettings;
use crate::middleware::classify::{Classifier, Outcome};

/// linkerd's default: the latency assumed for an endpoint not yet measured.
pub const DEFAULT_RTT: Duration = Duration::from_millis(30);
/// The time constant over which observations fade: short, so one old slow
/// answer is forgotten within about a second (see `state`).
pub const DEFAULT_DECAY: Duration = Duration::from_millis(200);

/// A cluster's current endpoints.
#[derive(Debug)]
pub struct EndpointSet {
    current: ArcSwap<Vec<Arc<Endpoint>>>,
    /// What requests pick from, as of `generation`'s value when built.
    pickable: ArcSwap<Pickable>,
    /// Bumped by every change of membership or availability.
    generation: Arc<AtomicU64>,
    /// Serialises rebuilds of `pickable`.
    rebuilding: Mutex<()>,
    /// The size of the last `pickable` built (see [`EndpointSet::spread`]).
    spread: Arc<AtomicUsize>,
    /// Serialises writers and holds the EWMA parameters for new endpoints.
    writer: Mutex<EwmaParams>,
    /// How outcomes are judged and when endpoints are ejected.
    outlier: ArcSwap<OutlierPolicy>,
}

/// Outlier ejection settings with the classifier that feeds them.
#[derive(Debug)]
struct OutlierPolicy {
    settings: OutlierSettings,
    classifier: Classifier,
}

#[derive(Clone, Copy, Debug)]
struct EwmaParams {
    default_rtt: Duration,
    decay: Duration,
}

/// What an [`EndpointSet::update`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetChange {
    /// Addresses that were not in the set before.
    pub added: Vec<SocketAddr>,
    /// Addresses that are no longer in the set.
    pub removed: Vec<SocketAddr>,
}

impl SetChange {
    /// True when no address was added or removed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

impl EndpointSet {
    /// An empty set whose endpoints use the defaults (30 ms, 200 ms)
    /// until [`EndpointSet::set_ewma`] says otherwise.
    pub fn new() -> Arc<Self> {
        Self::with_ewma(DEFAULT_RTT, DEFAULT_DECAY)
    }

    /// An empty set whose endpoints start at `default_rtt` and forget with
    /// time constant `decay`.
    pub fn with_ewma(default_rtt: Duration, decay: Duration) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwap::from_pointee(Vec::new()),
            pickable: ArcSwap::from_pointee(Pickable::default()),
            generation: Arc::default(),
            rebuilding: Mutex::new(()),
            spread: Arc::default(),
            writer: Mutex::new(EwmaParams { default_rtt, decay }),
            outlier: ArcSwap::from_pointee(OutlierPolicy {
                // Off until configured: a bare set (tests, benches) never ejects.
                settings: OutlierSettings {
                    consecutive_failures: 0,
                    base_ejection_time: Duration::from_secs(30),
                    max_ejection_time: Duration::from_secs(300),
                    max_ejection_percent: 0.5,
                    cancelled_after: Duration::MAX,
                    failure_percentage: 0.0,
                    failure_percentage_request_volume: 1,
                    failure_percentage_window: Duration::from_secs(10),
                },
                classifier: Classifier::new(&[502, 503, 504]),
            }),
        })
    }

    /// Sets the outlier ejection policy (at start, and on reload).
    pub fn set_outlier(&self, settings: OutlierSettings, classifier: Classifier) {
        self.outlier.store(Arc::new(OutlierPolicy {
            settings,
            classifier,
        }));
    }

    /// Feeds one finished request's outcome (as `judge` reads it with the
    /// cluster's classifier) to `endpoint`'s outlier detection.
    pub fn report(
        &self,
        endpoint: &Endpoint,
        judge: impl FnOnce(&Classifier) -> Outcome,
        now: Instant,
    ) {
        let policy = self.outlier.load();
        match judge(&policy.classifier) {
            // A replica that says it is busy is not broken.
            Outcome::Ignored | Outcome::Overloaded => {}
            Outcome::Success => {
                endpoint.update_health(|h| (h.success(&policy.settings, now), Vec::new()));
            }
            Outcome::Failure => self.failed(endpoint, &policy.settings, now),
        }
    }

    /// A request to `endpoint` was cancelled after `elapsed`: a failure
    /// when its own per-try timeout cancelled it (`timed_out`), or when it
    /// had waited `cancelled_after`.
    pub fn report_cancelled(
        &self,
        endpoint: &Endpoint,
        elapsed: Duration,
        timed_out: bool,
        now: Instant,
    ) {
        let policy = self.outlier.load();
        if timed_out || elapsed >= policy.settings.cancelled_after {
            self.failed(endpoint, &policy.settings, now);
        }
    }

    fn failed(&self, endpoint: &Endpoint, settings: &OutlierSettings, now: Instant) {
        let own = usize::from(endpoint.ejected(now));
        // The snapshot counts the ejected: no lock per peer on a failure.
        let out = self.available(now).ejected().saturating_sub(own);
        let current = self.current.load();
        let may_eject = out < max_ejected(current.len(), settings.max_ejection_percent);
        let (ejected, own) = endpoint.update_health(|h| {
            let change = h.failure(settings, may_eject, now);
            (
                (change.is_some(), h.window(settings, now)),
                change.into_iter().collect(),
            )
        });
        if ejected || !may_eject || settings.failure_percentage <= 0.0 {
            return;
        }
        if own.requests < settings.failure_percentage_request_volume {
            return;
        }
        // Only on a failure of an endpoint with enough requests: one health
        // lock per peer, never on the success path.
        let peers = current
            .iter()
            .filter(|e| !std::ptr::eq(e.as_ref(), endpoint))
            .fold(Counts::default(), |sum, e| {
                sum.plus(e.update_health(|h| (h.window(settings, now), Vec::new())))
            });
        if is_outlier(own, peers, settings) {
            tracing::warn!(
                endpoint = %endpoint.addr(),
                failures = own.failures,
                requests = own.requests,
                peers_share = peers.share(),
                "failure rate far above its peers'"
            );
            endpoint.update_health(|h| ((), h.eject_for_rate(settings, now).into_iter().collect()));
        }
    }

    /// The endpoints the balancer may pick at `now`: those not ejected and
    /// not failing health checks; all of them when none is (panic mode).
    ///
    /// One pointer load and two atomic reads while nothing has changed; the
    /// first call after a change rebuilds the snapshot (see `pickable`).
    pub fn available(&self, now: Instant) -> Guard<Arc<Pickable>> {
        let snapshot = self.pickable.load();
        if snapshot.fresh(self.generation.load(Ordering::Acquire), now) {
            return snapshot;
        }
        drop(snapshot);
        self.rebuild(now)
    }

    fn rebuild(&self, now: Instant) -> Guard<Arc<Pickable>> {
        // Requests that find the snapshot stale wait for one rebuild rather
        // than each doing its own (or picking from a set still empty).
        let _rebuilding = self
            .rebuilding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Read before the endpoints: a change made during the rebuild bumps
        // the generation past this one, and the next request rebuilds again.
        let generation = self.generation.load(Ordering::Acquire);
        let snapshot = self.pickable.load();
        if snapshot.fresh(generation, now) {
            return snapshot;
        }
        let next = Pickable::build(&self.current.load(), generation, now);
        self.spread.store(next.len(), Ordering::Relaxed);
        self.pickable.store(Arc::new(next));
        self.pickable.load()
    }

    /// How many endpoints requests are spread over: the size of the
    /// pickable set as last built (by the first request after a change).
    /// The learned concurrency limit reads it: each endpoint needs its own
    /// small queue to keep its workers busy.
    pub fn spread(&self) -> Arc<AtomicUsize> {
        self.spread.clone()
    }

    /// Changes the latency parameters of current and future endpoints,
    /// keeping their estimates (a reload that retunes the balancer).
    pub fn set_ewma(&self, default_rtt: Duration, decay: Duration) {
        let mut params = self.lock_writer();
        *params = EwmaParams { default_rtt, decay };
        for endpoint in self.current.load().iter() {
            endpoint.reconfigure(default_rtt, decay);
        }
    }

    /// Replaces the set with `addrs` (duplicates dropped, order kept) in one
    /// atomic swap, reusing the endpoint of every address that stays.
    pub fn update(&self, addrs: impl IntoIterator<Item = SocketAddr>) -> SetChange {
        let params = self.lock_writer();
        let old = self.current.load_full();
        let mut seen = HashSet::new();
        let mut next = Vec::new();
        let mut added = Vec::new();
        let now = Instant::now();
        for addr in addrs {
            if !seen.insert(addr) {
                continue;
            }
            match old.iter().find(|e| e.addr() == addr) {
                Some(kept) => next.push(kept.clone()),
                None => {
                    added.push(addr);
                    let fresh = Endpoint::in_set(
                        addr,
                        params.default_rtt,
                        params.decay,
                        self.generation.clone(),
                    );
                    if !old.is_empty() {
                        // Joining a set that serves: slow start applies.
                        fresh.start_ramp(now);
                    }
                    next.push(Arc::new(fresh));
                }
            }
        }
        let removed = old
            .iter()
            .map(|e| e.addr())
            .filter(|addr| !seen.contains(addr))
            .collect();
        let same_order =
            old.len() == next.len() && old.iter().zip(&next).all(|(a, b)| Arc::ptr_eq(a, b));
        if !same_order {
            self.current.store(Arc::new(next));
            // After the store: a rebuild that sees this generation sees it.
            self.generation.fetch_add(1, Ordering::Release);
        }
        SetChange { added, removed }
    }

    /// The current endpoints; a snapshot that later updates do not change.
    pub fn endpoints(&self) -> Arc<Vec<Arc<Endpoint>>> {
        self.current.load_full()
    }

    /// Number of current endpoints.
    pub fn len(&self) -> usize {
        self.current.load().len()
    }

    /// True when there is no endpoint to send to.
    pub fn is_empty(&self) -> bool {
        self.current.load().is_empty()
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, EwmaParams> {
        // The guarded value is two Durations: never left inconsistent.
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn update_keeps_endpoint_of_retained_address() {
        let set = EndpointSet::new();
        set.update([addr(1), addr(2)]);
        let before = set.endpoints();
        let change = set.update([addr(2), addr(3)]);
        assert_eq!(change.added, vec![addr(3)]);
        assert_eq!(change.removed, vec![addr(1)]);
        let after = set.endpoints();
        assert!(Arc::ptr_eq(&before[1], &after[0]));
        assert_eq!(after[1].addr(), addr(3));
        // The old snapshot is untouched: in-flight requests keep their endpoint.
        assert_eq!(before[0].addr(), addr(1));
    }

    #[test]
    fn update_drops_duplicates_and_keeps_order() {
        let set = EndpointSet::new();
        set.update([addr(3), addr(1), addr(3), addr(2)]);
        let ports: Vec<_> = set.endpoints().iter().map(|e| e.addr().port()).collect();
        assert_eq!(ports, vec![3, 1, 2]);
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn unchanged_update_reports_nothing_and_keeps_snapshot() {
        let set = EndpointSet::new();
        assert!(set.is_empty());
        set.update([addr(1)]);
        let before = set.endpoints();
        assert!(set.update([addr(1)]).is_empty());
        assert!(Arc::ptr_eq(&before, &set.endpoints()));
    }

    #[test]
    fn set_ewma_applies_to_new_and_existing_endpoints() {
        let set = EndpointSet::new();
        set.update([addr(1)]);
        set.set_ewma(Duration::from_millis(7), DEFAULT_DECAY);
        set.update([addr(1), addr(2)]);
        let now = tokio::time::Instant::now();
        for endpoint in set.endpoints().iter() {
            assert_eq!(endpoint.rtt_estimate(now), Duration::from_millis(7));
        }
    }
}
