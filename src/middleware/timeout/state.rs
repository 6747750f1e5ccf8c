//! Deadline arithmetic, without I/O: reading a caller's budget from the
//! request headers, combining it with the route's timeouts into the
//! exchange's two deadlines, and writing what is left for the next hop.
//!
//! Budgets travel as *remaining durations*, never as wall-clock instants:
//! hosts' clocks disagree, durations do not need them to agree. The cost is
//! that time on the wire between hops is not subtracted, which only makes a
//! downstream hop slightly more generous than the caller.

use std::time::Duration;

use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::wire::headers::{find, has_any};

/// seawall's own budget header: the caller's remaining time in whole
/// milliseconds. Forwarded upstream, decremented, by every seawall hop.
pub const TIMEOUT_MS_HEADER: HeaderName = HeaderName::from_static("x-seawall-timeout-ms");

/// gRPC's budget header (`grpc-timeout: 250m`), read and written for gRPC.
pub const GRPC_TIMEOUT_HEADER: HeaderName = HeaderName::from_static("grpc-timeout");

/// gRPC allows at most eight digits before the unit.
const GRPC_MAX_DIGITS: usize = 8;
const GRPC_MAX_VALUE: u64 = 99_999_999;

/// The budget headers, for one walk over a request's names.
static BUDGET_HEADERS: [HeaderName; 2] = [TIMEOUT_MS_HEADER, GRPC_TIMEOUT_HEADER];

/// What the caller said about its deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallerBudget {
    /// The smallest budget among the well-formed budget headers.
    pub budget: Option<Duration>,
    /// Whether a budget header was present but malformed (and ignored).
    pub malformed: bool,
}

impl CallerBudget {
    /// Reads `x-seawall-timeout-ms` and `grpc-timeout`; when both are valid
    /// the smaller wins. A repeated header counts as malformed.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut out = Self::default();
        // Most requests carry neither: tell that without hashing the names.
        if !has_any(headers, &BUDGET_HEADERS) {
            return out;
        }
        for (name, parse) in [
            (
                TIMEOUT_MS_HEADER,
                parse_timeout_ms as fn(&[u8]) -> Option<Duration>,
            ),
            (GRPC_TIMEOUT_HEADER, parse_grpc_timeout),
        ] {
            let mut values = headers.get_all(&name).iter();
            let Some(first) = values.next() else { continue };
            match parse(first.as_bytes()).filter(|_| values.next().is_none()) {
                Some(b) => out.budget = Some(out.budget.map_or(b, |o| o.min(b))),
                None => out.malformed = true,
            }
        }
        out
    }
}

/// Which bound a deadline comes from; it names the answer when it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The route's `request` timeout: the response had not started.
    Request,
    /// The caller's propagated budget (`x-seawall-timeout-ms`,
    /// `grpc-timeout`): the whole call, body included.
    Caller,
    /// The route's `total` cap on the whole exchange.
    Total,
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Request => "request timeout passed before the response started",
            Self::Caller => "caller's deadline passed",
            Self::Total => "total timeout passed",
        })
    }
}

/// The two deadlines of one exchange, fixed when the request arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// When the response must have started (its headers), and which bound
    /// that is: the route's `request` timeout, or an earlier `end`.
    pub start: (Instant, Bound),
    /// When the whole exchange, response body included, must have ended:
    /// the caller's budget or the route's `total`, whichever is earlier
    /// (a tie is the caller's); `None`: nothing caps it, and once the
    /// response streams only the body idle timeout bounds it.
    pub end: Option<(Instant, Bound)>,
}

impl Deadlines {
    /// The deadlines of a request arriving at `now`, with the route's
    /// `request` timeout and `total` cap and the caller's budget.
    pub fn fix(
        now: Instant,
        request: Duration,
        total: Option<Duration>,
        caller: Option<Duration>,
    ) -> Self {
        let caller = caller.map(|c| (now + c, Bound::Caller));
        let total = total.map(|t| (now + t, Bound::Total));
        let end = match (caller, total) {
            (Some(c), Some(t)) => Some(if t.0 < c.0 { t } else { c }),
            (c, t) => c.or(t),
        };
        let request = (now + request, Bound::Request);
        let start = match end {
            Some(end) if end.0 < request.0 => end,
            _ => request,
        };
        Self { start, end }
    }

