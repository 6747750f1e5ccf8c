//! Per-connection activity, for the keep-alive idle timeout and the HTTP/1
//! header read timeout.
//!
//! hyper has no idle timeout for keep-alive connections, so each connection
//! counts its requests in progress (a request is in progress until its
//! response body is sent) and remembers when it last became idle. The
//! connection task waits on [`Activity::expiry`] and shuts the connection
//! down gracefully when it has been idle for `keepalive_timeout`.
//!
//! hyper's own HTTP/1 header read timer starts whenever it waits for a
//! head, so it also ended idle keep-alive connections after
//! `header_read_timeout` (10 s) instead of `keepalive_timeout` (60 s): the
//! race with a load balancer in front that `keepalive_timeout` exists to
//! avoid. It is off, and the header read timeout is kept here instead:
//! `heads::Heads` notes the first bytes that arrive while no request is in
//! progress (a head has begun), and the watcher ends the connection if
//! that head has not become a request within the timeout. A new connection
//! counts as having begun its first head when hyper starts serving it.
//!
//! The watcher is never woken by requests: it sleeps until the moment the
//! connection would expire if nothing happened, then looks at the state and
//! either expires or sleeps again. Beginning and ending a request only
//! update two fields under an uncontended lock. Waking the watcher on every
//! transition (as a `Notify` would) cost two task wake-ups and a timer
//! re-registration per request, for a timeout measured in tens of seconds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::resets::Resets;

/// How often [`Activity::next_request_if_idle`] looks.
const REQUEST_POLL: Duration = Duration::from_millis(5);

/// Activity of one connection.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
    /// Set once the client abandoned most of its requests (see `resets`).
    abuser: AtomicBool,
    abuse: Notify,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct State {
    busy: usize,
    idle_since: Instant,
    /// Requests begun on this connection so far.
    begun: u64,
    /// When bytes of a head arrived with no request in progress, until
    /// that head becomes a request.
    head_since: Option<Instant>,
    /// Requests begun and abandoned in the current window.
    resets: Resets,
    /// The request in progress has no body left to read: bytes arriving
    /// now are the next head (HTTP/1 has one request at a time).
    body_read: bool,
}

/// Why [`Activity::expiry`] ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No request in progress for the keep-alive timeout.
    Idle,
    /// A request head begun and not complete within the header read timeout.
    Head,
}

/// Marks one request in progress until dropped; travels with the response
/// body so a streaming response keeps its connection busy. Dropped before
/// [`BusyGuard::answered`], the request was abandoned (see `resets`).
#[derive(Debug)]
pub struct BusyGuard {
    activity: Arc<Activity>,
    answered: bool,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Activity {
    /// A connection that is idle from now.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                busy: 0,
                idle_since: Instant::now(),
                begun: 0,
                head_since: Some(Instant::now()),
                resets: Resets::new(Instant::now()),
                body_read: false,
            }),
            abuser: AtomicBool::new(false),
            abuse: Notify::new(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A panic while holding this lock cannot leave the counts torn (each
        // critical section is one field update), so a poisoned lock is used.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }

    /// Marks a request in progress until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> BusyGuard {
        self.with(|s| {
            s.busy += 1;
            s.begun += 1;
            s.head_since = None;
            s.body_read = false;
            s.resets.begun(Instant::now());
        });
        BusyGuard {
            activity: self.clone(),
            answered: false,
        }
    }

    /// True once the client has abandoned most of its requests.
    pub fn is_abuser(&self) -> bool {
        self.abuser.load(Ordering::Relaxed)
    }

    /// Completes once the client is marked an abuser.
    pub async fn abused(&self) {
        while !self.is_abuser() {
            self.abuse.notified().await;
        }
    }

    /// If no request is in progress, completes once one begins or after
    /// `limit`; if one is, at once. Only a drain waits on it, for idle
    /// connections a request may be on its way to (so it polls, rather
    /// than make every request wake a waiter that almost never exists).
    pub async fn next_request_if_idle(&self, limit: Duration) {
        let (busy, begun) = self.with(|s| (s.busy > 0, s.begun));
        let deadline = Instant::now() + limit;
        if busy {
            return;
        }
        while self.with(|s| s.begun) == begun && Instant::now() < deadline {
            tokio::time::sleep(REQUEST_POLL.min(limit)).await;
        }
    }

    /// The first head is awaited from now (once the protocol is known and,
    /// over TLS, the handshake done: those have bounds of their own).
    pub fn await_first_head(&self) {
        self.with(|s| s.head_since = Some(Instant::now()));
    }

    /// Bytes arrived: with no request in progress, or none with a body
    /// left to read, a head has begun.
    pub(super) fn arrived(&self) {
        self.with(|s| {
            if (s.busy == 0 || s.body_read) && s.head_since.is_none() {
                s.head_since = Some(Instant::now());
            }
        });
    }

    /// Completes once the connection has had no request in progress for
    /// `keepalive` ([`Expiry::Idle`]), or, with `head`, once a head begun
    /// has not become a request within it ([`Expiry::Head`]).
    ///
    /// While busy, it looks again every `keepalive`: the earliest the
    /// connection could expire is `keepalive` after its last request ends.
    /// While idle with `head`, it looks at least every `head`, as a head may
    /// begin at any moment; once one has, it sleeps until its limit.
    pub async fn expiry(&self, keepalive: Duration, head: Option<Duration>) -> Expiry {
        loop {
            let state = self.with(|s| *s);
            let now = Instant::now();
            // While busy, a head may begin once the request's body is read.
            let mut wake = now + head.map_or(keepalive, |limit| limit.min(keepalive));
            if state.busy == 0 {
                let idle_end = state.idle_since + keepalive;
                match (head, state.head_since) {
                    (Some(limit), Some(since)) if now >= since + limit => return Expiry::Head,
                    _ if now >= idle_end => return Expiry::Idle,
                    (Some(limit), Some(since)) => wake = idle_end.min(since + limit),
                    (Some(limit), None) => wake = idle_end.min(now + limit),
                    (None, _) => wake = idle_end,
                }
            }
            tokio::time::sleep_until(wake).await;
        }
    }
}

