//! Per-connection activity, for the keep-alive idle timeout.
//!
//! hyper has no idle timeout for keep-alive connections, so each connection
//! counts its requests in progress (a request is in progress until its
//! response body is sent) and remembers when it last became idle. The
//! connection task waits on [`Activity::idle_for`] and shuts the connection
//! down gracefully when it expires.
//!
//! The watcher is never woken by requests: it sleeps until the moment the
//! connection would expire if nothing happened, then looks at the state and
//! either expires or sleeps again. Beginning and ending a request only
//! update two fields under an uncontended lock. Waking the watcher on every
//! transition (as a `Notify` would) cost two task wake-ups and a timer
//! re-registration per request, for a timeout measured in tens of seconds.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How often [`Activity::next_request_if_idle`] looks.
const REQUEST_POLL: Duration = Duration::from_millis(5);

/// Activity of one connection.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct State {
    busy: usize,
    idle_since: Instant,
    /// Requests begun on this connection so far.
    begun: u64,
}

/// Marks one request in progress until dropped; travels with the response
/// body so a streaming response keeps its connection busy.
#[derive(Debug)]
pub struct BusyGuard(std::sync::Arc<Activity>);

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
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A panic while holding this lock cannot leave the counts torn (each
        // critical section is one field update), so a poisoned lock is used.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }

    /// Marks a request in progress until the returned guard is dropped.
    pub fn begin(self: &std::sync::Arc<Self>) -> BusyGuard {
        self.with(|s| {
            s.busy += 1;
            s.begun += 1;
        });
        BusyGuard(self.clone())
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

    /// Completes once the connection has had no request in progress for
    /// `timeout`. While busy, it looks again every `timeout`: the earliest
    /// the connection could expire is `timeout` after its last request ends.
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            let state = self.with(|s| *s);
            let wake = if state.busy > 0 {
                Instant::now() + timeout
            } else {
                let expiry = state.idle_since + timeout;
                if Instant::now() >= expiry {
                    return;
                }
                expiry
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.busy -= 1;
            if s.busy == 0 {
                s.idle_since = Instant::now();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_expires_after_timeout_only_when_not_busy() {
        let a = Arc::new(Activity::new());
        let guard = a.begin();
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.idle_for(Duration::from_secs(5)).await }
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
            async move { a.idle_for(Duration::from_secs(5)).await }
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
}
