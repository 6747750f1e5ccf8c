//! The one error type of configuration loading.
//!
//! Every problem an operator can make in the file (YAML syntax, an unknown or
//! misspelt key, a wrong type, a value that fails a semantic check) becomes a
//! [`ConfigError`] that names the file, the line and column, and the key path
//! (`listeners[0].routes[1].cluster`), so `seawall check` and a rejected
//! reload both point at the exact spot to fix. It is `Clone` so the reload
//! task can keep the last rejection for the admin API.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A configuration problem, located as precisely as the input allows.
///
/// Display format: `FILE:LINE:COLUMN: KEY: MESSAGE`, where `FILE` is
/// `<config>` when the text did not come from a file, and the location and
/// key are left out when unknown (e.g. the file could not be read).
#[derive(Clone, Debug)]
pub struct ConfigError {
    origin: Option<PathBuf>,
    line: Option<u32>,
    column: Option<u32>,
    key: Option<String>,
    message: String,
    io: Option<Arc<std::io::Error>>,
}

impl ConfigError {
    /// A problem at a known position; `line` and `column` are 1-based, and
    /// 0 means "unknown".
    pub(crate) fn at(line: u64, column: u64, key: Option<String>, message: String) -> Self {
        // Positions past u32::MAX (a 4-billion-line file) are reported as unknown.
        let known = |n: u64| u32::try_from(n).ok().filter(|n| *n > 0);
        Self {
            origin: None,
            line: known(line),
            column: known(column),
            key: key.filter(|k| !k.is_empty()),
            message,
            io: None,
        }
    }

    /// The file could not be read at all.
    pub(crate) fn io(path: &Path, err: std::io::Error) -> Self {
        Self {
            origin: Some(path.to_path_buf()),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read config file: {err}"),
            io: Some(Arc::new(err)),
        }
    }

    /// Names the file the text came from (used only for display).
    pub(crate) fn with_origin(mut self, origin: Option<&Path>) -> Self {
        self.origin = origin.map(Path::to_path_buf);
        self
    }

    /// The same error at another column of its line (after environment
    /// substitution moved the text).
    pub(crate) fn with_column(mut self, column: u32) -> Self {
        self.column = Some(column).filter(|c| *c > 0);
        self
    }

    /// The same error under key path `key`, when it had none.
    pub(crate) fn or_key(mut self, key: Option<String>) -> Self {
        self.key = self.key.or(key.filter(|k| !k.is_empty()));
        self
    }

    /// 1-based line of the offending text, when known.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// 1-based column (in characters) of the offending text, when known.
    pub fn column(&self) -> Option<u32> {
        self.column
    }

    /// Key path of the offending value, e.g. `listeners[0].routes[1].cluster`.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The message alone, without file, location or key.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The file the configuration was read from, if any.
    pub fn origin(&self) -> Option<&Path> {
        self.origin.as_deref()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(path) => write!(f, "{}", path.display())?,
            None => f.write_str("<config>")?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
