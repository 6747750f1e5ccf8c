//! `${VAR}` / `${VAR:-default}` substitution: values come from the
//! environment, an unset variable is a located error, `$${` is a literal
//! `${`, comments are left alone, and errors found after substitution
//! point at the original columns.

use super::support::{MINIMAL, fields};
use crate::config::{Config, ConfigError, parse_with_env};

/// A fixed environment: `PORT=9090`, `EMPTY=` and `LONG` (a long value).
fn lookup(name: &str) -> Option<String> {
    match name {
        "PORT" => Some("9090".into()),
        "EMPTY" => Some(String::new()),
        "LONG" => Some("a-rather-long-value".into()),
        "BROKEN" => Some("two\nlines".into()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    parse_with_env(text, None, lookup)
}

fn errors(text: &str) -> Vec<(u32, u32, String, String)> {
    parse(text)
        .expect_err("expected errors")
        .iter()
        .map(fields)
        .collect()
}

#[test]
fn values_come_from_the_environment_or_the_default() {
    let text = MINIMAL
        .replace("127.0.0.1:8080", "127.0.0.1:${PORT}")
        .replace(
            "127.0.0.1:8081",
            "${UPSTREAM_HOST:-10.0.0.7}:${EMPTY:-8082}",
        );
    let config = parse(&text).expect("valid after substitution");
    assert_eq!(config.listeners[0].address.port(), 9090);
    assert_eq!(
        format!("{:?}", config.clusters[0].endpoints[0]),
        format!(
            "{:?}",
            crate::config::parse(&MINIMAL.replace("127.0.0.1:8081", "10.0.0.7:8082"), None)
                .unwrap()
                .clusters[0]
                .endpoints[0]
        )
    );
}

#[test]
fn an_unset_variable_is_an_error_at_its_reference_with_its_key() {
    let text = MINIMAL.replace("127.0.0.1:8080", "127.0.0.1:${NOPE}");
    let all = errors(&text);
    assert_eq!(all.len(), 1, "{all:#?}");
    let (line, column, key, message) = &all[0];
    assert_eq!(
        (*line, *column, key.as_str()),
        (3, 24, "listeners[0].address")
    );
    assert!(
        message.contains("`NOPE` is not set") && message.contains("${NOPE:-"),
        "{message}"
    );
}

#[test]
fn bad_references_are_all_reported() {
    let text = MINIMAL
        .replace("name: ingress", "name: ${1X}")
        .replace("name: default", "name: ${BROKEN}")
        .replace("cluster: demo\n", "cluster: ${demo\n");
    let all = errors(&text);
    let at: Vec<(u32, u32)> = all.iter().map(|(l, c, _, _)| (*l, *c)).collect();
    assert_eq!(at, [(2, 11), (5, 15), (6, 18)], "{all:#?}");
    assert!(
        all[0].3.contains("not an environment variable name"),
        "{all:#?}"
    );
    assert!(all[1].3.contains("line break"), "{all:#?}");
    assert!(all[2].3.contains("not closed"), "{all:#?}");
}

#[test]
fn errors_after_substitution_point_at_the_original_columns() {
    // `${LONG}` (7 characters) becomes 19: the bad duration after it is
    // still reported where the operator wrote it.
    let text = MINIMAL.to_owned() + "    balance: {policy: \"${LONG}\", decay: 5s}\n";
    let all = errors(&text);
    assert!(
        all[0].3.contains("unknown variant") || all[0].3.contains("a-rather-long-value"),
        "{all:#?}"
    );
    // The scalar starts at its quote, before the substitution.
    assert_eq!((all[0].0, all[0].1), (10, 23), "{all:#?}");
    // `${EMPTY:-round_robin}` (21 characters) becomes 11: the error after
    // it keeps its original column.
    let text = MINIMAL.to_owned() + "    balance: {policy: \"${EMPTY:-round_robin}\", decay: 5s}\n";
    let all = errors(&text);
    assert_eq!(
        (all[0].0, all[0].1, all[0].2.as_str()),
        (10, 55, "clusters[0].balance.decay"),
        "{all:#?}"
    );
    let text = MINIMAL.to_owned() + "    balance: {default_rtt: ${LONG}}\n";
    let all = errors(&text);
    assert_eq!(
        (all[0].0, all[0].1, all[0].2.as_str()),
        (10, 28, "clusters[0].balance.default_rtt"),
        "{all:#?}"
    );
}

#[test]
fn dollar_dollar_is_a_literal_and_comments_are_left_alone() {
    let text = format!(
        "# set ${{UNSET}} here\n{}",
        MINIMAL.replace("name: default", "name: default # ${ALSO_UNSET}")
    );
    assert!(parse(&text).is_ok(), "comments are not substituted");
    // `$${` is a literal `${`: a route name with it is then refused by the
    // name check, at the `$$`.
    let text = MINIMAL.replace("name: default", "name: a$${B}");
    let all = errors(&text);
    assert_eq!((all[0].0, all[0].1), (5, 15), "{all:#?}");
    assert!(all[0].3.contains("\"a${B}\""), "{all:#?}");
}
