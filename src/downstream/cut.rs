//! The response body on its way downstream: bytes sent, and the cut.
//!
//! A response body that fails after its headers were sent was *cut*: by a
//! timeout (the body idle timeout, the caller's deadline, the route's
//! `total`), or by the upstream (a reset, broken framing). hyper then
//! aborts the message, so the client never takes a truncated body for a
//! complete one; what this wrapper adds is that every cut is visible, and
//! that a gRPC call ends as gRPC expects:
//!
//! - one `warn` line with the route, cluster, reason code and the bytes
//!   sent, and `seawall_response_body_cuts_total{route, cluster, reason}`,
//!   counted on handles the route looked up when the snapshot was built;
//! - a gRPC call (see [`rescue::is_grpc_call`]) that is cut ends with
//!   trailers `grpc-status: 4` (`DEADLINE_EXCEEDED`, a timeout) or `14`
//!   (`UNAVAILABLE`, the upstream broke off) and `grpc-message: seawall:
//!   <reason>` instead of a reset stream, which gRPC clients read as
//!   `INTERNAL`. The data already sent may end mid-message; the status
//!   still says why, and it is never `OK`.
//!
//! Empty data frames are not passed on: they carry nothing, and HTTP/2
//! peers count them as abuse.
//!
//! The wrapper also holds the connection's busy guard: the connection is
//! not idle until the response body is done.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::observe::GrpcEnd;
use super::rescue;
use crate::routing::Route;
use crate::snapshot::RouteTarget;
use crate::wire::BoxError;
use crate::wire::reason::grpc_trailers;
use crate::wire::trail::Trail;

pin_project! {
    /// A response body, watched for its cut (see the module docs).
    pub struct Watched<B, G> {
        #[pin]
        inner: B,
        // `None`: a synthesized answer, which cannot be cut.
        route: Option<Arc<Route<RouteTarget>>>,
        grpc: bool,
        sent: u64,
        // Set once gRPC trailers replaced a cut: the body is over.
        ended: bool,
        // Where the bytes sent are counted for the access log, if it is on.
        trail: Option<Trail>,
        // A gRPC call's status, counted when it ends; dropped before the
        // guard, so the access log line in it sees the status.
        status: Option<GrpcEnd>,
        _guard: G,
    }
}

impl<B, G> Watched<B, G> {
    /// Watches `inner`, the answer on `route` to a request that was a gRPC
    /// call or not; `guard` is dropped with the body.
    pub fn new(inner: B, route: Option<Arc<Route<RouteTarget>>>, grpc: bool, guard: G) -> Self {
        Self {
            inner,
            route,
            grpc,
            sent: 0,
            ended: false,
            trail: None,
            status: None,
            _guard: guard,
        }
    }

    /// Also counts the bytes sent into `trail`.
    pub fn counting(mut self, trail: Option<Trail>) -> Self {
        self.trail = trail;
        self
    }

    /// Also counts a gRPC call's status when it ends.
    pub(super) fn reporting(mut self, status: Option<GrpcEnd>) -> Self {
        self.status = status;
        self
    }
}

