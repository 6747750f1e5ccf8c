//! The serde model of the `tls:` blocks: termination on a listener,
//! origination on a cluster.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `listeners[].tls:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerTlsFile {
    /// PEM certificate chain, leaf first.
    pub certificate: Spanned<String>,
    /// PEM private key.
    pub private_key: Spanned<String>,
    /// PEM CA bundle for client certificates (turns on mTLS).
    pub client_ca: Option<Spanned<String>>,
    /// Refuse clients without a certificate (needs `client_ca`).
    pub require_client_cert: Option<Spanned<bool>>,
    /// Time allowed for the handshake.
    pub handshake_timeout: Option<Spanned<String>>,
}

/// `clusters[].tls:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterTlsFile {
    /// SNI and the name the certificate must be valid for.
    pub server_name: Option<Spanned<String>>,
    /// PEM CA bundle; absent: the webpki roots.
    pub ca: Option<Spanned<String>>,
    /// PEM client certificate chain (mTLS).
    pub certificate: Option<Spanned<String>>,
    /// PEM private key of `certificate`.
    pub private_key: Option<Spanned<String>>,
    /// Time allowed for the handshake.
    pub handshake_timeout: Option<Spanned<String>>,
}
