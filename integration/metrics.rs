//! `/metrics` after scripted traffic: exact counter movements, and the
//! shipped Grafana dashboard and alert rules reference only metrics that
//! seawall exports.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::{Captured, Seawall, Upstream, basic_config, eventually, fetch, raw_request, send};
use seawall::reload::Outcome;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// `/metrics` in the Prometheus text format (what a scraper that does not
/// ask for OpenMetrics gets).
async fn scrape(sw: &Seawall) -> String {
    let reply = fetch(&format!("http://{}/metrics", sw.admin)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    reply.text()
}

/// `/metrics` as Prometheus asks for it.
async fn scrape_openmetrics(admin: SocketAddr) -> String {
    let req = http::Request::get(format!("http://{admin}/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .body(common::empty())
        .unwrap();
    let reply = send(req).await.unwrap();
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    reply.text()
}

/// `promtool check metrics` on `text` (stdin): whether it passed, and what
/// it printed. promtool comes from `.ci/tools.sh` (Debian's `prometheus`).
fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (run .ci/tools.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// The value of the sample `name{labels}` written exactly as exposed
/// (labels in exposition order), or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn counters_move_exactly_with_traffic() {
    let up = Upstream::spawn("a").await;
    let yaml = basic_config(&[up.addr]) + "    admission: { max_concurrent: 1, max_queue: 0 }\n";
    let sw = Seawall::start_from_file(&yaml).await;
    let before = scrape(&sw).await;
    let ok = r#"seawall_requests_total{listener="ingress",route="default",cluster="app",code="200",status_class="2xx",reason=""}"#;
    let shed_req = r#"seawall_requests_total{listener="ingress",route="default",cluster="app",code="503",status_class="5xx",reason="shed-queue-full"}"#;
    let shed = r#"seawall_shed_total{cluster="app",compartment="app",reason="queue-full"}"#;
    assert_eq!(sample(&before, ok), 0.0);

    // One slow request holds the only slot; a second one is shed.
    let slow_url = sw.url("/?delay=500ms");
    let slow = tokio::spawn(async move { fetch(&slow_url).await.status });
    up.wait_for_stats("slow request in flight", |s| s.in_flight == 1)
        .await;
    assert_eq!(fetch(&sw.url("/")).await.status, 503);
    assert_eq!(slow.await.unwrap(), 200);
    let rsp = fetch(&sw.url("/")).await;
    assert_eq!(rsp.status, 200);

    let after = scrape(&sw).await;
    assert_eq!(
        sample(&after, shed),
        sample(&before, shed) + 1.0,
        "one shed"
    );
    assert_eq!(
        sample(&after, shed_req),
        1.0,
        "the shed response is counted with its reason"
    );
    assert_eq!(sample(&after, ok), 2.0, "two answered");
    let count = r#"seawall_request_duration_seconds_count{listener="ingress",route="default",cluster="app"}"#;
    assert_eq!(sample(&after, count), 3.0, "every response timed");
    let attempts = r#"seawall_upstream_attempt_duration_seconds_count{cluster="app"}"#;
    assert_eq!(
        sample(&after, attempts),
        2.0,
        "the shed request never reached the upstream"
    );
    assert_eq!(
        sample(
            &after,
            r#"seawall_downstream_connections_open{listener="ingress"}"#
        ),
        0.0
    );

    // After a reload that narrows the route, a 404 has no route: it is
    // counted with empty route and cluster labels.
    let path = sw.config_path.clone().unwrap();
    std::fs::write(&path, yaml.replace("path_prefix: /", "path_prefix: /only")).unwrap();
    assert!(matches!(
        sw.running.reload.reload().await,
        Outcome::Applied { generation: 2 }
    ));
    assert_eq!(fetch(&sw.url("/else")).await.status, 404);
    let reloaded = scrape(&sw).await;
    let no_route = r#"seawall_requests_total{listener="ingress",route="",cluster="",code="404",status_class="4xx",reason="no-route"}"#;
    assert_eq!(sample(&reloaded, no_route), 1.0);
    assert_eq!(
        sample(
            &reloaded,
            r#"seawall_config_reloads_total{outcome="applied"}"#
        ),
        1.0
    );
    assert_eq!(sample(&reloaded, "seawall_config_generation"), 2.0);
    assert_eq!(
        sample(&reloaded, shed),
        sample(&after, shed),
        "counters survive the reload"
    );
}

#[tokio::test]
async fn breaker_state_is_exported() {
    let up = Upstream::spawn("a").await;
    up.set_config(serde_json::json!({"status": 503, "error_rate": 1.0}))
        .await;
    let yaml = basic_config(&[up.addr])
        + "    outlier: { consecutive_failures: 0 }\n    breaker: { consecutive_failures: 2, open_duration: 60s }\n"
        + "    retry: { enabled: false }\n";
    let sw = Seawall::start(&yaml).await;
    let open = r#"seawall_breaker_state{cluster="app",state="open"}"#;
    assert_eq!(sample(&scrape(&sw).await, open), 0.0);
    for _ in 0..2 {
        fetch(&sw.url("/")).await;
    }
    assert_eq!(
        fetch(&sw.url("/")).await.header("x-seawall-error"),
        Some("breaker-open")
    );
    let text = scrape(&sw).await;
    assert_eq!(sample(&text, open), 1.0);
    assert_eq!(
        sample(
            &text,
            r#"seawall_breaker_transitions_total{cluster="app",cause="consecutive_failures"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&text, r#"seawall_breaker_rejected_total{cluster="app"}"#),
        1.0
    );
}

/// Every metric name a scrape can contain: sample names, plus the names
/// each `# TYPE` line implies (a family with no samples yet still counts).
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            names.insert(name.to_string());
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            names.insert(line.split(['{', ' ']).next().unwrap().to_string());
        }
    }
    names
}

/// Every `seawall_*` identifier in a text.
fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("seawall_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[tokio::test]
async fn shipped_dashboard_and_alerts_use_only_exported_metrics() {
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&basic_config(&[up.addr])).await;
    fetch(&sw.url("/")).await;
    let mut names = exported(&scrape(&sw).await);
    // The gRPC families appear once a gRPC call went by.
    let grpc_up = common::grpc::GrpcUpstream::spawn("g").await;
    let grpc_sw = Seawall::start(&(basic_config(&[grpc_up.addr]) + "    protocol: http2\n")).await;
    let mut client = common::grpc::GrpcClient::connect(grpc_sw.addr).await;
    client.unary(tonic::Code::Ok, "").await.unwrap();
    names.extend(exported(&scrape(&grpc_sw).await));

    let root = env!("CARGO_MANIFEST_DIR");
    let dashboard =
        std::fs::read_to_string(format!("{root}/config/grafana/seawall-dashboard.json")).unwrap();
    let parsed: serde_json::Value =
        serde_json::from_str(&dashboard).expect("dashboard is valid JSON");
    let exprs: Vec<String> = parsed["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expr"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(exprs.len() >= 10, "every panel has queries");
    // A fleet of sidecars can be told apart: every query follows the
    // namespace and instance variables.
    let variables: Vec<&str> = parsed["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for name in ["namespace", "instance", "cluster"] {
        assert!(variables.contains(&name), "variable {name}: {variables:?}");
    }
    for expr in &exprs {
        for matcher in [r#"namespace=~"$namespace""#, r#"instance=~"$instance""#] {
            assert_eq!(
                expr.matches(matcher).count(),
                expr.matches("seawall_").count(),
                "every metric in `{expr}` has {matcher}"
            );
        }
    }

    let alerts = std::fs::read_to_string(format!("{root}/config/prometheus/alerts.yaml")).unwrap();
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let rules: serde_json::Value =
        serde_saphyr::from_str(&alerts).expect("alert rules are valid YAML");
    let rule_exprs: Vec<String> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(
                r["alert"].is_string() && r["annotations"]["summary"].is_string(),
                "{r}"
            );
            // Each alert links to its README runbook section, which exists.
            let alert = r["alert"].as_str().unwrap();
            let runbook = r["annotations"]["runbook_url"].as_str().unwrap_or("");
            assert!(
                runbook.ends_with(&format!("#{}", alert.to_lowercase())),
                "{alert}: runbook_url {runbook:?}"
            );
            assert!(
                readme.contains(&format!("\n### {alert}\n")),
                "README has a runbook section for {alert}"
            );
            r["expr"].as_str().unwrap().to_string()
        })
        .collect();
    for wanted in [
        "SeawallBreakerOpen",
        "SeawallShedding",
        "SeawallRetryBudgetExhausted",
    ] {
        assert!(alerts.contains(wanted), "alert {wanted} shipped");
    }

    for expr in exprs.iter().chain(&rule_exprs) {
        let used = referenced(expr);
        assert!(!used.is_empty(), "expression uses a seawall metric: {expr}");
        for name in used {
            assert!(
                names.contains(&name),
                "{name} (in `{expr}`) is not exported; exported: {names:?}"
            );
        }
    }
}

