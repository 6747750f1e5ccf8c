//! Configuration: the YAML file model, validation into typed settings, and
//! errors that point at the offending key by file, line and column.
//!
//! The code is laid out by stage, and each stage by feature, with the same
//! feature names (`listener`, `route`, `cluster`, `timeouts`, `admission`,
//! `retry`, `resilience`, `tls`, `admin`, `log`, `memory`, `shutdown`) in
//! each:
//!
//! - `file`: serde structs that mirror the file (`deny_unknown_fields`),
//! - `validate`: turns those into settings, or a located [`ConfigError`],
//! - `settings`: the typed settings the rest of seawall uses, re-exported
//!   here ([`Config`] and the rest), with their defaults.
//!
//! Flow: file text ──serde──► `file::FileConfig` ──`validate`──► [`Config`].
//! Dependencies point one way: `validate` uses `file` and `settings`, which
//! use neither `validate` nor each other. The leaf helpers beside them are
//! [`duration`] (parsing and formatting durations), `error` ([`ConfigError`])
//! and `locate` (the key path of a serde error). The two steps are separate
//! so that the rest of seawall never sees serde types or unchecked values,
//! and so that a bad file at reload changes nothing: [`parse`] either
//! returns a whole valid [`Config`] or the first problem, as a
//! [`ConfigError`] an operator can act on.

pub mod duration;
mod env;
mod error;
mod file;
mod locate;
mod read;
mod settings;
mod validate;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::path::Path;

pub use error::ConfigError;
pub use settings::Config;
pub use settings::admin::{AdminSettings, AdminToken};
pub use settings::admission::{AdaptiveLimitSettings, AdmissionSettings};
pub use settings::cluster::{BalanceSettings, ClusterSettings, EndpointSpec, UpstreamProtocol};
pub use settings::defaults;
pub use settings::listener::{Http2Limits, ListenerSettings, ServerLimits};
pub use settings::log::{LogFormat, LogSettings};
pub use settings::memory::MemorySettings;
pub use settings::resilience::{
    BreakerMode, BreakerSettings, BreakerWindow, HealthCheckSettings, OutlierSettings,
};
pub use settings::retry::{RetryBudgetSettings, RetryOn, RetryPolicy, RetrySettings};
pub use settings::route::{RoutePriority, RouteSettings};
pub use settings::shutdown::ShutdownSettings;
pub use settings::timeouts::{TimeoutOverrides, TimeoutSettings};
pub use settings::tls::{ClusterTls, ListenerTls, Loaded};
pub use settings::tracing::{OtlpProtocol, TracingSettings};
pub use validate::runtime_level as parse_log_level;

/// Reads and validates a config file; the first error if it is invalid.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_all(path).map_err(first)
}

/// Reads and validates a config file; every error found, in file order.
pub fn load_all(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![ConfigError::io(path, e)])?;
    parse_all(&text, Some(path))
}

/// Validates config text; `origin` is only used in error messages.
pub fn parse(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
    parse_all(text, origin).map_err(first)
}

/// Validates config text, reporting every error found, in file order (a
/// YAML syntax or type error stops reading, so it comes alone). `${VAR}`
/// and `${VAR:-default}` are replaced from the process's environment first
/// (`env`); errors point at the original text.
pub fn parse_all(text: &str, origin: Option<&Path>) -> Result<Config, Vec<ConfigError>> {
    parse_with_env(text, origin, |name| std::env::var(name).ok())
}

/// [`parse_all`], reading environment variables with `lookup`.
pub(crate) fn parse_with_env(
    text: &str,
    origin: Option<&Path>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, Vec<ConfigError>> {
    let text = &*unix_breaks(text);
    let env = env::substitute(text, lookup).map_err(|all| {
        all.into_iter()
            .map(|e| {
                let key = e
                    .line()
                    .and_then(|l| locate::key_path_of_line(text, l.into()));
                e.or_key(key).with_origin(origin)
            })
            .collect::<Vec<_>>()
    })?;
    let file = read::read_all(&env.text).map_err(|all| {
        all.into_iter()
            .map(|e| env.relocate(e).with_origin(origin))
            .collect::<Vec<_>>()
    })?;
    validate::validate(&file).map_err(|all| {
        all.into_iter()
            .map(|e| env.relocate(e).with_origin(origin))
            .collect()
    })
}

/// `text` with every line break as `\n`. YAML takes `\r\n`, a lone `\r`
/// and `\n` each as one line break (YAML 1.2, section 5.4), and numbers
/// the lines of its errors so; the code that reads lines itself
/// (environment substitution, blanking an entry, key paths from
/// indentation) splits on `\n`. Normalised first, every line number agrees
/// with the parser's, and a file saved with old Mac line ends reads as the
/// same lines an editor shows. Columns do not change.
fn unix_breaks(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The first of a non-empty list of errors.
fn first(errors: Vec<ConfigError>) -> ConfigError {
    errors
        .into_iter()
        .next()
        .unwrap_or_else(|| ConfigError::at(0, 0, None, "invalid config".into()))
}
