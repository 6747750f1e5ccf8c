//! The sliding window behind the rate triggers: pure counting, no I/O.
//!
//! Count-based keeps the last N outcomes in a ring (exact, memory N bits
//! ×2). Time-based keeps ten buckets of `span / 10` each and drops whole
//! buckets as they age out: the window is then between 90% and 100% of the
//! span, in exchange for constant memory at any request rate.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::BreakerWindow;

/// Buckets per time window.
const BUCKETS: u32 = 10;

/// Calls, failures and slow calls currently in the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Calls recorded.
    pub calls: u32,
    /// Of which failed.
    pub failures: u32,
    /// Of which were slow.
    pub slow: u32,
}

/// One slice of a time window.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    start: Instant,
    totals: Totals,
}

/// A count- or time-based window of outcomes.
#[derive(Clone, Debug)]
pub enum Window {
    /// The last `size` outcomes, as (failed, slow).
    Count {
        /// Capacity.
        size: usize,
        /// Oldest first.
        ring: VecDeque<(bool, bool)>,
    },
    /// Buckets of `span / 10`, oldest first.
    Time {
        /// Whole window.
        span: Duration,
        /// Buckets still in the window.
        buckets: VecDeque<Bucket>,
    },
}

impl Window {
    /// An empty window of the configured kind.
    pub fn new(kind: BreakerWindow) -> Self {
        match kind {
            BreakerWindow::Count(n) => Self::Count {
                size: usize::try_from(n).unwrap_or(usize::MAX).max(1),
                ring: VecDeque::new(),
            },
            BreakerWindow::Time(span) => Self::Time {
                span,
                buckets: VecDeque::new(),
            },
        }
    }

    /// Forgets everything (on every transition).
    pub fn clear(&mut self) {
        match self {
            Self::Count { ring, .. } => ring.clear(),
            Self::Time { buckets, .. } => buckets.clear(),
        }
    }

    /// Adds one outcome at `now`.
    pub fn record(&mut self, failed: bool, slow: bool, now: Instant) {
        match self {
            Self::Count { size, ring } => {
                if ring.len() == *size {
                    ring.pop_front();
                }
                ring.push_back((failed, slow));
            }
            Self::Time { span, buckets } => {
                Self::expire(*span, buckets, now);
                let width = *span / BUCKETS;
                let fresh = buckets.back().is_none_or(|b| now >= b.start + width);
                if fresh {
                    buckets.push_back(Bucket {
                        start: now,
                        totals: Totals::default(),
                    });
                }
                if let Some(bucket) = buckets.back_mut() {
                    bucket.totals.calls += 1;
                    bucket.totals.failures += u32::from(failed);
                    bucket.totals.slow += u32::from(slow);
                }
            }
        }
    }

    /// What the window holds at `now`.
    pub fn totals(&mut self, now: Instant) -> Totals {
        match self {
            Self::Count { ring, .. } => ring.iter().fold(Totals::default(), |mut t, (f, s)| {
                t.calls += 1;
                t.failures += u32::from(*f);
                t.slow += u32::from(*s);
                t
            }),
            Self::Time { span, buckets } => {
                Self::expire(*span, buckets, now);
                buckets.iter().fold(Totals::default(), |mut t, b| {
                    t.calls += b.totals.calls;
                    t.failures += b.totals.failures;
                    t.slow += b.totals.slow;
                    t
                })
            }
        }
    }

    fn expire(span: Duration, buckets: &mut VecDeque<Bucket>, now: Instant) {
        while buckets.front().is_some_and(|b| b.start + span <= now) {
            buckets.pop_front();
        }
    }
}