#[tokio::test]
async fn retries_and_attempts_are_counted() {
    let up = Upstream::spawn("a").await;
    up.set_config(serde_json::json!({"status": 503, "error_rate": 1.0}))
        .await;
    let yaml = basic_config(&[up.addr])
        + "    retry: { max_attempts: 3, backoff: { base: 1ms, max: 2ms } }\n";
    let sw = Seawall::start(&yaml).await;
    assert_eq!(fetch(&sw.url("/")).await.status, 503);
    let text = scrape(&sw).await;
    assert_eq!(up.stats().await.requests, 3, "one request, three attempts");
    assert_eq!(
        sample(&text, r#"seawall_retries_total{cluster="app"}"#),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            r#"seawall_upstream_attempts_total{cluster="app",outcome="failure"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(&text, r#"seawall_retry_amplification{cluster="app"}"#),
        3.0
    );
}

/// `basic_config` with the access log on and a second listener,
/// `internal`, whose route is also named `default` (on `/internal`).
fn two_listeners(up: SocketAddr) -> String {
    basic_config(&[up])
        .replace("access_log: false", "access_log: true")
        .replace(
            "clusters:\n",
            "  - name: internal\n    address: 127.0.0.1:0\n    routes:\n      - name: default\n        match:\n          path_prefix: /internal\n        cluster: app\nclusters:\n",
        )
}

fn requests(listener: &str, route: &str, code: &str, class: &str, reason: &str) -> String {
    let cluster = if route.is_empty() { "" } else { "app" };
    format!(
        r#"seawall_requests_total{{listener="{listener}",route="{route}",cluster="{cluster}",code="{code}",status_class="{class}",reason="{reason}"}}"#
    )
}

#[tokio::test]
async fn a_scrape_after_traffic_and_errors_passes_promtool() {
    let logs = Captured::default();
    let _capture = logs.install(tracing::Level::INFO);
    let up = Upstream::spawn("a").await;
    let sw = Seawall::start(&two_listeners(up.addr)).await;
    let internal = sw.running.listener("internal").unwrap();

    assert_eq!(fetch(&sw.url("/")).await.status, 200);
    assert_eq!(
        fetch(&format!("http://{internal}/internal/x")).await.status,
        200
    );
    assert_eq!(
        fetch(&format!("http://{internal}/elsewhere")).await.status,
        404
    );
    assert_eq!(fetch(&sw.url("/?status=500")).await.status, 500);
    assert_eq!(fetch(&sw.url("/?status=418")).await.status, 418);
    // A client that gives up while the upstream takes its time.
    let mut conn = TcpStream::connect(sw.addr).await.unwrap();
    conn.write_all(b"GET /slow?delay=20s HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    up.wait_for_stats("the slow request reached the upstream", |s| {
        s.in_flight == 1
    })
    .await;
    drop(conn);
    let gone = requests("ingress", "default", "499", "4xx", "client-gone");
    let sw_ref = &sw;
    let gone_ref = gone.as_str();
    eventually("the abandoned request is counted", || async move {
        sample(&scrape(sw_ref).await, gone_ref) == 1.0
    })
    .await;

    let text = scrape(&sw).await;
    for (series, want) in [
        // Both listeners' routes are named `default`; the label tells them apart.
        (requests("ingress", "default", "200", "2xx", ""), 1.0),
        (requests("internal", "default", "200", "2xx", ""), 1.0),
        (requests("internal", "", "404", "4xx", "no-route"), 1.0),
        // An exact code from the list, and one outside it as its class.
        (requests("ingress", "default", "500", "5xx", ""), 1.0),
        (requests("ingress", "default", "4xx", "4xx", ""), 1.0),
    ] {
        assert_eq!(sample(&text, &series), want, "{series}\n{text}");
    }
    assert!(sample(&text, "process_resident_memory_bytes") > 1e6);
    assert!(sample(&text, "process_open_fds") >= 3.0);
    assert!(sample(&text, "process_max_fds") >= sample(&text, "process_open_fds"));
    assert!(sample(&text, "process_start_time_seconds") > 1.7e9);
    assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");

    let lines = logs.access_lines();
    let abandoned = lines
        .iter()
        .find(|l| l["reason"] == "client-gone")
        .unwrap_or_else(|| panic!("an access line for the abandoned request: {lines:?}"));
    assert_eq!(abandoned["status"], 499);
    assert_eq!(abandoned["path"], "/slow");
    assert_eq!(abandoned["route"], "default");

    let (ok, said) = promtool_check(&text);
    assert!(ok, "promtool check metrics:\n{said}\n---\n{text}");
    // OpenMetrics, for Prometheus, has the same samples.
    let om = scrape_openmetrics(sw.admin).await;
    assert!(om.ends_with("# EOF\n"));
    assert_eq!(sample(&om, &gone), 1.0);
}

