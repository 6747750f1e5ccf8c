//! The retry layer's one error: it gave up on a retryable failure.
//!
//! [`GaveUp`] wraps the last attempt's own error, so `rescue` still answers
//! with that error's status through `source()`, and adds what this layer
//! knows: the answer is final at this hop (`x-seawall-no-retry`, so a seawall
//! further up does not retry what this one already retried), and, when the
//! budget refused, the reason code `budget-exhausted` (the error taxonomy in `ARCHITECTURE.md`).

use std::error::Error as StdError;
use std::fmt;

use super::state::GiveUp;
use crate::wire::BoxError;

/// A retryable failure this hop did not (or no longer) retry.
#[derive(Debug)]
pub struct GaveUp {
    why: GiveUp,
    source: BoxError,
}

impl GaveUp {
    pub(super) fn new(why: GiveUp, source: BoxError) -> Self {
        Self { why, source }
    }

    /// Why the failure was not retried.
    pub fn why(&self) -> GiveUp {
        self.why
    }

    /// True when the retry budget (or its concurrency cap) refused.
    pub fn budget_exhausted(&self) -> bool {
        matches!(self.why, GiveUp::Budget(_))
    }
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not retried ({:?}): {}", self.why, self.source)
    }
}

impl StdError for GaveUp {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}
