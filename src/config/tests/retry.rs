//! Tests of the `retry:` keys: defaults, route overrides key by key, and
//! located errors.

use std::time::Duration;

use super::support::{located, with_blocks};
use crate::config::{Config, ConfigError, RetryBudgetSettings, RetryOn, RetryPolicy, parse};

fn with(route: &str, cluster: &str) -> Result<Config, ConfigError> {
    parse(&with_blocks(route, cluster), None)
}

fn err(route: &str, cluster: &str) -> (u32, u32, String, String) {
    located(&with_blocks(route, cluster))
}

#[test]
fn retries_are_on_by_default_with_a_budget() {
    let c = with("", "").unwrap();
    let cluster = &c.clusters[0].retry;
    assert!(cluster.policy.enabled);
    assert_eq!(cluster.policy.max_attempts.get(), 3);
    assert_eq!(cluster.policy.on, RetryOn::ALL);
    assert_eq!(cluster.policy.statuses, [503]);
    assert_eq!(cluster.policy.backoff_base, Duration::from_millis(25));
    assert_eq!(cluster.policy.backoff_max, Duration::from_millis(250));
    assert_eq!(cluster.policy.replay_buffer, 64 << 10);
    assert!((cluster.budget.ratio - 0.2).abs() < 1e-12);
    assert_eq!(cluster.budget.min_per_second, 10);
    assert_eq!(cluster.budget.ttl, Duration::from_secs(10));
    assert_eq!(cluster.budget, RetryBudgetSettings::default());
    assert_eq!(cluster.policy, RetryPolicy::default());
    assert_eq!(c.listeners[0].routes[0].retry, cluster.policy);
}

#[test]
fn route_overrides_cluster_key_by_key() {
    let c = with(
        "        retry: { max_attempts: 2, backoff: { base: 10ms } }\n",
        "    retry:
      statuses: [502, 503, 429]
      on: [connect-failure]
      backoff: { max: 1s }
      replay_buffer: 1KiB
      budget: { ratio: 10%, min_per_second: 1, ttl: 5s, max_concurrent: 7 }
",
    )
    .unwrap();
    let r = &c.listeners[0].routes[0].retry;
    assert_eq!(r.max_attempts.get(), 2);
    assert_eq!(r.statuses, [502, 503, 429]);
    assert_eq!(r.on, [RetryOn::ConnectFailure]);
    assert_eq!(r.backoff_base, Duration::from_millis(10));
    assert_eq!(r.backoff_max, Duration::from_secs(1));
    assert_eq!(r.replay_buffer, 1024);
    let b = &c.clusters[0].retry.budget;
    assert!((b.ratio - 0.1).abs() < 1e-12);
    assert_eq!((b.min_per_second, b.ttl), (1, Duration::from_secs(5)));
    assert_eq!(b.max_concurrent.get(), 7);
    assert_eq!(c.clusters[0].retry.policy.max_attempts.get(), 3);
}

#[test]
fn disabled_policy_never_retries() {
    let c = with("        retry: { enabled: false }\n", "").unwrap();
    assert!(!c.listeners[0].routes[0].retry.retries());
    let c = with("", "    retry: { max_attempts: 1 }\n").unwrap();
    assert!(!c.clusters[0].retry.policy.retries());
}

#[test]
fn unknown_condition_is_located() {
    let (line, col, key, msg) = err("", "    retry: { on: [reset, 5xx] }\n");
    assert_eq!((line, col), (10, 26));
    assert_eq!(key, "clusters[0].retry.on[1]");
    assert!(msg.contains("unknown retry condition `5xx`"), "{msg}");
}

#[test]
fn budget_on_a_route_is_refused() {
    let (line, _, key, msg) = err("        retry: { budget: { ratio: 0.5 } }\n", "");
    assert_eq!(line, 7);
    assert_eq!(key, "listeners[0].routes[0].retry.budget");
    assert!(msg.contains("cluster's `retry:` block"), "{msg}");
}

#[test]
fn bad_values_are_refused_with_their_key() {
    for (cluster, key, needle) in [
        (
            "    retry: { max_attempts: 0 }\n",
            "clusters[0].retry.max_attempts",
            "between 1",
        ),
        (
            "    retry: { max_attempts: 11 }\n",
            "clusters[0].retry.max_attempts",
            "between 1",
        ),
        (
            "    retry: { statuses: [404] }\n",
            "clusters[0].retry.statuses[0]",
            "cannot be retried",
        ),
        (
            "    retry: { backoff: { base: 100ms, max: 50ms } }\n",
            "clusters[0].retry.backoff.max",
            "at least",
        ),
        (
            "    retry: { budget: { ratio: 1.5 } }\n",
            "clusters[0].retry.budget.ratio",
            "outside",
        ),
        (
            "    retry: { budget: { ttl: 90s } }\n",
            "clusters[0].retry.budget.ttl",
            "between 1s",
        ),
        (
            "    retry: { budget: { max_concurrent: 0 } }\n",
            "clusters[0].retry.budget.max_concurrent",
            "at least 1",
        ),
    ] {
        let (line, _, k, msg) = err("", cluster);
        assert_eq!(line, 10, "{cluster}");
        assert_eq!(k, key, "{cluster}");
        assert!(msg.contains(needle), "{cluster}: {msg}");
    }
}

#[test]
fn misspelt_key_is_an_error() {
    let e = with("", "    retry: { max_attempt: 2 }\n").expect_err("typo");
    assert_eq!(e.line(), Some(10));
    assert!(e.message().contains("max_attempt"), "{}", e.message());
}
