//! Reading the start of a request body before the request takes an
//! admission slot.
//!
//! An admission slot is held from the moment the route stack calls the
//! upstream until the response headers arrive, and an upstream usually
//! reads the whole request body before answering. Without this step a
//! client trickling its body one byte per `body_idle` would hold a slot for
//! the whole request timeout: fifty such clients against a cluster with
//! `max_concurrent: 2` lock everybody else out (slow-POST, "R.U.D.Y.").
//!
//! So the handler first reads up to `request_buffer_bytes` of the body,
//! bounded by the route's `body_idle` between frames and by the request's
//! deadline overall, and only then enters the route stack, which replays the
//! buffered frames and streams the rest. Small bodies (the vast majority of
//! API calls) are thus complete before they cost a slot, which is what
//! nginx's request buffering does too. A second benefit: a body that turns
//! out malformed (bad chunk size, early EOF) is refused with 400 before
//! anything is forwarded. Bodies larger than the buffer still stream with a
//! slot held; they remain bounded by `body_idle` and the request timeout.
//!
//! The buffer is per request, so its size times the connection and stream
//! limits bounds the memory an attacker can pin; hence the small default.
//!
//! gRPC requests are not read ahead ([`wanted`]): a bidirectional stream
//! may send one message and wait for the server's answer before sending
//! more, and waiting for its body would stall it until `body_idle`. They
//! stream as before, bounded by `body_idle` and the deadline.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::{Instant, timeout_at};

use crate::config::ServerLimits;
use crate::middleware::timeout::state::{CallerBudget, Deadlines};
use crate::middleware::{CallDeadline, Deadline};
use crate::routing::Route;
use crate::snapshot::RouteTarget;
use crate::wire::reason::Rescue;

/// Reads ahead the body of a request matched to `route` (see the module
/// docs): fixes the request's deadlines at `arrival` (the start: the route
/// timeout, shortened by the caller's budget and the route's `total`; the
/// end, when either caps the exchange) and stores them as the [`Deadline`]
/// and [`CallDeadline`] extensions so the deadline layer keeps counting
/// from arrival, then reads under the start. A body found over
/// `max_body_bytes` is refused with 413.
pub async fn ahead_of_admission(
    parts: &mut http::request::Parts,
    body: Incoming,
    route: &Route<RouteTarget>,
    limits: &ServerLimits,
    arrival: Instant,
) -> Result<Prebuffered<Incoming>, Rescue> {
    let timeouts = route
        .target
        .cluster
        .settings
        .timeouts
        .with(&route.settings.timeouts);
    let caller = CallerBudget::from_headers(&parts.headers).budget;
    let deadlines = Deadlines::fix(arrival, timeouts.request, timeouts.total, caller);
    let deadline = deadlines.start.0;
    parts.extensions.insert(Deadline(deadline));
    if let Some((end, _)) = deadlines.end {
        parts.extensions.insert(CallDeadline(end));
    }
    let max_body = limits.max_body_bytes;
    let limit = if wanted(&parts.headers) {
        let over_max = usize::try_from(max_body.saturating_add(1)).unwrap_or(usize::MAX);
        limits.request_buffer_bytes.min(over_max)
    } else {
        0
    };
    let body = read(body, limit, timeouts.body_idle, deadline).await?;
    if body.buffered() > max_body {
        return Err(Rescue::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"));
    }
    Ok(body)
}

/// Whether a request's body should be read ahead: not for gRPC, whose
/// streams may be full-duplex.
pub fn wanted(headers: &http::HeaderMap) -> bool {
    !crate::middleware::timeout::state::is_grpc(headers)
}

/// A request body whose first frames are already read, then the rest.
#[derive(Debug)]
pub struct Prebuffered<B> {
    frames: VecDeque<Frame<Bytes>>,
    buffered: u64,
    rest: Option<B>,
}

/// Reads `body` until it ends or `limit` bytes are held. Each frame must
/// arrive within `idle` and all of them before `deadline`; a slow or broken
/// body is refused with 408 `downstream-body-timeout` or 400
/// `downstream-body`.
pub async fn read<B>(
    mut body: B,
    limit: usize,
    idle: Duration,
    deadline: Instant,
) -> Result<Prebuffered<B>, Rescue>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut frames = VecDeque::new();
    let mut held = 0usize;
    while !body.is_end_stream() && held < limit {
        let until = deadline.min(Instant::now() + idle);
        match timeout_at(until, body.frame()).await {
            Err(_) => {
                return Err(Rescue::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "downstream-body-timeout",
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "request body refused while buffering");
                return Err(Rescue::new(StatusCode::BAD_REQUEST, "downstream-body"));
            }
            // An empty DATA frame carries nothing; forwarded, it would
            // count against the upstream's limit on empty frames.
            Ok(Some(Ok(frame))) if frame.data_ref().is_some_and(Bytes::is_empty) => {}
            Ok(Some(Ok(frame))) => {
                held += frame.data_ref().map_or(0, Bytes::len);
                frames.push_back(frame);
            }
        }
    }
    let rest = (!body.is_end_stream()).then_some(body);
    Ok(Prebuffered {
        frames,
        buffered: held as u64,
        rest,
    })
}

