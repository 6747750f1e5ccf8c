//! Validation of the `memory:` block (nothing in it can be wrong once
//! parsed; absent keys take the defaults).

use super::super::file::memory::MemoryFile;
use super::super::settings::defaults;
use super::super::settings::memory::MemorySettings;

/// `memory:`
pub(super) fn memory(file: Option<&MemoryFile>) -> MemorySettings {
    MemorySettings {
        release_when_idle: file
            .and_then(|m| m.release_when_idle)
            .unwrap_or(defaults::RELEASE_WHEN_IDLE),
    }
}
