//! Per-request costs on the hot path that do not touch a socket: route
//! matching and header hygiene. Run with `cargo bench --bench hot_path`.

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use seawall::config::RouteSettings;
use seawall::routing::RouteTable;
use seawall::wire::headers;
use std::hint::black_box;

fn route(name: &str, host: Option<&str>, prefix: &str) -> (RouteSettings, ()) {
    let settings = RouteSettings {
        name: name.into(),
        host: host.map(Into::into),
        path_prefix: prefix.into(),
        methods: None,
        cluster: "c".into(),
        timeouts: Default::default(),
        admission: None,
        retry: Default::default(),
        priority: Default::default(),
    };
    (settings, ())
}

fn bench_route_match(c: &mut Criterion) {
    let mut routes = vec![route("root", None, "/")];
    for i in 0..15 {
        routes.push(route(
            &format!("r{i}"),
            Some("api.example.com"),
            &format!("/api/v{i}"),
        ));
    }
    let table = RouteTable::new(routes);
    c.bench_function("route_match_16_routes", |b| {
        b.iter(|| {
            table.find(
                black_box("api.example.com"),
                black_box("/api/v7/users/42"),
                &Method::GET,
            )
        })
    });
}

fn bench_header_hygiene(c: &mut Criterion) {
    let mut template = HeaderMap::new();
    for (k, v) in [
        ("host", "api.example.com"),
        ("user-agent", "bench/1.0"),
        ("accept", "*/*"),
        ("connection", "keep-alive"),
        ("x-forwarded-for", "10.0.0.1"),
        ("content-type", "application/json"),
    ] {
        template.insert(k, HeaderValue::from_static(v));
    }
    let client = headers::client_value([127, 0, 0, 1].into());
    c.bench_function("header_hygiene_request", |b| {
        b.iter(|| {
            let mut h = template.clone();
            headers::strip_hop_by_hop(&mut h, false);
            headers::add_forwarded(&mut h, &client, "http", "api.example.com".into());
            headers::add_via(&mut h, http::Version::HTTP_11);
            headers::ensure_request_id(&mut h);
            black_box(h)
        })
    });
}

/// Short runs: these are regression guards, not a lab study.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = bench_route_match, bench_header_hygiene }
criterion_main!(benches);
