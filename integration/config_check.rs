//! `seawall check` as an operator runs it: every error of a file in one
//! run, each located, exit code 64.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::process::Command;

use common::{TempDir, seawall_bin};

/// Runs `seawall check` on `yaml` (written as `name` in a fresh directory);
/// returns the exit code and stderr.
fn check(name: &str, yaml: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = TempDir::new("check");
    let path = dir.0.join(name);
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(seawall_bin())
        .arg("check")
        .arg(&path)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_lists_every_error_of_a_file_with_its_location() {
    let yaml = "\
listeners:
  - name: ingress
    address: 127.0.0.1:0
    routes:
      - name: r
        cluster: nope
clusters:
  - name: app
    endpoints: [\"127.0.0.1:1\"]
    connect_timeout: 0s
    retry:
      on: [sometimes]
";
    let (code, err) = check("many.yaml", yaml, &[]);
    assert_eq!(code, Some(64), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("error: ")
            && lines[0].contains("many.yaml:6:18: listeners[0].routes[0].cluster: unknown cluster"),
        "{err}"
    );
    assert!(
        lines[1].contains("many.yaml:10:22: clusters[0].connect_timeout:"),
        "{err}"
    );
    assert!(
        lines[2].contains("many.yaml:12:12: clusters[0].retry.on[0]:"),
        "{err}"
    );
    assert!(lines[3].ends_with("many.yaml: 3 errors"), "{err}");
}

const WITH_VARIABLES: &str = "\
listeners:
  - name: ingress
    address: 127.0.0.1:${SW_TEST_PORT:-0}
    routes:
      - name: r
        cluster: app
clusters:
  - name: app
    endpoints: [\"${SW_TEST_UPSTREAM}\"]
";

#[test]
fn check_substitutes_environment_variables_and_locates_an_unset_one() {
    let (code, err) = check(
        "env.yaml",
        WITH_VARIABLES,
        &[("SW_TEST_UPSTREAM", "127.0.0.1:1")],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = check("env.yaml", WITH_VARIABLES, &[]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("env.yaml:9:18: clusters[0].endpoints: environment variable `SW_TEST_UPSTREAM` is not set"),
        "{err}"
    );
    // A value that substitutes into a bad setting is reported where the
    // reference is written.
    let (code, err) = check(
        "env.yaml",
        WITH_VARIABLES,
        &[
            ("SW_TEST_UPSTREAM", "127.0.0.1:1"),
            ("SW_TEST_PORT", "http"),
        ],
    );
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("env.yaml:3:14: listeners[0].address:"),
        "{err}"
    );
}
