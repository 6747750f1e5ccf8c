//! Load balancing across a cluster's endpoints: the least requests in
//! flight with a latency penalty (among all of up to eight endpoints, power
//! of two choices among more), or plain round robin.
//!
//! # Why power of two choices
//!
//! Sending every request to the least-loaded endpoint of all looks optimal
//! but is not: every balancer (and every clone of this one, one per
//! connection) sees the same stale picture and sends the next burst to the
//! same "best" host, which then becomes the worst; a herd moving together.
//! Round robin has no herd but is blind: a replica that slowed down (GC, a
//! noisy neighbour, a cold cache) gets its full share and its queue grows.
//! Picking two endpoints at random and sending to the less loaded one avoids
//! both: the randomness breaks the herd, the comparison steers away from a
//! slow or busy endpoint, and the cost is two lookups instead of a scan
//! (Mitzenmacher's "power of two choices": the maximum load drops
//! exponentially compared with one random choice).
//!
//! # Among a few endpoints, all of them
//!
//! Up to eight endpoints, every pick compares all of them by the same
//! rules (a tournament from a random start). The herd above comes from a
//! stale picture; the in-flight counts are shared and move at the pick, and
//! ties go to the endpoint sent fewer requests, then to chance, so a scan
//! sends no burst anywhere. What two choices cost a small cluster is
//! measurable: among three replicas the idle one is left out of a third of
//! the pairings, so a request queues behind another while a worker idles.
//! Against three replicas of one worker each at their limit, that was about
//! 3 points of their goodput (chaos scenario 15, one loopback run each:
//! 92% of the reduced capacity served with two choices, 95% with the
//! scan). Above eight, the pair's argument holds: nearly the best of all
//! for two reads.
//!
//! # Least in flight first, latency only when clearly slower
//!
//! The pair is compared on requests in flight (Envoy's `LEAST_REQUEST`,
//! nginx's `least_conn`), ties going to the endpoint sent fewer requests so
//! far, then to chance ([`pick`] has the rules). Latency counts only when
//! one of the two is more than twice as slow as the other: then the lower
//! `rtt × (in_flight + 1)` wins. Each is judged by its RTT estimate
//! ([`RttEwma`], an averaged EWMA with time constant `decay`, 200 ms by
//! default) or by how long it has had requests in flight without
//! answering, whichever is longer: a replica that turns slow or hangs stops
//! attracting requests once its first one has been out for twice its
//! peers' RTT, before any slow answer (no burst onto it).
//!
//! A replica judged slow gets no traffic, so nothing would tell it
//! recovered. Once it is idle and its last answer is `decay / 2` old, it
//! gets one request (a probe paid for with real traffic, as linkerd's
//! faded estimate lets one through, only sooner and one at a time); an answer more
//! than twice as fast as its faded estimate replaces the estimate, so a
//! recovered replica is back at its share with its first fast answer,
//! while a still-slow one waits another `decay / 2` (≈ 17 slow answers
//! in 10 s for a 500 ms replica among 0.5 ms ones at 500 rps).
//!
//! Why not Peak-EWMA × in-flight as linkerd and Finagle do (and seawall
//! did): comparing costs strictly lets measurement noise decide at
//! sub-millisecond RTTs, so the replica that was lucky last wins every
//! pairing it is in (identical replicas measured 0 to 2.8× their fair share
//! per second), and a peak estimate that fades towards zero over a 10 s
//! `decay` kept a replica that answered slowly once starved for about a
//! minute after it recovered. Failure modes avoided here: a burst onto a
//! replica that just turned slow (its silence counts before its answers
//! do); starvation of a recovered one by the memory of its slow answers
//! (the fresh look, instead of waiting `decay × ln(ratio / 2)`, 1.25 s for
//! 500 ms against 0.5 ms); herding on noise (answers closer together than
//! `decay / 2` are averaged, never replace the estimate).
//!
//! An endpoint never measured costs `default_rtt` (30 ms, linkerd's default)
//! only where nothing better is known: in a pairing it is costed at its
//! rival's estimate. The RTT is measured to the response headers, error
//! responses included. A request that got no answer at all (cancelled,
//! connection refused or reset) counts its elapsed time as a lower bound
//! only: a hung endpoint, already avoided for its silence, stays avoided
//! after its request times out (until a fresh look), and a refusing one
//! never looks cheap for failing fast. An estimate that
//! rests on such a bound is dropped when an active health check passes.
//!
//! # Slow start
//!
//! With `slow_start`, an endpoint added to a serving set, readmitted after
//! an ejection or healthy again keeps a pairing it won only with
//! probability `age / slow_start`, so its share ramps up linearly (HAProxy's
//! `slowstart`, Envoy's `slow_start_config`) for replicas that must warm a
//! cache or a JIT before they take their full share.
//!
//! # Why not `tower::balance`
//!
//! tower's `p2c::Balance` owns its endpoint services, caches their readiness
//! and rebuilds its state from a `Discover` stream. Here the per-endpoint
//! state ([`Endpoint`]: latency estimate, in-flight count, later outlier
//! ejection and health) must outlive a config reload and be shared by every
//! clone of the route stack, so it lives behind `Arc`s in an [`EndpointSet`]
//! that discovery updates in place. The balancer itself is a thin service in
//! front of one pooled client: it picks an address and rewrites the URI.
//!
//! # Retries go elsewhere
//!
//! A retry carries an [`EndpointHint`] naming the endpoint its previous
//! attempt went to; the balancer leaves that endpoint out when it has any
//! other choice (a replica that just failed is the likeliest to fail
//! again), and records its own pick in the hint, so the retry layer learns
//! where an attempt went even when it ended in an error.
//!
//! `poll_ready` delegates to the inner client and reserves nothing: hyper
//! polls readiness on idle keep-alive connections, and an endpoint reserved
//! there would count as in flight for a request that never comes.

