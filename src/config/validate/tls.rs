//! Validation of the `tls:` blocks: every file is read and parsed here, and
//! the rustls configs are built here, so a missing file, a file that is not
//! PEM, or a key that does not match its certificate is a config error at
//! the key that names it, not a failure on the first connection.
//!
//! Relative paths are relative to seawall's working directory.

use std::net::IpAddr;
use std::path::PathBuf;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_saphyr::Spanned;

use super::super::error::ConfigError;
use super::super::file::cluster::ClusterFile;
use super::super::file::tls::{ClusterTlsFile, ListenerTlsFile};
use super::super::settings::cluster::{EndpointSpec, UpstreamProtocol};
use super::super::settings::defaults;
use super::super::settings::tls::{ClusterTls, ListenerTls, Loaded};
use super::error;
use super::scalar::positive_duration;
use crate::tls::{client, pem, server};

/// A file named at `raw` (key path `key`): its path and bytes.
fn read(raw: &Spanned<String>, key: &str) -> Result<(PathBuf, Vec<u8>), ConfigError> {
    if raw.value.is_empty() {
        return Err(error(raw, key, "path is empty"));
    }
    let path = PathBuf::from(&raw.value);
    let bytes = pem::read(&path).map_err(|m| error(raw, key, m))?;
    Ok((path, bytes))
}

/// `listeners[].tls`, at key path `key`.
pub(super) fn listener(
    raw: Option<&ListenerTlsFile>,
    key: &str,
) -> Result<Option<ListenerTls>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let cert_key = format!("{key}.certificate");
    let (certificate, cert_bytes) = read(&raw.certificate, &cert_key)?;
    let chain = pem::certificates(&certificate, &cert_bytes)
        .map_err(|m| error(&raw.certificate, &cert_key, m))?;
    let expiry = crate::tls::expiry::not_after(&chain);
    let pk_key = format!("{key}.private_key");
    let (private_key, pk_bytes) = read(&raw.private_key, &pk_key)?;
    let secret = pem::private_key(&private_key, &pk_bytes)
        .map_err(|m| error(&raw.private_key, &pk_key, m))?;

    let require_key = format!("{key}.require_client_cert");
    // With mTLS on, refusing anonymous clients is the safe default.
    let require_client_cert = raw.require_client_cert.as_ref().is_none_or(|r| r.value);
    let (client_ca, ca_bytes, verifier) = match &raw.client_ca {
        Some(at) => {
            let ca_key = format!("{key}.client_ca");
            let (path, bytes) = read(at, &ca_key)?;
            let roots = pem::roots(&path, &bytes).map_err(|m| error(at, &ca_key, m))?;
            let verifier = server::client_verifier(roots, require_client_cert)
                .map_err(|m| error(at, &ca_key, m))?;
            (Some(path), bytes, Some(verifier))
        }
        None => {
            if let Some(at) = &raw.require_client_cert {
                return Err(error(
                    at,
                    &require_key,
                    "`require_client_cert` needs `client_ca` (the CAs client certificates are verified against)",
                ));
            }
            (None, Vec::new(), None)
        }
    };
    let require_client_cert = require_client_cert && client_ca.is_some();
    let config = server::server_config(chain, secret, verifier).map_err(|e| {
        error(
            &raw.private_key,
            &pk_key,
            format!("cannot be used with `{}`: {e}", certificate.display()),
        )
    })?;
    let handshake_timeout = positive_duration(
        raw.handshake_timeout.as_ref(),
        &format!("{key}.handshake_timeout"),
        defaults::SERVER_HANDSHAKE_TIMEOUT,
    )?;
    let fingerprint = pem::fingerprint(&[
        &cert_bytes,
        &pk_bytes,
        &ca_bytes,
        &[u8::from(require_client_cert)],
    ]);
    Ok(Some(ListenerTls {
        certificate,
        private_key,
        client_ca,
        require_client_cert,
        handshake_timeout,
        server_config: Loaded::new(config, fingerprint).with_expiry(expiry),
    }))
}

