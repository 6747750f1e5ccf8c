//! When a certificate stops being valid, for the
//! `seawall_tls_certificate_expiry_timestamp_seconds` metric.
//!
//! rustls checks validity but does not expose it, so the leaf's `notAfter`
//! is read with `x509-parser` (rusticata's DER parser, which rcgen uses
//! too) once, when validation loads the chain.

use rustls::pki_types::CertificateDer;

/// The leaf's (the chain's first certificate's) `notAfter`, in seconds
/// since the Unix epoch; `None` for an empty chain or one whose leaf does
/// not parse as X.509.
pub fn not_after(chain: &[CertificateDer<'_>]) -> Option<i64> {
    let leaf = chain.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_leafs_not_after() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = params.self_signed(&key).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["ca".to_owned()]).unwrap();
        let chain = [leaf.der().clone(), other.cert.der().clone()];
        // 2031-01-02T00:00:00Z
        assert_eq!(not_after(&chain), Some(1_925_078_400));
        assert_eq!(not_after(&[]), None);
        assert_eq!(not_after(&[CertificateDer::from(vec![1, 2, 3])]), None);
    }
}
