//! Telemetry: logging setup (tracing-subscriber with an `EnvFilter`) and
//! the Prometheus metrics in [`metrics`].
//!
//! `RUST_LOG`, when set, wins over the config's `log.level`, so an operator
//! can turn up one module without editing the file. Text for humans, JSON
//! (one object per line) for log pipelines. Access-log lines use the target
//! `seawall::access`.

pub mod exposition;
mod late;
pub mod metrics;
pub mod process;
pub mod requests;
pub mod timed;

pub use metrics::Metrics;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Returns an error if the filter does not
/// parse or a subscriber is already installed.
pub fn init(settings: &LogSettings) -> Result<(), crate::wire::BoxError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v)?,
        _ => EnvFilter::try_new(&settings.level)?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    }
}
