//! State shared by every connection: the name, the runtime fault defaults,
//! the capacity gate, and the request counters behind `GET /_upstream/stats`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::call::Caller;
use crate::capacity::{Gate, Slot};
use crate::faults::Faults;

/// Shared by all connections behind an `Arc`.
#[derive(Debug)]
pub struct State {
    /// Reported as `upstream` in every echo.
    pub name: String,
    /// `--call`: the next hop every normal request is passed to.
    pub caller: Option<Caller>,
    faults: Mutex<Faults>,
    /// `--capacity`: used while the fault defaults set no `capacity`.
    capacity: usize,
    gate: Arc<Gate>,
    requests: AtomicU64,
    in_flight: AtomicU64,
}

/// Counts one request as in flight until dropped. It travels with the
/// response body (or the upgraded tunnel), so a streamed answer stays in
/// flight until its last byte.
#[derive(Debug)]
pub struct InFlight(Arc<State>, Option<Slot>);

impl State {
    /// A fresh state with no faults and zeroed counters; `capacity` 0 means
    /// unlimited.
    pub fn new(name: String, capacity: usize) -> Self {
        Self {
            name,
            caller: None,
            faults: Mutex::new(Faults::default()),
            capacity,
            gate: Arc::new(Gate::default()),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        }
    }

    /// Counts a non-control request as seen and in flight.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self), None)
    }

    /// Waits for a serving slot (see [`crate::capacity`]) and ties it to
    /// `in_flight`, so it is held until the response is done.
    pub async fn serve(self: &Arc<Self>, in_flight: &mut InFlight) {
        let slot = self
            .gate
            .enter(|| Some(self.faults().capacity.unwrap_or(self.capacity)))
            .await;
        in_flight.1 = Some(slot);
    }

    /// Requests holding a serving slot.
    pub fn serving(&self) -> usize {
        self.gate.serving()
    }

    /// `(requests seen, requests in flight)`.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.in_flight.load(Ordering::Relaxed),
        )
    }

    /// The current fault defaults.
    pub fn faults(&self) -> Faults {
        // A panic while holding this lock cannot leave a `Faults` half
        // written (it is replaced whole), so a poisoned lock is still valid.
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the fault defaults for every later request.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner) = faults;
        self.gate.limit_changed();
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
