//! Tests of the `timeouts:` blocks: defaults, route overrides, located
//! errors for zero durations and misspelt keys.

use std::time::Duration;

use super::support::{located, with_blocks};
use crate::config::{TimeoutOverrides, TimeoutSettings, parse};

#[test]
fn cluster_timeouts_default_when_absent() {
    let config = parse(&with_blocks("", ""), None).unwrap();
    assert_eq!(
        config.clusters[0].timeouts,
        TimeoutSettings {
            request: Duration::from_secs(15),
            total: None,
            attempt: None,
            response_header: None,
            body_idle: Duration::from_secs(60),
        }
    );
    assert_eq!(
        config.listeners[0].routes[0].timeouts,
        TimeoutOverrides::default()
    );
}

#[test]
fn cluster_block_sets_each_key() {
    let cluster = "    timeouts:\n      request: 2s\n      total: 1h\n      attempt: 500ms\n      response_header: 300ms\n      body_idle: 1s\n";
    let config = parse(&with_blocks("", cluster), None).unwrap();
    assert_eq!(
        config.clusters[0].timeouts,
        TimeoutSettings {
            request: Duration::from_secs(2),
            total: Some(Duration::from_secs(3600)),
            attempt: Some(Duration::from_millis(500)),
            response_header: Some(Duration::from_millis(300)),
            body_idle: Duration::from_secs(1),
        }
    );
}

#[test]
fn route_overrides_replace_only_what_they_name() {
    let route = "        timeouts:\n          request: 100ms\n          attempt: 50ms\n          total: 10m\n";
    let cluster =
        "    timeouts:\n      request: 2s\n      response_header: 300ms\n      total: 1h\n";
    let config = parse(&with_blocks(route, cluster), None).unwrap();
    let effective = config.clusters[0]
        .timeouts
        .with(&config.listeners[0].routes[0].timeouts);
    assert_eq!(
        effective,
        TimeoutSettings {
            request: Duration::from_millis(100),
            total: Some(Duration::from_secs(600)),
            attempt: Some(Duration::from_millis(50)),
            response_header: Some(Duration::from_millis(300)),
            body_idle: Duration::from_secs(60),
        }
    );
}

#[test]
fn zero_cluster_timeout_is_located() {
    let (line, column, key, message) =
        located(&with_blocks("", "    timeouts:\n      request: 0s\n"));
    assert_eq!(
        (line, column, key.as_str()),
        (11, 16, "clusters[0].timeouts.request")
    );
    assert!(
        message.contains("greater than zero (default 15s)"),
        "{message}"
    );
}

#[test]
fn zero_route_timeout_is_located_and_names_no_default() {
    let route = "        timeouts:\n          attempt: 0ms\n";
    let (line, column, key, message) = located(&with_blocks(route, ""));
    assert_eq!(
        (line, column, key.as_str()),
        (8, 20, "listeners[0].routes[0].timeouts.attempt")
    );
    assert!(message.contains("omit the key"), "{message}");
}

#[test]
fn zero_total_is_located_and_names_no_default() {
    let (line, column, key, message) =
        located(&with_blocks("", "    timeouts:\n      total: 0s\n"));
    assert_eq!(
        (line, column, key.as_str()),
        (11, 14, "clusters[0].timeouts.total")
    );
    assert!(message.contains("omit the key"), "{message}");
}

#[test]
fn misspelt_timeout_key_is_located() {
    let (line, column, _, message) =
        located(&with_blocks("", "    timeouts:\n      requets: 1s\n"));
    assert_eq!((line, column), (11, 7));
    assert!(message.contains("requets"), "{message}");
}

#[test]
fn timeouts_serialize_for_the_admin_api() {
    let config = parse(
        &with_blocks("", "    timeouts:\n      attempt: 250ms\n"),
        None,
    )
    .unwrap();
    let json = serde_json::to_value(&config).unwrap();
    let t = &json["clusters"][0]["timeouts"];
    assert_eq!(t["request"], "15s");
    assert_eq!(t["attempt"], "250ms");
    assert!(t["response_header"].is_null());
    assert!(t["total"].is_null(), "no cap by default");
}

#[test]
fn request_none_unbounds_the_start_only_for_the_request_key() {
    let route = "        timeouts: { request: none }\n";
    let config = parse(&with_blocks(route, ""), None).unwrap();
    assert_eq!(
        config.listeners[0].routes[0].timeouts.request,
        Some(crate::config::defaults::UNBOUNDED)
    );
    let (_, _, key, _) = located(&with_blocks("        timeouts: { body_idle: none }\n", ""));
    assert_eq!(key, "listeners[0].routes[0].timeouts.body_idle");
}
