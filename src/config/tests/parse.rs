//! Tests of loading as a whole: the shipped files parse with the documented
//! defaults, the settings serialize and summarize, and every kind of error
//! (YAML syntax, unknown key, wrong type, missing key, duplicate key, bad
//! duration) reports the exact line, column and key.

use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use super::support::{MINIMAL, at, error_of};
use crate::config::{BalanceSettings, ConfigError, EndpointSpec, UpstreamProtocol, load, parse};

#[test]
fn minimal_file_parses_with_defaults() {
    let config = parse(MINIMAL, None).unwrap();
    assert_eq!(config.admin.address, "127.0.0.1:9901".parse().unwrap());
    assert_eq!(config.shutdown.drain_timeout, Duration::from_secs(30));
    let limits = &config.listeners[0].limits;
    assert_eq!(
        limits.max_header_bytes,
        NonZeroUsize::new(16 * 1024).unwrap()
    );
    assert_eq!(limits.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(config.listeners[0].routes[0].path_prefix, "/");
    assert_eq!(
        config.clusters[0].balance,
        BalanceSettings::P2cPeakEwma {
            default_rtt: Duration::from_millis(30),
            decay: Duration::from_millis(200),
            slow_start: None,
        }
    );
}

#[test]
fn shipped_config_parses_and_documents_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/seawall.yaml");
    let shipped = load(&path).unwrap();
    // The shipped file spells out every default; the minimal file relies on
    // them. Both describe the same demo, so they must agree exactly.
    assert_eq!(shipped, parse(MINIMAL, None).unwrap());
    assert_eq!(
        shipped.listeners[0].address,
        "127.0.0.1:8080".parse().unwrap()
    );
    assert_eq!(
        shipped.clusters[0].endpoints,
        vec![EndpointSpec {
            host: "127.0.0.1".into(),
            port: 8081
        }]
    );
}

#[test]
fn shipped_examples_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples");
    let hosts = load(&dir.join("host-routing.yaml")).unwrap();
    let routes = &hosts.listeners[0].routes;
    assert_eq!(routes[2].host.as_deref(), Some("*.static.example.com"));
    assert_eq!(routes[0].methods.as_ref().map(Vec::len), Some(4));
    assert_eq!(
        hosts.clusters[1].endpoints[2],
        EndpointSpec {
            host: "fd00::12".into(),
            port: 8080
        }
    );
    assert_eq!(hosts.clusters[2].balance, BalanceSettings::RoundRobin);
    let grpc = load(&dir.join("grpc-h2.yaml")).unwrap();
    assert_eq!(grpc.clusters[0].protocol, UpstreamProtocol::Http2);
}

#[test]
fn config_serializes_to_json_for_the_admin_api() {
    let config = parse(MINIMAL, None).unwrap();
    let json = serde_json::to_string(&config).unwrap();
    assert!(json.contains("\"drain_timeout\":\"30s\""), "{json}");
    assert!(json.contains("\"policy\":\"p2c_peak_ewma\""), "{json}");
}

#[test]
fn summary_lists_listeners_and_clusters() {
    let text = MINIMAL.replace(
        "[\"127.0.0.1:8081\"]",
        "[\"127.0.0.1:8081\", \"[::1]:9000\"]",
    );
    let summary = parse(&text, None).unwrap().summary();
    assert!(
        summary.contains("listener ingress on 127.0.0.1:8080 (1 route)"),
        "{summary}"
    );
    assert!(
        summary.contains("cluster demo: 127.0.0.1:8081, [::1]:9000 (http1)"),
        "{summary}"
    );
}

