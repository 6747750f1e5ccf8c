//! The concurrency capacity: at most N requests are served at once, the rest
//! wait in arrival order of wake-ups. It models a real service's worker pool
//! (threads, database connections), which is what makes overload visible as
//! queueing: without it the demo upstream would serve any concurrency at
//! the same latency and no proxy could be shown to protect it.
//!
//! The limit is read on every admission, so `POST /_upstream/config
//! {"capacity": N}` takes effect for waiting requests at once. A slot is held
//! until the response body is done (it travels in [`crate::state::InFlight`]).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// Counts requests being served and wakes waiters when one finishes.
#[derive(Debug, Default)]
pub struct Gate {
    serving: Mutex<usize>,
    freed: Notify,
}

/// One serving slot; frees it when dropped.
#[derive(Debug)]
pub struct Slot(Arc<Gate>);

impl Gate {
    /// Waits until fewer than `limit()` requests are being served (`None` or
    /// `Some(0)`: no limit) and takes a slot.
    pub async fn enter(self: &Arc<Self>, limit: impl Fn() -> Option<usize>) -> Slot {
        loop {
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before the check, so a slot freed in between wakes us.
            freed.as_mut().enable();
            {
                let mut serving = self.serving.lock().unwrap_or_else(PoisonError::into_inner);
                match limit() {
                    Some(max) if max > 0 && *serving >= max => {}
                    _ => {
                        *serving += 1;
                        return Slot(Arc::clone(self));
                    }
                }
            }
            freed.await;
        }
    }

    /// Requests being served now.
    pub fn serving(&self) -> usize {
        *self.serving.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every waiter to re-read the limit (after it was raised).
    pub fn limit_changed(&self) {
        self.freed.notify_waiters();
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *self
            .0
            .serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner) -= 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn serves_at_most_the_limit_and_admits_a_waiter_when_one_finishes() {
        let gate = Arc::new(Gate::default());
        let first = gate.enter(|| Some(2)).await;
        let _second = gate.enter(|| Some(2)).await;
        let waiting = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.enter(|| Some(2)).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished(), "a third request must wait");
        assert_eq!(gate.serving(), 2);
        drop(first);
        let _third = waiting.await.unwrap();
        assert_eq!(gate.serving(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_or_none_means_unlimited() {
        let gate = Arc::new(Gate::default());
        let _a = gate.enter(|| Some(0)).await;
        let _b = gate.enter(|| None).await;
        assert_eq!(gate.serving(), 2);
    }
}
