//! Tests of errors that serde or the YAML parser reports, beyond the basic
//! kinds in `parse`: each names the key path, line and column an operator
//! has to fix, with a message that says what is wrong.

use super::support::{MINIMAL, at, error_of};

#[test]
fn missing_field_after_other_keys_is_reported_at_its_mapping() {
    let text = format!("{MINIMAL}  - name: other\n    protocol: http2\n");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(10, 5, "clusters[1]"));
    assert!(err.message().contains("missing field `endpoints`"), "{err}");
    let text = MINIMAL.replace("    address: 127.0.0.1:8080\n", "");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(2, 5, "listeners[0]"));
    assert!(err.message().contains("missing field `address`"), "{err}");
}

#[test]
fn missing_top_level_section_is_named() {
    let text = MINIMAL.replace(
        "clusters:\n  - name: demo\n    endpoints: [\"127.0.0.1:8081\"]\n",
        "",
    );
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(1, 1, "clusters"));
    assert!(err.message().contains("missing field `clusters`"), "{err}");
}
