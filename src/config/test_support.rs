//! Fixtures shared by the config tests.

use super::parse;

/// A valid file; tests break or extend one thing at a time.
pub(super) const MINIMAL: &str = "\
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

/// Parses `text`, which must be invalid, into (line, column, key, message).
pub(super) fn located(text: &str) -> (u32, u32, String, String) {
    let err = parse(text, None).expect_err("expected a config error");
    (
        err.line().unwrap_or(0),
        err.column().unwrap_or(0),
        err.key().unwrap_or("").to_owned(),
        err.message().to_owned(),
    )
}
