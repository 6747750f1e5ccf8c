//! Stage 3: the typed, validated settings, which are what the rest of
//! seawall sees of the config file, one file per feature (the same names as
//! in `file` and `validate`).
//!
//! Nothing here is a serde file type, and nothing here depends on the other
//! stages: validation builds these, layers and the server take only these
//! (durations are `Duration`, limits are non-zero, names are unique,
//! references resolve). The defaults of optional keys live in [`defaults`].

use std::fmt::Write as _;

use serde::Serialize;

use admin::AdminSettings;
use cluster::{ClusterSettings, EndpointSpec, UpstreamProtocol};
use listener::ListenerSettings;
use log::LogSettings;
use memory::MemorySettings;
use shutdown::ShutdownSettings;

pub(crate) mod admin;
pub(crate) mod admission;
pub(crate) mod cluster;
pub mod defaults;
pub(crate) mod listener;
pub(crate) mod log;
pub(crate) mod memory;
pub(crate) mod resilience;
pub(crate) mod retry;
pub(crate) mod route;
pub(crate) mod shutdown;
pub(crate) mod timeouts;
pub(crate) mod tls;
pub(crate) mod tracing;

/// The whole validated configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    /// The admin listener (health, config, later metrics).
    pub admin: AdminSettings,
    /// Log output.
    pub log: LogSettings,
    /// Graceful shutdown.
    pub shutdown: ShutdownSettings,
    /// Process memory.
    pub memory: MemorySettings,
    /// Distributed tracing: `None` when off.
    pub tracing: Option<tracing::TracingSettings>,
    /// Downstream listeners, each with its own routes.
    pub listeners: Vec<ListenerSettings>,
    /// Upstream clusters, referenced by routes by name.
    pub clusters: Vec<ClusterSettings>,
}

impl Config {
    /// Every certificate, key and CA file the config references, so the
    /// reload watcher can follow rotations of them too.
    pub fn tls_files(&self) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for l in &self.listeners {
            if let Some(tls) = &l.tls {
                files.push(tls.certificate.clone());
                files.push(tls.private_key.clone());
                files.extend(tls.client_ca.clone());
            }
        }
        for c in &self.clusters {
            if let Some(tls) = &c.tls {
                files.extend(tls.ca.clone());
                files.extend(tls.certificate.clone());
                files.extend(tls.private_key.clone());
            }
        }
        files
    }

    /// A few human lines for `seawall check`: the admin address, each
    /// listener (name, address, number of routes) and each cluster (name,
    /// endpoints, protocol).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "admin on {}", self.admin.address);
        for l in &self.listeners {
            let n = l.routes.len();
            let plural = if n == 1 { "" } else { "s" };
            let tls = match &l.tls {
                None => "",
                Some(t) if t.client_ca.is_none() => ", TLS",
                Some(t) if t.require_client_cert => ", TLS, client certificate required",
                Some(_) => ", TLS, client certificate optional",
            };
            let _ = writeln!(
                out,
                "listener {} on {} ({n} route{plural}{tls})",
                l.name, l.address
            );
        }
        for c in &self.clusters {
            let endpoints: Vec<String> = c.endpoints.iter().map(endpoint_text).collect();
            let protocol = match c.protocol {
                UpstreamProtocol::Http1 => "http1",
                UpstreamProtocol::Http2 => "http2",
            };
            let tls = c
                .tls
                .as_ref()
                .map(|t| format!(", TLS to {}", t.server_name))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "cluster {}: {} ({protocol}{tls})",
                c.name,
                endpoints.join(", ")
            );
        }
        out
    }
}

/// `host:port`, with brackets around an IPv6 literal.
fn endpoint_text(e: &EndpointSpec) -> String {
    if e.host.contains(':') {
        format!("[{}]:{}", e.host, e.port)
    } else {
        format!("{}:{}", e.host, e.port)
    }
}
