//! Typed TLS settings of listeners (termination) and clusters (origination).
//!
//! Validation reads and parses every certificate and key file once and
//! keeps the result, ready to use, as a [`Loaded`] rustls config: a file
//! that is missing or is not PEM is a located config error at load (so
//! `seawall check` and a rejected reload catch it), never a failure on the
//! first connection. Paths are kept for display; key material is never
//! printed (`Loaded`'s `Debug` shows a fingerprint only) nor serialized.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde::Serialize;

/// Downstream TLS termination on a listener (`listeners[].tls`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListenerTls {
    /// PEM certificate chain, leaf first.
    pub certificate: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the leaf certificate.
    pub private_key: PathBuf,
    /// PEM bundle of the CAs client certificates are verified against;
    /// `None`: clients are not asked for a certificate.
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: refuse a client that presents no certificate.
    /// A certificate that is presented is always verified.
    pub require_client_cert: bool,
    /// Time allowed for the TLS handshake of one connection.
    #[serde(with = "crate::config::duration::serde_str")]
    pub handshake_timeout: Duration,
    /// The rustls server config built from the files above (ALPN `h2`,
    /// `http/1.1`).
    #[serde(skip)]
    pub server_config: Loaded<rustls::ServerConfig>,
}

/// Upstream TLS origination of a cluster (`clusters[].tls`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterTls {
    /// The name sent as SNI and checked against the upstream certificate.
    pub server_name: String,
    /// `server_name`, parsed.
    #[serde(skip)]
    pub sni: ServerName<'static>,
    /// PEM bundle of trusted CAs; `None`: the webpki (Mozilla) roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain presented to the upstream (mTLS).
    pub certificate: Option<PathBuf>,
    /// PEM private key of `certificate`.
    pub private_key: Option<PathBuf>,
    /// Time allowed for the TLS handshake, on top of `connect_timeout`.
    #[serde(with = "crate::config::duration::serde_str")]
    pub handshake_timeout: Duration,
    /// The rustls client config built from the files above (ALPN from the
    /// cluster's protocol).
    #[serde(skip)]
    pub client_config: Loaded<rustls::ClientConfig>,
}

/// A rustls config built from files, shared by every connection that uses
/// it, with a fingerprint of the inputs it was built from.
///
/// Two `Loaded` values are equal when they were built from the same bytes
/// and settings, so a reload that re-reads unchanged files compares equal,
/// and one where a certificate was rotated in place (same path, new
/// content) does not.
#[derive(Clone)]
pub struct Loaded<T> {
    config: Arc<T>,
    fingerprint: u64,
    expiry: Option<i64>,
}

impl<T> Loaded<T> {
    /// Wraps a built config and the fingerprint of its inputs.
    pub fn new(config: T, fingerprint: u64) -> Self {
        Self {
            config: Arc::new(config),
            fingerprint,
            expiry: None,
        }
    }

    /// With the `notAfter` (Unix seconds) of the certificate the config
    /// presents, for the expiry metric.
    pub fn with_expiry(mut self, expiry: Option<i64>) -> Self {
        self.expiry = expiry;
        self
    }

    /// When the presented certificate expires (Unix seconds); `None` when
    /// the config presents none (a cluster without a client certificate).
    pub fn expiry(&self) -> Option<i64> {
        self.expiry
    }

    /// The shared config.
    pub fn get(&self) -> &Arc<T> {
        &self.config
    }

    /// A hash of the files and settings the config was built from.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

impl<T> PartialEq for Loaded<T> {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl<T> fmt::Debug for Loaded<T> {
    // Never the config itself: it holds private keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Loaded({:016x})", self.fingerprint)
    }
}
