//! Tests of the `log:` block.

use super::support::{MINIMAL, at, error_of};

#[test]
fn invalid_log_level_is_rejected() {
    let (_, pos) = error_of(&format!("log:\n  level: \"seawall=[\"\n{MINIMAL}"));
    assert_eq!(pos, at(2, 10, "log.level"));
}