impl Activity {
    /// Completes once a head begun has not become a request within `head`;
    /// never without one. For a connection already told to finish, which
    /// hyper would otherwise leave waiting for the rest of a head.
    pub async fn head_overdue(&self, head: Option<Duration>) {
        if head.is_none() {
            return std::future::pending().await;
        }
        while self.expiry(NEVER_IDLE, head).await != Expiry::Head {}
    }
}

/// A keep-alive timeout that does not run out.
const NEVER_IDLE: Duration = Duration::from_secs(365 * 24 * 3600);

impl BusyGuard {
    /// The request got its response (its body may still be on its way).
    pub fn answered(&mut self) {
        self.answered = true;
    }

    /// The request has no body to read (see [`Activity::expiry`]): bytes
    /// arriving before its response ends begin the next head.
    pub fn body_read(&self) {
        self.activity.with(|s| s.body_read = true);
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let answered = self.answered;
        let abuser = self.activity.with(|s| {
            s.busy -= 1;
            if s.busy == 0 {
                s.idle_since = Instant::now();
            }
            !answered && s.resets.abandoned(Instant::now())
        });
        if abuser && !self.activity.abuser.swap(true, Ordering::Relaxed) {
            self.activity.abuse.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Option<Duration> = None;

    #[tokio::test(start_paused = true)]
    async fn idle_expires_after_timeout_only_when_not_busy() {
        let a = Arc::new(Activity::new());
        let guard = a.begin();
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.expiry(Duration::from_secs(5), IDLE).await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!waiter.is_finished(), "busy connection must not time out");
        drop(guard);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!waiter.is_finished());
        let _again = a.begin();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!waiter.is_finished(), "activity resets the idle clock");
        drop(_again);
        tokio::time::sleep(Duration::from_millis(5001)).await;
        tokio::task::yield_now().await;
        assert!(waiter.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn request_ending_just_before_a_recheck_gets_a_full_timeout() {
        let a = Arc::new(Activity::new());
        let guard = a.begin();
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.expiry(Duration::from_secs(5), IDLE).await }
        });
        tokio::time::sleep(Duration::from_millis(4900)).await;
        drop(guard);
        // The watcher re-checks at 5 s, finds the connection idle since
        // 4.9 s, and must wait until 9.9 s.
        tokio::time::sleep(Duration::from_millis(4800)).await;
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "expired before a full idle timeout");
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::task::yield_now().await;
        assert!(waiter.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_outlives_the_head_limit_a_begun_head_does_not() {
        let (keepalive, head) = (Duration::from_secs(60), Some(Duration::from_secs(10)));
        let a = Arc::new(Activity::new());
        drop(a.begin());
        let start = Instant::now();
        // Idle and silent: the keep-alive timeout, not the head limit.
        assert_eq!(a.expiry(keepalive, head).await, Expiry::Idle);
        assert_eq!(start.elapsed(), keepalive);

        let a = Arc::new(Activity::new());
        drop(a.begin());
        tokio::time::sleep(Duration::from_secs(25)).await;
        a.arrived();
        let start = Instant::now();
        assert_eq!(a.expiry(keepalive, head).await, Expiry::Head);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_becomes_a_request_is_not_timed_out() {
        let (keepalive, head) = (Duration::from_secs(60), Some(Duration::from_secs(10)));
        let a = Arc::new(Activity::new());
        // A new connection's first head is timed from its accept.
        assert_eq!(a.expiry(keepalive, head).await, Expiry::Head);
        let a = Arc::new(Activity::new());
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.expiry(keepalive, head).await }
        });
        tokio::time::sleep(Duration::from_secs(9)).await;
        let busy = a.begin();
        // Bytes of the body while busy start no head.
        a.arrived();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(busy);
        tokio::time::sleep(Duration::from_secs(59)).await;
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "cut before the keep-alive timeout");
        assert_eq!(waiter.await.unwrap(), Expiry::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_arriving_before_a_bodyless_answer_ends_is_timed() {
        let (keepalive, head) = (Duration::from_secs(60), Some(Duration::from_secs(10)));
        let a = Arc::new(Activity::new());
        let busy = a.begin();
        busy.body_read();
        a.arrived();
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(busy);
        let start = Instant::now();
        assert_eq!(a.expiry(keepalive, head).await, Expiry::Head);
        assert_eq!(start.elapsed(), Duration::from_secs(8));
        // With a body still to read, bytes are the body's.
        let a = Arc::new(Activity::new());
        let busy = a.begin();
        a.arrived();
        drop(busy);
        let start = Instant::now();
        assert_eq!(a.expiry(keepalive, head).await, Expiry::Idle);
        assert_eq!(start.elapsed(), keepalive);
    }
}
