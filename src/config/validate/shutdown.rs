//! Validation of the `shutdown:` block.

use super::super::error::ConfigError;
use super::super::file::shutdown::ShutdownFile;
use super::super::settings::defaults;
use super::super::settings::shutdown::ShutdownSettings;
use super::scalar::positive_duration;

/// `shutdown:`; absent keys take the defaults.
pub(super) fn shutdown(file: Option<&ShutdownFile>) -> Result<ShutdownSettings, ConfigError> {
    let raw = file.and_then(|s| s.drain_timeout.as_ref());
    let drain_timeout = positive_duration(raw, "shutdown.drain_timeout", defaults::DRAIN_TIMEOUT)?;
    Ok(ShutdownSettings { drain_timeout })
}
