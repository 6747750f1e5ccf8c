//! The serde model of the `log:` block.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `log:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct LogFile {
    /// `EnvFilter` directive.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub level: Option<Spanned<String>>,
    /// `text` or `json`.
    pub format: Option<LogFormatFile>,
    /// One line per request.
    pub access_log: Option<bool>,
}

/// `log.format`
#[derive(Clone, Copy, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogFormatFile {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}
