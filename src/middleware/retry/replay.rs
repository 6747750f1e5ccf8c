//! A request body that can be sent more than once, within a byte cap.
//!
//! The first attempt streams the client's body as it arrives (no added
//! latency, no store-and-forward) while a copy of each chunk is kept, up to
//! `cap` bytes. When an attempt ends, its body hands the *rest* of the
//! client's body back to the shared state on drop, so the next attempt
//! replays the kept chunks and then continues reading the client: a body
//! the first attempt never read (connect refused) costs nothing to replay,
//! whatever its size. Once more than `cap` bytes have been kept, the copy is
//! dropped and the body can no longer be replayed: a large or streaming
//! upload is not retried once sent. (linkerd2-proxy's `ReplayBody` works
//! the same way.)
//!
//! A retry starts only when [`Replay::can_replay`] says so, which also
//! covers an attempt whose body is still held by the connection (the state
//! is handed back only on drop).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as _, Frame, SizeHint};

use crate::wire::BoxError;
use crate::wire::body::Body;

/// The shared state of one request's body across attempts.
#[derive(Debug)]
pub struct Replay {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<Option<State>>,
    cap: usize,
    hint: SizeHint,
}

struct State {
    /// The unread rest of the client's body; `None` once it ended.
    rest: Option<Body>,
    kept: Vec<Bytes>,
    kept_len: usize,
    trailers: Option<HeaderMap>,
    /// More than `cap` bytes were read (or the body failed): no replay.
    overflowed: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("ended", &self.rest.is_none())
            .field("kept_len", &self.kept_len)
            .field("overflowed", &self.overflowed)
            .finish_non_exhaustive()
    }
}

/// One attempt's view of the body: kept chunks first, then the rest.
#[derive(Debug)]
pub struct ReplayBody {
    shared: Arc<Shared>,
    state: Option<State>,
    /// Kept chunks this body has sent.
    next_kept: usize,
    trailers_sent: bool,
}

impl Replay {
    /// Wraps the client's `body`, keeping at most `cap` bytes for replay.
    pub fn new(body: Body, cap: usize) -> Self {
        let hint = body.size_hint();
        let state = State {
            rest: Some(body),
            kept: Vec::new(),
            kept_len: 0,
            trailers: None,
            overflowed: false,
        };
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(Some(state)),
                cap,
                hint,
            }),
        }
    }

    /// The body for the next attempt.
    pub fn body(&self) -> ReplayBody {
        ReplayBody {
            shared: self.shared.clone(),
            state: None,
            next_kept: 0,
            trailers_sent: false,
        }
    }

    /// True when more than `cap` bytes were read: no attempt can replay it.
    /// (False while an attempt holds the body: that is not known yet.)
    pub fn overflowed(&self) -> bool {
        let state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.as_ref().is_some_and(|s| s.overflowed)
    }

    /// True when another attempt can send the whole body: the previous
    /// attempt's body was dropped, and no more than `cap` bytes were read.
    pub fn can_replay(&self) -> bool {
        let state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.as_ref().is_some_and(|s| !s.overflowed)
    }
}

impl http_body::Body for ReplayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.state.is_none() {
            let mut shared = this
                .shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            this.state = shared.take();
        }
        let Some(state) = this.state.as_mut() else {
            return Poll::Ready(Some(Err("request body is held by another attempt".into())));
        };
        if let Some(chunk) = state.kept.get(this.next_kept) {
            this.next_kept += 1;
            return Poll::Ready(Some(Ok(Frame::data(chunk.clone()))));
        }
        let Some(rest) = state.rest.as_mut() else {
            return Poll::Ready(match (&state.trailers, this.trailers_sent) {
                (Some(trailers), false) => {
                    this.trailers_sent = true;
                    Some(Ok(Frame::trailers(trailers.clone())))
                }
                _ => None,
            });
        };
        loop {
            return match Pin::new(&mut *rest).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => {
                    state.rest = None;
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Err(error))) => {
                    // A broken upload cannot be sent again.
                    state.rest = None;
                    state.overflowed = true;
                    Poll::Ready(Some(Err(error)))
                }
                // An empty DATA frame carries nothing. Sent on, hyper would
                // write it as an empty frame that does not end the stream,
                // and HTTP/2 servers end a connection that has sent them
                // 100 of those (GOAWAY ENHANCE_YOUR_CALM).
                Poll::Ready(Some(Ok(frame))) if frame.data_ref().is_some_and(Bytes::is_empty) => {
                    continue;
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        keep(state, data, this.shared.cap);
                        this.next_kept = state.kept.len();
                    } else if let Some(trailers) = frame.trailers_ref() {
                        state.trailers = Some(trailers.clone());
                        this.trailers_sent = true;
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
            };
        }
    }

    /// True once nothing is left to send: so hyper can mark the last data
    /// frame as the end of the stream rather than send an empty one.
    fn is_end_stream(&self) -> bool {
        self.shared.hint.exact() == Some(0)
            || self.state.as_ref().is_some_and(|s| {
                s.rest.as_ref().is_none_or(http_body::Body::is_end_stream)
                    && self.next_kept >= s.kept.len()
                    && (s.trailers.is_none() || self.trailers_sent)
            })
    }

    fn size_hint(&self) -> SizeHint {
        // Every attempt sends the whole body, so the client's hint holds.
        self.shared.hint
    }
}

fn keep(state: &mut State, data: &Bytes, cap: usize) {
    if state.overflowed {
        return;
    }
    if state.kept_len + data.len() > cap {
        state.overflowed = true;
        state.kept = Vec::new();
        state.kept_len = 0;
    } else {
        state.kept_len += data.len();
        state.kept.push(data.clone());
    }
}

impl Drop for ReplayBody {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            *self
                .shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(state);
        }
    }
}
