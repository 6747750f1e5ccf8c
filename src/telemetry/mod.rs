//! Telemetry: logging setup (tracing-subscriber with an `EnvFilter`) and
//! the Prometheus metrics in [`metrics`].
//!
//! `RUST_LOG`, when set, wins over the config's `log.level`, so an operator
//! can turn up one module without editing the file. Text for humans, JSON
//! (one object per line) for log pipelines. Access-log lines use the target
//! `seawall::access`.
//!
//! The filter sits behind tracing-subscriber's `reload` layer, so the admin
//! API can change it while seawall runs ([`set_log_level`], like Envoy's
//! `/logging`). Its handle is process-wide, as the subscriber itself is.

pub mod exposition;
pub mod grpc;
mod late;
pub mod metrics;
pub mod process;
pub mod requests;
pub mod timed;
pub mod trace;

pub use metrics::Metrics;

use std::sync::OnceLock;

use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

use crate::config::{LogFormat, LogSettings};

/// The filter's reload handle, set by [`init`].
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the global subscriber. Returns an error if the filter does not
/// parse or a subscriber is already installed.
pub fn init(settings: &LogSettings) -> Result<(), crate::wire::BoxError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v)?,
        _ => EnvFilter::try_new(&settings.level)?,
    };
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match settings.format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stdout)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .try_init()?,
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stdout),
            )
            .try_init()?,
    }
    let _ = FILTER.set(handle);
    Ok(())
}

/// Why the log level could not be changed.
#[derive(Debug)]
pub enum LevelError {
    /// Not a filter; the message says why and what is allowed.
    Invalid(String),
    /// Logging was not set up by [`init`] (seawall inside a test process).
    Unavailable,
}

/// The log filter in force, when [`init`] set up logging.
pub fn log_level() -> Option<String> {
    FILTER.get()?.with_current(ToString::to_string).ok()
}

/// Replaces the log filter in force, checked as `log.level` is; returns
/// the filter as applied (`warning` read as `warn`).
pub fn set_log_level(text: &str) -> Result<String, LevelError> {
    let handle = FILTER.get().ok_or(LevelError::Unavailable)?;
    let level = crate::config::parse_log_level(text).map_err(LevelError::Invalid)?;
    let filter = EnvFilter::try_new(&level).map_err(|e| LevelError::Invalid(e.to_string()))?;
    handle.reload(filter).map_err(|_| LevelError::Unavailable)?;
    Ok(level)
}