    /// These deadlines, tightened by ones fixed earlier for the same
    /// request (the handler fixes them on arrival, before reading the body
    /// ahead): an earlier instant wins, and keeps this bound's name.
    pub fn within(self, start: Option<Instant>, end: Option<Instant>) -> Self {
        let tighten = |(at, bound): (Instant, Bound), outer: Option<Instant>| {
            (outer.map_or(at, |o| o.min(at)), bound)
        };
        Self {
            start: tighten(self.start, start),
            end: self.end.map(|e| tighten(e, end)),
        }
    }
}

/// The budget to hand the next hop at `now`: time left to the end of the
/// whole exchange, shortened by the attempt's own end; `None` when neither
/// bounds it. The route's `request` timeout is not forwarded: a next hop
/// reads a budget as a bound on the whole call, body included.
pub fn forward_budget(
    now: Instant,
    end: Option<Instant>,
    attempt_end: Option<Instant>,
) -> Option<Duration> {
    let end = match (end, attempt_end) {
        (Some(e), Some(a)) => e.min(a),
        (e, a) => e.or(a)?,
    };
    Some(end.saturating_duration_since(now))
}

/// Removes the budget headers: the caller sent none that was well-formed,
/// and nothing bounds the whole exchange, so there is nothing to forward.
pub fn clear_budget(headers: &mut HeaderMap) {
    // Most requests carry neither: tell that without hashing the names,
    // in one walk over them.
    if !has_any(headers, &BUDGET_HEADERS) {
        return;
    }
    for name in [TIMEOUT_MS_HEADER, GRPC_TIMEOUT_HEADER] {
        if find(headers, &name).is_some() {
            headers.remove(name);
        }
    }
}

/// Writes `budget` into the outgoing headers, replacing what the caller
/// sent: always `x-seawall-timeout-ms`, and `grpc-timeout` for gRPC.
pub fn write_budget(headers: &mut HeaderMap, budget: Duration) {
    let ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX);
    // Digits are always a valid value; `HeaderValue::from(u64)` would
    // allocate twice where this copies once.
    if let Ok(v) = HeaderValue::from_str(itoa::Buffer::new().format(ms)) {
        headers.insert(TIMEOUT_MS_HEADER, v);
    }
    if is_grpc(headers) {
        // Only digits and a unit letter: always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&format_grpc_timeout(budget)) {
            headers.insert(GRPC_TIMEOUT_HEADER, v);
        }
    }
}

/// A gRPC request: it carried `grpc-timeout` or has a gRPC content type.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    find(headers, &GRPC_TIMEOUT_HEADER).is_some()
        || find(headers, &CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Parses `x-seawall-timeout-ms`: 1 to 19 ASCII digits (no sign, no space).
pub fn parse_timeout_ms(v: &[u8]) -> Option<Duration> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v)
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

/// Parses a gRPC `TimeoutValue TimeoutUnit`: 1 to 8 digits, then one of
/// `H M S m u n` (hours, minutes, seconds, milli-, micro-, nanoseconds).
pub fn parse_grpc_timeout(v: &[u8]) -> Option<Duration> {
    let (&unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > GRPC_MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a budget for `grpc-timeout` in the finest unit whose value fits
/// eight digits, rounding down: a next hop must never get more time than
/// is left.
pub fn format_grpc_timeout(d: Duration) -> String {
    let units: [(char, u128); 6] = [
        ('n', 1),
        ('u', 1_000),
        ('m', 1_000_000),
        ('S', 1_000_000_000),
        ('M', 60_000_000_000),
        ('H', 3_600_000_000_000),
    ];
    let nanos = d.as_nanos();
    for (unit, per) in units {
        let value = nanos / per;
        if value <= u128::from(GRPC_MAX_VALUE) {
            return format!("{value}{unit}");
        }
    }
    format!("{GRPC_MAX_VALUE}H")
}
