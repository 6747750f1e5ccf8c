//! Tower middleware, one folder per layer (`ARCHITECTURE.md` draws the layers).
//!
//! Each folder follows tower's shape: the service and an argued module doc in
//! `mod.rs`, then `layer.rs`, `future.rs`, `error.rs`, and the decision logic
//! in a pure `state.rs` that tests drive with tokio's paused clock.

pub mod admission;
pub mod balance;
pub mod breaker;
pub mod classify;
pub mod retry;
pub mod timeout;

use tokio::time::Instant;

/// When the caller stops waiting: a request extension set by the deadline
/// layer (the minimum of the route timeout and the caller's propagated
/// budget) and read by the layers inside it — admission refuses work that
/// cannot finish in time, retry never starts an attempt past it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// Time left at `now` until the deadline (zero when passed).
    pub fn remaining_at(&self, now: Instant) -> std::time::Duration {
        self.0.saturating_duration_since(now)
    }
}
