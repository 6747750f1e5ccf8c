//! Stage 2: turns the file model into typed [`Config`] settings, or the
//! first problem, one file per feature (the same names as in `file` and
//! `settings`). This is the only stage that sees both of the others.
//!
//! Checks run in a fixed order (admin, log, shutdown, memory, listeners in file
//! order, then clusters in file order), so the same file always reports the
//! same first error. Every error points at the value it is about, through
//! its [`Spanned`] location, and names its key path. Absent keys take the
//! values of `settings::defaults`.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_saphyr::Spanned;

use super::error::ConfigError;
use super::file::FileConfig;
use super::file::cluster::ClusterFile;
use super::file::listener::ListenerFile;
use super::settings::Config;
use super::settings::cluster::ClusterSettings;
use super::settings::listener::ListenerSettings;

mod admin;
mod admission;
mod cluster;
mod listener;
mod log;
pub use log::runtime_level;
mod memory;
mod resilience;
mod retry;
mod route;
mod scalar;
mod shutdown;
mod timeouts;
mod tls;

/// Validates the whole file.
pub(crate) fn validate(file: &FileConfig) -> Result<Config, ConfigError> {
    let admin = admin::admin(file.admin.as_ref())?;
    let log = log::log(file.log.as_ref())?;
    let shutdown = shutdown::shutdown(file.shutdown.as_ref())?;
    let memory = memory::memory(file.memory.as_ref());
    let listeners = listeners(&file.listeners, &file.clusters.value, admin.address)?;
    let clusters = clusters(&file.clusters.value)?;
    Ok(Config {
        admin,
        log,
        shutdown,
        memory,
        listeners,
        clusters,
    })
}

/// `listeners:`: at least one, unique names, and no address bound twice
/// (the admin address included).
fn listeners(
    raw: &Spanned<Vec<ListenerFile>>,
    clusters: &[ClusterFile],
    admin_address: SocketAddr,
) -> Result<Vec<ListenerSettings>, ConfigError> {
    if raw.value.is_empty() {
        return Err(error(raw, "listeners", "at least one listener is required"));
    }
    let mut listeners = Vec::with_capacity(raw.value.len());
    let mut names = Seen::default();
    let mut addresses: HashMap<SocketAddr, u64> = HashMap::new();
    for (i, raw) in raw.value.iter().enumerate() {
        let key = format!("listeners[{i}]");
        names.insert(&raw.name, &format!("{key}.name"), "listener name")?;
        let listener = listener::listener(raw, &key, clusters)?;
        // Port 0 asks the kernel for a free port: two such binds never clash.
        let fixed_port = listener.address.port() != 0;
        if fixed_port && listener.address == admin_address {
            return Err(error(
                &raw.address,
                &format!("{key}.address"),
                format!(
                    "address {} is also the admin address; give the listener or `admin.address` another port",
                    listener.address
                ),
            ));
        }
        if fixed_port
            && let Some(line) = addresses.insert(listener.address, raw.address.referenced.line())
        {
            return Err(error(
                &raw.address,
                &format!("{key}.address"),
                format!(
                    "duplicate listener address {} (first used at line {line})",
                    listener.address
                ),
            ));
        }
        listeners.push(listener);
    }
    Ok(listeners)
}

/// `clusters:`, with unique names.
fn clusters(raw: &[ClusterFile]) -> Result<Vec<ClusterSettings>, ConfigError> {
    let mut clusters = Vec::with_capacity(raw.len());
    let mut names = Seen::default();
    for (i, raw) in raw.iter().enumerate() {
        let key = format!("clusters[{i}]");
        names.insert(&raw.name, &format!("{key}.name"), "cluster name")?;
        clusters.push(cluster::cluster(raw, &key)?);
    }
    Ok(clusters)
}

/// An error about the value `at`, under key path `key`.
fn error<T>(at: &Spanned<T>, key: &str, message: impl Into<String>) -> ConfigError {
    let loc = at.referenced;
    ConfigError::at(
        loc.line(),
        loc.column(),
        Some(key.to_owned()),
        message.into(),
    )
}

/// Checks a name (listener, route, cluster): non-empty, and only characters
/// that are safe in logs and metric labels.
fn name(raw: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
    let value = &raw.value;
    if value.is_empty() {
        return Err(error(raw, key, "name is empty"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(error(
            raw,
            key,
            format!("name \"{value}\" contains `{c}`; use letters, digits, `-`, `_` and `.`"),
        ));
    }
    Ok(value.clone())
}

/// Remembers names already used in one scope, to report duplicates.
#[derive(Default)]
struct Seen {
    lines: HashMap<String, u64>,
}

impl Seen {
    /// Checks `raw` as a name and records it; a second use is an error that
    /// names the line of the first.
    fn insert(&mut self, raw: &Spanned<String>, key: &str, what: &str) -> Result<(), ConfigError> {
        let value = name(raw, key)?;
        if let Some(first) = self.lines.insert(value.clone(), raw.referenced.line()) {
            return Err(error(
                raw,
                key,
                format!("duplicate {what} \"{value}\" (first defined at line {first})"),
            ));
        }
        Ok(())
    }
}
