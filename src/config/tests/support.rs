//! The fixture every config test starts from, and the helpers that read an
//! error's location.

use crate::config::{ConfigError, parse};

/// A valid file; tests break or extend one thing at a time. Lines: 1
/// `listeners:`, 2-3 the listener, 4-6 its route, 7 `clusters:`, 8-9 the
/// cluster.
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

/// MINIMAL with `route` lines after the route (already indented: 8 spaces
/// for the route's keys, 4 for the listener's) and `cluster` lines after the
/// cluster (4 spaces for its keys).
pub(super) fn with_blocks(route: &str, cluster: &str) -> String {
    MINIMAL.replace(
        "        cluster: demo\n",
        &format!("        cluster: demo\n{route}"),
    ) + cluster
}

/// An error as (line, column, key, message), 0 and "" where it has none.
pub(super) fn fields(err: &ConfigError) -> (u32, u32, String, String) {
    (
        err.line().unwrap_or(0),
        err.column().unwrap_or(0),
        err.key().unwrap_or("").to_owned(),
        err.message().to_owned(),
    )
}

/// Parses `text`, which must be invalid, into (line, column, key, message).
pub(super) fn located(text: &str) -> (u32, u32, String, String) {
    fields(&parse(text, None).expect_err("expected a config error"))
}

/// Parses `text` expecting an error; returns it with its (line, column, key).
pub(super) fn error_of(text: &str) -> (ConfigError, (u32, u32, String)) {
    let err = match parse(text, None) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(err) => err,
    };
    let at = (
        err.line().unwrap_or(0),
        err.column().unwrap_or(0),
        err.key().unwrap_or("").to_owned(),
    );
    (err, at)
}

/// A (line, column, key) triple, to compare with [`error_of`]'s.
pub(super) fn at(line: u32, column: u32, key: &str) -> (u32, u32, String) {
    (line, column, key.to_owned())
}
