//! Tests of listeners: names and addresses, size limits, and the hardening
//! keys (limits against hostile clients).

use std::time::Duration;

use super::support::{MINIMAL, at, error_of};
use crate::config::parse;

#[test]
fn duplicate_listener_name_is_rejected() {
    let second =
        "  - name: ingress\n    address: 127.0.0.1:8090\n    routes: [{name: r, cluster: demo}]\n";
    let text = MINIMAL.replace("clusters:", &format!("{second}clusters:"));
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(7, 11, "listeners[1].name"));
    assert!(
        err.message()
            .contains("duplicate listener name \"ingress\" (first defined at line 2)"),
        "{err}"
    );
}

#[test]
fn duplicate_listener_address_is_rejected() {
    let second =
        "  - name: other\n    address: 127.0.0.1:8080\n    routes: [{name: r, cluster: demo}]\n";
    let text = MINIMAL.replace("clusters:", &format!("{second}clusters:"));
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(8, 14, "listeners[1].address"));
    assert!(
        err.message().contains("duplicate listener address"),
        "{err}"
    );
}

#[test]
fn listener_on_the_admin_address_is_rejected() {
    let text = MINIMAL.replace("127.0.0.1:8080", "127.0.0.1:9901");
    assert_eq!(error_of(&text).1, at(3, 14, "listeners[0].address"));
}

#[test]
fn port_zero_never_clashes_with_admin_or_another_listener() {
    let text = format!(
        "admin:\n  address: 127.0.0.1:0\n{}",
        MINIMAL.replace("8080", "0")
    );
    assert!(parse(&text, None).is_ok());
}

#[test]
fn no_listeners_is_rejected() {
    let (err, pos) =
        error_of("listeners: []\nclusters:\n  - name: demo\n    endpoints: [\"a:1\"]\n");
    assert_eq!(pos, at(1, 12, "listeners"));
    assert!(err.message().contains("at least one listener"), "{err}");
}

#[test]
fn sizes_accept_integers_and_units() {
    let text = MINIMAL.replace(
        "    routes:",
        "    max_header_bytes: 2048\n    max_body_bytes: 1 MB\n    routes:",
    );
    let limits = parse(&text, None).unwrap().listeners[0].limits.clone();
    assert_eq!(limits.max_header_bytes.get(), 2048);
    assert_eq!(limits.max_body_bytes, 1_000_000);
}

#[test]
fn bad_or_zero_sizes_are_rejected() {
    let cases = [
        ("max_body_bytes: 10 parsecs", "unknown size unit"),
        ("max_body_bytes: 0", "greater than zero"),
        ("max_body_bytes: lots", "not a size"),
        ("max_header_bytes: 512B", "at least 1KiB"),
    ];
    for (line, why) in cases {
        let text = MINIMAL.replace("    routes:", &format!("    {line}\n    routes:"));
        let (err, pos) = error_of(&text);
        let key = line.split(':').next().unwrap_or_default();
        let column = u32::try_from(key.len()).unwrap() + 7;
        assert_eq!(pos, at(4, column, &format!("listeners[0].{key}")), "{line}");
        assert!(err.message().contains(why), "{line}: {err}");
    }
}

/// MINIMAL with `lines` (indented) under the listener.
fn with_listener(lines: &str) -> String {
    MINIMAL.replace(
        "    address: 127.0.0.1:8080\n",
        &format!("    address: 127.0.0.1:8080\n{lines}"),
    )
}

#[test]
fn hardening_defaults_are_safe() {
    let config = parse(MINIMAL, None).unwrap();
    let limits = &config.listeners[0].limits;
    assert_eq!(limits.max_uri_bytes, 8 << 10);
    assert_eq!(limits.request_buffer_bytes, 16 << 10);
    assert_eq!(limits.max_connections, 10_000);
    assert_eq!(limits.http2.max_pending_accept_reset_streams, 20);
    assert_eq!(limits.http2.keepalive_timeout, Duration::from_secs(10));
    assert!(config.admin.token.is_none());
}

#[test]
fn hardening_keys_are_read() {
    let text = with_listener(
        "    max_uri_bytes: 2KiB\n    max_connections: 5\n    http2:\n      max_send_buf_size: 64KiB\n      keepalive_interval: 5s\n",
    );
    let limits = parse(&text, None).unwrap().listeners[0].limits.clone();
    assert_eq!(limits.max_uri_bytes, 2048);
    assert_eq!(limits.max_connections, 5);
    assert_eq!(limits.http2.max_send_buf_size, 64 << 10);
    assert_eq!(limits.http2.keepalive_interval, Duration::from_secs(5));
}

#[test]
fn zero_limits_are_errors_at_their_value() {
    let err = error_of(&with_listener("    max_connections: 0\n")).0;
    assert_eq!((err.line(), err.column()), (Some(4), Some(22)));
    assert_eq!(err.key(), Some("listeners[0].max_connections"));
    let err = error_of(&with_listener(
        "    http2:\n      max_pending_accept_reset_streams: 0\n",
    ))
    .0;
    assert_eq!(
        err.key(),
        Some("listeners[0].http2.max_pending_accept_reset_streams")
    );
    let err = error_of(&with_listener("    http2:\n      max_streams: 1\n")).0;
    assert!(err.message().contains("max_streams"), "{err}");
}
