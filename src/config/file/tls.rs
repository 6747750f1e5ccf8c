//! The serde model of the `tls:` blocks: termination on a listener,
//! origination on a cluster.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `listeners[].tls:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerTlsFile {
    /// PEM certificate chain, leaf first.
    #[cfg_attr(test, schemars(with = "String"))]
    pub certificate: Spanned<String>,
    /// PEM private key.
    #[cfg_attr(test, schemars(with = "String"))]
    pub private_key: Spanned<String>,
    /// PEM CA bundle for client certificates (turns on mTLS).
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub client_ca: Option<Spanned<String>>,
    /// Refuse clients without a certificate (needs `client_ca`).
    #[cfg_attr(test, schemars(with = "Option<bool>"))]
    pub require_client_cert: Option<Spanned<bool>>,
    /// Time allowed for the handshake.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub handshake_timeout: Option<Spanned<String>>,
}

/// `clusters[].tls:`
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterTlsFile {
    /// SNI and the name the certificate must be valid for.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub server_name: Option<Spanned<String>>,
    /// PEM CA bundle; absent: the webpki roots.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub ca: Option<Spanned<String>>,
    /// PEM client certificate chain (mTLS).
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub certificate: Option<Spanned<String>>,
    /// PEM private key of `certificate`.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub private_key: Option<Spanned<String>>,
    /// Time allowed for the handshake.
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    pub handshake_timeout: Option<Spanned<String>>,
}
