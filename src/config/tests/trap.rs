//! The ClusterIP trap warning: ejection or health checks on host names that
//! resolve to one address.

use super::support::MINIMAL;
use crate::config::parse;

fn cluster(endpoint: &str, extra: &str) -> crate::config::ClusterSettings {
    let text = MINIMAL.replace("127.0.0.1:8081", endpoint) + extra;
    parse(&text, None).expect("valid").clusters.remove(0)
}

#[test]
fn one_address_behind_a_name_with_ejection_is_warned_about() {
    let c = cluster("orders:8080", "");
    let warning = c.single_address_warning(1).expect("a warning");
    assert!(
        warning.contains("\"demo\"") && warning.contains("outlier ejection"),
        "{warning}"
    );
    assert!(warning.contains("clusterIP: None"), "{warning}");
    assert_eq!(c.single_address_warning(3), None, "three pods: fine");
}

#[test]
fn no_warning_for_an_ip_literal_or_without_ejection_and_probes() {
    assert_eq!(cluster("10.0.0.7:8080", "").single_address_warning(1), None);
    let off = "    outlier: {consecutive_failures: 0, failure_percentage: 0}\n";
    assert_eq!(cluster("orders:8080", off).single_address_warning(1), None);
    let probes = format!("{off}    health_check: {{path: /healthz}}\n");
    let warning = cluster("orders:8080", &probes).single_address_warning(1);
    assert!(warning.is_some_and(|w| w.contains("has health checks")));
}
