//! Typed log settings.

use serde::Serialize;

/// Log output settings. `RUST_LOG`, when set, overrides `level`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogSettings {
    /// A `tracing_subscriber::EnvFilter` directive, e.g. `info` or `seawall=debug`.
    pub level: String,
    /// Human-readable text or one JSON object per line.
    pub format: LogFormat,
    /// Whether to emit one access-log line per request.
    pub access_log: bool,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}
