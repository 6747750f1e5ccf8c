//! Tests of the `log:` block.

use super::support::{MINIMAL, at, error_of};
use crate::config::parse;

#[test]
fn invalid_log_level_is_rejected() {
    let (_, pos) = error_of(&format!("log:\n  level: \"seawall=[\"\n{MINIMAL}"));
    assert_eq!(pos, at(2, 10, "log.level"));
}

/// The filter the running program builds from the validated level (as
/// `telemetry::init` does), and the most verbose level it lets through.
fn max_level(level: &str) -> Option<tracing::level_filters::LevelFilter> {
    tracing_subscriber::EnvFilter::try_new(level)
        .unwrap()
        .max_level_hint()
}

#[test]
fn warning_is_read_as_warn_so_the_program_logs_warnings() {
    let config = parse(&format!("log:\n  level: warning\n{MINIMAL}"), None).unwrap();
    assert_eq!(config.log.level, "warn");
    assert_eq!(
        max_level(&config.log.level),
        Some(tracing::level_filters::LevelFilter::WARN)
    );
    let config = parse(
        &format!("log:\n  level: WARNING,seawall=Warning\n{MINIMAL}"),
        None,
    )
    .unwrap();
    assert_eq!(config.log.level, "warn,seawall=warn");
}

#[test]
fn a_word_that_is_not_a_level_is_rejected_at_its_value() {
    let (err, pos) = error_of(&format!("log:\n  level: verbose\n{MINIMAL}"));
    assert_eq!(pos, at(2, 10, "log.level"));
    assert!(
        err.message().contains("`verbose` is not a log level"),
        "{err}"
    );
    let (err, _) = error_of(&format!("log:\n  level: \"info,debg\"\n{MINIMAL}"));
    assert!(err.message().contains("`debg` is not a log level"), "{err}");
    let (err, _) = error_of(&format!("log:\n  level: \" \"\n{MINIMAL}"));
    assert!(err.message().contains("empty"), "{err}");
}

#[test]
fn levels_and_module_filters_are_kept_as_written() {
    for level in [
        "info",
        "DEBUG",
        "3",
        "info,seawall=debug",
        "off",
        "seawall::proxy=trace",
    ] {
        let config = parse(&format!("log:\n  level: \"{level}\"\n{MINIMAL}"), None).unwrap();
        assert_eq!(config.log.level, level);
    }
}
