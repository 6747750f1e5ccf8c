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

/// MINIMAL with `line` (indented) under the listener.
fn with_listener_line(line: &str) -> String {
    MINIMAL.replace("    routes:", &format!("    {line}\n    routes:"))
}

#[test]
fn negative_number_says_it_is_negative_and_what_is_accepted() {
    let (err, pos) = error_of(&with_listener_line("max_connections: -1"));
    assert_eq!(pos, at(4, 22, "listeners[0].max_connections"));
    assert_eq!(
        err.message(),
        "`-1` is negative; write a whole number from 0 to 18446744073709551615"
    );
    let (err, pos) = error_of(&format!("{MINIMAL}    failure_statuses: [-1]\n"));
    assert_eq!(pos, at(10, 24, "clusters[0].failure_statuses[0]"));
    assert!(err.message().contains("from 0 to 65535"), "{err}");
}

#[test]
fn number_of_the_wrong_type_or_size_says_what_was_found() {
    let (err, pos) = error_of(&with_listener_line("max_concurrent_streams: lots"));
    assert_eq!(pos, at(4, 29, "listeners[0].max_concurrent_streams"));
    assert_eq!(
        err.message(),
        "`lots` is not a whole number; write one from 0 to 4294967295"
    );
    let (err, _) = error_of(&with_listener_line("max_concurrent_streams: 1.5"));
    assert!(
        err.message().starts_with("`1.5` is not a whole number"),
        "{err}"
    );
    let (err, _) = error_of(&with_listener_line("max_concurrent_streams: 99999999999"));
    assert_eq!(
        err.message(),
        "`99999999999` is too large; write a whole number from 0 to 4294967295"
    );
}

#[test]
fn boolean_of_the_wrong_type_says_what_was_found() {
    let (err, pos) = error_of(&format!("{MINIMAL}log:\n  access_log: maybe # comment\n"));
    assert_eq!(pos, at(11, 15, "log.access_log"));
    assert_eq!(
        err.message(),
        "`maybe` is not a boolean; write `true` or `false`"
    );
}

#[test]
fn key_indented_one_space_too_deep_is_named_with_both_columns() {
    let text = MINIMAL.replace("    address:", "     address:");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(3, 13, "listeners[0].address"));
    assert!(
        err.message().contains(
            "check the indentation: `address` starts in column 6, `name` on line 2 in column 5"
        ),
        "{err}"
    );
    let text = MINIMAL.replace("        cluster: demo", "         cluster: demo");
    assert_eq!(
        error_of(&text).1,
        at(6, 17, "listeners[0].routes[0].cluster")
    );
}

#[test]
fn key_indented_one_space_too_shallow_is_an_indentation_error_not_a_missing_field() {
    let text = MINIMAL.replace("    endpoints:", "   endpoints:");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(9, 4, "clusters[0].endpoints"));
    assert!(!err.message().contains("missing field"), "{err}");
    assert!(
        err.message().contains(
            "check the indentation: `endpoints` starts in column 4, `name` on line 8 in column 5"
        ),
        "{err}"
    );
}

#[test]
fn second_entry_without_its_dash_is_not_called_a_duplicate_mapping_key() {
    // A second cluster whose `- ` was forgotten reads as the first cluster
    // setting `name` again.
    let text = format!("{MINIMAL}    name: api\n    endpoints: [\"b:1\"]\n");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(10, 5, "clusters[0].name"));
    assert_eq!(
        err.message(),
        "duplicate key `name` (first set on line 8); if line 10 starts another entry of `clusters`, begin it with `- `"
    );
}

#[test]
fn duplicate_key_names_the_line_of_the_first() {
    let text = MINIMAL.replace("    routes:", "    address: 127.0.0.1:8082\n    routes:");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(4, 5, "listeners[0].address"));
    assert_eq!(
        err.message(),
        "duplicate key `address` (first set on line 3); a key appears once in a mapping"
    );
}
