//! Tests of clusters: names, endpoints, balancing and protocol options.

use std::time::Duration;

use super::support::{MINIMAL, at, error_of, located, with_blocks};
use crate::config::parse;

#[test]
fn duplicate_cluster_name_is_rejected() {
    let text = format!("{MINIMAL}  - name: demo\n    endpoints: [\"b:1\"]\n");
    assert_eq!(error_of(&text).1, at(10, 11, "clusters[1].name"));
}

#[test]
fn bad_endpoints_are_rejected() {
    let cases = [
        ("\"app\"", "has no port"),
        ("\"app:0\"", "port 0"),
        ("\"app:99999\"", "1 to 65535"),
        ("\"\"", "empty"),
        ("\"::1:80\"", "needs brackets"),
        ("\"http://app:80\"", "scheme"),
        ("\"a b:80\"", "not allowed"),
    ];
    for (endpoint, why) in cases {
        let text = MINIMAL.replace("\"127.0.0.1:8081\"", endpoint);
        let (err, pos) = error_of(&text);
        assert_eq!(pos, at(9, 17, "clusters[0].endpoints[0]"), "{endpoint}");
        assert!(err.message().contains(why), "{endpoint}: {err}");
    }
}

#[test]
fn cluster_without_endpoints_is_rejected() {
    let text = MINIMAL.replace("[\"127.0.0.1:8081\"]", "[]");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(9, 16, "clusters[0].endpoints"));
    assert!(err.message().contains("no endpoints"), "{err}");
}

#[test]
fn peak_ewma_options_with_round_robin_are_rejected() {
    let text = format!("{MINIMAL}    balance:\n      policy: round_robin\n      decay: 5s\n");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(12, 14, "clusters[0].balance.decay"));
    assert!(
        err.message().contains("only to policy p2c_peak_ewma"),
        "{err}"
    );
}

#[test]
fn http2_keepalive_defaults_and_is_rejected_for_http1() {
    let config = parse(&with_blocks("", "    protocol: http2\n"), None).unwrap();
    assert_eq!(
        config.clusters[0].http2_keepalive_interval,
        Duration::from_secs(30)
    );
    let (line, column, key, message) =
        located(&with_blocks("", "    http2_keepalive_interval: 5s\n"));
    assert_eq!(
        (line, column, key.as_str()),
        (10, 31, "clusters[0].http2_keepalive_interval")
    );
    assert!(message.contains("only to protocol http2"), "{message}");
}

#[test]
fn slow_start_is_off_by_default_and_parsed_when_set() {
    use crate::config::BalanceSettings;
    let off = parse(&with_blocks("", ""), None).unwrap();
    assert!(matches!(
        off.clusters[0].balance,
        BalanceSettings::P2cPeakEwma {
            slow_start: None,
            ..
        }
    ));
    let on = parse(
        &with_blocks("", "    balance: { slow_start: 30s, decay: 1s }\n"),
        None,
    )
    .unwrap();
    assert_eq!(
        on.clusters[0].balance,
        BalanceSettings::P2cPeakEwma {
            default_rtt: Duration::from_millis(30),
            decay: Duration::from_secs(1),
            slow_start: Some(Duration::from_secs(30)),
        }
    );
}

#[test]
fn slow_start_with_round_robin_or_zero_is_rejected() {
    let text = format!("{MINIMAL}    balance:\n      policy: round_robin\n      slow_start: 5s\n");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(12, 19, "clusters[0].balance.slow_start"));
    assert!(
        err.message().contains("only to policy p2c_peak_ewma"),
        "{err}"
    );
    let (line, column, key, message) =
        located(&with_blocks("", "    balance: { slow_start: 0s }\n"));
    assert_eq!(key, "clusters[0].balance.slow_start", "{line}:{column}");
    assert!(message.contains("greater than zero"), "{message}");
}
