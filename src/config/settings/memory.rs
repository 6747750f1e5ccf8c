//! Typed process memory settings.

use serde::Serialize;

/// Process memory settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemorySettings {
    /// After a burst, once the process is quiet, hand the heap memory the
    /// burst freed back to the OS (see `crate::server::memory`).
    pub release_when_idle: bool,
}
