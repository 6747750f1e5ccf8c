//! Stage 2: turns the file model into typed [`Config`] settings, or every
//! problem found, one file per feature (the same names as in `file` and
//! `settings`). This is the only stage that sees both of the others.
//!
//! Independent checks all run (`collect`): the sections, each listener, each
//! route, each cluster and each of a cluster's keys, so one run lists every
//! mistake. The errors are sorted by their place in the file, so the same
//! file always reports the same errors in the same order. Every error points at the value it is about, through
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
use collect::Errors;

mod admin;
mod admission;
mod cluster;
mod collect;
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
mod tracing;

/// Validates the whole file; the errors come in file order.
pub(crate) fn validate(file: &FileConfig) -> Result<Config, Vec<ConfigError>> {
    let mut errors = Errors::default();
    let admin = errors.take(admin::admin(file.admin.as_ref()));
    let log = errors.take(log::log(file.log.as_ref()));
    let shutdown = errors.take(shutdown::shutdown(file.shutdown.as_ref()));
    let memory = memory::memory(file.memory.as_ref());
    let tracing = errors.take(tracing::tracing(file.tracing.as_ref()));
    let admin_address = admin.as_ref().map(|a| a.address);
    let listeners = errors.take_all(listeners(
        &file.listeners,
        &file.clusters.value,
        admin_address,
    ));
    let clusters = errors.take_all(clusters(&file.clusters.value));
    let config = (|| {
        Some(Config {
            admin: admin?,
            log: log?,
            shutdown: shutdown?,
            memory,
            tracing: tracing?,
            listeners: listeners?,
            clusters: clusters?,
        })
    })();
    errors.finish(config).map_err(|mut all| {
        // Unlocated errors (none today) last; the sort is stable.
        all.sort_by_key(|e| (e.line().unwrap_or(u32::MAX), e.column().unwrap_or(0)));
        all
    })
}

/// `listeners:`: at least one, unique names, and no address bound twice
/// (the admin address included, when it is valid).
fn listeners(
    raw: &Spanned<Vec<ListenerFile>>,
    clusters: &[ClusterFile],
    admin_address: Option<SocketAddr>,
) -> Result<Vec<ListenerSettings>, Vec<ConfigError>> {
    if raw.value.is_empty() {
        return Err(vec![error(
            raw,
            "listeners",
            "at least one listener is required",
        )]);
    }
    let mut errors = Errors::default();
    let mut listeners = Vec::with_capacity(raw.value.len());
    let mut names = Seen::default();
    let mut addresses: HashMap<SocketAddr, u64> = HashMap::new();
    for (i, raw) in raw.value.iter().enumerate() {
        let key = format!("listeners[{i}]");
        errors.take(names.insert(&raw.name, &format!("{key}.name"), "listener name"));
        let Some(listener) = errors.take_all(listener::listener(raw, &key, clusters)) else {
            continue;
        };
        // Port 0 asks the kernel for a free port: two such binds never clash.
        let fixed_port = listener.address.port() != 0;
        if fixed_port && Some(listener.address) == admin_address {
            errors.take::<()>(Err(error(
                &raw.address,
                &format!("{key}.address"),
                format!(
                    "address {} is also the admin address; give the listener or `admin.address` another port",
                    listener.address
                ),
            )));
        } else if fixed_port
            && let Some(line) = addresses.insert(listener.address, raw.address.referenced.line())
        {
            errors.take::<()>(Err(error(
                &raw.address,
                &format!("{key}.address"),
                format!(
                    "duplicate listener address {} (first used at line {line})",
                    listener.address
                ),
            )));
        }
        listeners.push(listener);
    }
    errors.finish(Some(listeners))
}

/// `clusters:`, with unique names.
fn clusters(raw: &[ClusterFile]) -> Result<Vec<ClusterSettings>, Vec<ConfigError>> {
    let mut errors = Errors::default();
    let mut clusters = Vec::with_capacity(raw.len());
    let mut names = Seen::default();
    for (i, raw) in raw.iter().enumerate() {
        let key = format!("clusters[{i}]");
        errors.take(names.insert(&raw.name, &format!("{key}.name"), "cluster name"));
        if let Some(cluster) = errors.take_all(cluster::cluster(raw, &key)) {
            clusters.push(cluster);
        }
    }
    errors.finish(Some(clusters))
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
