//! Per-request overhead of each layer of the route stack, and of the whole
//! stack, against a bare always-ready service: what seawall's resilience
//! costs per request before any socket is touched. Each layer is timed alone
//! over the bare service, then the whole route stack as seawall assembles it
//! (`stack::route_stack` over `stack::cluster_stack`, retry included). The runtime and the settings are built outside the timed
//! loops; settings come from a parsed config, as in production.
//! Run with `cargo bench --bench stack`.

use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use seawall::config::{ClusterSettings, RouteSettings};
use seawall::middleware::admission::{AdmissionLayer, AdmissionState};
use seawall::middleware::balance::{BalanceLayer, EndpointSet};
use seawall::middleware::breaker::{Breaker, BreakerLayer};
use seawall::middleware::classify::Classifier;
use seawall::middleware::retry::{RetryBudget, RetryLayer};
use seawall::middleware::timeout::{AttemptLayer, DeadlineLayer};
use seawall::stack;
use seawall::telemetry::Metrics;
use seawall::telemetry::timed::TimedLayer;
use seawall::wire::body::{self, Request, Response};
use tower::{Layer, Service, ServiceExt};

const CONFIG: &str = "
listeners: [{ name: l, address: 127.0.0.1:1, routes: [{ name: r, cluster: c }] }]
clusters: [{ name: c, endpoints: [\"127.0.0.1:2\"], timeouts: { attempt: 2s } }]
";

/// An always-ready service answering 200 at once: the upstream, minus I/O.
#[derive(Clone)]
struct Ready200;

impl Service<Request> for Ready200 {
    type Response = Response;
    type Error = seawall::wire::BoxError;
    type Future = Ready<Result<Response, seawall::wire::BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request) -> Self::Future {
        ready(Ok(http::Response::new(body::empty())))
    }
}

fn settings() -> (ClusterSettings, RouteSettings) {
    let mut config = seawall::config::parse(CONFIG, None).expect("bench config is valid");
    let route = config.listeners[0].routes.remove(0);
    (config.clusters.remove(0), route)
}

fn request() -> Request {
    http::Request::get("http://bench/x")
        .body(body::empty())
        .expect("valid request")
}

/// Times `svc` on one request at a time, as hyper drives it.
fn run<S>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, mut svc: S)
where
    S: Service<Request, Response = Response, Error = seawall::wire::BoxError>,
{
    c.bench_function(name, |b| {
        b.iter(|| rt.block_on(async { svc.ready().await?.call(request()).await }))
    });
}

fn bench_stack(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let (s, route) = settings();
    let budget = RetryBudget::new(s.retry.budget.clone());
    let classifier = Classifier::new(&s.failure_statuses);
    let endpoints = EndpointSet::with_ewma(Duration::from_millis(30), Duration::from_secs(10));
    endpoints.update(["127.0.0.1:2".parse::<SocketAddr>().expect("addr")]);
    endpoints.set_outlier(s.outlier.clone(), classifier.clone());
    let breaker = Breaker::new("c", s.breaker.clone());
    let metrics = Metrics::new();
    let admission = || AdmissionState::new("c", s.admission.clone());

    run(c, &rt, "stack/bare", Ready200);
    run(
        c,
        &rt,
        "stack/deadline",
        DeadlineLayer::new(&s.timeouts).layer(Ready200),
    );
    run(
        c,
        &rt,
        "stack/admission",
        AdmissionLayer::new(admission()).layer(Ready200),
    );
    let breaker_layer = BreakerLayer::new(breaker.clone(), classifier.clone());
    run(c, &rt, "stack/breaker", breaker_layer.layer(Ready200));
    run(
        c,
        &rt,
        "stack/attempt",
        AttemptLayer::new(&s.timeouts).layer(Ready200),
    );
    let balance = BalanceLayer::new(endpoints.clone(), &s.balance);
    run(c, &rt, "stack/balance", balance.layer(Ready200));
    let timed = TimedLayer::new(metrics.attempt_duration("c"));
    run(c, &rt, "stack/timed", timed.layer(Ready200));

    let retry = RetryLayer::new(route.retry.clone(), budget.clone(), classifier.clone());
    run(c, &rt, "stack/retry", retry.layer(Ready200));

    // The whole stack, assembled by seawall's own stack module.
    let cluster = stack::cluster_stack(
        endpoints.clone(),
        &s.balance,
        metrics.attempt_duration("c"),
        Ready200,
    );
    let shared = stack::Shared {
        settings: &s,
        breaker: &breaker,
        retry_budget: &budget,
        classifier: &classifier,
    };
    let full = stack::route_stack(&route, shared, admission(), cluster);
    run(c, &rt, "stack/full", full);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = bench_stack }
criterion_main!(benches);
