//! `seawall_tls_certificate_expiry_timestamp_seconds`: when the
//! certificate each listener serves, and each cluster's client
//! certificate (mTLS), stop being valid, as loaded by the config in force
//! (a rotated file shows here once its reload applied).

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::family::Family;
use crate::snapshot::Snapshot;

pub(super) fn encode_expiry(
    encoder: &mut DescriptorEncoder,
    snapshot: &Snapshot,
) -> Result<(), std::fmt::Error> {
    let mut family = Family::<1>::new(
        "seawall_tls_certificate_expiry_timestamp_seconds",
        "When the certificate a listener serves, or a cluster presents upstream, expires \
         (notAfter, seconds since the Unix epoch)",
        MetricType::Gauge,
    );
    #[allow(clippy::cast_precision_loss)] // seconds since 1970 fit in an f64
    for listener in &snapshot.config.listeners {
        if let Some(at) = listener.tls.as_ref().and_then(|t| t.server_config.expiry()) {
            family.add([("listener", listener.name.clone())], at as f64);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    for cluster in &snapshot.config.clusters {
        if let Some(at) = cluster.tls.as_ref().and_then(|t| t.client_config.expiry()) {
            family.add([("cluster", cluster.name.clone())], at as f64);
        }
    }
    family.encode(encoder)
}
