//! Typed settings of one downstream listener: its address, the limits of
//! its HTTP server (HTTP/2 abuse limits included), its routes and TLS.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Serialize;

use super::route::RouteSettings;
use super::tls::ListenerTls;

/// One downstream listener.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListenerSettings {
    /// Unique listener name (used in logs and metrics).
    pub name: String,
    /// Address to bind.
    pub address: SocketAddr,
    /// Limits on what a downstream client may send.
    pub limits: ServerLimits,
    /// Routes, in file order. Matching picks the longest path prefix.
    pub routes: Vec<RouteSettings>,
    /// TLS termination; `None`: plaintext HTTP/1.1 and h2c.
    pub tls: Option<ListenerTls>,
}

/// Limits applied by the downstream HTTP server.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerLimits {
    /// Time allowed for a client to send a complete request head.
    #[serde(with = "crate::config::duration::serde_str")]
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection is kept open.
    #[serde(with = "crate::config::duration::serde_str")]
    pub keepalive_timeout: Duration,
    /// Largest request head (request line + headers) in bytes; larger gets 431.
    pub max_header_bytes: NonZeroUsize,
    /// Largest request body in bytes; larger gets 413.
    pub max_body_bytes: u64,
    /// Most concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Longest request target in bytes; longer gets 414.
    pub max_uri_bytes: usize,
    /// How much of a request body is read before the request takes an
    /// admission slot (see `proxy::prebuffer`).
    pub request_buffer_bytes: usize,
    /// Most open downstream connections; further ones are accepted and
    /// closed at once.
    pub max_connections: usize,
    /// Whether a request's `x-seawall-priority` header is believed (only
    /// for listeners that face trusted callers); otherwise the route's
    /// priority applies and the header is ignored.
    pub trust_priority_header: bool,
    /// HTTP/2 abuse limits.
    pub http2: Http2Limits,
}

/// HTTP/2 server limits against protocol abuse (rapid reset, floods of
/// errors, slow readers).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Http2Limits {
    /// Streams the client reset before seawall accepted them (rapid reset,
    /// CVE-2023-44487); more gets GOAWAY `ENHANCE_YOUR_CALM`.
    pub max_pending_accept_reset_streams: usize,
    /// Streams seawall had to reset because of the client's protocol
    /// errors; more gets GOAWAY.
    pub max_local_error_reset_streams: usize,
    /// Bytes buffered per stream for a client that does not read (tiny
    /// flow-control window).
    pub max_send_buf_size: usize,
    /// Interval of PINGs on a silent connection.
    #[serde(with = "crate::config::duration::serde_str")]
    pub keepalive_interval: Duration,
    /// Time to wait for a PING's answer before closing the connection.
    #[serde(with = "crate::config::duration::serde_str")]
    pub keepalive_timeout: Duration,
}
