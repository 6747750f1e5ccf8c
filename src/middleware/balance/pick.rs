//! Choosing an endpoint: pure functions over a slice, so tests can seed the
//! random source and count picks without any service around them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::endpoint::Endpoint;
use super::state::Reading;

/// Below this an RTT is measurement noise: the ratio test and the cost
/// treat anything faster as this fast.
const MIN_RTT_SECS: f64 = 1e-6;

/// How many times dearer one estimate must be than the other before the
/// latency counts: below this, two endpoints are equally fast and only their
/// load decides (noise at sub-millisecond RTTs is easily ±50%).
const CLEARLY_SLOWER: f64 = 2.0;

/// The largest difference in requests sent that still decides a tie. An
/// endpoint further behind (new, or back from an ejection) is caught up to
/// this distance when it meets its rival, so it wins a few ties and is then
/// even again, instead of taking every tie until it has made up for the
/// whole time it was out (a herd onto the newcomer).
const MAX_LAG: u64 = 16;

/// Up to this many endpoints, each pick compares them all (the least loaded
/// of all wins, as with nginx's `least_conn` and HAProxy's `leastconn`);
/// above it, two at random. With two choices among three replicas the
/// idle one is left out of a third of the pairings: a request queues
/// behind another while a worker idles (about 3 points of goodput for
/// three single-worker replicas at their limit; see the module doc). A
/// comparison reads two endpoints' counters; eight are a few comparisons
/// more per pick, and P2C's own argument (nearly the best of all, for two
/// reads) holds for larger sets.
const SCAN_ALL: usize = 8;

/// The least loaded endpoint: among up to eight (`SCAN_ALL`) every one is
/// compared; among more, two distinct ones at random (power of two
/// choices), the less loaded one wins. `None` only for an empty slice.
///
/// Between the two, in this order:
/// 1. latency, only when one is judged more than `CLEARLY_SLOWER` times
///    slower than the other: the lower `rtt × (in_flight + 1)` wins. Each
///    is judged by its RTT estimate or by how long it has had requests in
///    flight without answering, whichever is longer (a replica that turned
///    slow or hung loses from its first outstanding request on, not from
///    its first slow answer). An idle endpoint whose last answer is
///    `decay / 2` old is not judged on its estimate (a fresh look, see
///    `state`): one request tells whether it is still slow;
/// 2. fewer requests in flight (least-connections);
/// 3. fewer requests sent so far (within `MAX_LAG`; not while either is
///    ramping up in slow start), then chance.
///
/// Rules 2 and 3 split equal replicas as evenly as a least-connections
/// balancer does; rule 1 still steers away from a clearly slow one.
///
/// An endpoint that has never answered is costed at the RTT of the one it is
/// compared with. Costing it at `default_rtt` would starve it: under light
/// load every measured peer is faster than the default guess, so P2C would
/// never pick the newcomer and it would never be measured (a replica added
/// by DNS, or the third of three at cold start, would get no traffic).
///
/// With `slow_start`, an endpoint that joined or came back less than that
/// long ago keeps a pairing it won only with probability
/// `age / slow_start` (see [`Endpoint::ramp`]).
pub fn pick<'a>(
    endpoints: &'a [Arc<Endpoint>],
    now: Instant,
    slow_start: Option<Duration>,
    rng: &mut fastrand::Rng,
) -> Option<&'a Arc<Endpoint>> {
    let chosen = match endpoints.len() {
        0 => return None,
        1 => &endpoints[0],
        n if n <= SCAN_ALL => {
            // Every endpoint meets the best so far, from a random start
            // (ties that even the counts leave open fall anywhere). A
            // ramping winner keeps its win with its ramp's probability
            // once, as in a pairing; otherwise its last rival has it.
            let start = rng.usize(..n);
            let mut best = (&endpoints[start], None);
            for i in 1..n {
                let challenger = &endpoints[(start + i) % n];
                let (winner, loser) = pairing(best.0, challenger, now, slow_start, rng);
                best = (winner, Some(loser));
            }
            ramped(best.0, best.1, now, slow_start, rng)
        }
        n => {
            let a = rng.usize(..n);
            // Draw from the n - 1 others, then skip over `a`: distinct, uniform.
            let mut b = rng.usize(..n - 1);
            if b >= a {
                b += 1;
            }
            let (winner, loser) = pairing(&endpoints[a], &endpoints[b], now, slow_start, rng);
            ramped(winner, Some(loser), now, slow_start, rng)
        }
    };
    chosen.picks.fetch_add(1, Ordering::Relaxed);
    Some(chosen)
}

