//! The endpoints a request may be sent to, kept ready between changes.
//!
//! Choosing an endpoint must cost the same among 3 endpoints as among
//! 10,000: the request path loads one snapshot (an `arc-swap` pointer read)
//! and draws from it by index. It takes no per-endpoint lock and allocates
//! nothing, whether or not some endpoints are out.
//!
//! The snapshot is rebuilt, by the first request to see it out of date,
//! when something changed since it was built:
//! - a *generation* counter, shared by the set and all its endpoints, is
//!   bumped by every ejection, readmission, health-check verdict and
//!   membership change (discovery, reload); the snapshot remembers the
//!   generation it was built at;
//! - an ejection ends by itself when its time is up, with nobody to bump
//!   the counter, so the snapshot also remembers the earliest instant an
//!   ejected endpoint comes back (`next_readmit`) and is stale from then on.
//!
//! Envoy does the same with its per-priority "healthy hosts" lists, rebuilt
//! on membership or health change and handed to the workers; tower's and
//! linkerd's balancers keep a ready set that only changes when a service
//! changes readiness. A rebuild visits every endpoint once (one health lock
//! each); it happens once per change, not once per request.

use std::ops::Deref;
use std::sync::Arc;

use tokio::time::Instant;

use super::endpoint::Endpoint;

/// The pickable endpoints of a set at the generation it was built at.
#[derive(Debug, Default)]
pub struct Pickable {
    /// Available endpoints; all of them in panic mode.
    endpoints: Vec<Arc<Endpoint>>,
    /// How many endpoints were ejected when it was built.
    ejected: usize,
    /// True when no endpoint was available and all are offered instead.
    panic: bool,
    /// The earliest end of an ejection: the snapshot is stale from then on.
    next_readmit: Option<Instant>,
    generation: u64,
}

impl Pickable {
    /// The pickable subset of `all` at `now`, built at `generation`.
    ///
    /// Panic mode: when none is available, all of them are offered (a
    /// cluster that looks entirely broken is more likely misjudged than
    /// down, and refusing everything helps nobody).
    pub(super) fn build(all: &[Arc<Endpoint>], generation: u64, now: Instant) -> Self {
        let mut endpoints = Vec::with_capacity(all.len());
        let mut ejected = 0;
        let mut next_readmit: Option<Instant> = None;
        for endpoint in all {
            let state = endpoint.pick_state(now);
            if let Some(until) = state.ejected_until {
                ejected += 1;
                next_readmit = Some(next_readmit.map_or(until, |t| t.min(until)));
            }
            if state.available {
                endpoints.push(endpoint.clone());
            }
        }
        let panic = endpoints.is_empty() && !all.is_empty();
        if panic {
            endpoints.extend(all.iter().cloned());
        }
        Self {
            endpoints,
            ejected,
            panic,
            next_readmit,
            generation,
        }
    }

    /// True while nothing changed: same generation, no ejection over.
    pub(super) fn fresh(&self, generation: u64, now: Instant) -> bool {
        self.generation == generation && self.next_readmit.is_none_or(|t| now < t)
    }

    /// How many endpoints were ejected when it was built.
    pub fn ejected(&self) -> usize {
        self.ejected
    }

    /// True when every endpoint was out and all are offered (panic mode).
    pub fn panic(&self) -> bool {
        self.panic
    }
}

impl Deref for Pickable {
    type Target = [Arc<Endpoint>];

    fn deref(&self) -> &Self::Target {
        &self.endpoints
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::super::EndpointSet;
    use super::*;
    use crate::config::OutlierSettings;
    use crate::middleware::classify::{Classifier, Outcome};

    const SEC: Duration = Duration::from_secs(1);

    fn cluster(n: u16) -> Arc<EndpointSet> {
        let set = EndpointSet::new();
        set.update((1..=n).map(|p| SocketAddr::from(([10, 0, 0, 1], p))));
        set.set_outlier(
            OutlierSettings {
                consecutive_failures: 1,
                base_ejection_time: 10 * SEC,
                max_ejection_time: 30 * SEC,
                max_ejection_percent: 0.5,
                cancelled_after: 2 * SEC,
                failure_percentage: 0.0,
                failure_percentage_request_volume: 20,
                failure_percentage_window: 10 * SEC,
            },
            Classifier::new(&[503]),
        );
        set
    }

    #[tokio::test(start_paused = true)]
    async fn snapshot_is_kept_until_something_changes() {
        let set = cluster(4);
        let now = Instant::now();
        let first = set.available(now);
        assert_eq!(first.len(), 4);
        assert!(std::ptr::eq(&**first, &**set.available(now)), "rebuilt");
        let before = Arc::clone(&first);
        drop(first);
        // An ejection is a change: the next request sees a new snapshot.
        let e = set.endpoints()[2].clone();
        set.report(&e, |_| Outcome::Failure, now);
        let after = set.available(now);
        assert!(!Arc::ptr_eq(&before, &after));
        assert_eq!(after.len(), 3);
        assert_eq!(after.ejected(), 1);
        assert!(after.iter().all(|x| x.addr() != e.addr()));
    }

    #[tokio::test(start_paused = true)]
    async fn an_ejection_ends_by_itself_when_its_time_is_up() {
        let set = cluster(4);
        let t0 = Instant::now();
        let e = set.endpoints()[0].clone();
        set.report(&e, |_| Outcome::Failure, t0);
        assert_eq!(set.available(t0 + 9 * SEC).len(), 3);
        let back = set.available(t0 + 10 * SEC);
        assert_eq!(back.len(), 4);
        assert_eq!(back.ejected(), 0);
        assert_eq!(e.readmissions(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn membership_change_is_seen_at_once() {
        let set = cluster(2);
        let now = Instant::now();
        assert_eq!(set.available(now).len(), 2);
        set.update((1..=5).map(|p| SocketAddr::from(([10, 0, 0, 1], p))));
        assert_eq!(set.available(now).len(), 5);
        set.update([SocketAddr::from(([10, 0, 0, 1], 9))]);
        let only = set.available(now);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].addr().port(), 9);
    }

    #[tokio::test(start_paused = true)]
    async fn all_out_offers_all_in_panic_mode() {
        let set = cluster(2);
        let now = Instant::now();
        for e in set.endpoints().iter() {
            // Both fail their health checks: nothing is available.
            let check = crate::config::HealthCheckSettings {
                path: "/health".into(),
                interval: SEC,
                jitter: 0.0,
                timeout: SEC,
                healthy_threshold: std::num::NonZeroU32::MIN,
                unhealthy_threshold: std::num::NonZeroU32::MIN,
                readmit_ejected: true,
            };
            e.update_health(|h| ((), h.check(&check, false, now, now)));
        }
        let all = set.available(now);
        assert!(all.panic());
        assert_eq!(all.len(), 2);
    }
}
