//! Tests of duration parsing and formatting.

use std::time::Duration;

use crate::config::duration::{format, parse};

#[test]
fn parses_common_forms() {
    assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
    assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse("100us"), Ok(Duration::from_micros(100)));
    assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
}

#[test]
fn rejects_bare_numbers_and_unknown_units() {
    assert!(parse("5").unwrap_err().contains("no unit"));
    assert!(parse("5 parsecs").is_err());
    assert!(parse("ms").is_err());
    assert!(parse("").is_err());
    assert!(parse("-1s").is_err());
}

#[test]
fn format_round_trips() {
    for s in ["250ms", "2s", "1m30s", "1h", "100us", "0s", "7ns"] {
        assert_eq!(format(parse(s).unwrap()), s);
    }
}