#[test]
fn shipped_alert_rules_pass_promtool() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/config/prometheus/alerts.yaml");
    let out = Command::new("promtool")
        .args(["check", "rules", rules])
        .output()
        .expect("promtool is installed (run .ci/tools.sh)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn access_log_lines_carry_path_bytes_endpoint_attempts_and_reason() {
    let logs = Captured::default();
    let _capture = logs.install(tracing::Level::INFO);
    let up = Upstream::spawn("a").await;
    let yaml = basic_config(&[up.addr]).replace("access_log: false", "access_log: true")
        + "    outlier: { consecutive_failures: 0 }\n"
        + "    retry: { max_attempts: 2, backoff: { base: 1ms, max: 2ms } }\n";
    let sw = Seawall::start(&yaml).await;

    let upload = http::Request::post(sw.url("/upload?body_bytes=300"))
        .body(common::full(vec![b'x'; 1234]))
        .unwrap();
    let reply = send(upload).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 300);
    assert_eq!(fetch(&sw.url("/failing?status=503")).await.status, 503);
    // Refused by seawall itself: no endpoint, no attempt, a reason code.
    let refused = raw_request(
        sw.addr,
        b"CONNECT a:443 HTTP/1.1\r\nhost: a:443\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 405"), "{refused}");
    let logs_ref = &logs;
    eventually("three access lines", || async move {
        logs_ref.access_lines().len() >= 3
    })
    .await;
    let lines = logs.access_lines();
    let line = |method: &str| {
        lines
            .iter()
            .find(|l| l["method"] == method)
            .unwrap_or_else(|| panic!("a {method} line: {lines:?}"))
            .clone()
    };
    let upload = line("POST");
    assert_eq!(upload["path"], "/upload", "{upload}");
    assert_eq!(upload["status"], 200, "{upload}");
    assert_eq!(upload["bytes_in"], 1234, "{upload}");
    assert_eq!(upload["bytes_out"], 300, "{upload}");
    assert_eq!(upload["endpoint"], up.addr.to_string(), "{upload}");
    assert_eq!(upload["attempts"], 1, "{upload}");
    assert_eq!(upload["reason"], "", "{upload}");
    assert_eq!(upload["method"], "POST", "{upload}");
    assert!(upload["duration_ms"].is_f64(), "a number: {upload}");

    let failing = line("GET");
    assert_eq!(failing["path"], "/failing", "{failing}");
    assert_eq!(failing["status"], 503, "{failing}");
    assert_eq!(failing["attempts"], 2, "a retry: {failing}");
    assert_eq!(failing["bytes_in"], 0, "{failing}");
    assert!(failing["bytes_out"].is_u64(), "{failing}");

    let connect = line("CONNECT");
    assert_eq!(connect["status"], 405, "{connect}");
    assert_eq!(connect["reason"], "connect-refused", "{connect}");
    assert_eq!(connect["endpoint"], "-", "{connect}");
    assert_eq!(connect["attempts"], 0, "{connect}");
    assert_eq!(connect["bytes_in"], 0, "{connect}");
    assert!(
        connect["bytes_out"].as_u64().unwrap() > 0,
        "its body: {connect}"
    );
}

#[tokio::test]
async fn a_rejected_reload_is_flagged_until_a_good_one_applies() {
    let up = Upstream::spawn("a").await;
    let yaml = basic_config(&[up.addr]);
    let sw = Seawall::start_from_file(&yaml).await;
    let flag = "seawall_config_last_reload_successful";
    assert_eq!(sample(&scrape(&sw).await, flag), 1.0, "no reload yet");
    let path = sw.config_path.clone().unwrap();
    std::fs::write(
        &path,
        yaml.replace("connect_timeout: 500ms", "connect_timeout: soon"),
    )
    .unwrap();
    assert!(matches!(
        sw.running.reload.reload().await,
        Outcome::Rejected(_)
    ));
    assert_eq!(sample(&scrape(&sw).await, flag), 0.0, "the alert fires");
    std::fs::write(
        &path,
        yaml.replace("connect_timeout: 500ms", "connect_timeout: 400ms"),
    )
    .unwrap();
    assert!(matches!(
        sw.running.reload.reload().await,
        Outcome::Applied { .. }
    ));
    assert_eq!(sample(&scrape(&sw).await, flag), 1.0, "and resolves");
}
