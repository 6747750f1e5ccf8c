//! Validation of the `log:` block.
//!
//! `log.level` is a tracing `EnvFilter` string: directives separated by
//! commas, each a level or `module=level`. `EnvFilter` reads a lone word
//! that is not a level as a module name to log at every level, and then
//! logs nothing else: `warning` or `verbose` would pass `seawall check` and
//! silence the running program. So `warning`, the usual spelling elsewhere,
//! is read as `warn`, and any other lone word that is not a level is an
//! error. The settings hold the level as read, which is what the program
//! builds its filter from.

use std::str::FromStr;

use serde_saphyr::Spanned;
use tracing::level_filters::LevelFilter;

use super::super::error::ConfigError;
use super::super::file::log::{LogFile, LogFormatFile};
use super::super::settings::defaults;
use super::super::settings::log::{LogFormat, LogSettings};
use super::error;

/// `log:`; absent keys take the defaults.
pub(super) fn log(file: Option<&LogFile>) -> Result<LogSettings, ConfigError> {
    let level = match file.and_then(|l| l.level.as_ref()) {
        Some(raw) => level(raw)?,
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

/// `log.level`, with `warning` read as `warn`.
fn level(raw: &Spanned<String>) -> Result<String, ConfigError> {
    if raw.value.trim().is_empty() {
        return Err(error(
            raw,
            "log.level",
            "log.level is empty; write e.g. `info` or `info,seawall=debug`",
        ));
    }
    let directives = raw
        .value
        .split(',')
        .map(|d| directive(d).map_err(|m| error(raw, "log.level", m)))
        .collect::<Result<Vec<_>, _>>()?;
    let level = directives.join(",");
    tracing_subscriber::EnvFilter::try_new(&level).map_err(|e| {
        error(
            raw,
            "log.level",
            format!(
                "`{}` is not a log filter ({e}); write e.g. `info` or `info,seawall=debug`",
                raw.value
            ),
        )
    })?;
    Ok(level)
}

/// One directive: its level `warning` becomes `warn`; a lone word must be
/// a level.
fn directive(text: &str) -> Result<String, String> {
    let warning = |level: &str| level.trim().eq_ignore_ascii_case("warning");
    if let Some((module, level)) = text.rsplit_once('=') {
        return Ok(if warning(level) {
            format!("{module}=warn")
        } else {
            text.to_owned()
        });
    }
    let word = text.trim();
    // `[span]` directives, and the empty ones `EnvFilter` skips.
    if word.is_empty() || word.contains('[') {
        return Ok(text.to_owned());
    }
    if warning(word) {
        return Ok("warn".to_owned());
    }
    if LevelFilter::from_str(word).is_err() {
        return Err(format!(
            "`{word}` is not a log level (off, error, warn, info, debug, trace); to set one module's level, write `module=level`, e.g. `seawall=debug`"
        ));
    }
    Ok(text.to_owned())
}

/// A log filter set at run time (the admin API's `POST /log-level`), read
/// as `log.level` is: `warning` is `warn`, a lone word must be a level.
pub fn runtime_level(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("the level is empty; write e.g. `info` or `info,seawall=debug`".to_owned());
    }
    let level = text
        .split(',')
        .map(directive)
        .collect::<Result<Vec<_>, _>>()?
        .join(",");
    tracing_subscriber::EnvFilter::try_new(&level)
        .map_err(|e| format!("`{text}` is not a log filter ({e})"))?;
    Ok(level)
}
