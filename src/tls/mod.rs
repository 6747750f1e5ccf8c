//! TLS with rustls: termination on listeners, origination to clusters.
//!
//! # Choices
//!
//! - **One crypto provider, aws-lc-rs**, passed explicitly to every config
//!   builder ([`provider`]) rather than installed process-wide, so nothing
//!   depends on which crate called `install_default` first and a second
//!   provider pulled in by a dependency cannot make rustls panic. It is
//!   rustls' default, builds here without cmake, and links statically into
//!   the `static-pie` binary the image ships.
//! - **PEM parsing by `rustls-pki-types`** (re-exported by rustls), not
//!   `rustls-pemfile`: the latter is unmaintained and now a thin shim over
//!   the former, so it would add a crate and nothing else.
//! - **System roots from `webpki-roots`** (Mozilla's bundle compiled in)
//!   when a cluster names no `ca`, not `rustls-native-certs`: seawall runs
//!   in `FROM scratch` containers, where there is no OS trust store to read
//!   and native-certs would find nothing; a compiled-in bundle behaves the
//!   same on every host, and internal upstreams name their own `ca` anyway.
//! - **Upstream connections via `hyper-rustls`**, wrapped in
//!   [`client::TlsConnector`] for SNI from config, the handshake timeout, and
//!   the balancer's `http://ip:port` URIs.
//! - **Downstream handshakes in the connection task** ([`server::accept`]),
//!   bounded by `handshake_timeout`, so a slow or silent client never holds
//!   up the accept loop; the ALPN result picks hyper's h1 or h2 server
//!   directly (no preface sniffing over TLS).
//!
//! # Reload
//!
//! Certificates are read once per config build into an `Arc` rustls config
//! held by the validated settings ([`crate::config::Loaded`]), and so by the
//! snapshot. The listener looks its TLS config up in the *current* snapshot
//! for every accepted connection: a reload that swaps the snapshot serves
//! new connections with the new certificates while established ones keep
//! the `Arc` they started with. Clusters get the new client config when the
//! reload rebuilds their pool.

pub mod client;
pub mod expiry;
pub mod pem;
pub mod server;

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// Reason code (`x-seawall-error`) of a failed upstream TLS handshake: bad
/// certificate (unknown CA, wrong name, expired), refused client
/// certificate, no common protocol version or cipher.
///
/// Such a failure is a property of the endpoint's configuration, not a
/// transient fault: retrying against the **same** endpoint fails the same
/// way and must not happen (the retry layer checks [`is_tls_failure`] or
/// this code); another endpoint may still be tried.
pub const UPSTREAM_TLS: &str = "upstream-tls";

/// The one crypto provider seawall uses (aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// True when `err` is a TLS protocol failure: a `rustls::Error`, or an
/// `io::Error` wrapping one, however deep (tokio-rustls wraps it in one,
/// hyper-rustls wraps that in another). `io::Error::source` skips the
/// wrapped error itself, so this looks inside with `get_ref`.
pub fn is_tls_failure(err: &(dyn StdError + 'static)) -> bool {
    let mut current = err;
    loop {
        if current.is::<rustls::Error>() {
            return true;
        }
        match current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(inner) => current = inner,
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_rustls_errors_bare_and_wrapped_in_io() {
        let bare = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert!(is_tls_failure(&bare));
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, bare);
        assert!(is_tls_failure(&wrapped));
        let twice = io::Error::other(wrapped);
        assert!(is_tls_failure(&twice));
        let plain = io::Error::new(io::ErrorKind::InvalidData, "not tls");
        assert!(!is_tls_failure(&plain));
        assert!(!is_tls_failure(&io::Error::from(
            io::ErrorKind::ConnectionReset
        )));
    }
}
