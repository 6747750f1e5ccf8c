//! Telling HTTP/1.1 from HTTP/2 on a cleartext connection, within the
//! header read timeout.
//!
//! A client speaking HTTP/2 with prior knowledge opens with the h2 preface;
//! anything else is HTTP/1. [`sniff`] reads the first bytes until they
//! leave the preface or complete it, bounded by `header_read_timeout`:
//! hyper's own header read timeout only starts once an HTTP/1 server runs,
//! so a client that connects and sends nothing (or `P`, or half the
//! preface) would otherwise hold its connection until the keep-alive
//! watcher fired, six times longer by default: a cheap way to fill
//! `max_connections`. The IO it returns replays those bytes to hyper.
//!
//! A client that opens with HTTP/2's request line (`PRI * HTTP/2.0`, which
//! no HTTP/1 server serves) and then leaves the preface is an HTTP/2 client
//! with a broken preface: it gets GOAWAY `PROTOCOL_ERROR` (RFC 9113 §3.4)
//! from [`refuse_h2`] rather than hyper's HTTP/1 error or a bare EOF.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, timeout_at};

use super::servers::Protocol;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The preface's request line: what only an HTTP/2 client sends.
const H2_REQUEST_LINE: &[u8] = b"PRI * HTTP/2.0";

/// GOAWAY on stream 0: last stream 0, error `PROTOCOL_ERROR` (1).
const GOAWAY_PROTOCOL_ERROR: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// An IO whose first bytes were already read; reads replay them first.
#[derive(Debug)]
pub struct Prefixed<IO> {
    prefix: Vec<u8>,
    offset: usize,
    io: IO,
}

/// Reads until the protocol can be told (the bytes leave the h2 preface,
/// or all of it has arrived), for at most `limit`. `None` when the client
/// closed or was too slow: drop the connection.
pub async fn sniff<IO>(mut io: IO, limit: Duration) -> Option<Prefixed<IO>>
where
    IO: AsyncRead + Unpin,
{
    let deadline = Instant::now() + limit;
    let mut prefix = [0u8; PREFACE.len()];
    let mut len = 0;
    while len < PREFACE.len() && prefix[..len] == PREFACE[..len] {
        match timeout_at(deadline, io.read(&mut prefix[len..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => len += n,
        }
    }
    Some(Prefixed {
        prefix: prefix[..len].to_vec(),
        offset: 0,
        io,
    })
}

impl<IO> Prefixed<IO> {
    /// HTTP/2 when the connection opened with the whole preface.
    pub fn protocol(&self) -> Protocol {
        if self.prefix == PREFACE {
            Protocol::Http2
        } else {
            Protocol::Http1
        }
    }
}

impl<IO> Prefixed<IO> {
    /// True when the connection opened with HTTP/2's request line and then
    /// left the preface: answer it with [`refuse_h2`].
    pub fn broken_h2_preface(&self) -> bool {
        self.prefix.starts_with(H2_REQUEST_LINE) && self.prefix != PREFACE
    }
}

/// Writes GOAWAY `PROTOCOL_ERROR` and closes, within `limit`.
pub async fn refuse_h2<IO: AsyncWrite + Unpin>(mut io: IO, limit: Duration) {
    let refused = async {
        io.write_all(&GOAWAY_PROTOCOL_ERROR).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(limit, refused).await;
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.offset < this.prefix.len() {
            let rest = &this.prefix[this.offset..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.offset += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn replayed(opening: &[u8], more: &[u8]) -> Vec<u8> {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(opening).await.unwrap();
        client.write_all(more).await.unwrap();
        drop(client);
        let mut io = sniff(server, Duration::from_secs(1)).await.unwrap();
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        all
    }

    #[tokio::test]
    async fn http1_and_h2_bytes_are_replayed_unchanged() {
        let h1 = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(replayed(h1, b"").await, h1);
        let mut h2 = PREFACE.to_vec();
        h2.extend(b"\0\0\0\x04\0\0\0\0\0");
        assert_eq!(replayed(&h2, b"").await, h2);
    }

    #[tokio::test]
    async fn the_whole_preface_is_http2_anything_else_http1() {
        let cases: [(&[u8], Protocol); 4] = [
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Protocol::Http1),
            // Starts like the preface, then leaves it.
            (b"PRI * HTTP/1.1\r\nHost: a\r\n\r\n", Protocol::Http1),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Protocol::Http2),
            (
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04",
                Protocol::Http2,
            ),
        ];
        for (opening, protocol) in cases {
            let (mut client, server) = tokio::io::duplex(1024);
            client.write_all(opening).await.unwrap();
            let io = sniff(server, Duration::from_secs(1)).await.unwrap();
            assert_eq!(io.protocol(), protocol, "{opening:?}");
        }
    }

    #[tokio::test]
    async fn a_preface_broken_after_the_h2_request_line_gets_goaway() {
        let cases: [(&[u8], bool); 5] = [
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\rQ", true),
            (b"PRI * HTTP/2.0\r\nHost: a\r\n\r\n", true),
            (PREFACE, false),
            (b"PRI * HTTP/1.1\r\nHost: a\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false),
        ];
        for (opening, broken) in cases {
            let (mut client, server) = tokio::io::duplex(1024);
            client.write_all(opening).await.unwrap();
            let io = sniff(server, Duration::from_secs(1)).await.unwrap();
            assert_eq!(io.broken_h2_preface(), broken, "{opening:?}");
        }
        let (mut client, server) = tokio::io::duplex(1024);
        refuse_h2(server, Duration::from_secs(1)).await;
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        assert_eq!(written, GOAWAY_PROTOCOL_ERROR);
    }

    #[tokio::test(start_paused = true)]
    async fn silence_or_a_stalled_preface_is_dropped_at_the_limit() {
        for opening in [&b""[..], b"P", b"PRI * HTTP/2.0\r\n"] {
            let (mut client, server) = tokio::io::duplex(1024);
            client.write_all(opening).await.unwrap();
            let start = Instant::now();
            assert!(sniff(server, Duration::from_secs(2)).await.is_none());
            assert_eq!(start.elapsed(), Duration::from_secs(2), "{opening:?}");
            drop(client);
        }
    }

    #[tokio::test]
    async fn a_closed_connection_is_dropped() {
        let (client, server) = tokio::io::duplex(1024);
        drop(client);
        assert!(sniff(server, Duration::from_secs(1)).await.is_none());
    }
}