mod endpoint;
mod error;
mod future;
mod inflight;
mod layer;
pub mod outlier;
mod pick;
mod pickable;
mod rate;
mod set;
mod state;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use tokio::time::Instant;
use tower::Service;

pub use endpoint::Endpoint;
pub use error::NoEndpoint;
pub use future::ResponseFuture;
pub use inflight::InFlight;
pub use layer::BalanceLayer;
pub use pick::{pick, pick_round_robin};
pub use pickable::Pickable;
pub use set::{DEFAULT_DECAY, DEFAULT_RTT, EndpointSet, SetChange};
pub use state::RttEwma;

use crate::config::BalanceSettings;
use crate::middleware::AttemptEnd;
use crate::wire::BoxError;
use crate::wire::trail::Trail;

/// A request extension set by the retry layer on every attempt: the
/// endpoints to avoid (those the request already tried), and a slot where
/// the balancer records the endpoint it picked and whether an untried one
/// was left besides it. Clones share the slot.
#[derive(Clone, Debug, Default)]
pub struct EndpointHint {
    avoid: Vec<SocketAddr>,
    picked: Arc<Mutex<Option<Pick>>>,
    /// When this attempt's own per-try timeout fires (set by the attempt
    /// layer; it rides here, in an extension every retried request already
    /// has, rather than in a new one that would cost an allocation).
    attempt_end: Option<Instant>,
}

/// What the balancer recorded for one attempt.
#[derive(Clone, Copy, Debug)]
struct Pick {
    addr: SocketAddr,
    untried_left: bool,
}

impl EndpointHint {
    /// A hint asking the balancer to avoid `avoid` when it has another choice.
    pub fn avoiding(avoid: Option<SocketAddr>) -> Self {
        Self::avoiding_all(avoid.into_iter().collect())
    }

    /// A hint asking the balancer to avoid every endpoint of `tried` while
    /// it has an available endpoint outside them.
    pub fn avoiding_all(tried: Vec<SocketAddr>) -> Self {
        Self {
            avoid: tried,
            picked: Arc::default(),
            attempt_end: None,
        }
    }

    /// The most recently tried endpoint to avoid.
    pub fn avoid(&self) -> Option<SocketAddr> {
        self.avoid.last().copied()
    }

    /// Every endpoint to avoid.
    pub fn avoided(&self) -> &[SocketAddr] {
        &self.avoid
    }

    /// Records when this attempt's per-try timeout fires (see [`AttemptEnd`]).
    pub fn set_attempt_end(&mut self, at: Instant) {
        self.attempt_end = Some(at);
    }

    /// When this attempt's per-try timeout fires, if the attempt layer said.
    pub fn attempt_end(&self) -> Option<Instant> {
        self.attempt_end
    }

    /// The endpoint the balancer picked for the request carrying this hint.
    pub fn picked(&self) -> Option<SocketAddr> {
        self.pick().map(|p| p.addr)
    }

    /// Whether, when it picked, the balancer had another available endpoint
    /// this request had not tried (`None`: no balancer recorded a pick).
    /// A retry can go there at once; with none left it must back off.
    pub fn untried_left(&self) -> Option<bool> {
        self.pick().map(|p| p.untried_left)
    }

    fn pick(&self) -> Option<Pick> {
        *self.picked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn record(&self, addr: SocketAddr) {
        self.record_pick(addr, false);
    }

    fn record_pick(&self, addr: SocketAddr, untried_left: bool) {
        *self.picked.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Pick { addr, untried_left });
    }
}

