//! Tests of the hardening keys: listener limits against hostile clients
//! and the admin token source.

use std::time::Duration;

use super::*;

const MINIMAL: &str = "\
listeners:
  - name: ingress
    address: 127.0.0.1:8080
    routes:
      - name: default
        cluster: demo
clusters:
  - name: demo
    endpoints: [\"127.0.0.1:8081\"]
";

/// MINIMAL with `lines` (indented) under the listener.
fn with_listener(lines: &str) -> String {
    MINIMAL.replace(
        "    address: 127.0.0.1:8080\n",
        &format!("    address: 127.0.0.1:8080\n{lines}"),
    )
}

fn error_of(text: &str) -> ConfigError {
    parse(text, None).expect_err("invalid")
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
    let err = error_of(&with_listener("    max_connections: 0\n"));
    assert_eq!((err.line(), err.column()), (Some(4), Some(22)));
    assert_eq!(err.key(), Some("listeners[0].max_connections"));
    let err = error_of(&with_listener(
        "    http2:\n      max_pending_accept_reset_streams: 0\n",
    ));
    assert_eq!(
        err.key(),
        Some("listeners[0].http2.max_pending_accept_reset_streams")
    );
    let err = error_of(&with_listener("    http2:\n      max_streams: 1\n"));
    assert!(err.message().contains("max_streams"), "{err}");
}

fn with_admin(lines: &str) -> String {
    format!("admin:\n  address: 127.0.0.1:9901\n{lines}{MINIMAL}")
}

#[test]
fn admin_token_is_read_from_a_file_and_redacted() {
    let path = std::env::temp_dir().join(format!("seawall-token-{}", std::process::id()));
    std::fs::write(&path, "0123456789abcdef-token\n").unwrap();
    let config = parse(
        &with_admin(&format!("  token_file: {}\n", path.display())),
        None,
    )
    .unwrap();
    let _ = std::fs::remove_file(&path);
    let token = config.admin.token.as_ref().unwrap();
    assert_eq!(token.expose(), b"0123456789abcdef-token");
    assert!(!format!("{token:?}").contains("0123"));
    let json = serde_json::to_string(&config.admin).unwrap();
    assert!(
        json.contains("<redacted>") && !json.contains("0123"),
        "{json}"
    );
}

#[test]
fn admin_token_problems_are_located_errors() {
    let err = error_of(&with_admin("  token_file: /nonexistent/seawall-token\n"));
    assert_eq!(err.key(), Some("admin.token_file"));
    assert_eq!((err.line(), err.column()), (Some(3), Some(15)));
    let err = error_of(&with_admin(
        "  token_file: /x\n  token_env: SEAWALL_TEST_TOKEN\n",
    ));
    assert!(err.message().contains("not both"), "{err}");
    let err = error_of(&with_admin("  token_env: SEAWALL_TEST_SURELY_UNSET_VAR\n"));
    assert_eq!(err.key(), Some("admin.token_env"));
    let path = std::env::temp_dir().join(format!("seawall-short-{}", std::process::id()));
    std::fs::write(&path, "short\n").unwrap();
    let err = error_of(&with_admin(&format!("  token_file: {}\n", path.display())));
    let _ = std::fs::remove_file(&path);
    assert!(err.message().contains("at least 16"), "{err}");
}
