//! Paced rapid reset: streams a client cancels before their answer.
//!
//! h2 ends a connection whose client resets streams faster than the server
//! accepts them (`max_pending_accept_reset_streams`, CVE-2023-44487), but a
//! client that waits a few milliseconds before each reset gets every stream
//! accepted, routed and perhaps sent upstream, and h2 counts nothing. So
//! each connection counts, per window of [`WINDOW`], the requests begun and
//! those abandoned before their response (the handler's future dropped:
//! over HTTP/2, the client reset the stream). At least [`MIN_RESETS`]
//! abandoned requests that are also at least three quarters of those begun
//! mark the connection an abuser, as Envoy's premature-reset rule does:
//! a client that cancels some calls (deadlines, hedging, which cancels half)
//! is never cut off, one that cancels nearly all of them is.
//!
//! `activity` keeps the count; `calm` tells the client.

use std::time::Duration;

use tokio::time::Instant;

/// The window abandoned requests are counted over.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Fewest abandoned requests in a window that mark an abuser.
pub const MIN_RESETS: u32 = 50;

/// Requests begun and abandoned in the current window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resets {
    start: Instant,
    begun: u32,
    abandoned: u32,
}

impl Resets {
    /// A window starting `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            start: now,
            begun: 0,
            abandoned: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        if now >= self.start + WINDOW {
            *self = Self::new(now);
        }
    }

    /// A request began.
    pub fn begun(&mut self, now: Instant) {
        self.roll(now);
        self.begun = self.begun.saturating_add(1);
    }

    /// A request was abandoned before its response; true when that makes
    /// the client an abuser.
    pub fn abandoned(&mut self, now: Instant) -> bool {
        self.roll(now);
        self.abandoned = self.abandoned.saturating_add(1);
        self.abandoned >= MIN_RESETS && u64::from(self.abandoned) * 4 >= u64::from(self.begun) * 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_streams_abandoned_mark_an_abuser_some_do_not() {
        let t0 = Instant::now();
        // Hedging: every call twice, one of each pair cancelled.
        let mut hedged = Resets::new(t0);
        for _ in 0..1000 {
            hedged.begun(t0);
            hedged.begun(t0);
            assert!(!hedged.abandoned(t0));
        }
        let mut abuser = Resets::new(t0);
        let marked = (1..=100).find(|_| {
            abuser.begun(t0);
            abuser.abandoned(t0)
        });
        assert_eq!(marked, Some(MIN_RESETS));
        // Spread over windows, the same count never adds up.
        let mut slow = Resets::new(t0);
        for i in 0..1000u32 {
            let now = t0 + WINDOW / 40 * i;
            slow.begun(now);
            assert!(!slow.abandoned(now), "{i}");
        }
    }
}
