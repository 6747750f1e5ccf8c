//! Validation of the `log:` block.

use super::super::error::ConfigError;
use super::super::file::log::{LogFile, LogFormatFile};
use super::super::settings::defaults;
use super::super::settings::log::{LogFormat, LogSettings};
use super::error;

/// `log:`; absent keys take the defaults.
pub(super) fn log(file: Option<&LogFile>) -> Result<LogSettings, ConfigError> {
    let level =
        match file.and_then(|l| l.level.as_ref()) {
            Some(raw) => {
                tracing_subscriber::EnvFilter::try_new(&raw.value).map_err(|e| {
                error(raw, "log.level", format!(
                    "`{}` is not a log filter ({e}); write e.g. `info` or `info,seawall=debug`",
                    raw.value
                ))
            })?;
                raw.value.clone()
            }
            None => defaults::LOG_LEVEL.to_owned(),
        };
    let format = match file.and_then(|l| l.format) {
        Some(LogFormatFile::Json) => LogFormat::Json,
        Some(LogFormatFile::Text) | None => LogFormat::Text,
    };
    let access_log = file
        .and_then(|l| l.access_log)
        .unwrap_or(defaults::ACCESS_LOG);
    Ok(LogSettings {
        level,
        format,
        access_log,
    })
}
