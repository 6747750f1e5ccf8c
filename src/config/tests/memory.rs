//! Tests of the `memory:` block.

use super::support::{MINIMAL, at, error_of};
use crate::config::parse;

#[test]
fn memory_release_is_on_by_default_and_can_be_turned_off() {
    assert!(parse(MINIMAL, None).unwrap().memory.release_when_idle);
    let off = format!("memory:\n  release_when_idle: false\n{MINIMAL}");
    assert!(!parse(&off, None).unwrap().memory.release_when_idle);
    let bad = format!("memory:\n  release_when_idle: maybe\n{MINIMAL}");
    assert_eq!(error_of(&bad).1, at(2, 22, "memory.release_when_idle"));
    let unknown = format!("memory:\n  release_when: true\n{MINIMAL}");
    assert_eq!(error_of(&unknown).1, at(2, 3, "memory.release_when"));
}
