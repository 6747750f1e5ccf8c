//! The timeout layers' errors: small structs only this module builds, each
//! mapped to one response in `proxy::rescue`.
//!
//! Which side is to blame decides the answer: the request's own deadline
//! passing is local (504 `timeout`, or `total-timeout` for the route's cap
//! on the whole exchange; never counted against the upstream); an
//! attempt or header timeout is the upstream's failure (504, counted by the
//! breaker); a stalled upload is the client's (408).

use std::time::Duration;

use super::state::Bound;

/// The request's deadline passed: before the response started (the route's
/// `request` timeout, the caller's budget or the route's `total`, whichever
/// was earliest), or mid-body (the caller's budget or `total`); or the
/// request arrived with its budget spent.
#[derive(Debug, thiserror::Error)]
#[error("{bound}")]
#[non_exhaustive]
pub struct DeadlineExceeded {
    /// Which bound passed.
    pub bound: Bound,
}

impl DeadlineExceeded {
    pub(crate) fn new(bound: Bound) -> Self {
        Self { bound }
    }
}

/// One attempt took longer than the attempt timeout.
#[derive(Debug, thiserror::Error)]
#[error("attempt timed out after {after:?}")]
#[non_exhaustive]
pub struct AttemptTimeout {
    /// The attempt timeout.
    pub after: Duration,
}

impl AttemptTimeout {
    pub(crate) fn new(after: Duration) -> Self {
        Self { after }
    }
}

/// The upstream took longer than the response-header timeout to answer a
/// request it had received in full.
#[derive(Debug, thiserror::Error)]
#[error("upstream sent no response headers within {after:?} of the request")]
#[non_exhaustive]
pub struct HeaderTimeout {
    /// The response-header timeout.
    pub after: Duration,
}

impl HeaderTimeout {
    pub(crate) fn new(after: Duration) -> Self {
        Self { after }
    }
}

/// Which body stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The downstream client's request body.
    Upload,
    /// The upstream's response body.
    Download,
}

/// A body sent nothing for the body idle timeout while seawall waited.
#[derive(Debug, thiserror::Error)]
#[error("{direction:?} body idle for {after:?}")]
#[non_exhaustive]
pub struct BodyIdleTimeout {
    /// The body idle timeout.
    pub after: Duration,
    /// Which body stalled.
    pub direction: Direction,
}

impl BodyIdleTimeout {
    pub(crate) fn new(after: Duration, direction: Direction) -> Self {
        Self { after, direction }
    }
}
