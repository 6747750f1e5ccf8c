//! Active health checks: a task per cluster that GETs a path on every
//! endpoint and marks the ones that fail it unhealthy (not picked).
//!
//! Passive outlier ejection only learns about an endpoint from the traffic
//! sent to it; an ejected or idle endpoint tells it nothing. Probing fills
//! that gap: `healthy_threshold` passes in a row that started after an
//! ejection readmit the endpoint early (unless `readmit_ejected` is off),
//! repeated failures keep a broken one out before a user request finds it.
//!
//! Choices:
//! - Probes go through the cluster's own client (its pool, connect timeout
//!   and protocol), so a probe fails the way a request would, and reuses a
//!   connection the upstream keeps alive, one that requests use too,
//!   rather than holding a second connection per endpoint. Any 2xx passes;
//!   anything else, an error or `timeout` fails.
//! - Probes are spread over the interval (HAProxy's `spread-checks`,
//!   Envoy's per-host jitter): a round lasts `interval`, lengthened by up
//!   to `jitter` at random so sidecars started together drift apart, and
//!   the i-th of n endpoints is probed `i/n` of the way into it. Each
//!   endpoint is probed once per round on a phase of its own; 1,000
//!   endpoints at 1 s are one probe a millisecond, not 1,000 in the same
//!   instant (which was a once-a-second spike in the request latency).
//! - At most [`MAX_PROBES_IN_FLIGHT`] probes per cluster are under way at
//!   once; a probe due while that many hang waits for one to end.
//! - The task is owned by the `Cluster` and aborted when it is dropped, and
//!   with it every probe it started.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use crate::config::HealthCheckSettings;
use crate::middleware::balance::{Endpoint, EndpointSet};
use crate::upstream::client::UpstreamClient;
use crate::wire::body;

/// Probes of one cluster in flight at once. Spread over the interval, a
/// probe that answers in a millisecond leaves about `n × 1 ms / interval` in
/// flight: one for 1,000 endpoints at 1 s. The bound only bites when probes
/// hang until their `timeout`: it caps the sockets and timers a cluster of
/// broken endpoints holds, at the price of probing them less often than
/// `interval` once more than `64 × interval / timeout` hang at once (320
/// with the defaults, 5 s and 1 s).
pub const MAX_PROBES_IN_FLIGHT: usize = 64;

/// A running health-check task; dropping it stops the probes.
#[derive(Debug)]
pub struct HealthChecker {
    task: JoinHandle<()>,
}

impl HealthChecker {
    /// Starts probing `set`'s endpoints as `check` says, through `client`
    /// (the cluster's).
    pub fn start(
        check: HealthCheckSettings,
        set: Arc<EndpointSet>,
        client: UpstreamClient,
    ) -> Self {
        let check = Arc::new(check);
        let probe_with = check.clone();
        let task = tokio::spawn(spread(set, check, MAX_PROBES_IN_FLIGHT, move |endpoint| {
            probe(client.clone(), endpoint, probe_with.clone())
        }));
        Self { task }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Probes every endpoint of `set` once per round, each on its own phase,
/// at most `max_in_flight` at once; runs until aborted.
async fn spread<P, F>(
    set: Arc<EndpointSet>,
    check: Arc<HealthCheckSettings>,
    max_in_flight: usize,
    probe: P,
) where
    P: Fn(Arc<Endpoint>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_in_flight));
    // Dropped with this task when it is aborted: so are the probes.
    let mut probes = JoinSet::new();
    let mut rng = fastrand::Rng::new();
    loop {
        let round = jittered(check.interval, check.jitter, &mut rng);
        let start = Instant::now();
        let endpoints = set.endpoints();
        let n = u32::try_from(endpoints.len()).unwrap_or(u32::MAX);
        for (i, endpoint) in (0..n).zip(endpoints.iter()) {
            tokio::time::sleep_until(start + round / n * i).await;
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return; // never closed
            };
            // Forget the probes that ended, so the set does not grow.
            while probes.try_join_next().is_some() {}
            let probe = probe(endpoint.clone());
            probes.spawn(async move {
                probe.await;
                drop(slot);
            });
        }
        tokio::time::sleep_until(start + round).await;
    }
}

/// `interval` lengthened by up to `jitter` of itself.
pub fn jittered(interval: Duration, jitter: f64, rng: &mut fastrand::Rng) -> Duration {
    interval.mul_f64(1.0 + jitter * rng.f64())
}

