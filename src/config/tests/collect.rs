//! One run reports every error of a file, each located, in file order:
//! the type errors and unknown keys of reading it, or, when it reads
//! cleanly, the semantic ones; an error that causes others is reported
//! once.

use super::support::{MINIMAL, fields};
use crate::config::parse_all;

/// (line, column, key, message) of each error of `text`, which must be
/// invalid.
fn all(text: &str) -> Vec<(u32, u32, String, String)> {
    let errors = parse_all(text, None).expect_err("expected config errors");
    errors.iter().map(fields).collect()
}

/// A file with an error of each kind, at known places.
const EVERY_KIND: &str = "\
log:
  level: loud
listeners:
  - name: ingress
    address: 127.0.0.1:99999
    routes:
      - name: default
        cluster: nope
      - name: default
        cluster: demo
clusters:
  - name: demo
    endpoints: [\"127.0.0.1:8081\"]
    connect_timeout: 0s
    balance: {policy: round_robin, decay: 5s}
  - name: demo
    endpoints: []
";

/// (line, column, key) of each of `errors`.
fn places(errors: &[(u32, u32, String, String)]) -> Vec<(u32, u32, &str)> {
    errors
        .iter()
        .map(|(l, c, k, _)| (*l, *c, k.as_str()))
        .collect()
}

#[test]
fn lists_every_error_of_a_file_in_file_order() {
    let errors = all(EVERY_KIND);
    let located = places(&errors);
    assert_eq!(
        located,
        [
            (2, 10, "log.level"),
            (5, 14, "listeners[0].address"),
            (8, 18, "listeners[0].routes[0].cluster"),
            (9, 15, "listeners[0].routes[1].name"),
            (14, 22, "clusters[0].connect_timeout"),
            (15, 43, "clusters[0].balance.decay"),
            (16, 11, "clusters[1].name"),
            (17, 16, "clusters[1].endpoints"),
        ],
        "{errors:#?}"
    );
    assert!(errors[2].3.contains("unknown cluster"), "{errors:#?}");
    assert!(
        errors[6].3.contains("duplicate cluster name"),
        "{errors:#?}"
    );
}

#[test]
fn line_ends_of_windows_and_old_macs_give_the_same_lines_as_unix_ones() {
    for file in [EVERY_KIND, READ_ERRORS] {
        let unix = all(file);
        for end in ["\r\n", "\r"] {
            let text = file.replace('\n', end);
            assert_eq!(all(&text), unix, "line end {end:?}");
        }
    }
}

#[test]
fn a_cause_is_reported_once_not_again_through_what_depends_on_it() {
    // A bad endpoint makes the cluster's TLS uncheckable: one error, not two.
    let text = MINIMAL.replace("127.0.0.1:8081", "127.0.0.1") + "    tls: {}\n";
    let errors = all(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].2, "clusters[0].endpoints[0]");
}

#[test]
fn a_valid_file_and_a_yaml_error_are_unchanged() {
    assert!(parse_all(MINIMAL, None).is_ok());
    // A syntax error stops reading: it comes alone.
    let errors = all("listeners: [oops\n");
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

/// A file that reads with type errors and unknown keys, at known places.
const READ_ERRORS: &str = "\
admin:
  adress: 127.0.0.1:9901
log:
  access_log: maybe
listeners:
  - name: ingress
    address: 127.0.0.1:8080
    max_connections: -5
    routes:
      - name: default
        match: { path_prefix: / }
        cluster: demo
clusters:
  - name: demo
    endpoints: [\"127.0.0.1:8081\"]
    outlier:
      consecutive_failures: many
      interval: 10s
    retry: { max_attempts: 3, budget: { ratio: 0.2 }, colour: blue }
";

/// serde stops at the first value it cannot take; each such entry is
/// blanked and the file read again, so every one is listed.
#[test]
fn type_errors_and_unknown_keys_are_listed_together_in_file_order() {
    let errors = all(READ_ERRORS);
    let located = places(&errors);
    assert_eq!(
        located,
        [
            (2, 3, "admin.adress"),
            (4, 15, "log.access_log"),
            (8, 22, "listeners[0].max_connections"),
            (17, 29, "clusters[0].outlier.consecutive_failures"),
            // Not an outlier key either.
            (18, 7, "clusters[0].outlier.interval"),
            (19, 55, "clusters[0].retry.colour"),
        ],
        "{errors:#?}"
    );
}

#[test]
fn a_wrong_type_in_a_required_key_is_reported_once_not_again_as_missing() {
    let text = MINIMAL.replace("[\"127.0.0.1:8081\"]", "{ not: a list }");
    let errors = all(&text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].2, "clusters[0].endpoints");
}