impl<B, G> Body for Watched<B, G>
where
    B: Body<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        let mut polled = ready!(this.inner.as_mut().poll_frame(cx));
        // An empty DATA frame carries nothing, and HTTP/2 peers end a
        // connection that sends them too many (ENHANCE_YOUR_CALM).
        while polled.as_ref().is_some_and(|f| {
            f.as_ref()
                .is_ok_and(|f| f.data_ref().is_some_and(Bytes::is_empty))
        }) {
            polled = ready!(this.inner.as_mut().poll_frame(cx));
        }
        match polled {
            Some(Ok(frame)) => {
                if let (Some(status), Some(trailers)) = (this.status.as_mut(), frame.trailers_ref())
                {
                    status.trailers(trailers);
                }
                let n = frame.data_ref().map_or(0, Bytes::len);
                *this.sent += n as u64;
                if let Some(trail) = this.trail {
                    trail.sent(n);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(err)) => {
                let reason = rescue::classify(&err).reason;
                report(this.route.as_deref(), reason, *this.sent, &err);
                match this.grpc.then(|| rescue::grpc_cut_status(reason)).flatten() {
                    Some(code) => {
                        *this.ended = true;
                        let trailers = grpc_trailers(code, reason);
                        if let Some(status) = this.status.as_mut() {
                            status.trailers(&trailers);
                        }
                        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                    }
                    None => Poll::Ready(Some(Err(err))),
                }
            }
            None => {
                if let Some(status) = this.status.as_mut() {
                    status.ended();
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.ended {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

/// The cut's `warn` line and count.
fn report(route: Option<&Route<RouteTarget>>, reason: &'static str, sent: u64, err: &BoxError) {
    let (name, cluster) = route.map_or(("-", "-"), |r| {
        (r.settings.name.as_str(), r.settings.cluster.as_str())
    });
    tracing::warn!(
        route = name,
        cluster,
        reason,
        bytes = sent,
        error = %err,
        "response body cut"
    );
    if let Some(route) = route {
        route.target.metrics.cut(reason);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::{BodyExt, StreamBody};
    use tokio::time::{Instant, sleep};

    use super::*;
    use crate::middleware::timeout::body::TimedBody;
    use crate::middleware::timeout::{Bound, Direction};
    use crate::wire::body;

    /// A chunk every 100 ms, forever, under `total` ending at 250 ms.
    fn endless_under_total() -> body::Body {
        let chunks = futures_util::stream::unfold((), |()| async {
            sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"x"))), ()))
        });
        let end = Instant::now() + Duration::from_millis(250);
        let idle = Duration::from_secs(60);
        body::boxed(TimedBody::new(
            StreamBody::new(chunks),
            idle,
            Direction::Download,
            Some((end, Bound::Total)),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn a_grpc_call_cut_by_a_timeout_ends_with_deadline_exceeded_trailers() {
        let watched = Watched::new(endless_under_total(), None, true, ());
        let collected = watched.collect().await.expect("trailers, not an error");
        let trailers = collected.trailers().cloned().expect("trailers");
        assert_eq!(trailers["grpc-status"], "4");
        assert_eq!(trailers["grpc-message"], "seawall: total-timeout");
        assert_eq!(collected.to_bytes().len(), 2, "what was sent stays sent");
    }

    #[tokio::test(start_paused = true)]
    async fn any_other_cut_stays_an_error() {
        let watched = Watched::new(endless_under_total(), None, false, ());
        let err = watched.collect().await.unwrap_err();
        assert!(err.to_string().contains("total"), "{err}");
    }

    #[tokio::test]
    async fn empty_data_frames_are_not_passed_on() {
        let frames = ["x", "", "", "y", ""].map(|s| Ok::<_, BoxError>(Frame::data(Bytes::from(s))));
        let body = body::boxed(StreamBody::new(futures_util::stream::iter(frames)));
        let mut watched = Watched::new(body, None, false, ());
        let mut sent = Vec::new();
        while let Some(frame) = watched.frame().await {
            sent.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(sent, ["x", "y"]);
    }

    #[tokio::test]
    async fn a_grpc_call_the_upstream_broke_off_ends_unavailable() {
        let reset = futures_util::stream::iter([
            Ok(Frame::data(Bytes::from_static(b"x"))),
            Err::<Frame<Bytes>, BoxError>(
                std::io::Error::from(std::io::ErrorKind::ConnectionReset).into(),
            ),
        ]);
        let watched = Watched::new(body::boxed(StreamBody::new(reset)), None, true, ());
        let collected = watched.collect().await.expect("trailers, not a reset");
        let trailers = collected.trailers().cloned().expect("trailers");
        assert_eq!(trailers["grpc-status"], "14");
        assert_eq!(trailers["grpc-message"], "seawall: upstream-reset");
    }
}