/// One pairing by the rules of [`pick`]: (winner, loser).
fn pairing<'a>(
    first: &'a Arc<Endpoint>,
    second: &'a Arc<Endpoint>,
    now: Instant,
    slow_start: Option<Duration>,
    rng: &mut fastrand::Rng,
) -> (&'a Arc<Endpoint>, &'a Arc<Endpoint>) {
    let full = |e: &Endpoint| slow_start.is_none_or(|over| e.ramp(now, over) >= 1.0);
    // A ramping endpoint must not make up for the pairings its ramp gave
    // away: counts decide ties only between full-weight ones.
    let counts_decide = full(first) && full(second);
    if prefer_first(first, second, now, counts_decide, rng) {
        (first, second)
    } else {
        (second, first)
    }
}

/// `winner`, or with `slow_start` and a winner still ramping up, its rival
/// with probability `1 − age / slow_start`.
fn ramped<'a>(
    winner: &'a Arc<Endpoint>,
    rival: Option<&'a Arc<Endpoint>>,
    now: Instant,
    slow_start: Option<Duration>,
    rng: &mut fastrand::Rng,
) -> &'a Arc<Endpoint> {
    let share = slow_start.map_or(1.0, |over| winner.ramp(now, over));
    match rival {
        Some(rival) if share < 1.0 && rng.f64() >= share => rival,
        _ => winner,
    }
}

/// One side of a pairing, read once.
struct Side {
    in_flight: usize,
    reading: Reading,
}

impl Side {
    fn read(endpoint: &Endpoint, now: Instant) -> Self {
        let in_flight = endpoint.in_flight();
        Self {
            in_flight,
            reading: endpoint.rtt_for_pick(now, in_flight > 0),
        }
    }

    /// The latency it is judged by: its estimate (its rival's, `other`,
    /// if it has none), or how long it has been silent with requests in
    /// flight if that is longer.
    fn rtt(&self, other: Option<f64>) -> f64 {
        let estimate = self.reading.rtt.or(other).unwrap_or(0.0);
        estimate.max(self.reading.silence).max(MIN_RTT_SECS)
    }

    /// Clearly slower than a rival judged at `rival`, and not due a fresh
    /// look: latency decides against it.
    fn penalised(&self, rtt: f64, rival: f64) -> bool {
        rtt > CLEARLY_SLOWER * rival && !self.reading.fresh_look
    }

    fn cost(&self, rtt: f64) -> f64 {
        // Precision loss above 2^53 in-flight requests is irrelevant.
        #[allow(clippy::cast_precision_loss)]
        let queue = (self.in_flight + 1) as f64;
        rtt * queue
    }
}

/// Whether `first` wins its pairing with `second` (the rules of [`pick`]).
fn prefer_first(
    first: &Endpoint,
    second: &Endpoint,
    now: Instant,
    counts_decide: bool,
    rng: &mut fastrand::Rng,
) -> bool {
    let (a, b) = (Side::read(first, now), Side::read(second, now));
    let (ra, rb) = (a.rtt(b.reading.rtt), b.rtt(a.reading.rtt));
    if a.penalised(ra, rb) || b.penalised(rb, ra) {
        return a.cost(ra) <= b.cost(rb);
    }
    if a.in_flight != b.in_flight {
        return a.in_flight < b.in_flight;
    }
    if !counts_decide {
        return rng.bool();
    }
    let (pa, pb) = (first.picks(), second.picks());
    if pa.abs_diff(pb) > MAX_LAG {
        // Relaxed: the counters only spread load.
        let (behind, ahead) = if pa < pb { (first, pb) } else { (second, pa) };
        behind.picks.fetch_max(ahead - MAX_LAG, Ordering::Relaxed);
        return rng.bool();
    }
    match pa.cmp(&pb) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => rng.bool(),
    }
}

/// Round robin: each endpoint in turn, using a counter shared by all clones
/// of the service. `None` only for an empty slice.
pub fn pick_round_robin<'a>(
    endpoints: &'a [Arc<Endpoint>],
    next: &AtomicUsize,
) -> Option<&'a Arc<Endpoint>> {
    if endpoints.is_empty() {
        return None;
    }
    // Relaxed: the counter only spreads load, it orders nothing else.
    let turn = next.fetch_add(1, Ordering::Relaxed);
    endpoints.get(turn % endpoints.len())
}
