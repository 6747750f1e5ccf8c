//! Collects the errors of independent checks, so one run of `seawall
//! check` lists every problem of a file instead of only the first.
//!
//! A check that depends on another one's result (a cluster's TLS on its
//! endpoints, a route on its cluster's name) runs only when that one
//! passed, so one mistake is reported once, not again as the cause of
//! others.

use super::super::error::ConfigError;

/// The errors found so far.
#[derive(Default)]
pub(super) struct Errors(Vec<ConfigError>);

impl Errors {
    /// The value of a check that passed; records the error of one that did not.
    pub(super) fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    /// As [`Errors::take`], for a check that itself collects errors.
    pub(super) fn take_all<T>(&mut self, result: Result<T, Vec<ConfigError>>) -> Option<T> {
        result.map_err(|e| self.0.extend(e)).ok()
    }

    /// `value` when every check passed, else all the errors.
    pub(super) fn finish<T>(self, value: Option<T>) -> Result<T, Vec<ConfigError>> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            // A `None` always comes with a recorded error.
            _ => Err(self.0),
        }
    }
}
