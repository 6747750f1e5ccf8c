//! Turning a hostname into addresses: the [`Resolve`] seam, and the system
//! resolver used in production.
//!
//! `getaddrinfo` (through `tokio::net::lookup_host`) rather than a DNS client
//! library: it honours `/etc/hosts`, `nsswitch` and the resolvers Docker and
//! Kubernetes inject, which is exactly what a sidecar next to a compose
//! service or a pod needs, and it adds no dependency. Tests script answers
//! through the trait instead.

use std::io;
use std::net::{IpAddr, SocketAddr};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

/// Resolves a host and port to the addresses to connect to.
pub trait Resolve: Send + Sync + 'static {
    /// Every address `host` currently stands for, with `port`. An empty
    /// answer is treated by discovery like a failure.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>>;
}

/// The operating system's resolver (`getaddrinfo` on a blocking thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        if let Some(ip) = ip_literal(host) {
            return futures_util::future::ready(Ok(vec![SocketAddr::new(ip, port)])).boxed();
        }
        let host = host.to_owned();
        async move {
            let addrs = tokio::net::lookup_host((host.as_str(), port)).await?;
            Ok(addrs.collect())
        }
        .boxed()
    }
}

/// `host` as an IP address if it is one (IPv6 with or without brackets).
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}
