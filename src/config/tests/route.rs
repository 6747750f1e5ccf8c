//! Tests of routes: names, the cluster reference, and the `match:` block.

use super::support::{MINIMAL, at, error_of};
use crate::config::parse;

#[test]
fn duplicate_route_name_within_a_listener_is_rejected() {
    let text = MINIMAL.replace(
        "        cluster: demo\n",
        "        cluster: demo\n      - name: default\n        cluster: demo\n",
    );
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(7, 15, "listeners[0].routes[1].name"));
    assert!(err.message().contains("duplicate route name"), "{err}");
}

#[test]
fn unknown_cluster_reference_names_known_clusters() {
    let text = format!("{MINIMAL}  - name: api\n    endpoints: [\"b:1\"]\n")
        .replace("cluster: demo", "cluster: foo");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(6, 18, "listeners[0].routes[0].cluster"));
    assert_eq!(
        err.message(),
        "unknown cluster \"foo\" (known clusters: demo, api)"
    );
}

/// MINIMAL with a `match:` section in its route.
fn with_match(lines: &str) -> String {
    MINIMAL.replace(
        "        cluster: demo",
        &format!("        match:\n{lines}        cluster: demo"),
    )
}

#[test]
fn path_prefix_must_start_with_slash() {
    let (err, pos) = error_of(&with_match("          path_prefix: api\n"));
    assert_eq!(pos, at(7, 24, "listeners[0].routes[0].match.path_prefix"));
    assert!(err.message().contains("must start with `/`"), "{err}");
}

#[test]
fn invalid_method_token_is_rejected() {
    let (err, pos) = error_of(&with_match("          methods: [GET, \"BAD METHOD\"]\n"));
    assert_eq!(pos, at(7, 26, "listeners[0].routes[0].match.methods[1]"));
    assert!(err.message().contains("not a valid HTTP method"), "{err}");
    let (err, _) = error_of(&with_match("          methods: [get]\n"));
    assert!(err.message().contains("write `GET`"), "{err}");
}

#[test]
fn host_with_port_or_bad_characters_is_rejected() {
    let (err, pos) = error_of(&with_match("          host: api.example.com:443\n"));
    assert_eq!(pos, at(7, 17, "listeners[0].routes[0].match.host"));
    assert!(err.message().contains("includes a port"), "{err}");
    let (err, _) = error_of(&with_match("          host: api/example.com\n"));
    assert!(err.message().contains("not allowed"), "{err}");
    let (err, _) = error_of(&with_match("          host: a.*.example.com\n"));
    assert!(err.message().contains("not allowed"), "{err}");
}

#[test]
fn host_is_lower_cased() {
    let config = parse(&with_match("          host: \"*.Example.COM\"\n"), None).unwrap();
    assert_eq!(
        config.listeners[0].routes[0].host.as_deref(),
        Some("*.example.com")
    );
}

#[test]
fn route_priority_and_the_listeners_trust_flag_are_read_and_bad_values_located() {
    use crate::config::RoutePriority;
    let config = parse(MINIMAL, None).unwrap();
    assert_eq!(
        config.listeners[0].routes[0].priority,
        RoutePriority::Default
    );
    assert!(!config.listeners[0].limits.trust_priority_header);
    let text = MINIMAL
        .replace(
            "        cluster: demo\n",
            "        cluster: demo\n        priority: critical\n",
        )
        .replace(
            "    address: 127.0.0.1:8080\n",
            "    address: 127.0.0.1:8080\n    trust_priority_header: true\n",
        );
    let config = parse(&text, None).unwrap();
    assert_eq!(
        config.listeners[0].routes[0].priority,
        RoutePriority::Critical
    );
    assert!(config.listeners[0].limits.trust_priority_header);
    let bad = MINIMAL.replace(
        "        cluster: demo\n",
        "        cluster: demo\n        priority: urgent\n",
    );
    let (err, pos) = error_of(&bad);
    assert_eq!(pos.0, 7, "{err}");
    assert!(err.to_string().contains("priority"), "{err}");
}
