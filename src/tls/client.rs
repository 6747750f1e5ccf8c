//! Upstream TLS: the client config of a cluster and the connector its pool
//! dials with.
//!
//! [`TlsConnector`] wraps hyper-rustls' connector for three things it does
//! not do by itself:
//! - the balancer addresses endpoints as `http://ip:port` (the pool key);
//!   the connector treats every URI as `https`, so a TLS cluster can never
//!   fall back to plaintext;
//! - SNI and certificate name come from config (`server_name`, defaulting to
//!   the endpoint's hostname as written), not from the IP in the URI;
//! - connect and handshake together are bounded by
//!   `connect_timeout + handshake_timeout`, so an upstream that accepts TCP
//!   and then stalls fails as a connect timeout instead of hanging.
//!
//! A certificate that does not verify surfaces as a `rustls::Error` inside
//! the connect error; `rescue` answers it with 502 [`super::UPSTREAM_TLS`].

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use http::Uri;
use http::uri::Scheme;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use crate::wire::BoxError;

/// Builds a cluster's rustls client config: trust `roots` (or the webpki
/// roots when `None`), present `identity` when given (mTLS), offer `alpn`.
pub fn client_config(
    roots: Option<RootCertStore>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: &[u8],
) -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = roots.unwrap_or_else(|| RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    });
    let builder = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}

/// A connector that always speaks TLS to the endpoint.
#[derive(Clone, Debug)]
pub struct TlsConnector {
    inner: HttpsConnector<HttpConnector>,
    limit: Duration,
}

impl TlsConnector {
    /// Wraps `tcp` (whose connect timeout is `connect_timeout`) with TLS
    /// from `config` (whose ALPN picks the protocol), verifying the upstream
    /// as `sni`.
    pub fn new(
        mut tcp: HttpConnector,
        config: Arc<rustls::ClientConfig>,
        sni: ServerName<'static>,
        connect_timeout: Duration,
        handshake_timeout: Duration,
    ) -> Self {
        tcp.enforce_http(false);
        // Not hyper-rustls' builder: it insists on setting ALPN itself and
        // offers none for HTTP/1.1-only, while the config already carries
        // the cluster's protocol (`h2` or `http/1.1`).
        let sni = Arc::new(FixedServerNameResolver::new(sni));
        let inner = HttpsConnector::new(tcp, config, true, sni);
        Self {
            inner,
            limit: connect_timeout.saturating_add(handshake_timeout),
        }
    }
}

impl tower::Service<Uri> for TlsConnector {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut parts = dst.into_parts();
        parts.scheme = Some(Scheme::HTTPS);
        let dst = match Uri::from_parts(parts) {
            Ok(dst) => dst,
            Err(e) => return futures_util::future::ready(Err(e.into())).boxed(),
        };
        let connecting = self.inner.call(dst);
        let limit = self.limit;
        async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(result) => result,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "upstream TLS handshake timed out",
                )
                .into()),
            }
        }
        .boxed()
    }
}
