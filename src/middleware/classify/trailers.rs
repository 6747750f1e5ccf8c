//! The end of a streamed gRPC response: its `grpc-status` arrives in the
//! trailers, after the body, so whoever judges it (the breaker, ejection)
//! hands a report to [`on_end`] and hears once how the body ended.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::wire::BoxError;
use crate::wire::body::{self, Body};
use crate::wire::grpc;

/// How a streamed gRPC response ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Trailers with this `grpc-status`.
    Status(u32),
    /// The body ended without a `grpc-status`.
    Missing,
    /// The body broke (the upstream reset it, or a timeout cut it).
    Broken,
    /// Dropped before its end: the client went away, nothing is known.
    Dropped,
}

/// A response body whose end can be watched: the stack's [`Body`], and
/// `()` (an empty body, which has no trailers) for tests over mocks.
pub trait Watched: Sized {
    /// The body, calling `report` once with how it ended.
    fn on_end(self, report: impl FnOnce(End) + Send + 'static) -> Self;
}

impl Watched for Body {
    fn on_end(self, report: impl FnOnce(End) + Send + 'static) -> Self {
        on_end(self, report)
    }
}

impl Watched for () {
    fn on_end(self, report: impl FnOnce(End) + Send + 'static) -> Self {
        report(End::Missing);
    }
}

/// A report, called once.
type Report = Box<dyn FnOnce(End) + Send>;

/// `body`, calling `report` once with how it ended.
pub fn on_end(body: Body, report: impl FnOnce(End) + Send + 'static) -> Body {
    body::boxed(OnEnd {
        inner: body,
        report: Some(Box::new(report)),
    })
}

struct OnEnd {
    inner: Body,
    report: Option<Report>,
}

impl OnEnd {
    fn report(&mut self, end: End) {
        if let Some(report) = self.report.take() {
            report(end);
        }
    }
}

impl HttpBody for OnEnd {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let end = grpc::status(trailers).map_or(End::Missing, End::Status);
                    self.report(end);
                }
            }
            Some(Err(_)) => self.report(End::Broken),
            None => self.report(End::Missing),
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for OnEnd {
    fn drop(&mut self) {
        self.report(End::Dropped);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http::{HeaderMap, HeaderValue};
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    fn stream(frames: Vec<Result<Frame<Bytes>, BoxError>>) -> Body {
        body::boxed(StreamBody::new(futures_util::stream::iter(frames)))
    }

    fn status_trailers(code: &'static str) -> Frame<Bytes> {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static(code));
        Frame::trailers(t)
    }

    async fn ends(body: Body, read: bool) -> Vec<End> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let body = on_end(body, move |end| sink.lock().unwrap().push(end));
        if read {
            let _ = body.collect().await;
        } else {
            drop(body);
        }
        seen.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn reports_once_how_the_body_ended() {
        let data = || Ok(Frame::data(Bytes::from_static(b"m")));
        let ok = stream(vec![data(), Ok(status_trailers("0"))]);
        assert_eq!(ends(ok, true).await, [End::Status(0)]);
        let failed = stream(vec![data(), Ok(status_trailers("14"))]);
        assert_eq!(ends(failed, true).await, [End::Status(14)]);
        assert_eq!(ends(stream(vec![data()]), true).await, [End::Missing]);
        let broken = stream(vec![data(), Err("reset".into())]);
        assert_eq!(ends(broken, true).await, [End::Broken]);
        assert_eq!(ends(stream(vec![data()]), false).await, [End::Dropped]);
    }
}
