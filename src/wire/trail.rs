//! What one request left along its way, for its access log line: the
//! upstream endpoint of its last attempt, how many attempts reached an
//! endpoint, the body bytes in and out, and a gRPC call's status.
//!
//! The handler puts a [`Trail`] in the request's extensions when the
//! access log is on (nothing is allocated when it is off); the retry layer
//! copies extensions into every attempt, so the balancer records each pick
//! on the same trail; the request and response bodies count their bytes
//! into it as they pass. Atomics and one uncontended lock: the trail is
//! written by one request's futures at a time.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// One request's trail (clones share it).
#[derive(Clone, Debug, Default)]
pub struct Trail(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    attempts: AtomicU32,
    endpoint: Mutex<Option<SocketAddr>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// A gRPC call's `grpc-status` (+1; 0: none seen).
    grpc_status: AtomicU32,
}

impl Trail {
    /// The balancer sent an attempt to `endpoint`.
    pub fn picked(&self, endpoint: SocketAddr) {
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.0.endpoint.lock() {
            *last = Some(endpoint);
        }
    }

    /// Attempts that reached an endpoint.
    pub fn attempts(&self) -> u32 {
        self.0.attempts.load(Ordering::Relaxed)
    }

    /// The endpoint of the last attempt, if any reached one.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.0.endpoint.lock().ok().and_then(|e| *e)
    }

    /// Request body bytes read from the client.
    pub fn bytes_in(&self) -> u64 {
        self.0.bytes_in.load(Ordering::Relaxed)
    }

    /// Response body bytes handed to the client's connection.
    pub fn bytes_out(&self) -> u64 {
        self.0.bytes_out.load(Ordering::Relaxed)
    }

    /// A gRPC call ended with `status`.
    pub fn grpc_ended(&self, status: u32) {
        let stored = status.saturating_add(1);
        self.0.grpc_status.store(stored, Ordering::Relaxed);
    }

    /// The `grpc-status` a gRPC call ended with, if one was seen.
    pub fn grpc_status(&self) -> Option<u32> {
        self.0.grpc_status.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Counts response body bytes sent.
    pub fn sent(&self, n: usize) {
        self.0.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `body`, counting its data bytes as request bytes in.
    pub fn count_in<B>(&self, body: B) -> CountedIn<B> {
        CountedIn {
            inner: body,
            trail: self.clone(),
        }
    }
}

pin_project! {
    /// A request body that counts its bytes into a [`Trail`].
    pub struct CountedIn<B> {
        #[pin]
        inner: B,
        trail: Trail,
    }
}

impl<B> Body for CountedIn<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
            let n = data.len() as u64;
            this.trail.0.bytes_in.fetch_add(n, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};

    use super::*;

    #[tokio::test]
    async fn counts_attempts_the_last_endpoint_and_bytes() {
        let trail = Trail::default();
        assert_eq!((trail.attempts(), trail.endpoint()), (0, None));
        let (a, b) = (
            "10.0.0.1:80".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        trail.clone().picked(a);
        trail.picked(b);
        assert_eq!((trail.attempts(), trail.endpoint()), (2, Some(b)));
        let body = trail.count_in(Full::new(Bytes::from_static(b"hello")));
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 5);
        trail.sent(7);
        assert_eq!((trail.bytes_in(), trail.bytes_out()), (5, 7));
        assert_eq!(trail.grpc_status(), None);
        trail.grpc_ended(14);
        assert_eq!(trail.grpc_status(), Some(14));
    }
}
