//! Property tests of config parsing: whatever the text, `parse` returns
//! (never panics), and every error says where it is.
//!
//! Two inputs: arbitrary text, and a valid file mutated with YAML-ish
//! fragments (indentation, anchors, flow collections, tags, odd scalars),
//! which reaches far deeper into validation than random bytes do. Case
//! counts are bounded so the suite runs in a second or two.

use proptest::prelude::*;

use crate::config::{ConfigError, parse};

const VALID: &str = "\
admin:
  address: 127.0.0.1:9901
listeners:
  - name: ingress
    address: 127.0.0.1:8080
    max_body_bytes: 1MiB
    http2:
      keepalive_interval: 5s
    routes:
      - name: default
        match:
          path_prefix: /api
          methods: [GET, POST]
        cluster: demo
clusters:
  - name: demo
    endpoints: [\"127.0.0.1:8081\"]
    timeouts:
      request: 2s
    admission:
      max_concurrent: 4
";

const FRAGMENTS: &[&str] = &[
    "\n",
    "  ",
    "    ",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "&a ",
    "*a",
    "!!str ",
    "!!int ",
    "~",
    "null",
    "0",
    "-1",
    "18446744073709551616",
    "1e9",
    "0x10",
    "5",
    "ms",
    "10MiB",
    "0s",
    "KiB",
    "name",
    "routes",
    "listeners",
    "clusters",
    "cluster",
    "address",
    "::1",
    "[::]:0",
    "#",
    "%",
    "@",
    "\t",
    "\r",
    "\r\n",
    "\u{feff}",
    "é",
    "? ",
    "|",
    ">",
    "---\n",
    "...\n",
    "<<: *a\n",
];

fn check(text: &str) {
    if let Err(err) = parse(text, None) {
        prop_assert_located(&err, text);
    }
}

fn prop_assert_located(err: &ConfigError, text: &str) {
    assert!(
        err.line().is_some_and(|l| l > 0) && err.column().is_some_and(|c| c > 0),
        "error without a location: {err}\n--- input ---\n{text}"
    );
}

/// `VALID` with fragments inserted at, and ranges deleted from, arbitrary
/// (char-boundary) places.
fn mutated() -> impl Strategy<Value = String> {
    let edit = (any::<prop::sample::Index>(), 0..FRAGMENTS.len(), 0usize..6);
    prop::collection::vec(edit, 1..6).prop_map(|edits| {
        let mut text = VALID.to_owned();
        for (at, fragment, delete) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            let mut end = (i + delete).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(i..end, FRAGMENTS[fragment]);
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_and_errors_are_located(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn mutated_valid_files_never_panic_and_errors_are_located(text in mutated()) {
        check(&text);
    }
}

#[test]
fn the_unmutated_file_is_valid() {
    parse(VALID, None).unwrap();
}