impl<B> Prebuffered<B> {
    /// True when the whole body was read (nothing left to stream).
    pub fn is_complete(&self) -> bool {
        self.rest.is_none()
    }

    /// Body bytes read ahead and not yet replayed.
    pub fn buffered(&self) -> u64 {
        self.buffered
    }
}

impl<B> Body for Prebuffered<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(frame) = this.frames.pop_front() {
            if let Some(data) = frame.data_ref() {
                this.buffered -= data.len() as u64;
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        match this.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let Some(rest) = &self.rest else {
            return SizeHint::with_exact(self.buffered);
        };
        let inner = rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + self.buffered);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + self.buffered);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    fn refused<B>(result: Result<Prebuffered<B>, Rescue>) -> Rescue {
        match result {
            Err(rescue) => rescue,
            Ok(_) => panic!("body accepted"),
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn grpc_is_not_read_ahead() {
        let mut h = http::HeaderMap::new();
        assert!(wanted(&h));
        h.insert("content-type", "application/json".parse().unwrap());
        assert!(wanted(&h));
        h.insert("content-type", "application/grpc+proto".parse().unwrap());
        assert!(!wanted(&h));
    }

    #[tokio::test]
    async fn small_body_is_read_in_full_and_replayed() {
        let body = Full::new(Bytes::from_static(b"hello"));
        let pre = read(body, 1024, Duration::from_secs(1), far())
            .await
            .unwrap();
        assert!(pre.is_complete());
        assert_eq!(pre.size_hint().exact(), Some(5));
        let bytes = pre.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "hello");
    }

    #[tokio::test]
    async fn large_body_streams_after_the_buffered_prefix() {
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = (0..10)
            .map(|i| Ok(Frame::data(Bytes::from(vec![b'a' + i; 100]))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        let pre = read(body, 250, Duration::from_secs(1), far())
            .await
            .unwrap();
        assert!(!pre.is_complete());
        let bytes = pre.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 1000);
        assert_eq!(bytes[999], b'j');
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_limit_reads_nothing_and_waits_for_nothing() {
        let body = StreamBody::new(futures_util::stream::pending::<
            Result<Frame<Bytes>, std::convert::Infallible>,
        >());
        let start = Instant::now();
        let pre = read(body, 0, Duration::from_secs(1), far()).await.unwrap();
        assert!(!pre.is_complete());
        assert_eq!(pre.buffered(), 0);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_refused_with_408() {
        let body = StreamBody::new(futures_util::stream::pending::<
            Result<Frame<Bytes>, std::convert::Infallible>,
        >());
        let err = refused(read(body, 1024, Duration::from_secs(1), far()).await);
        assert_eq!(err.status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(err.reason, "downstream-body-timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_bounds_a_trickle() {
        // One byte every 500 ms never trips a 1 s idle timer, but the
        // deadline still ends the wait.
        let stream = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Some((
                Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(b"x"))),
                (),
            ))
        });
        let start = Instant::now();
        let deadline = start + Duration::from_secs(3);
        let body = StreamBody::new(Box::pin(stream));
        let err = refused(read(body, 1024, Duration::from_secs(1), deadline).await);
        assert_eq!(err.status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }
}
