//! Tests of parsing and validation: every error kind reports the exact line,
//! column and key, and the shipped files parse with the documented defaults.

use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use super::test_support::MINIMAL;
use super::*;

/// Parses `text` expecting an error; returns it with its (line, column, key).
fn error_of(text: &str) -> (ConfigError, (u32, u32, String)) {
    let err = match parse(text, None) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(err) => err,
    };
    let at = (
        err.line().unwrap_or(0),
        err.column().unwrap_or(0),
        err.key().unwrap_or("").to_owned(),
    );
    (err, at)
}

fn at(line: u32, column: u32, key: &str) -> (u32, u32, String) {
    (line, column, key.to_owned())
}

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
            decay: Duration::from_secs(10)
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
fn duplicate_listener_name_is_rejected() {
    let second =
        "  - name: ingress\n    address: 127.0.0.1:8090\n    routes: [{name: r, cluster: demo}]\n";
    let text = MINIMAL.replace("clusters:", &format!("{second}clusters:"));
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(7, 11, "listeners[1].name"));
    assert!(
        err.message()
            .contains("duplicate listener name \"ingress\" (first defined at line 2)"),
        "{err}"
    );
}

#[test]
fn duplicate_listener_address_is_rejected() {
    let second =
        "  - name: other\n    address: 127.0.0.1:8080\n    routes: [{name: r, cluster: demo}]\n";
    let text = MINIMAL.replace("clusters:", &format!("{second}clusters:"));
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(8, 14, "listeners[1].address"));
    assert!(
        err.message().contains("duplicate listener address"),
        "{err}"
    );
}

#[test]
fn listener_on_the_admin_address_is_rejected() {
    let text = MINIMAL.replace("127.0.0.1:8080", "127.0.0.1:9901");
    assert_eq!(error_of(&text).1, at(3, 14, "listeners[0].address"));
}

#[test]
fn port_zero_never_clashes_with_admin_or_another_listener() {
    let text = format!(
        "admin:\n  address: 127.0.0.1:0\n{}",
        MINIMAL.replace("8080", "0")
    );
    assert!(parse(&text, None).is_ok());
}

#[test]
fn duplicate_route_name_within_a_listener_is_rejected() {
    let text = MINIMAL.replace(
        "        cluster: demo\n",
        "        cluster: demo\n      - name: default\n        cluster: demo\n",
    );
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(7, 15, "listeners[0].routes[1].name"));
    assert!(err.message().contains("duplicate route name"), "{err}");
}

#[test]
fn duplicate_cluster_name_is_rejected() {
    let text = format!("{MINIMAL}  - name: demo\n    endpoints: [\"b:1\"]\n");
    assert_eq!(error_of(&text).1, at(10, 11, "clusters[1].name"));
}

#[test]
fn unknown_cluster_reference_names_known_clusters() {
    let text = format!("{MINIMAL}  - name: api\n    endpoints: [\"b:1\"]\n")
        .replace("cluster: demo", "cluster: foo");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(6, 18, "listeners[0].routes[0].cluster"));
    assert_eq!(
        err.message(),
        "unknown cluster \"foo\" (known clusters: demo, api)"
    );
}

#[test]
fn bad_endpoints_are_rejected() {
    let cases = [
        ("\"app\"", "has no port"),
        ("\"app:0\"", "port 0"),
        ("\"app:99999\"", "1 to 65535"),
        ("\"\"", "empty"),
        ("\"::1:80\"", "needs brackets"),
        ("\"http://app:80\"", "scheme"),
        ("\"a b:80\"", "not allowed"),
    ];
    for (endpoint, why) in cases {
        let text = MINIMAL.replace("\"127.0.0.1:8081\"", endpoint);
        let (err, pos) = error_of(&text);
        assert_eq!(pos, at(9, 17, "clusters[0].endpoints[0]"), "{endpoint}");
        assert!(err.message().contains(why), "{endpoint}: {err}");
    }
}

#[test]
fn cluster_without_endpoints_is_rejected() {
    let text = MINIMAL.replace("[\"127.0.0.1:8081\"]", "[]");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(9, 16, "clusters[0].endpoints"));
    assert!(err.message().contains("no endpoints"), "{err}");
}

#[test]
fn no_listeners_is_rejected() {
    let (err, pos) =
        error_of("listeners: []\nclusters:\n  - name: demo\n    endpoints: [\"a:1\"]\n");
    assert_eq!(pos, at(1, 12, "listeners"));
    assert!(err.message().contains("at least one listener"), "{err}");
}

