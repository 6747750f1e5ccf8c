//! Configuration: the YAML file model, validation into typed settings, and
//! errors that point at the offending key by file, line and column.
//!
//! Flow: file text ──serde──► `file::FileConfig` (mirrors the file,
//! `deny_unknown_fields`) ──`validate`──► [`Config`] (typed settings).
//! The two steps are separate so that the rest of seawall never sees serde
//! types or unchecked values, and so that a bad file at reload changes
//! nothing: [`parse`] either returns a whole valid [`Config`] or the first
//! problem, as a [`ConfigError`] an operator can act on.

pub mod duration;
mod error;
mod file;
mod file_resilience;
mod file_retry;
mod file_tls;
mod locate;
mod settings;
mod settings_retry;
mod tls_settings;
mod validate;
mod values;

#[cfg(test)]
mod resilience_tests;
#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_admission;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_hardening;
#[cfg(test)]
mod timeout_tests;
#[cfg(test)]
mod tls_tests;

use std::fmt::Write as _;
use std::path::Path;

pub use error::ConfigError;
pub use settings::*;
pub use settings_retry::*;
pub use tls_settings::*;

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, e))?;
    parse(&text, Some(path))
}

/// Validates config text; `origin` is only used in error messages.
pub fn parse(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
    let file: file::FileConfig = serde_saphyr::from_str(text)
        .map_err(|e| locate::yaml_error(&e, text).with_origin(origin))?;
    validate::validate(&file).map_err(|e| e.with_origin(origin))
}

impl Config {
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