/// `clusters[].tls` of `cluster`, whose endpoints were validated into
/// `specs`, at key path `key`.
pub(super) fn cluster(
    cluster: &ClusterFile,
    specs: &[EndpointSpec],
    protocol: UpstreamProtocol,
    key: &str,
) -> Result<Option<ClusterTls>, ConfigError> {
    let Some(raw) = &cluster.tls else {
        return Ok(None);
    };
    let name_key = format!("{key}.server_name");
    let server_name = match &raw.server_name {
        Some(at) => at.value.clone(),
        None => default_server_name(cluster, specs, key)?,
    };
    let sni = ServerName::try_from(server_name.clone()).map_err(|_| {
        // Without `server_name` the name came from the first endpoint (the
        // cluster was already checked to have one).
        let at = raw
            .server_name
            .as_ref()
            .unwrap_or(&cluster.endpoints.value[0]);
        error(
            at,
            &name_key,
            format!("`{server_name}` is not a DNS name or an IP address; set `tls.server_name` to the name in the upstream certificate"),
        )
    })?;

    let (ca, ca_bytes, roots) = match &raw.ca {
        Some(at) => {
            let ca_key = format!("{key}.ca");
            let (path, bytes) = read(at, &ca_key)?;
            let roots = pem::roots(&path, &bytes).map_err(|m| error(at, &ca_key, m))?;
            (Some(path), bytes, Some(roots))
        }
        None => (None, Vec::new(), None),
    };
    let identity = identity(raw, key)?;
    let expiry = identity
        .parsed
        .as_ref()
        .and_then(|(chain, _)| crate::tls::expiry::not_after(chain));
    let alpn: &[u8] = match protocol {
        UpstreamProtocol::Http1 => b"http/1.1",
        UpstreamProtocol::Http2 => b"h2",
    };
    let config = client::client_config(roots, identity.parsed, alpn).map_err(|e| {
        let at = raw.private_key.as_ref().unwrap_or(&cluster.name);
        error(
            at,
            &format!("{key}.private_key"),
            format!("client certificate and key do not match: {e}"),
        )
    })?;
    let handshake_timeout = positive_duration(
        raw.handshake_timeout.as_ref(),
        &format!("{key}.handshake_timeout"),
        defaults::CLIENT_HANDSHAKE_TIMEOUT,
    )?;
    let fingerprint = pem::fingerprint(&[server_name.as_bytes(), &ca_bytes, &identity.bytes, alpn]);
    Ok(Some(ClusterTls {
        server_name,
        sni,
        ca,
        certificate: identity.certificate,
        private_key: identity.private_key,
        handshake_timeout,
        client_config: Loaded::new(config, fingerprint).with_expiry(expiry),
    }))
}

/// The client certificate of a cluster's `tls:` block (mTLS to the
/// upstream), as read from its files.
#[derive(Default)]
struct Identity {
    /// Path of the certificate chain.
    certificate: Option<PathBuf>,
    /// Path of its private key.
    private_key: Option<PathBuf>,
    /// Both files' bytes, for the fingerprint.
    bytes: Vec<u8>,
    /// The chain and key, parsed.
    parsed: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// `certificate` and `private_key` of a cluster's `tls:` block (at key path
/// `key`): both or neither.
fn identity(raw: &ClusterTlsFile, key: &str) -> Result<Identity, ConfigError> {
    match (&raw.certificate, &raw.private_key) {
        (None, None) => Ok(Identity::default()),
        (Some(at), None) => Err(error(
            at,
            &format!("{key}.certificate"),
            "`certificate` needs `private_key`",
        )),
        (None, Some(at)) => Err(error(
            at,
            &format!("{key}.private_key"),
            "`private_key` needs `certificate`",
        )),
        (Some(c), Some(k)) => {
            let (cert_key, pk_key) = (format!("{key}.certificate"), format!("{key}.private_key"));
            let (cert_path, cert_bytes) = read(c, &cert_key)?;
            let chain =
                pem::certificates(&cert_path, &cert_bytes).map_err(|m| error(c, &cert_key, m))?;
            let (pk_path, pk_bytes) = read(k, &pk_key)?;
            let secret = pem::private_key(&pk_path, &pk_bytes).map_err(|m| error(k, &pk_key, m))?;
            Ok(Identity {
                certificate: Some(cert_path),
                private_key: Some(pk_path),
                bytes: [cert_bytes, pk_bytes].concat(),
                parsed: Some((chain, secret)),
            })
        }
    }
}

/// The hostname every endpoint is written with. An IP literal has no name
/// a certificate could be checked against, and one cluster verifies one
/// name: both need an explicit `server_name`.
fn default_server_name(
    cluster: &ClusterFile,
    specs: &[EndpointSpec],
    key: &str,
) -> Result<String, ConfigError> {
    let mut name: Option<&str> = None;
    for (i, (spec, at)) in specs.iter().zip(&cluster.endpoints.value).enumerate() {
        let endpoint_key = format!("{}.endpoints[{i}]", key.trim_end_matches(".tls"));
        if spec.host.parse::<IpAddr>().is_ok() {
            return Err(error(
                at,
                &endpoint_key,
                format!(
                    "endpoint `{}` is an IP address: with `tls`, set `tls.server_name` to the name its certificate is issued for",
                    at.value
                ),
            ));
        }
        match name {
            Some(first) if first != spec.host => {
                return Err(error(
                    at,
                    &endpoint_key,
                    format!(
                        "endpoints name different hosts (`{first}` and `{}`) and a cluster verifies one name: set `tls.server_name`",
                        spec.host
                    ),
                ));
            }
            _ => name = Some(&spec.host),
        }
    }
    Ok(name.unwrap_or_default().to_owned())
}
