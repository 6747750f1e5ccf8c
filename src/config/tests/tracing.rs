//! Tests of the `tracing:` block.

use std::time::Duration;

use super::support::{MINIMAL, at, error_of};
use crate::config::{OtlpProtocol, parse};

#[test]
fn tracing_is_off_without_a_collector_and_takes_the_defaults_with_one() {
    assert_eq!(parse(MINIMAL, None).unwrap().tracing, None);
    let no_endpoint = format!("tracing:\n  sampling: 1.0\n{MINIMAL}");
    assert_eq!(parse(&no_endpoint, None).unwrap().tracing, None);
    let on = format!("tracing:\n  otlp_endpoint: http://collector:4318\n{MINIMAL}");
    let t = parse(&on, None).unwrap().tracing.unwrap();
    assert_eq!(t.otlp_endpoint, "http://collector:4318/v1/traces");
    assert_eq!(t.protocol, OtlpProtocol::Http);
    assert!((t.sampling - 0.05).abs() < 1e-9);
    assert_eq!((t.service_name.as_str(), t.queue), ("seawall", 2048));
    assert_eq!(t.export_timeout, Duration::from_secs(5));
}

#[test]
fn an_explicit_path_and_a_grpc_address_are_kept_as_written() {
    let path = format!("tracing:\n  otlp_endpoint: http://c:4318/otlp/v1/traces\n{MINIMAL}");
    let t = parse(&path, None).unwrap().tracing.unwrap();
    assert_eq!(t.otlp_endpoint, "http://c:4318/otlp/v1/traces");
    let grpc = format!(
        "tracing:\n  otlp_endpoint: http://c:4317\n  protocol: grpc\n  sampling: 10%\n{MINIMAL}"
    );
    let t = parse(&grpc, None).unwrap().tracing.unwrap();
    assert_eq!(
        (t.otlp_endpoint.as_str(), t.protocol),
        ("http://c:4317", OtlpProtocol::Grpc)
    );
    assert!((t.sampling - 0.1).abs() < 1e-9);
}

#[test]
fn bad_values_are_located() {
    let cases = [
        (
            "  otlp_endpoint: collector\n",
            at(2, 18, "tracing.otlp_endpoint"),
            "http://",
        ),
        (
            "  otlp_endpoint: http://c:1\n  sampling: 2\n",
            at(3, 13, "tracing.sampling"),
            "[0, 1]",
        ),
        (
            "  otlp_endpoint: http://c:1\n  queue: 0\n",
            at(3, 10, "tracing.queue"),
            "at least one",
        ),
        (
            "  otlp_endpoint: http://c:1\n  export_timeout: 0s\n",
            at(3, 19, "tracing.export_timeout"),
            "greater than zero",
        ),
        (
            "  otlp_endpoint: http://c:1\n  service_name: \"\"\n",
            at(3, 17, "tracing.service_name"),
            "empty",
        ),
        (
            "  otlp_endpoint: http://c:1\n  protocol: thrift\n",
            at(3, 13, "tracing.protocol"),
            "http",
        ),
    ];
    for (block, want, why) in cases {
        let text = format!("tracing:\n{block}{MINIMAL}");
        let (err, pos) = error_of(&text);
        assert_eq!(pos, want, "{block}");
        assert!(err.message().contains(why), "{block}: {err}");
    }
}
