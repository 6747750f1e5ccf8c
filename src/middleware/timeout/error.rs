//! The timeout layers' errors: small structs only this module builds, each
//! mapped to one response in `proxy::rescue`.
//!
//! Which side is to blame decides the answer: the request's own deadline
//! passing is local (504 `timeout`, never counted against the upstream); an
//! attempt or header timeout is the upstream's failure (504, counted by the
//! breaker); a stalled upload is the client's (408).

use std::time::Duration;

/// The request's deadline passed (the route timeout or the caller's
/// propagated budget, whichever was shorter), or it arrived already spent.
#[derive(Debug, thiserror::Error)]
#[error("request deadline exceeded")]
#[non_exhaustive]
pub struct DeadlineExceeded {}

impl DeadlineExceeded {
    pub(crate) fn new() -> Self {
        Self {}
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
