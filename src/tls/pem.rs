//! Reading certificates and keys from PEM files, with messages an operator
//! can act on.
//!
//! Each function returns a plain message; config validation attaches the
//! key and its file:line:column. Messages name the file and what was
//! expected, and never quote file content: a key file's bytes are secret.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The bytes of a file, with a message naming it if it cannot be read.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// Every `CERTIFICATE` block of a PEM file, in order; at least one.
pub fn certificates(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{}` is not valid PEM: {}", path.display(), describe(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "`{}` holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----`)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn private_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "`{}` holds no PEM private key (expected a PKCS#8, PKCS#1 or SEC1 `PRIVATE KEY` block)",
            path.display()
        ),
        e => format!(
            "`{}` is not a valid PEM key: {}",
            path.display(),
            describe(&e)
        ),
    })
}

/// A root store of every certificate in a PEM bundle; each must be a
/// usable CA certificate.
pub fn roots(path: &Path, bytes: &[u8]) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for (i, cert) in certificates(path, bytes)?.into_iter().enumerate() {
        store.add(cert).map_err(|e| {
            format!(
                "certificate {} of `{}` is not a usable CA certificate: {e}",
                i + 1,
                path.display()
            )
        })?;
    }
    Ok(store)
}

/// A fingerprint of config inputs (file bytes and settings): tells a
/// reload whether anything changed. Not a security measure.
pub fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h = DefaultHasher::new();
    for part in parts {
        part.hash(&mut h);
    }
    h.finish()
}

/// A PEM error in words that quote no file content.
fn describe(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a `-----BEGIN` block has no matching `-----END`",
        pem::Error::IllegalSectionStart { .. } => "a `-----BEGIN` line is malformed",
        pem::Error::Base64Decode(_) => "a block is not valid base64",
        pem::Error::NoItemsFound => "no PEM block found",
        _ => "malformed PEM",
    }
}