/// Sends each request to one endpoint of an [`EndpointSet`].
#[derive(Debug)]
pub struct Balance<S> {
    inner: S,
    endpoints: Arc<EndpointSet>,
    policy: Policy,
    rng: fastrand::Rng,
}

#[derive(Clone, Debug)]
enum Policy {
    /// P2C; the slow-start ramp, if any.
    P2c(Option<std::time::Duration>),
    /// The counter is shared by every clone, so the turn goes round the set
    /// however many connections share the route.
    RoundRobin(Arc<AtomicUsize>),
}

impl<S> Balance<S> {
    /// Balances requests to `inner` over `endpoints` with the policy in
    /// `settings`. For P2C this also applies `default_rtt` and `decay`
    /// to the set (existing estimates are kept), as a reload would.
    pub fn new(inner: S, endpoints: Arc<EndpointSet>, settings: &BalanceSettings) -> Self {
        let policy = match settings {
            BalanceSettings::P2cPeakEwma {
                default_rtt,
                decay,
                slow_start,
            } => {
                endpoints.set_ewma(*default_rtt, *decay);
                Policy::P2c(*slow_start)
            }
            BalanceSettings::RoundRobin => Policy::RoundRobin(Arc::new(AtomicUsize::new(0))),
        };
        Self {
            inner,
            endpoints,
            policy,
            rng: fastrand::Rng::new(),
        }
    }
}

impl<S: Clone> Clone for Balance<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            endpoints: self.endpoints.clone(),
            policy: self.policy.clone(),
            // A fresh seed: clones copying one random sequence would all
            // pick the same pairs, the herd P2C exists to avoid.
            rng: fastrand::Rng::new(),
        }
    }
}

impl<S, B, RB> Service<http::Request<B>> for Balance<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Error: Into<BoxError>,
    RB: crate::middleware::classify::Watched,
{
    type Response = http::Response<RB>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let now = Instant::now();
        let available = self.endpoints.available(now);
        let mut endpoints: &[Arc<Endpoint>] = &available;
        let hint = request.extensions().get::<EndpointHint>().cloned();
        let tried = hint.as_ref().map_or(&[][..], EndpointHint::avoided);
        // How many available endpoints this request has not tried.
        let mut untried = endpoints.len();
        let others: Vec<_>;
        if !tried.is_empty() && endpoints.iter().any(|e| tried.contains(&e.addr())) {
            // Only on retries: an allocation the first attempt never pays.
            others = endpoints
                .iter()
                .filter(|e| !tried.contains(&e.addr()))
                .cloned()
                .collect();
            untried = others.len();
            // Every endpoint tried already: any of them, as before.
            if !others.is_empty() {
                endpoints = &others;
            }
        }
        let chosen = match &self.policy {
            Policy::P2c(slow_start) => pick(endpoints, now, *slow_start, &mut self.rng),
            Policy::RoundRobin(next) => pick_round_robin(endpoints, next),
        };
        let Some(endpoint) = chosen else {
            return ResponseFuture::failed(NoEndpoint::new().into());
        };
        let addr = endpoint.addr();
        if let Some(trail) = request.extensions().get::<Trail>() {
            trail.picked(addr);
        }
        if let Some(hint) = &hint {
            // Another untried endpoint is left when this pick had company
            // among the endpoints the request has not tried.
            hint.record_pick(addr, untried > 1);
        }
        let uri = match endpoint.authority() {
            Some(authority) => endpoint_uri(request.uri(), authority.clone()),
            None => http::uri::Authority::try_from(addr.to_string())
                .map_err(http::Error::from)
                .and_then(|authority| endpoint_uri(request.uri(), authority)),
        };
        match uri {
            Ok(uri) => *request.uri_mut() = uri,
            Err(error) => return ResponseFuture::failed(error.into()),
        }
        let attempt_end = match &hint {
            Some(hint) => hint.attempt_end(),
            None => request.extensions().get::<AttemptEnd>().map(|end| end.0),
        };
        let guard = InFlight::reporting(endpoint.clone(), self.endpoints.clone(), attempt_end, now);
        tracing::debug!(endpoint = %addr, in_flight = endpoint.in_flight(), "balanced");
        ResponseFuture::called(self.inner.call(request), guard)
    }
}

/// `http://{authority}{path_and_query}`: the client connects to the
/// endpoint's address; the Host header is left as the client sent it.
fn endpoint_uri(original: &Uri, authority: Authority) -> Result<Uri, http::Error> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority);
    parts.path_and_query = Some(
        original
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    Ok(Uri::from_parts(parts)?)
}
