//! The serde model of one entry of `listeners:`, with its `http2:` limits.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::route::RouteFile;
use super::scalar::SizeFile;
use super::tls::ListenerTlsFile;

/// One entry of `listeners:`.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerFile {
    /// Unique name.
    #[cfg_attr(test, schemars(with = "String"))]
    pub name: Spanned<String>,
    /// `ip:port` to bind.
    #[cfg_attr(test, schemars(with = "String"))]
    pub address: Spanned<String>,
    /// Time to receive a request head.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub header_read_timeout: Option<Spanned<String>>,
    /// Idle keep-alive time.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub keepalive_timeout: Option<Spanned<String>>,
    /// Largest request head.
    #[cfg_attr(test, schemars(with = "Option<SizeFile>"))]
    pub max_header_bytes: Option<Spanned<SizeFile>>,
    /// Largest request body.
    #[cfg_attr(test, schemars(with = "Option<SizeFile>"))]
    pub max_body_bytes: Option<Spanned<SizeFile>>,
    /// HTTP/2 streams per connection.
    #[cfg_attr(test, schemars(with = "Option<u32>"))]
    pub max_concurrent_streams: Option<Spanned<u32>>,
    /// Longest request target.
    #[cfg_attr(test, schemars(with = "Option<SizeFile>"))]
    pub max_uri_bytes: Option<Spanned<SizeFile>>,
    /// Body bytes read before admission.
    #[cfg_attr(test, schemars(with = "Option<SizeFile>"))]
    pub request_buffer_bytes: Option<Spanned<SizeFile>>,
    /// Most open downstream connections.
    #[cfg_attr(test, schemars(with = "Option<u64>"))]
    pub max_connections: Option<Spanned<u64>>,
    /// Whether requests may set their own `x-seawall-priority`.
    pub trust_priority_header: Option<bool>,
    /// HTTP/2 abuse limits.
    pub http2: Option<Http2File>,
    /// Routes (at least one).
    #[cfg_attr(test, schemars(with = "Vec<RouteFile>"))]
    pub routes: Spanned<Vec<RouteFile>>,
    /// TLS termination.
    pub tls: Option<ListenerTlsFile>,
}

/// `listeners[].http2:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct Http2File {
    /// Client resets of not yet accepted streams tolerated.
    #[cfg_attr(test, schemars(with = "Option<u64>"))]
    pub max_pending_accept_reset_streams: Option<Spanned<u64>>,
    /// Resets caused by client errors tolerated.
    #[cfg_attr(test, schemars(with = "Option<u64>"))]
    pub max_local_error_reset_streams: Option<Spanned<u64>>,
    /// Send buffer per stream.
    #[cfg_attr(test, schemars(with = "Option<SizeFile>"))]
    pub max_send_buf_size: Option<Spanned<SizeFile>>,
    /// PING interval on a silent connection.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub keepalive_interval: Option<Spanned<String>>,
    /// Time to wait for a PING's answer.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub keepalive_timeout: Option<Spanned<String>>,
}
