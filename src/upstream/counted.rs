//! Counting upstream connections: a connector wrapper whose connections
//! move `seawall_upstream_connections_open` up when made and down when the
//! pool drops them, and `seawall_upstream_connections_total` once each.
//! (The pool, [`crate::upstream::pool`], stamps each response with the instant
//! its connection became ready.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use pin_project_lite::pin_project;

use prometheus_client::metrics::gauge::Gauge;

pub use crate::telemetry::metrics::ConnectionMetrics;

/// Wraps a connector so each connection it makes is counted.
#[derive(Clone, Debug)]
pub struct CountingConnector<C> {
    inner: C,
    metrics: ConnectionMetrics,
}

impl<C> CountingConnector<C> {
    /// Counts the connections `inner` makes into `metrics`.
    pub fn new(inner: C, metrics: ConnectionMetrics) -> Self {
        Self { inner, metrics }
    }
}

impl<C> tower::Service<Uri> for CountingConnector<C>
where
    C: tower::Service<Uri>,
    C::Future: Send + 'static,
{
    type Response = Counted<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let io = connecting.await?;
            metrics.total.inc();
            metrics.open.inc();
            Ok(Counted {
                io,
                open: metrics.open,
            })
        })
    }
}

pin_project! {
    /// A connection that counts itself closed when dropped.
    pub struct Counted<IO> {
        #[pin]
        io: IO,
        open: Gauge,
    }

    impl<IO> PinnedDrop for Counted<IO> {
        fn drop(this: Pin<&mut Self>) {
            this.open.dec();
        }
    }
}

impl<IO: Read> Read for Counted<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<IO: Write> Write for Counted<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }
}
