//! What one request will get: the query parameters laid over the runtime
//! fault defaults. Pure, so the precedence rules are unit-tested.

use std::time::Duration;

use hyper::StatusCode;
use hyper::header::{HeaderName, HeaderValue};

use crate::faults::Faults;
use crate::query::Query;

/// The resolved behaviour for one request.
#[derive(Debug, PartialEq)]
pub struct Behaviour {
    /// Response status.
    pub status: StatusCode,
    /// Delay before the response headers.
    pub delay: Duration,
    /// A generated body of this size instead of the JSON echo.
    pub body_bytes: Option<u64>,
    /// Pause between body chunks.
    pub chunk_delay: Duration,
    /// Send `x-upstream-trailer: done` and `grpc-status: 0` after the body.
    pub trailers: bool,
    /// Never answer.
    pub hang: bool,
    /// Extra response headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Ask an HTTP/1 client to close the connection after this response.
    pub close: bool,
    /// Cut the response body halfway (the connection is aborted).
    pub reset: bool,
}

impl Behaviour {
    /// Lays `query` over `faults`; a parameter in the query wins. `draw` is
    /// uniform in `[0, 1)` and decides whether `error_rate` fails this one;
    /// the same draw decides `reset_rate`.
    pub fn resolve(query: Query, faults: &Faults, draw: f64) -> Self {
        let reset_by_rate = faults.reset_rate.is_some_and(|rate| draw < rate);
        Behaviour {
            status: query.status.unwrap_or_else(|| faults.status_for(draw)),
            delay: query.delay.unwrap_or(faults.delay),
            body_bytes: query.body_bytes,
            chunk_delay: query.chunk_delay.unwrap_or_default(),
            trailers: query.trailers.unwrap_or(false),
            hang: query.hang.unwrap_or(faults.hang),
            headers: query.headers,
            close: query.close.unwrap_or(false),
            reset: query.reset.unwrap_or(reset_by_rate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults() -> Faults {
        Faults {
            status: Some(StatusCode::BAD_GATEWAY),
            delay: Duration::from_millis(100),
            error_rate: Some(1.0),
            hang: true,
            reset_rate: Some(0.25),
            capacity: None,
            grpc_status: None,
            grpc_streamed: false,
        }
    }

    #[test]
    fn reset_rate_uses_the_draw_and_the_query_wins() {
        assert!(Behaviour::resolve(Query::default(), &faults(), 0.2).reset);
        assert!(!Behaviour::resolve(Query::default(), &faults(), 0.3).reset);
        let query = Query::parse(Some("reset=0")).unwrap();
        assert!(!Behaviour::resolve(query, &faults(), 0.2).reset);
    }

    #[test]
    fn faults_apply_when_the_query_is_silent() {
        let b = Behaviour::resolve(Query::default(), &faults(), 0.5);
        assert_eq!(b.status, StatusCode::BAD_GATEWAY);
        assert_eq!(b.delay, Duration::from_millis(100));
        assert!(b.hang);
    }

    #[test]
    fn query_overrides_faults() {
        let query = Query::parse(Some("status=200&delay=0ms&hang=0")).unwrap();
        let b = Behaviour::resolve(query, &faults(), 0.5);
        assert_eq!(b.status, StatusCode::OK);
        assert_eq!(b.delay, Duration::ZERO);
        assert!(!b.hang);
    }

    #[test]
    fn no_faults_means_a_plain_200() {
        let b = Behaviour::resolve(Query::default(), &Faults::default(), 0.0);
        assert_eq!(b.status, StatusCode::OK);
        assert_eq!(b.delay, Duration::ZERO);
        assert!(!b.hang && !b.trailers && !b.close && b.body_bytes.is_none());
    }
}
