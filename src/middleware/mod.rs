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

use crate::config::RoutePriority;

/// When the response must have started: a request extension set by the
/// deadline layer (the earliest of the route's `request` timeout, its
/// `total` and the caller's propagated budget) and read by the layers
/// inside it — admission refuses work that cannot start in time, retry
/// never starts an attempt past it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(pub Instant);

/// When the whole exchange must end, response body included: a request
/// extension set by the deadline layer only when something caps it (the
/// caller's budget, the route's `total`). The attempt layer forwards what
/// is left of it upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallDeadline(pub Instant);

/// When the current attempt's own per-try timeout (`attempt`) fires: a
/// request extension the attempt layer sets on each try when retries are
/// off (with retries, it rides in the retry layer's
/// [`balance::EndpointHint`]), and the balancer reads, so an attempt cancelled at or after it counts as a failure of its
/// endpoint (the endpoint did not answer in time), whatever
/// `outlier.cancelled_after` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AttemptEnd(pub Instant);

impl Deadline {
    /// Time left at `now` until the deadline (zero when passed).
    pub fn remaining_at(&self, now: Instant) -> std::time::Duration {
        self.0.saturating_duration_since(now)
    }
}

/// A request's criticality, a request extension set by the handler (absent
/// means [`Priority::Default`]). Under overload admission refuses
/// `Sheddable` requests first, then `Default` ones, and `Critical` ones only
/// when nothing else is left to refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// Refused first.
    Sheddable,
    /// Refused after sheddable requests.
    #[default]
    Default,
    /// Refused only when nothing else is left to refuse.
    Critical,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Self; 3] = [Self::Sheddable, Self::Default, Self::Critical];

    /// The `x-seawall-priority` value: `critical`, `default` or `sheddable`.
    pub fn parse(value: &[u8]) -> Option<Self> {
        match value {
            b"critical" => Some(Self::Critical),
            b"default" => Some(Self::Default),
            b"sheddable" => Some(Self::Sheddable),
            _ => None,
        }
    }

    /// Its name, for metrics and the admin API.
    pub fn name(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Default => "default",
            Self::Sheddable => "sheddable",
        }
    }

    /// Its index in [`Priority::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl From<RoutePriority> for Priority {
    fn from(p: RoutePriority) -> Self {
        match p {
            RoutePriority::Critical => Self::Critical,
            RoutePriority::Default => Self::Default,
            RoutePriority::Sheddable => Self::Sheddable,
        }
    }
}