#[test]
fn display_names_file_line_column_key_and_message() {
    let text = MINIMAL.replace("cluster: demo", "cluster: foo");
    let err = parse(&text, Some(Path::new("config/seawall.yaml"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config/seawall.yaml:6:18: listeners[0].routes[0].cluster: unknown cluster \"foo\" (known clusters: demo)"
    );
    let err = parse(&text, None).unwrap_err();
    assert!(err.to_string().starts_with("<config>:6:18: "), "{err}");
}

#[test]
fn unreadable_file_names_the_path_and_has_no_position() {
    let err = load(Path::new("/nonexistent/seawall.yaml")).unwrap_err();
    assert_eq!((err.line(), err.column(), err.key()), (None, None, None));
    assert!(
        err.to_string()
            .starts_with("/nonexistent/seawall.yaml: cannot read config file"),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn error_is_send_sync_static() {
    fn check<T: std::error::Error + Send + Sync + 'static>() {}
    check::<ConfigError>();
}

#[test]
fn unknown_key_reports_line_and_column() {
    let text = MINIMAL.replace(
        "        cluster: demo",
        "        cluster: demo\n        clustr: x",
    );
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(7, 9, "listeners[0].routes[0].clustr"));
    assert!(err.message().contains("unknown field `clustr`"), "{err}");
}

#[test]
fn unknown_top_level_key_reports_line_and_column() {
    let (err, pos) = error_of(&format!("{MINIMAL}loggin:\n  level: info\n"));
    assert_eq!(pos, at(10, 1, "loggin"));
    assert!(err.message().contains("unknown field `loggin`"), "{err}");
}

#[test]
fn wrong_type_reports_line_and_column() {
    let text = MINIMAL.replace(
        "    routes:",
        "    max_concurrent_streams: lots\n    routes:",
    );
    assert_eq!(
        error_of(&text).1,
        at(4, 29, "listeners[0].max_concurrent_streams")
    );
    let text = format!("{MINIMAL}log:\n  access_log: maybe\n");
    assert_eq!(error_of(&text).1, at(11, 15, "log.access_log"));
}

#[test]
fn unknown_enum_value_reports_line_and_column() {
    let (err, pos) = error_of(&format!("{MINIMAL}    protocol: http3\n"));
    assert_eq!(pos, at(10, 15, "clusters[0].protocol"));
    assert!(err.message().contains("http3"), "{err}");
}

#[test]
fn missing_required_key_names_the_mapping() {
    let text = MINIMAL.replace("        cluster: demo\n", "");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(5, 9, "listeners[0].routes[0]"));
    assert!(err.message().contains("missing field `cluster`"), "{err}");
}

#[test]
fn yaml_syntax_error_reports_line_and_column() {
    let text = MINIMAL.replace(
        "    address: 127.0.0.1:8080",
        "    address: 127.0.0.1:8080\n      bad: indent",
    );
    let (err, pos) = error_of(&text);
    assert_eq!((pos.0, pos.1), (4, 10));
    assert!(err.to_string().starts_with("<config>:4:10: "), "{err}");
}

#[test]
fn duplicate_yaml_key_reports_line_and_column() {
    let text = MINIMAL.replace("    routes:", "    address: 127.0.0.1:8082\n    routes:");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(4, 5, "listeners[0].address"));
    assert!(err.message().contains("duplicate"), "{err}");
}

#[test]
fn zero_duration_is_rejected() {
    let (err, pos) = error_of(&format!("shutdown:\n  drain_timeout: 0s\n{MINIMAL}"));
    assert_eq!(pos, at(2, 18, "shutdown.drain_timeout"));
    assert!(err.message().contains("greater than zero"), "{err}");
    let text = format!("{MINIMAL}    connect_timeout: 0ms\n");
    assert_eq!(error_of(&text).1, at(10, 22, "clusters[0].connect_timeout"));
}

#[test]
fn bare_number_duration_is_rejected() {
    let text = MINIMAL.replace("    routes:", "    keepalive_timeout: 60\n    routes:");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(4, 24, "listeners[0].keepalive_timeout"));
    assert!(err.message().contains("no unit"), "{err}");
}

#[test]
fn first_error_in_fixed_order_is_reported() {
    // Both the listener and the cluster are wrong; listeners are checked first.
    let text = MINIMAL
        .replace("cluster: demo", "cluster: nope")
        .replace("127.0.0.1:8081", "x");
    assert_eq!(
        error_of(&text).1,
        at(6, 18, "listeners[0].routes[0].cluster")
    );
}
