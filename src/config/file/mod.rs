//! Stage 1: the serde model of `seawall.yaml`. It mirrors the file, nothing
//! more, one file per feature (the same names as in `settings` and
//! `validate`).
//!
//! Every struct denies unknown keys, so a misspelt key is an error with its
//! line and column instead of a silently ignored setting. Values that a
//! semantic check may reject (names, references, durations, addresses, sizes)
//! are wrapped in [`Spanned`] so that validation can point at them. Optional
//! keys are `Option`: their defaults live in one place,
//! `settings::defaults`. Nothing here imports the other stages.

use serde::Deserialize;
use serde_saphyr::Spanned;

pub(crate) mod admin;
pub(crate) mod admission;
pub(crate) mod cluster;
pub(crate) mod listener;
pub(crate) mod log;
pub(crate) mod memory;
pub(crate) mod resilience;
pub(crate) mod retry;
pub(crate) mod route;
pub(crate) mod scalar;
pub(crate) mod shutdown;
pub(crate) mod timeouts;
pub(crate) mod tls;
pub(crate) mod tracing;

/// The whole file.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// Admin listener; defaults to loopback.
    pub admin: Option<admin::AdminFile>,
    /// Log output.
    pub log: Option<log::LogFile>,
    /// Graceful shutdown.
    pub shutdown: Option<shutdown::ShutdownFile>,
    /// Process memory.
    pub memory: Option<memory::MemoryFile>,
    /// `tracing:`
    pub tracing: Option<tracing::TracingFile>,
    /// Downstream listeners (at least one).
    #[cfg_attr(test, schemars(with = "Vec<listener::ListenerFile>"))]
    pub listeners: Spanned<Vec<listener::ListenerFile>>,
    /// Upstream clusters.
    #[cfg_attr(test, schemars(with = "Vec<cluster::ClusterFile>"))]
    pub clusters: Spanned<Vec<cluster::ClusterFile>>,
}