/// MINIMAL with a `match:` section in its route.
fn with_match(lines: &str) -> String {
    MINIMAL.replace(
        "        cluster: demo",
        &format!("        match:\n{lines}        cluster: demo"),
    )
}

#[test]
fn path_prefix_must_start_with_slash() {
    let (err, pos) = error_of(&with_match("          path_prefix: api\n"));
    assert_eq!(pos, at(7, 24, "listeners[0].routes[0].match.path_prefix"));
    assert!(err.message().contains("must start with `/`"), "{err}");
}

#[test]
fn invalid_method_token_is_rejected() {
    let (err, pos) = error_of(&with_match("          methods: [GET, \"BAD METHOD\"]\n"));
    assert_eq!(pos, at(7, 26, "listeners[0].routes[0].match.methods[1]"));
    assert!(err.message().contains("not a valid HTTP method"), "{err}");
    let (err, _) = error_of(&with_match("          methods: [get]\n"));
    assert!(err.message().contains("write `GET`"), "{err}");
}

#[test]
fn host_with_port_or_bad_characters_is_rejected() {
    let (err, pos) = error_of(&with_match("          host: api.example.com:443\n"));
    assert_eq!(pos, at(7, 17, "listeners[0].routes[0].match.host"));
    assert!(err.message().contains("includes a port"), "{err}");
    let (err, _) = error_of(&with_match("          host: api/example.com\n"));
    assert!(err.message().contains("not allowed"), "{err}");
    let (err, _) = error_of(&with_match("          host: a.*.example.com\n"));
    assert!(err.message().contains("not allowed"), "{err}");
}

#[test]
fn host_is_lower_cased() {
    let config = parse(&with_match("          host: \"*.Example.COM\"\n"), None).unwrap();
    assert_eq!(
        config.listeners[0].routes[0].host.as_deref(),
        Some("*.example.com")
    );
}

#[test]
fn sizes_accept_integers_and_units() {
    let text = MINIMAL.replace(
        "    routes:",
        "    max_header_bytes: 2048\n    max_body_bytes: 1 MB\n    routes:",
    );
    let limits = parse(&text, None).unwrap().listeners[0].limits.clone();
    assert_eq!(limits.max_header_bytes.get(), 2048);
    assert_eq!(limits.max_body_bytes, 1_000_000);
}

#[test]
fn bad_or_zero_sizes_are_rejected() {
    let cases = [
        ("max_body_bytes: 10 parsecs", "unknown size unit"),
        ("max_body_bytes: 0", "greater than zero"),
        ("max_body_bytes: lots", "not a size"),
        ("max_header_bytes: 512B", "at least 1KiB"),
    ];
    for (line, why) in cases {
        let text = MINIMAL.replace("    routes:", &format!("    {line}\n    routes:"));
        let (err, pos) = error_of(&text);
        let key = line.split(':').next().unwrap_or_default();
        let column = u32::try_from(key.len()).unwrap() + 7;
        assert_eq!(pos, at(4, column, &format!("listeners[0].{key}")), "{line}");
        assert!(err.message().contains(why), "{line}: {err}");
    }
}

#[test]
fn peak_ewma_options_with_round_robin_are_rejected() {
    let text = format!("{MINIMAL}    balance:\n      policy: round_robin\n      decay: 5s\n");
    let (err, pos) = error_of(&text);
    assert_eq!(pos, at(12, 14, "clusters[0].balance.decay"));
    assert!(
        err.message().contains("only to policy p2c_peak_ewma"),
        "{err}"
    );
}

#[test]
fn invalid_log_level_is_rejected() {
    let (_, pos) = error_of(&format!("log:\n  level: \"seawall=[\"\n{MINIMAL}"));
    assert_eq!(pos, at(2, 10, "log.level"));
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

#[test]
fn memory_release_is_on_by_default_and_can_be_turned_off() {
    assert!(parse(MINIMAL, None).unwrap().memory.release_when_idle);
    let off = format!("memory:\n  release_when_idle: false\n{MINIMAL}");
    assert!(!parse(&off, None).unwrap().memory.release_when_idle);
    let bad = format!("memory:\n  release_when_idle: maybe\n{MINIMAL}");
    assert_eq!(error_of(&bad).1, at(2, 22, "memory.release_when_idle"));
    let unknown = format!("memory:\n  release_when: true\n{MINIMAL}");
    assert_eq!(error_of(&unknown).1, at(2, 3, "memory.release_when"));
}
