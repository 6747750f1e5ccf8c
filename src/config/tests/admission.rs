//! Tests of the `admission:` blocks: defaults, route overrides key by key,
//! and errors located at the value (in the block it came from).

use std::num::NonZeroUsize;
use std::time::Duration;

use super::support::{MINIMAL, located as error_at, with_blocks};
use crate::config::parse;

#[test]
fn clusters_get_the_documented_defaults_and_routes_share_them() {
    let config = parse(MINIMAL, None).unwrap();
    let a = &config.clusters[0].admission;
    assert_eq!(a.max_concurrent, NonZeroUsize::new(256).unwrap());
    assert_eq!(a.max_queue, 128);
    assert_eq!(a.max_queue_wait, Duration::from_secs(1));
    assert_eq!(
        (a.target, a.interval),
        (Duration::from_millis(5), Duration::from_millis(100))
    );
    assert!(!a.adaptive_lifo);
    assert_eq!(config.listeners[0].routes[0].admission, None);
}

#[test]
fn route_block_overrides_the_cluster_block_key_by_key() {
    let text = with_blocks(
        "        admission:\n          max_concurrent: 8\n          adaptive_lifo: true\n",
        "    admission:\n      max_concurrent: 64\n      max_queue: 0\n      target: 10ms\n",
    );
    let config = parse(&text, None).unwrap();
    let cluster = &config.clusters[0].admission;
    assert_eq!((cluster.max_concurrent.get(), cluster.max_queue), (64, 0));
    let route = config.listeners[0].routes[0]
        .admission
        .clone()
        .expect("own compartment");
    assert_eq!(route.max_concurrent.get(), 8);
    assert!(route.adaptive_lifo);
    // Inherited from the cluster, not the defaults.
    assert_eq!(
        (route.max_queue, route.target),
        (0, Duration::from_millis(10))
    );
    assert_eq!(route.interval, Duration::from_millis(100));
}

#[test]
fn zero_max_concurrent_is_rejected_at_its_value() {
    let text = with_blocks("", "    admission:\n      max_concurrent: 0\n");
    let (line, column, key, message) = error_at(&text);
    assert_eq!(
        (line, column, key.as_str()),
        (11, 23, "clusters[0].admission.max_concurrent")
    );
    assert!(message.contains("at least 1"), "{message}");
}

#[test]
fn target_must_be_shorter_than_interval() {
    let text = with_blocks("", "    admission:\n      target: 200ms\n");
    let (line, column, key, message) = error_at(&text);
    assert_eq!(
        (line, column, key.as_str()),
        (11, 15, "clusters[0].admission.target")
    );
    assert!(
        message.contains("shorter than interval (100ms)"),
        "{message}"
    );
}

#[test]
fn max_queue_wait_within_target_is_rejected_where_written() {
    // The route sets the wait; the target it conflicts with is the cluster's.
    let text = with_blocks(
        "        admission:\n          max_queue_wait: 20ms\n",
        "    admission:\n      target: 50ms\n      interval: 1s\n",
    );
    let (line, column, key, message) = error_at(&text);
    assert_eq!(
        (line, column, key.as_str()),
        (8, 27, "listeners[0].routes[0].admission.max_queue_wait")
    );
    assert!(message.contains("longer than target (50ms)"), "{message}");
}

#[test]
fn bad_cluster_value_inherited_by_a_route_points_at_the_cluster() {
    let text = with_blocks(
        "        admission:\n          max_queue: 4\n",
        "    admission:\n      interval: 0ms\n",
    );
    let (line, column, key, _) = error_at(&text);
    assert_eq!(
        (line, column, key.as_str()),
        (13, 17, "clusters[0].admission.interval")
    );
}

#[test]
fn unknown_admission_key_is_rejected_with_its_location() {
    let text = with_blocks("        admission:\n          max_conncurrent: 8\n", "");
    let (line, column, key, message) = error_at(&text);
    assert_eq!(
        (line, column, key.as_str()),
        (8, 11, "listeners[0].routes[0].admission.max_conncurrent")
    );
    assert!(message.contains("unknown field"), "{message}");
}
