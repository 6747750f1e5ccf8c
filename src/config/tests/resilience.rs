//! Tests of the `failure_statuses`, `breaker:`, `outlier:` and
//! `health_check:` keys: defaults, accepted spellings, located errors.

use std::time::Duration;

use super::support::{located, with_blocks};
use crate::config::{BreakerMode, BreakerWindow, Config, ConfigError, parse};

/// The fixture with `extra` lines under its cluster.
fn with(extra: &str) -> Result<Config, ConfigError> {
    parse(&with_blocks("", extra), None)
}

fn err(extra: &str) -> (u32, u32, String, String) {
    located(&with_blocks("", extra))
}

#[test]
fn defaults_are_conservative_and_health_checks_off() {
    let c = &with("").unwrap().clusters[0];
    assert_eq!(c.failure_statuses, [502, 503, 504]);
    assert_eq!(c.breaker.mode, BreakerMode::Auto);
    assert_eq!(c.breaker.consecutive_failures, 20);
    // Open fully only when nothing succeeds; the throttle (K = 2) refuses
    // the excess while the upstream accepts part of the load.
    assert!((c.breaker.failure_rate - 1.0).abs() < 1e-12);
    assert!((c.breaker.accept_multiplier - 2.0).abs() < 1e-12);
    assert!(c.breaker.slow_call_rate.abs() < 1e-12);
    assert_eq!(
        c.breaker.window,
        BreakerWindow::Time(Duration::from_secs(10))
    );
    assert_eq!(c.outlier.consecutive_failures, 5);
    assert_eq!(c.health_check, None);
}

#[test]
fn accepts_percentages_counts_and_durations() {
    let c = with(
        "    breaker: { mode: metrics_only, failure_rate: 0.25, slow_call_rate: 80%, window: 100 }
    outlier: { max_ejection_percent: 10% }
    health_check: { path: /healthz }
",
    )
    .unwrap();
    let c = &c.clusters[0];
    assert_eq!(c.breaker.mode, BreakerMode::MetricsOnly);
    assert!((c.breaker.slow_call_rate - 0.8).abs() < 1e-12);
    assert_eq!(c.breaker.window, BreakerWindow::Count(100));
    assert!((c.outlier.max_ejection_percent - 0.1).abs() < 1e-12);
    let hc = c.health_check.as_ref().unwrap();
    assert_eq!(hc.path, "/healthz");
    assert_eq!(hc.interval, Duration::from_secs(5));
}

#[test]
fn rate_out_of_range_is_located() {
    let (line, col, key, msg) = err("    breaker:\n      failure_rate: 150%\n");
    assert_eq!(
        (line, col, key.as_str()),
        (11, 21, "clusters[0].breaker.failure_rate")
    );
    assert!(msg.contains("outside [0, 1]"), "{msg}");
}

#[test]
fn misspelt_breaker_key_is_located() {
    let (line, _, _, msg) = err("    breaker:\n      consecutive_failure: 3\n");
    assert_eq!(line, 11);
    assert!(msg.contains("consecutive_failure"), "{msg}");
}

#[test]
fn non_5xx_failure_status_is_rejected() {
    let (line, col, key, _) = err("    failure_statuses: [503, 404]\n");
    assert_eq!(
        (line, col, key.as_str()),
        (10, 29, "clusters[0].failure_statuses[1]")
    );
}

#[test]
fn grpc_failure_and_retry_codes_by_name_or_number_with_located_errors() {
    let c = &with("").unwrap().clusters[0];
    let names = |codes: crate::wire::grpc::Codes| codes.names().collect::<Vec<_>>();
    assert_eq!(
        names(c.failure_grpc_codes),
        ["unknown", "deadline_exceeded", "internal", "unavailable"]
    );
    assert_eq!(names(c.retry.policy.grpc_codes), ["unavailable"]);
    let c = &with("    failure_grpc_codes: [UNAVAILABLE, 13]\n    retry: { grpc_codes: [unavailable, cancelled] }\n")
        .unwrap()
        .clusters[0];
    assert_eq!(names(c.failure_grpc_codes), ["internal", "unavailable"]);
    assert_eq!(
        names(c.retry.policy.grpc_codes),
        ["cancelled", "unavailable"]
    );
    let (line, col, key, msg) = err("    failure_grpc_codes: [unavailable, busy]\n");
    assert_eq!(
        (line, col, key.as_str()),
        (10, 39, "clusters[0].failure_grpc_codes[1]")
    );
    assert!(msg.contains("resource_exhausted"), "{msg}");
    let (_, _, key, _) = err("    retry: { grpc_codes: [ok] }\n");
    assert_eq!(key, "clusters[0].retry.grpc_codes[0]");
}

#[test]
fn bad_window_and_zero_probes_are_rejected() {
    let (_, _, key, msg) = err("    breaker: { window: 2.5 }\n");
    assert_eq!(key, "clusters[0].breaker.window");
    assert!(msg.contains("whole number"), "{msg}");
    let (_, _, key, _) = err("    breaker: { half_open_probes: 0 }\n");
    assert_eq!(key, "clusters[0].breaker.half_open_probes");
}

#[test]
fn cap_below_base_is_rejected() {
    let (_, _, key, _) = err("    outlier: { base_ejection_time: 60s, max_ejection_time: 10s }\n");
    assert_eq!(key, "clusters[0].outlier.max_ejection_time");
    let (_, _, key, _) = err("    breaker: { open_duration: 60s, max_open_duration: 10s }\n");
    assert_eq!(key, "clusters[0].breaker.max_open_duration");
}

#[test]
fn health_check_path_must_be_absolute() {
    let (_, _, key, _) = err("    health_check: { path: health }\n");
    assert_eq!(key, "clusters[0].health_check.path");
}

#[test]
fn readmit_ejected_defaults_on_and_can_be_turned_off() {
    let on = parse(&with_blocks("", "    health_check: { path: /h }\n"), None).unwrap();
    assert!(
        on.clusters[0]
            .health_check
            .as_ref()
            .unwrap()
            .readmit_ejected
    );
    let off = parse(
        &with_blocks("", "    health_check: { readmit_ejected: false }\n"),
        None,
    )
    .unwrap();
    assert!(
        !off.clusters[0]
            .health_check
            .as_ref()
            .unwrap()
            .readmit_ejected
    );
}

#[test]
fn failure_percentage_defaults_on_and_is_validated() {
    let c = with("").unwrap();
    let o = &c.clusters[0].outlier;
    assert!((o.failure_percentage - 0.3).abs() < 1e-12);
    assert_eq!(o.failure_percentage_request_volume, 20);
    assert_eq!(o.failure_percentage_window, Duration::from_secs(10));
    let off = with("    outlier: { failure_percentage: 0 }\n").unwrap();
    assert_eq!(off.clusters[0].outlier.failure_percentage, 0.0);
    let (_, _, key, message) = err("    outlier: { failure_percentage_window: 200ms }\n");
    assert_eq!(key, "clusters[0].outlier.failure_percentage_window");
    assert!(message.contains("at least 1s"), "{message}");
    let (_, _, key, _) = err("    outlier: { failure_percentage_request_volume: 0 }\n");
    assert_eq!(key, "clusters[0].outlier.failure_percentage_request_volume");
    let (_, _, key, _) = err("    outlier: { failure_percentage: 150% }\n");
    assert_eq!(key, "clusters[0].outlier.failure_percentage");
}
