//! The band of upstream queue the limit tolerates: below its low edge the
//! limit may grow, above its high edge (two windows in a row) it is cut.
//!
//! The band is a share of the limit (1/24 to 1/12 of it: a small standing
//! queue keeps workers busy, a larger one is latency for nothing), with a
//! floor for small limits of ¼ to ¾ of a request *per endpoint* the
//! requests are spread over. A freed worker idles unless a request is
//! already waiting at its own endpoint or arrives at once, and a queue at
//! one endpoint cannot feed another's worker: three replicas of one worker
//! each need about one request waiting at each, where one upstream of
//! three workers needs one in all. Measured on chaos scenario 15 (three
//! replicas of two workers, half the workers gone for 10 s, 0.8× load):
//! with the floor counted once for the cluster the limit sawed between 4
//! and 6 over the 3 remaining workers and served 94.7-94.9% of the reduced
//! capacity; counted per endpoint, 95.6-95.9% (a fixed limit of 6: 97%).
//! The share of the limit takes over once the endpoints have six (alpha)
//! to nine (beta) requests each on average; endpoints beyond the limit
//! are not counted (see [`band`]).

/// `(alpha, beta)`: the tolerated queue and the most held before cutting,
/// in requests, for `limit` spread over `spread` endpoints.
///
/// Only endpoints holding a request can have one waiting, and at most
/// `limit` do: a cluster of 1,000 endpoints under a limit of 32 counts 32,
/// so a bottleneck all of them share (a database behind every pod) is
/// still cut at a queue of ¾ of the limit, not of 750 requests.
pub(super) fn band(limit: u32, spread: u32) -> (f64, f64) {
    let (l, e) = (f64::from(limit), f64::from(spread.min(limit).max(1)));
    ((l / 24.0).max(0.25 * e), (l / 12.0).max(0.75 * e))
}

#[cfg(test)]
mod tests {
    use super::band;

    #[test]
    fn the_floor_is_per_endpoint_and_the_share_of_the_limit_takes_over() {
        assert_eq!(band(4, 1), (0.25, 0.75));
        assert_eq!(band(4, 3), (0.75, 2.25));
        // 48 over 3 endpoints: 16 each, the share of the limit is larger.
        assert_eq!(band(48, 3), (2.0, 4.0));
        // No endpoint known yet counts as one.
        assert_eq!(band(4, 0), (0.25, 0.75));
        // More endpoints than the limit: only `limit` can hold a request.
        assert_eq!(band(32, 1000), (8.0, 24.0));
    }
}
