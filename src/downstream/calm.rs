//! GOAWAY `ENHANCE_YOUR_CALM` for a client that abandons most of its
//! streams (see `resets`).
//!
//! hyper can only end an HTTP/2 connection gracefully, with GOAWAY
//! `NO_ERROR`, and offers no way to send another code (h2's
//! `abrupt_shutdown` is not exposed). [`Calm`], under the connection's IO,
//! follows the frames written and, once the connection's [`Activity`]
//! marks the client an abuser, rewrites the error code of the GOAWAY
//! frames hyper then writes to `ENHANCE_YOUR_CALM`: the client learns why,
//! as from h2's own back-to-back reset limit. Until then it only walks the
//! frame headers of what is written.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::activity::Activity;

/// Where the outgoing HTTP/2 byte stream is: inside which frame.
#[derive(Clone, Copy, Debug, Default)]
struct Frames {
    header: [u8; 9],
    have: usize,
    len: usize,
    offset: usize,
}

/// The GOAWAY frame type.
const GOAWAY: u8 = 7;
/// `ENHANCE_YOUR_CALM`, as GOAWAY's error code.
const ENHANCE_YOUR_CALM: [u8; 4] = 11u32.to_be_bytes();

impl Frames {
    /// Walks `bytes`, the next bytes written; `code(i, k)` is called for
    /// each byte `i` that is byte `k` of a GOAWAY's error code.
    fn walk(&mut self, bytes: &[u8], mut code: impl FnMut(usize, usize)) {
        let mut i = 0;
        while i < bytes.len() {
            if self.have < 9 {
                self.header[self.have] = bytes[i];
                self.have += 1;
                i += 1;
                if self.have == 9 {
                    let h = self.header;
                    self.len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                    self.offset = 0;
                    if self.len == 0 {
                        self.have = 0;
                    }
                }
                continue;
            }
            let take = (self.len - self.offset).min(bytes.len() - i);
            if self.header[3] == GOAWAY {
                for j in 0..take {
                    let at = self.offset + j;
                    if (4..8).contains(&at) {
                        code(i + j, at - 4);
                    }
                }
            }
            self.offset += take;
            i += take;
            if self.offset == self.len {
                self.have = 0;
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// An HTTP/2 connection's IO: once its [`Activity`] marks the client an
    /// abuser, GOAWAY frames go out with `ENHANCE_YOUR_CALM`.
    #[derive(Debug)]
    pub struct Calm<IO> {
        #[pin]
        io: IO,
        activity: Arc<Activity>,
        frames: Frames,
    }
}

impl<IO> Calm<IO> {
    /// Watches what is written to `io` for `activity`.
    pub fn new(io: IO, activity: Arc<Activity>) -> Self {
        Self {
            io,
            activity,
            frames: Frames::default(),
        }
    }
}

impl<IO: AsyncRead> AsyncRead for Calm<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite> AsyncWrite for Calm<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let n = if this.activity.is_abuser() {
            // Rewritten on a copy, from a copy of the position, so bytes
            // hyper offers again after a short write come out the same.
            let mut out = buf.to_vec();
            this.frames
                .clone()
                .walk(buf, |i, k| out[i] = ENHANCE_YOUR_CALM[k]);
            ready!(this.io.poll_write(cx, &out))?
        } else {
            ready!(this.io.poll_write(cx, buf))?
        };
        this.frames.walk(&buf[..n], |_, _| {});
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.activity.is_abuser() {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.poll_write(cx, first);
        }
        let this = self.project();
        let mut n = ready!(this.io.poll_write_vectored(cx, bufs))?;
        let written = n;
        for buf in bufs {
            let part = n.min(buf.len());
            this.frames.walk(&buf[..part], |_, _| {});
            n -= part;
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downstream::resets::MIN_RESETS;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut out = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            0,
            0,
            0,
            0,
            0,
        ];
        out.extend(payload);
        out
    }

    #[test]
    fn only_goaway_error_codes_are_found_across_split_writes() {
        let mut stream = frame(4, &[0, 3, 0, 0, 0, 100]);
        stream.extend(frame(0, &[7; 20]));
        stream.extend(frame(GOAWAY, &[0, 0, 0, 9, 0, 0, 0, 0, b'x']));
        stream.extend(frame(6, &[0; 8]));
        let expected: Vec<usize> = (0..4).map(|k| 15 + 29 + 9 + 4 + k).collect();
        for split in [1, 2, 5, 9, 13, stream.len()] {
            let mut frames = Frames::default();
            let mut found = Vec::new();
            let mut at = 0;
            for chunk in stream.chunks(split) {
                frames.walk(chunk, |i, k| found.push((at + i, k)));
                at += chunk.len();
            }
            let positions: Vec<usize> = found.iter().map(|(i, _)| *i).collect();
            assert_eq!(positions, expected, "split {split}");
            assert!(found.iter().map(|(_, k)| *k).eq(0..4));
        }
    }

    #[tokio::test]
    async fn an_abusers_goaway_goes_out_as_enhance_your_calm() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let activity = Arc::new(Activity::new());
        let (client, server) = tokio::io::duplex(4096);
        let mut calm = Calm::new(server, activity.clone());
        let goaway = frame(GOAWAY, &[0, 0, 0, 1, 0, 0, 0, 0]);
        calm.write_all(&goaway).await.unwrap();
        for _ in 0..MIN_RESETS {
            drop(activity.begin());
        }
        assert!(activity.is_abuser(), "{MIN_RESETS} requests abandoned");
        calm.write_all(&goaway).await.unwrap();
        drop(calm);
        let mut written = Vec::new();
        let mut client = client;
        client.read_to_end(&mut written).await.unwrap();
        assert_eq!(&written[13..17], &[0, 0, 0, 0], "before: NO_ERROR kept");
        assert_eq!(&written[30..34], &ENHANCE_YOUR_CALM);
    }
}
