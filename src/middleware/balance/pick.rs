//! Choosing an endpoint: pure functions over a slice, so tests can seed the
//! random source and count picks without any service around them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::time::Instant;

use super::endpoint::Endpoint;

/// Power of two choices: two distinct endpoints at random, the cheaper one
/// (by [`Endpoint::cost`] at `now`) wins. `None` only for an empty slice.
///
/// An endpoint that has never answered is costed at the RTT of the one it is
/// compared with. Costing it at `default_rtt` would starve it: under light
/// load every measured peer is faster than the default guess, so P2C would
/// never pick the newcomer and it would never be measured (a replica added
/// by DNS, or the third of three at cold start, would get no traffic).
pub fn pick<'a>(
    endpoints: &'a [Arc<Endpoint>],
    now: Instant,
    rng: &mut fastrand::Rng,
) -> Option<&'a Arc<Endpoint>> {
    match endpoints.len() {
        0 => None,
        1 => endpoints.first(),
        n => {
            let a = rng.usize(..n);
            // Draw from the n - 1 others, then skip over `a`: distinct, uniform.
            let mut b = rng.usize(..n - 1);
            if b >= a {
                b += 1;
            }
            let (first, second) = (&endpoints[a], &endpoints[b]);
            let (ra, rb) = (first.measured_rtt(now), second.measured_rtt(now));
            let cost_first = first.cost_at(ra.or(rb).unwrap_or_else(|| first.rtt_secs(now)));
            let cost_second = second.cost_at(rb.or(ra).unwrap_or_else(|| second.rtt_secs(now)));
            if cost_second < cost_first {
                Some(second)
            } else {
                Some(first)
            }
        }
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
