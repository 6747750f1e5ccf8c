//! Tests of admission control: the pure queue step by step (`state`), and
//! the tower service with mocks on tokio's paused clock (`service`); the
//! adaptive limit step by step (`adaptive_steps`) and against a simulated
//! upstream (`adaptive`, on `adaptive_sim`).

mod adaptive;
mod adaptive_capacity;
mod adaptive_robust;
mod adaptive_sim;
mod adaptive_steps;
mod burst;
mod priority;
mod service;
mod state;

use std::num::NonZeroUsize;
use std::time::Duration;

use crate::config::AdmissionSettings;

const MS: Duration = Duration::from_millis(1);

/// The defaults with `max_concurrent` slots and a queue of `max_queue`.
fn limits(max_concurrent: usize, max_queue: usize) -> AdmissionSettings {
    AdmissionSettings {
        max_concurrent: NonZeroUsize::new(max_concurrent).expect("non-zero"),
        max_queue,
        // These tests are about the fixed bulkhead; the adaptive limit has
        // its own (`adaptive*`).
        adaptive: None,
        ..AdmissionSettings::default()
    }
}