/// One probe of one endpoint, recorded on it.
async fn probe(
    mut client: UpstreamClient,
    endpoint: Arc<Endpoint>,
    check: Arc<HealthCheckSettings>,
) {
    let started = Instant::now();
    let uri = format!("http://{}{}", endpoint.addr(), check.path);
    let pass = match http::Request::get(uri).body(body::empty()) {
        Ok(request) => {
            let call = async { client.ready().await?.call(request).await };
            matches!(
                tokio::time::timeout(check.timeout, call).await,
                Ok(Ok(response)) if response.status().is_success()
            )
        }
        Err(_) => false,
    };
    let now = Instant::now();
    tracing::debug!(endpoint = %endpoint.addr(), pass, "health check");
    endpoint.update_health(|h| ((), h.check(&check, pass, started, now)));
    if pass {
        endpoint.health_check_passed();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::num::NonZeroU32;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// What the fake probes saw: each probe's endpoint and start, and the
    /// most probes under way at once.
    #[derive(Default)]
    struct Seen {
        starts: Mutex<Vec<(SocketAddr, Instant)>>,
        now: AtomicUsize,
        most: AtomicUsize,
    }

    /// Runs the spread schedule over `n` endpoints for `run`, with probes
    /// that take `takes` and an interval of 1 s without jitter.
    async fn schedule(n: u16, takes: Duration, run: Duration) -> (Arc<Seen>, Instant) {
        let set = EndpointSet::new();
        set.update((1..=n).map(|port| SocketAddr::from(([10, 0, 0, 1], port))));
        let check = Arc::new(HealthCheckSettings {
            path: "/health".into(),
            interval: 1000 * MS,
            jitter: 0.0,
            timeout: 1000 * MS,
            healthy_threshold: NonZeroU32::MIN,
            unhealthy_threshold: NonZeroU32::MIN,
            readmit_ejected: true,
        });
        let seen = Arc::new(Seen::default());
        let log = seen.clone();
        let t0 = Instant::now();
        let task = tokio::spawn(spread(set, check, MAX_PROBES_IN_FLIGHT, move |e| {
            let log = log.clone();
            async move {
                log.starts.lock().unwrap().push((e.addr(), Instant::now()));
                let now = log.now.fetch_add(1, Ordering::SeqCst) + 1;
                log.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(takes).await;
                log.now.fetch_sub(1, Ordering::SeqCst);
            }
        }));
        tokio::time::sleep(run).await;
        task.abort();
        (seen, t0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_thousand_endpoints_are_probed_once_each_spread_over_the_interval() {
        let (seen, t0) = schedule(1000, 20 * MS, 2500 * MS).await;
        let starts = seen.starts.lock().unwrap().clone();
        let first: Vec<_> = starts
            .iter()
            .filter(|(_, at)| *at < t0 + 1000 * MS)
            .collect();
        // Every endpoint once in the first interval, none twice.
        let mut per_endpoint: HashMap<SocketAddr, Vec<Instant>> = HashMap::new();
        for (addr, at) in &first {
            per_endpoint.entry(*addr).or_default().push(*at);
        }
        assert_eq!(first.len(), 1000);
        assert_eq!(per_endpoint.len(), 1000);
        // Spread: about 10 start in any 10 ms, never the 1,000 at once.
        let mut buckets = [0usize; 100];
        for (_, at) in &first {
            let ms = at.duration_since(t0).as_millis();
            buckets[usize::try_from(ms / 10).unwrap()] += 1;
        }
        assert!(
            buckets.iter().all(|&b| (5..=20).contains(&b)),
            "{buckets:?}"
        );
        // Each endpoint's next probe comes about one interval after its first.
        for (addr, at) in &first {
            let next = starts
                .iter()
                .find(|(a, t)| a == addr && t > at)
                .map(|(_, t)| t.duration_since(*at))
                .unwrap_or_else(|| panic!("{addr} probed once in 2.5 s"));
            assert!((900 * MS..=1100 * MS).contains(&next), "{addr}: {next:?}");
        }
        assert!(seen.most.load(Ordering::SeqCst) <= MAX_PROBES_IN_FLIGHT);
    }

    #[tokio::test(start_paused = true)]
    async fn hanging_probes_never_exceed_the_bound() {
        // 1,000 probes a second that each take 900 ms would be 900 at once.
        let (seen, _) = schedule(1000, 900 * MS, 5000 * MS).await;
        assert_eq!(seen.most.load(Ordering::SeqCst), MAX_PROBES_IN_FLIGHT);
        // They still go on, as fast as the bound lets them: 64 per 900 ms.
        let probes = seen.starts.lock().unwrap().len();
        assert!((300..=400).contains(&probes), "{probes} probes in 5 s");
    }
}
